"""OpenALPR benchmark folders: tiny hand-made ones, malformed files, and the real EU set when present."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from formats import DatasetError, PlateSample, read_openalpr
from tests.formats.conftest import ImageWriter

# Real data lives beside the repository (../shared), never inside it (AGPL, evaluation only).
REAL_EU = Path(__file__).resolve().parents[3] / "shared" / "data" / "openalpr-eu"


def folder_with(tmp_path: Path, make_image: ImageWriter, labels: dict[str, str]) -> Path:
    for name, text in labels.items():
        make_image(tmp_path / name, 64, 48)
        (tmp_path / name).with_suffix(".txt").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("line", "expected_box", "expected_text"),
    [
        pytest.param("a.jpg\t10\t20\t30\t15\tAB123\n", (10, 20, 40, 35), "AB123", id="tabs"),
        pytest.param("a.jpg 0 0 64 48 ZZ9", (0, 0, 64, 48), "ZZ9", id="spaces-no-newline"),
        pytest.param("a.jpg  5 6 7.5 8  XY\r\n", (5, 6, 12.5, 14), "XY", id="mixed-spacing-crlf-fraction"),
        pytest.param("a.jpg\t1\t2\t3\t4\n", (1, 2, 4, 6), "", id="no-plate-text"),
    ],
)
def test_hand_made_line(
    tmp_path: Path,
    make_image: ImageWriter,
    line: str,
    expected_box: tuple[float, float, float, float],
    expected_text: str,
) -> None:
    folder = folder_with(tmp_path, make_image, {"a.jpg": line})
    assert read_openalpr(folder, plate_format="eu") == [
        PlateSample(folder / "a.jpg", expected_text, expected_box, None, "eu")
    ]


def test_folder_order_default_format_and_several_lines(tmp_path: Path, make_image: ImageWriter) -> None:
    folder = folder_with(
        tmp_path,
        make_image,
        {"b.jpg": "b.jpg 1 1 2 2 B1\n", "a.png": "a.png 1 1 2 2 A1\n\na.png 3 3 2 2 A2\n"},
    )
    (folder / "README").write_text("ignored: not an image")
    plates = read_openalpr(folder)
    assert [(p.image_path.name, p.text, p.plate_format) for p in plates] == [
        ("a.png", "A1", None),
        ("a.png", "A2", None),
        ("b.jpg", "B1", None),
    ]


def test_empty_and_missing_folder(tmp_path: Path) -> None:
    assert read_openalpr(tmp_path) == []
    with pytest.raises(DatasetError, match="folder not found"):
        read_openalpr(tmp_path / "nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("a.jpg 1 2 3\n", "got 4 fields", id="four-fields"),
        pytest.param("a.jpg 1 2 3 4 AB 12\n", "got 7 fields", id="plate-with-space"),
        pytest.param("b.jpg 1 2 3 4 AB\n", "names image 'b.jpg', expected 'a.jpg'", id="other-image"),
        pytest.param("a.jpg 1 y 3 4 AB\n", "y is not a number", id="not-a-number"),
        pytest.param("a.jpg 1 2 -3 4 AB\n", "width and height must be >= 0", id="negative-width"),
        pytest.param("a.jpg 1 2 3 nan AB\n", "h is not finite", id="nan-height"),
    ],
)
def test_malformed_line_names_txt_and_line(
    tmp_path: Path, make_image: ImageWriter, text: str, message: str
) -> None:
    folder = folder_with(tmp_path, make_image, {"a.jpg": "\n" + text})
    with pytest.raises(DatasetError, match=message) as info:
        read_openalpr(folder)
    assert str(info.value).startswith(f"{folder / 'a.txt'}:2: ")


def test_missing_or_empty_annotation_file(tmp_path: Path, make_image: ImageWriter) -> None:
    image = make_image(tmp_path / "a.jpg", 8, 8)
    with pytest.raises(DatasetError, match=r"no annotation file a\.txt") as info:
        read_openalpr(tmp_path)
    assert str(info.value).startswith(f"{image}: ")
    (tmp_path / "a.txt").write_text("\n  \n")
    with pytest.raises(DatasetError, match="empty annotation file"):
        read_openalpr(tmp_path)


@pytest.mark.skipif(not REAL_EU.is_dir(), reason=f"OpenALPR EU benchmark not present at {REAL_EU}")
def test_real_eu_benchmark() -> None:
    plates = read_openalpr(REAL_EU, plate_format="eu")
    assert len(plates) == 108
    assert len({p.image_path for p in plates}) == 108
    for plate in plates:
        assert plate.text, plate.image_path
        assert plate.plate_format == "eu"
        assert plate.corners is None
        image = cv2.imread(str(plate.image_path))
        assert image is not None, plate.image_path
        height, width = image.shape[:2]
        assert plate.xyxy is not None
        x1, y1, x2, y2 = plate.xyxy
        assert 0 <= x1 < x2 <= width, plate.image_path
        assert 0 <= y1 < y2 <= height, plate.image_path


def test_tolerant_reading_skips_faulty_photos_and_keeps_the_rest(
    tmp_path: Path, make_image: ImageWriter
) -> None:
    from formats.openalpr import read_openalpr_tolerant

    folder = folder_with(
        tmp_path,
        make_image,
        {
            "good.jpg": "good.jpg 1 2 3 4 AB123\n",
            "wrong.jpg": "other.jpg 1 2 3 4 CD456\n",  # names an image that is not this one
            "twin.jpg": "twin.jpg 1 2 3 4 EF789\n",
        },
    )
    make_image(folder / "twin.png", 64, 48)  # a second image with the stem 'twin'
    make_image(folder / "bare.jpg", 64, 48)  # no label
    (folder / "orphan.txt").write_text("orphan.jpg 1 2 3 4 GH1\n", encoding="utf-8")
    samples, problems = read_openalpr_tolerant(folder)
    assert [s.text for s in samples] == ["AB123"]
    joined = "\n".join(problems)
    assert len(problems) == 4
    for name in ("twin.jpg, twin.png", "orphan.txt", "wrong.txt", "bare.jpg"):
        assert name in joined
    with pytest.raises(DatasetError, match="folder not found"):
        read_openalpr_tolerant(tmp_path / "missing")
