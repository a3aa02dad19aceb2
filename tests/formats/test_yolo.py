"""YOLO: hand-computed label lines, data.yaml, round trips, empty images, malformed labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from formats import DatasetError, DetectionSample, read_yolo, write_yolo
from tests.formats.conftest import ImageWriter

NAMES = ["car", "truck"]


def sample(
    path: Path, boxes: list[list[float]], classes: list[int], size: tuple[int, int] = (200, 100)
) -> DetectionSample:
    return DetectionSample(
        path, size[0], size[1], np.array(boxes, np.float32).reshape(-1, 4), np.array(classes, np.int32)
    )


@pytest.mark.parametrize(
    ("box", "cls", "line"),
    [
        pytest.param([20, 10, 60, 50], 1, "1 0.200000 0.300000 0.200000 0.400000", id="small-box"),
        pytest.param([0, 0, 200, 100], 0, "0 0.500000 0.500000 1.000000 1.000000", id="whole-image"),
        pytest.param([50, 50, 50, 50], 0, "0 0.250000 0.500000 0.000000 0.000000", id="degenerate-point"),
        pytest.param([0.5, 0.25, 199.5, 99.75], 1, "1 0.500000 0.500000 0.995000 0.995000", id="fractional"),
        # 0.1 px past the right edge is within tolerance (1e-3 of 200 px = 0.2 px) and is clipped.
        pytest.param(
            [100, 0, 200.1, 100], 0, "0 0.750000 0.500000 0.500000 1.000000", id="clipped-in-tolerance"
        ),
    ],
)
def test_label_line(tmp_path: Path, make_image: ImageWriter, box: list[float], cls: int, line: str) -> None:
    image = make_image(tmp_path / "images" / "train" / "a.jpg", 200, 100)
    write_yolo(tmp_path, [sample(image, [box], [cls])], NAMES, split="train")
    assert (tmp_path / "labels" / "train" / "a.txt").read_text() == line + "\n"


def test_data_yaml_lists_present_splits_and_names(tmp_path: Path, make_image: ImageWriter) -> None:
    image = make_image(tmp_path / "images" / "train" / "a.jpg", 200, 100)
    write_yolo(tmp_path, [sample(image, [], [])], NAMES, split="train")
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data == {"train": "images/train", "names": {0: "car", 1: "truck"}}

    val = make_image(tmp_path / "images" / "val" / "b.png", 200, 100)
    write_yolo(tmp_path, [sample(val, [], [])], NAMES, split="val")
    data = yaml.safe_load((tmp_path / "data.yaml").read_text())
    assert data == {
        "train": "images/train",
        "val": "images/val",
        "names": {0: "car", 1: "truck"},
    }


def test_round_trip_two_splits(tmp_path: Path, make_image: ImageWriter) -> None:
    a = make_image(tmp_path / "images" / "train" / "a.jpg", 200, 100)
    b = make_image(tmp_path / "images" / "train" / "b.png", 64, 48)
    c = make_image(tmp_path / "images" / "train" / "c.jpg", 200, 100)
    d = make_image(tmp_path / "images" / "val" / "d.jpg", 200, 100)
    train = [
        sample(a, [[20, 10, 60, 50], [0, 0, 200, 100]], [1, 0]),
        sample(b, [[3.3, 4.4, 10.1, 47.9]], [0], (64, 48)),
        sample(c, [], []),
    ]
    val = [sample(d, [[1, 2, 3, 4]], [1])]
    write_yolo(tmp_path, train, NAMES, split="train")
    write_yolo(tmp_path, val, NAMES, split="val")

    samples, names = read_yolo(tmp_path)
    assert names == NAMES
    assert [s.image_path for s in samples] == [s.image_path for s in train + val]
    for got, want in zip(samples, train + val, strict=True):
        assert (got.width, got.height) == (want.width, want.height)
        np.testing.assert_allclose(got.xyxy, want.xyxy, atol=1e-3)
        np.testing.assert_array_equal(got.class_id, want.class_id)
    assert read_yolo(tmp_path, "val")[0] == samples[3:]


def test_ignore_regions_round_trip_beside_the_labels(tmp_path: Path, make_image: ImageWriter) -> None:
    a = make_image(tmp_path / "images" / "train" / "a.jpg", 200, 100)
    b = make_image(tmp_path / "images" / "train" / "b.jpg", 200, 100)
    with_regions = DetectionSample(
        a,
        200,
        100,
        np.array([[20, 10, 60, 50]], np.float32),
        np.array([1], np.int32),
        ignore_xyxy=np.array([[0, 0, 20, 10]], np.float32),
        ignore_class_id=np.array([0], np.int32),
    )
    write_yolo(tmp_path, [with_regions, sample(b, [], [])], NAMES, split="train")
    assert (tmp_path / "ignore" / "train" / "a.txt").read_text() == "0 0.050000 0.050000 0.100000 0.100000\n"
    assert not (tmp_path / "ignore" / "train" / "b.txt").exists()  # no regions, no file
    got, _ = read_yolo(tmp_path)
    np.testing.assert_allclose(got[0].ignore_xyxy, [[0, 0, 20, 10]], atol=1e-3)
    np.testing.assert_array_equal(got[0].ignore_class_id, [0])
    assert got[1].ignore_xyxy.shape == (0, 4)
    # a rewrite without regions must not keep the old file
    write_yolo(tmp_path, [sample(a, [[20, 10, 60, 50]], [1])], NAMES, split="train")
    assert not (tmp_path / "ignore" / "train" / "a.txt").exists()


def test_image_without_boxes_gets_an_empty_label_file(tmp_path: Path, make_image: ImageWriter) -> None:
    image = make_image(tmp_path / "images" / "train" / "a.jpg", 20, 10)
    write_yolo(tmp_path, [sample(image, [], [], (20, 10))], NAMES, split="train")
    assert (tmp_path / "labels" / "train" / "a.txt").read_text() == ""
    (got,), _ = read_yolo(tmp_path)
    assert got.xyxy.shape == (0, 4)


def test_missing_label_file_means_no_boxes(tmp_path: Path, make_image: ImageWriter) -> None:
    make_image(tmp_path / "images" / "train" / "a.jpg", 20, 10)
    (tmp_path / "classes.txt").write_text("car\ntruck\n")
    (got,), names = read_yolo(tmp_path)
    assert names == NAMES
    assert (got.width, got.height, got.xyxy.shape) == (20, 10, (0, 4))


def test_empty_split_folder_gives_no_samples(tmp_path: Path) -> None:
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "data.yaml").write_text("train: images/train\nnames: [car]\n")
    assert read_yolo(tmp_path) == ([], ["car"])


def test_names_as_list_and_reading_one_split(tmp_path: Path, make_image: ImageWriter) -> None:
    make_image(tmp_path / "images" / "train" / "a.jpg", 20, 10)
    make_image(tmp_path / "images" / "val" / "b.jpg", 20, 10)
    (tmp_path / "labels" / "val").mkdir(parents=True)
    (tmp_path / "labels" / "val" / "b.txt").write_text("1 0.5 0.5 0.5 1.0\n\n")
    (tmp_path / "data.yaml").write_text("train: images/train\nval: images/val\nnames: [car, truck]\n")
    (got,), _ = read_yolo(tmp_path, split="val")
    assert got.image_path.name == "b.jpg"
    np.testing.assert_allclose(got.xyxy, [[5, 0, 15, 10]])
    np.testing.assert_array_equal(got.class_id, [1])


BAD_LINES = [
    pytest.param("0 0.5 0.5 0.2", "expected 5 fields", id="four-fields"),
    pytest.param("0 0.5 0.5 0.2 0.2 0.1", "expected 5 fields", id="six-fields-polygon"),
    pytest.param("car 0.5 0.5 0.2 0.2", "class id is not a whole number", id="class-name"),
    pytest.param("0.0 0.5 0.5 0.2 0.2", "class id is not a whole number", id="class-float"),
    pytest.param("0 abc 0.5 0.2 0.2", "cx is not a number", id="not-a-number"),
    pytest.param("0 nan 0.5 0.2 0.2", "cx is not finite", id="nan"),
    pytest.param("2 0.5 0.5 0.2 0.2", r"class id 2 out of range 0\.\.1", id="class-too-big"),
    pytest.param("-1 0.5 0.5 0.2 0.2", "class id -1 out of range", id="class-negative"),
    pytest.param("0 1.2 0.5 0.2 0.2", r"outside \[0, 1\]", id="center-outside"),
    pytest.param("0 0.5 0.5 -0.1 0.2", r"outside \[0, 1\]", id="negative-width"),
    pytest.param("0 0.95 0.5 0.2 0.2", r"outside \[0, 1\]", id="edge-outside"),
    pytest.param("0 0.5 0.5 0.2 1.01", r"outside \[0, 1\]", id="height-beyond-tolerance"),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES)
def test_malformed_label_line_names_file_and_line(
    tmp_path: Path, make_image: ImageWriter, line: str, message: str
) -> None:
    make_image(tmp_path / "images" / "train" / "a.jpg", 20, 10)
    label = tmp_path / "labels" / "train" / "a.txt"
    label.parent.mkdir(parents=True)
    label.write_text(f"0 0.5 0.5 0.2 0.2\n\n{line}\n")
    (tmp_path / "data.yaml").write_text("train: images/train\nnames: {0: car, 1: truck}\n")
    with pytest.raises(DatasetError, match=message) as info:
        read_yolo(tmp_path)
    assert str(info.value).startswith(f"{label}:3: ")


def test_values_within_tolerance_are_clipped(tmp_path: Path, make_image: ImageWriter) -> None:
    make_image(tmp_path / "images" / "train" / "a.jpg", 20, 10)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 1.0008 1.0\n")
    (tmp_path / "classes.txt").write_text("car\n")
    (got,), _ = read_yolo(tmp_path)
    np.testing.assert_allclose(got.xyxy, [[0, 0, 20, 10]])


@pytest.mark.parametrize(
    ("data_yaml", "message"),
    [
        pytest.param("train: images/train\n", "no 'names' key", id="no-names"),
        pytest.param("names: {0: car, 2: bus}\n", r"keys must be 0\.\.1", id="gap-in-keys"),
        pytest.param("names: []\n", "names is empty", id="empty-names"),
        pytest.param("names: [car]\nnc: 2\n", "nc is 2", id="nc-disagrees"),
        pytest.param("names: [car]\ntrain: train.txt\n", "only a folder", id="image-list-file"),
        pytest.param("names: [car\n", "not valid YAML", id="bad-yaml"),
        pytest.param("- car\n", "must be a mapping", id="not-a-mapping"),
        pytest.param("names: [car]\nval: images/val\n", "image folder not found", id="listed-split-missing"),
    ],
)
def test_bad_data_yaml(tmp_path: Path, data_yaml: str, message: str) -> None:
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "data.yaml").write_text(data_yaml)
    with pytest.raises(DatasetError, match=message):
        read_yolo(tmp_path)


def test_no_class_names_anywhere(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no data\.yaml or classes\.txt"):
        read_yolo(tmp_path)


def test_unknown_split_requested(tmp_path: Path) -> None:
    (tmp_path / "classes.txt").write_text("car\n")
    with pytest.raises(DatasetError, match="split 'val' not found"):
        read_yolo(tmp_path, "val")


def test_undecodable_image(tmp_path: Path) -> None:
    bad = tmp_path / "images" / "train" / "a.jpg"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not an image")
    (tmp_path / "classes.txt").write_text("car\n")
    with pytest.raises(DatasetError, match="cannot decode image") as info:
        read_yolo(tmp_path)
    assert str(bad) in str(info.value)


def test_two_images_with_one_stem_are_ambiguous(tmp_path: Path, make_image: ImageWriter) -> None:
    make_image(tmp_path / "images" / "train" / "a.jpg", 20, 10)
    make_image(tmp_path / "images" / "train" / "a.png", 20, 10)
    (tmp_path / "classes.txt").write_text("car\n")
    with pytest.raises(DatasetError, match="shares its stem"):
        read_yolo(tmp_path)


def test_write_needs_the_image_in_place(tmp_path: Path, make_image: ImageWriter) -> None:
    elsewhere = make_image(tmp_path / "elsewhere" / "a.jpg", 200, 100)
    with pytest.raises(DatasetError, match="image not found") as info:
        write_yolo(tmp_path / "ds", [sample(elsewhere, [], [])], NAMES, split="train")
    assert str(tmp_path / "ds" / "images" / "train" / "a.jpg") in str(info.value)
    assert not (tmp_path / "ds" / "data.yaml").exists()


@pytest.mark.parametrize(
    ("box", "cls", "message"),
    [
        pytest.param([0, 0, 10, 10], 2, "box 0: class id 2 has no name", id="class-without-name"),
        pytest.param([150, 0, 210, 100], 0, "box 0 .* lies outside the 200x100 image", id="box-past-edge"),
    ],
)
def test_write_rejects_bad_boxes(
    tmp_path: Path, make_image: ImageWriter, box: list[float], cls: int, message: str
) -> None:
    image = make_image(tmp_path / "images" / "train" / "a.jpg", 200, 100)
    with pytest.raises(DatasetError, match=message):
        write_yolo(tmp_path, [sample(image, [box], [cls])], NAMES, split="train")
    assert not (tmp_path / "labels").exists()


def test_write_refuses_other_class_names(tmp_path: Path, make_image: ImageWriter) -> None:
    image = make_image(tmp_path / "images" / "train" / "a.jpg", 200, 100)
    write_yolo(tmp_path, [sample(image, [], [])], NAMES, split="train")
    with pytest.raises(DatasetError, match="differ from the class names"):
        write_yolo(tmp_path, [sample(image, [], [])], ["bus"], split="train")


def test_write_rejects_duplicate_stems(tmp_path: Path, make_image: ImageWriter) -> None:
    a = make_image(tmp_path / "images" / "train" / "a.jpg", 200, 100)
    b = make_image(tmp_path / "images" / "train" / "a.png", 200, 100)
    with pytest.raises(DatasetError, match="stem 'a'"):
        write_yolo(tmp_path, [sample(a, [], []), sample(b, [], [])], NAMES, split="train")


@pytest.mark.parametrize(
    ("names", "split", "message"),
    [
        pytest.param(NAMES, "training", "split must be one of", id="unknown-split"),
        pytest.param([], "train", "must not be empty", id="no-names"),
        pytest.param(["car", "car"], "train", "unique", id="repeated-name"),
        pytest.param(["car", ""], "train", "non-empty", id="empty-name"),
    ],
)
def test_write_argument_errors(tmp_path: Path, names: list[str], split: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_yolo(tmp_path, [], names, split=split)
