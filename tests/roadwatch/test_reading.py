"""Scoring plate reads against labels, and loading photos that are not what they claim."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors.base import Detections
from detectors.stage import PLATE
from plates.read import PlateRead
from roadwatch.reading import (
    MAX_PHOTO_PIXELS,
    FoundPlate,
    LabelledImage,
    PlateScore,
    _score_image,
    load_photo,
    read_image,
)


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


def test_a_sixteen_bit_photo_loads_as_eight_bit(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), np.full((8, 8, 3), 40000, np.uint16))
    image = load_photo(path)
    assert image.dtype == np.uint8
    assert image.shape == (8, 8, 3)
    assert int(image[0, 0, 0]) == 40000 // 256


def test_a_phone_photo_is_turned_upright_by_its_exif_orientation(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    Image.new("RGB", (40, 20), (200, 10, 10)).save(path, exif=exif)
    assert load_photo(path).shape == (40, 20, 3)


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` × ``height`` and holds next to no data (a bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header(13_000, 12_000))
    assert MAX_PHOTO_PIXELS < 13_000 * 12_000
    with pytest.raises(OSError, match=r"bomb\.png: 13000x12000 is larger than 150 megapixels"):
        load_photo(path)


class _Boxes:
    """Stands in for the detector: the same plate boxes for every image."""

    def __init__(self, boxes: list[tuple[float, float, float, float]], scores: list[float]) -> None:
        self.found = Detections(
            np.array(boxes, np.float32).reshape(-1, 4),
            np.array(scores, np.float32),
            np.full(len(boxes), PLATE, np.int32),
            np.full(len(boxes), -1, np.int32),
        )

    def detect_image(self, image: np.ndarray) -> Detections:
        return self.found


class _Texts:
    """Stands in for the reader: the given texts, in the order the crops come."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.crops = 0

    def read(self, crops: list[np.ndarray]) -> list[PlateRead]:
        self.crops += len(crops)
        texts = self.texts[: len(crops)]
        return [PlateRead(t, (0.9,) * len(t)) if t else PlateRead.unreadable("no text") for t in texts]


def test_read_image_keeps_one_read_per_plate_and_skips_plates_too_small_to_read() -> None:
    image = np.full((200, 300, 3), 128, np.uint8)
    boxes = [
        (100.0, 100.0, 200.0, 130.0),  # the plate
        (110.0, 102.0, 180.0, 128.0),  # a second, weaker box inside it
        (10.0, 10.0, 60.0, 30.0),  # the same text elsewhere (a reflection)
        (220.0, 150.0, 260.0, 156.0),  # 6 px high: not read at all
        (220.0, 20.0, 290.0, 40.0),  # another plate
    ]
    reader = _Texts(["AB123CD", "AB123", "AB123CD", "XY987ZZ"])
    found = read_image(image, _Boxes(boxes, [0.9, 0.8, 0.7, 0.95, 0.6]), reader)  # type: ignore[arg-type]
    assert reader.crops == 4
    assert [f.read.text for f in found] == ["AB123CD", "XY987ZZ"]
    assert [f.detection_score for f in found] == pytest.approx([0.9, 0.6])


def test_a_bomb_beyond_pils_own_limit_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header(40_000, 40_000))
    with pytest.raises(OSError, match=r"huge\.png: its size is larger than 150 megapixels"):
        load_photo(path)
