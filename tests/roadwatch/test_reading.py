"""Scoring plate reads against labels, and loading photos that are not what they claim."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from plates.read import PlateRead
from roadwatch.reading import FoundPlate, LabelledImage, PlateScore, _score_image, load_photo


def _found(box: tuple[float, float, float, float], text: str) -> FoundPlate:
    return FoundPlate(box, 0.9, PlateRead(text, (0.9,) * len(text)))


def _image(
    plates: tuple[tuple[tuple[float, float, float, float], str], ...], ignore: tuple = ()
) -> LabelledImage:
    return LabelledImage("x.jpg", lambda: np.zeros((1, 1, 3), np.uint8), plates, ignore)


def test_a_right_read_a_misread_and_a_false_read() -> None:
    score = PlateScore()
    labels = (((0, 0, 100, 20), "AB-123 CD"), ((200, 0, 300, 20), "XY999ZZ"), ((400, 0, 500, 20), "MISSED1"))
    found = [
        _found((2, 1, 98, 21), "AB123CD"),
        _found((200, 0, 290, 20), "XY999Z2"),
        _found((0, 100, 50, 120), "FA1SE"),
    ]
    _score_image(score, _image(labels), found)
    summary = score.summary()
    assert (
        summary["plates_truth"],
        summary["plates_detected"],
        summary["exact"],
        summary["false_reads"],
    ) == (3, 2, 1, 1)
    assert summary["accuracy"] == pytest.approx(1 / 3, abs=1e-4)
    assert ("x.jpg", "XY999ZZ", "XY999Z2") in score.misreads
    assert ("x.jpg", "MISSED1", "(not found)") in score.misreads


def test_a_label_takes_one_read_and_a_second_read_of_it_is_false() -> None:
    score = PlateScore()
    _score_image(
        score,
        _image((((0, 0, 100, 20), "AB1"),)),
        [_found((0, 0, 100, 20), "AB1"), _found((5, 0, 100, 20), "AB1")],
    )
    assert (score.exact, score.false_reads) == (1, 1)


def test_reads_below_the_overlap_do_not_count() -> None:
    score = PlateScore()
    _score_image(score, _image((((0, 0, 100, 20), "AB1"),)), [_found((80, 0, 180, 20), "AB1")])
    assert (score.plates_detected, score.false_reads) == (0, 1)


def test_reads_of_ignored_plates_are_neither_right_nor_false() -> None:
    score = PlateScore()
    _score_image(score, _image((), ignore=((0, 0, 10, 4),)), [_found((0, 0, 10, 4), "AB1")])
    assert (score.plates_truth, score.false_reads) == (0, 0)


def test_an_image_without_plates_or_reads() -> None:
    score = PlateScore()
    _score_image(score, _image(()), [])
    assert score.summary()["accuracy"] is None
    assert score.images == 1


@pytest.mark.parametrize("channels", [1, 4])
def test_grey_and_four_channel_photos_load_as_bgr(tmp_path: Path, channels: int) -> None:
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), np.full((10, 12, channels), 7, np.uint8))
    image = load_photo(path)
    assert image.shape == (10, 12, 3)


def test_a_truncated_jpeg_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.jpg"
    ok, data = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    assert ok
    path.write_bytes(data.tobytes()[: len(data) * 9 // 10])
    with pytest.raises(OSError, match=r"t\.jpg: not an image OpenCV can read"):
        load_photo(path)


@pytest.mark.parametrize(
    ("content", "message"), [(None, "no such file"), (b"", "not an image"), (b"not a jpeg", "not an image")]
)
def test_missing_and_corrupt_files_name_the_file(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "bad.jpg"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(OSError, match=message):
        load_photo(path)
