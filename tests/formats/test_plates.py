"""Plate crop CSV: exact text round trips (Chinese included), hand-written files, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from formats import DatasetError, PlateSample, read_plate_csv, write_plate_csv
from formats.plates import COLUMNS
from tests.formats.conftest import ImageWriter

HEADER = ",".join(COLUMNS)
CORNERS = np.array([[1, 2], [30, 2], [30, 12], [1, 12]], np.float32)


def test_round_trip_keeps_text_exactly(tmp_path: Path, make_image: ImageWriter) -> None:
    a = make_image(tmp_path / "crops" / "a.png", 32, 16)
    b = make_image(tmp_path / "crops" / "港 b.jpg", 32, 16)
    c = make_image(tmp_path / "c.jpg", 32, 16)
    d = make_image(tmp_path / "crops" / "d.jpg", 32, 16)
    samples = [
        (PlateSample(a, "皖AY339S", (1, 2, 30, 12), CORNERS, "cn"), "train"),
        (PlateSample(b, "粤Z1234港", (0.25, 0.5, 31.75, 15.5), None, "cn"), "val"),
        (PlateSample(c, "", None, None), "test"),
        # CSV quoting: a quote and a comma in the text survive.
        (PlateSample(d, 'M5"X,SX', (0, 0, 32, 16), CORNERS + 0.125, "eu"), "train"),
    ]
    path = tmp_path / "labels.csv"
    write_plate_csv(path, samples)
    assert read_plate_csv(path) == samples
    assert "皖AY339S" in path.read_bytes().decode("utf-8")
    with pytest.raises(DatasetError, match="listed twice"):
        write_plate_csv(path, [samples[0], samples[0]])


def test_written_rows_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    plate = PlateSample(tmp_path / "a.jpg", "AB12", (1, 2.5, 30, 12), CORNERS + 0.5, "eu")
    write_plate_csv(path, [(plate, "train"), (PlateSample(tmp_path / "b.jpg", "", None, None), "val")])
    assert path.read_text(encoding="utf-8").splitlines() == [
        HEADER,
        "a.jpg,AB12,eu,train,1,2.5,30,12,1.5,2.5,30.5,2.5,30.5,12.5,1.5,12.5",
        "b.jpg,,,val,,,,,,,,,,,,",
    ]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        pytest.param(
            "a.jpg,京A12345,cn,train,1,2,3,4,,,,,,,,",
            PlateSample(Path("a.jpg"), "京A12345", (1, 2, 3, 4), None, "cn"),
            id="box-only",
        ),
        pytest.param(
            "a.jpg,AB1,,val,,,,,0,0,4,0,4,2,0,2",
            PlateSample(Path("a.jpg"), "AB1", None, np.array([[0, 0], [4, 0], [4, 2], [0, 2]]), None),
            id="corners-only",
        ),
        pytest.param(
            "a.jpg,,,test, 1 ,2,3,4,,,,,,,,",
            PlateSample(Path("a.jpg"), "", (1, 2, 3, 4), None, None),
            id="unknown-text-spaces-around-numbers",
        ),
    ],
)
def test_read_hand_written_rows(
    tmp_path: Path, make_image: ImageWriter, row: str, expected: PlateSample
) -> None:
    make_image(tmp_path / "a.jpg", 8, 8)
    path = tmp_path / "labels.csv"
    path.write_text(f"{HEADER}\n{row}\n", encoding="utf-8")
    ((plate, split),) = read_plate_csv(path)
    assert plate == PlateSample(
        tmp_path / expected.image_path, expected.text, expected.xyxy, expected.corners, expected.plate_format
    )
    assert split == row.split(",")[3]


def test_byte_order_mark_and_blank_lines_are_tolerated(tmp_path: Path, make_image: ImageWriter) -> None:
    make_image(tmp_path / "a.jpg", 8, 8)
    path = tmp_path / "labels.csv"
    path.write_bytes(f"\ufeff{HEADER}\n\na.jpg,AB,,train,,,,,,,,,,,,\n".encode())
    assert read_plate_csv(path) == [(PlateSample(tmp_path / "a.jpg", "AB", None, None), "train")]


def test_header_only_gives_empty_list(tmp_path: Path) -> None:
    write_plate_csv(tmp_path / "labels.csv", [])
    assert read_plate_csv(tmp_path / "labels.csv") == []


@pytest.mark.parametrize(
    ("row", "message"),
    [
        pytest.param(
            "missing.jpg,AB,,train,,,,,,,,,,,,", "crop 'missing.jpg' does not exist", id="missing-crop"
        ),
        pytest.param("../a.jpg,AB,,train,,,,,,,,,,,,", "inside the CSV's folder", id="outside-folder"),
        pytest.param(",AB,,train,,,,,,,,,,,,", "inside the CSV's folder", id="empty-file"),
        pytest.param("a.jpg,AB,,,,,,,,,,,,,,", "split is empty", id="empty-split"),
        pytest.param("a.jpg,AB,,train,1,2,3,,,,,,,,,", "must be all set or all empty", id="partial-box"),
        pytest.param(
            "a.jpg,AB,,train,,,,,0,0,4,0,4,2,0,", "must be all set or all empty", id="partial-corners"
        ),
        pytest.param("a.jpg,AB,,train,1,2,3,inf,,,,,,,,", "y2 is not finite", id="infinite"),
        pytest.param("a.jpg,A B,,train,,,,,,,,,,,,", "whitespace", id="space-in-text"),
        pytest.param("a.jpg,AB,,train,,,,,,,,,,,,,", "expected 16 cells, got 17", id="extra-cell"),
    ],
)
def test_bad_row_names_file_and_line(tmp_path: Path, make_image: ImageWriter, row: str, message: str) -> None:
    make_image(tmp_path / "a.jpg", 8, 8)
    path = tmp_path / "labels.csv"
    path.write_text(f"{HEADER}\na.jpg,OK,,train,,,,,,,,,,,,\n{row}\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=message) as info:
        read_plate_csv(path)
    assert str(info.value).startswith(f"{path}:3: ")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"", "empty file", id="empty"),
        pytest.param(b"file,text\n", "header must name", id="wrong-header"),
        pytest.param(b"file,text,format,split\n", "header must name", id="short-header"),
        pytest.param(b"\xff\xfe\x00", "not UTF-8", id="not-utf8"),
    ],
)
def test_bad_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message):
        read_plate_csv(path)


def test_write_errors(tmp_path: Path) -> None:
    outside = PlateSample(tmp_path.parent / "x.jpg", "AB", None, None)
    with pytest.raises(DatasetError, match="not under the folder"):
        write_plate_csv(tmp_path / "labels.csv", [(outside, "train")])
    with pytest.raises(DatasetError, match="split must not be empty"):
        write_plate_csv(tmp_path / "labels.csv", [(PlateSample(tmp_path / "a.jpg", "AB", None, None), "")])
    assert not (tmp_path / "labels.csv").exists()
