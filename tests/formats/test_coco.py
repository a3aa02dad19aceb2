"""COCO: hand-computed JSON, round trips, arbitrary category ids, crowd regions, malformed entries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from formats import DatasetError, DetectionSample, read_coco, write_coco


def sample(
    path: Path, boxes: list[list[float]], classes: list[int], size: tuple[int, int] = (64, 48)
) -> DetectionSample:
    return DetectionSample(
        path, size[0], size[1], np.array(boxes, np.float32).reshape(-1, 4), np.array(classes, np.int32)
    )


def test_written_json_by_hand(tmp_path: Path) -> None:
    samples = [
        sample(tmp_path / "img" / "a.jpg", [[10, 20, 40, 60], [0, 0, 1.5, 2]], [1, 0]),
        sample(tmp_path / "img" / "sub" / "b.jpg", [], [], (32, 16)),
    ]
    path = tmp_path / "ann" / "instances.json"
    write_coco(path, samples, ["car", "truck"], images_root=tmp_path / "img")
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "images": [
            {"id": 1, "file_name": "a.jpg", "width": 64, "height": 48},
            {"id": 2, "file_name": "sub/b.jpg", "width": 32, "height": 16},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 2, "bbox": [10, 20, 30, 40], "area": 1200, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1.5, 2], "area": 3, "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "truck"}],
    }


def test_round_trip(tmp_path: Path) -> None:
    samples = [
        sample(tmp_path / "a.jpg", [[10.1, 20.2, 40.3, 60.4], [1, 1, 2, 2]], [2, 0]),
        sample(tmp_path / "sub" / "b.png", [], [], (32, 16)),
        sample(tmp_path / "c.jpg", [[0, 0, 64, 48]], [1]),
    ]
    write_coco(tmp_path / "coco.json", samples, ["car", "truck", "公交车"], images_root=tmp_path)
    got, names = read_coco(tmp_path / "coco.json")
    assert names == ["car", "truck", "公交车"]
    assert len(got) == len(samples)
    for g, want in zip(got, samples, strict=True):
        assert (g.image_path, g.width, g.height) == (want.image_path, want.width, want.height)
        np.testing.assert_allclose(g.xyxy, want.xyxy, atol=1e-3)
        np.testing.assert_array_equal(g.class_id, want.class_id)


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_arbitrary_category_ids_map_in_sorted_order_and_crowds_become_ignore_regions(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "ann.json",
        {
            "images": [{"id": 40, "file_name": "x.jpg", "width": 100, "height": 50}],
            "annotations": [
                {"id": 9, "image_id": 40, "category_id": 7, "bbox": [1, 2, 3, 4], "iscrowd": 0},
                {"id": 10, "image_id": 40, "category_id": 3, "bbox": [5, 6, 7, 8]},
                {"id": 11, "image_id": 40, "category_id": 3, "bbox": [0, 0, 100, 50], "iscrowd": 1},
            ],
            "categories": [{"id": 7, "name": "truck"}, {"id": 3, "name": "car"}],
        },
    )
    (got,), names = read_coco(path, images_root=Path("/data/images"))
    assert names == ["car", "truck"]
    assert got.image_path == Path("/data/images/x.jpg")
    np.testing.assert_allclose(got.xyxy, [[1, 2, 4, 6], [5, 6, 12, 14]])
    np.testing.assert_array_equal(got.class_id, [1, 0])
    np.testing.assert_allclose(got.ignore_xyxy, [[0, 0, 100, 50]])
    np.testing.assert_array_equal(got.ignore_class_id, [0])


def test_ignore_regions_are_written_as_crowds_and_read_back(tmp_path: Path) -> None:
    kept = DetectionSample(
        tmp_path / "a.jpg",
        64,
        48,
        np.array([[10, 20, 40, 60]], np.float32),
        np.array([1], np.int32),
        ignore_xyxy=np.array([[0, 0, 8, 4], [50, 40, 64, 48]], np.float32),
        ignore_class_id=np.array([0, 1], np.int32),
    )
    path = tmp_path / "coco.json"
    write_coco(path, [kept], ["car", "plate"], images_root=tmp_path)
    crowds = [a["iscrowd"] for a in json.loads(path.read_text(encoding="utf-8"))["annotations"]]
    assert crowds == [0, 1, 1]
    (got,), _ = read_coco(path)
    assert got == kept


def test_images_without_annotations_and_no_annotations_key(tmp_path: Path) -> None:
    path = write_json(
        tmp_path / "ann.json",
        {"images": [{"id": 1, "file_name": "x.jpg", "width": 4, "height": 3}], "categories": []},
    )
    (got,), names = read_coco(path)
    assert names == []
    assert got.image_path == tmp_path / "x.jpg"
    assert got.xyxy.shape == (0, 4)


def test_empty_dataset(tmp_path: Path) -> None:
    write_coco(tmp_path / "c.json", [], ["car"], images_root=tmp_path)
    assert read_coco(tmp_path / "c.json") == ([], ["car"])


IMAGE = {"id": 1, "file_name": "x.jpg", "width": 10, "height": 10}
CATEGORY = {"id": 1, "name": "car"}
GOOD_ANN = {"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"bbox": None}, "annotation id 5: missing 'bbox'", id="missing-bbox"),
        pytest.param(
            {"bbox": [0, 0, 1]}, "annotation id 5: bbox must be 4 finite numbers", id="three-numbers"
        ),
        pytest.param({"bbox": [0, 0, "1", 1]}, "annotation id 5: bbox must be 4", id="string-in-bbox"),
        pytest.param({"bbox": [0, 0, True, 1]}, "annotation id 5: bbox must be 4", id="bool-in-bbox"),
        pytest.param({"bbox": [0, 0, -1, 1]}, "annotation id 5: bbox width and height", id="negative-width"),
        pytest.param({"category_id": None}, "annotation id 5: missing 'category_id'", id="missing-category"),
        pytest.param({"image_id": None}, "annotation id 5: missing 'image_id'", id="missing-image-id"),
        pytest.param({"image_id": 2}, "annotation id 5: image_id 2 is not among", id="unknown-image"),
        pytest.param(
            {"category_id": 9}, "annotation id 5: category_id 9 is not among", id="unknown-category"
        ),
        pytest.param({"image_id": "1"}, "annotation id 5: 'image_id' must be int", id="string-image-id"),
        pytest.param({"id": None}, r"annotations\[0\]: missing 'id'", id="missing-annotation-id"),
    ],
)
def test_bad_annotation_names_its_id(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    ann = {k: v for k, v in {**GOOD_ANN, **change}.items() if v is not None}
    path = write_json(
        tmp_path / "a.json", {"images": [IMAGE], "annotations": [ann], "categories": [CATEGORY]}
    )
    with pytest.raises(DatasetError, match=message) as info:
        read_coco(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param({"annotations": [], "categories": []}, "'images' missing", id="no-images"),
        pytest.param({"images": [], "annotations": []}, "'categories' missing", id="no-categories"),
        pytest.param({"images": {}, "categories": []}, "'images' must be a list", id="images-not-list"),
        pytest.param(
            {"images": [3], "categories": []}, r"images\[0\] must be an object", id="image-not-object"
        ),
        pytest.param(
            {"images": [{"id": 1, "width": 1, "height": 1}], "categories": []},
            "image id 1: missing 'file_name'",
            id="image-without-file-name",
        ),
        pytest.param(
            {"images": [IMAGE, IMAGE], "categories": []}, "image id 1 is given twice", id="dup-image"
        ),
        pytest.param(
            {"images": [], "categories": [CATEGORY, CATEGORY]},
            "category id 1 is given twice",
            id="dup-category",
        ),
        pytest.param(
            {"images": [{**IMAGE, "width": 0}], "categories": []}, "image id 1: .*positive", id="zero-width"
        ),
        pytest.param([], "top level must be an object", id="list-at-top"),
    ],
)
def test_bad_document(tmp_path: Path, document: Any, message: str) -> None:
    path = write_json(tmp_path / "a.json", document)
    with pytest.raises(DatasetError, match=message):
        read_coco(path)


def test_not_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{\n  "images": [,]\n}\n')
    with pytest.raises(DatasetError, match="not valid JSON") as info:
        read_coco(path)
    assert str(info.value).startswith(f"{path}:2: ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        read_coco(tmp_path / "nope.json")


def test_write_errors(tmp_path: Path) -> None:
    outside = sample(tmp_path / "other" / "a.jpg", [], [])
    with pytest.raises(DatasetError, match="not under images_root"):
        write_coco(tmp_path / "c.json", [outside], ["car"], images_root=tmp_path / "img")
    unnamed = sample(tmp_path / "a.jpg", [[0, 0, 1, 1]], [3])
    with pytest.raises(DatasetError, match="class id 3 has no name"):
        write_coco(tmp_path / "c.json", [unnamed], ["car"], images_root=tmp_path)
    twice = sample(tmp_path / "a.jpg", [], [])
    with pytest.raises(DatasetError, match="listed twice"):
        write_coco(tmp_path / "c.json", [twice, twice], ["car"], images_root=tmp_path)
    with pytest.raises(ValueError, match="class names"):
        write_coco(tmp_path / "c.json", [], ["car", "car"], images_root=tmp_path)
