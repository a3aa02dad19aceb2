"""VeRi: file names both ways, list files, folder listing, plate sidecars, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from formats import (
    DatasetError,
    PlateSample,
    ReidSample,
    parse_veri_name,
    read_veri,
    veri_name,
    write_plate_sidecar,
    write_veri_lists,
)
from formats.veri import SIDECAR_COLUMNS
from tests.formats.conftest import ImageWriter

NAME_TABLE = [
    pytest.param((2, 1, 16450, 0), "0002_c001_00016450_0.jpg", (2, "c001", 16450), id="typical"),
    pytest.param((776, 20, 0, 3), "0776_c020_00000000_3.jpg", (776, "c020", 0), id="frame-zero-k3"),
    pytest.param((0, 0, 99_999_999, 12), "0000_c000_99999999_12.jpg", (0, "c000", 99_999_999), id="bounds"),
]


@pytest.mark.parametrize(("args", "name", "parsed"), NAME_TABLE)
def test_veri_name_and_back(args: tuple[int, int, int, int], name: str, parsed: tuple[int, str, int]) -> None:
    assert veri_name(*args) == name
    assert parse_veri_name(name) == parsed


@pytest.mark.parametrize(
    "name",
    [
        "0002_c001_00016450.jpg",
        "2_c001_00016450_0.jpg",
        "0002_001_00016450_0.jpg",
        "0002_c01_00016450_0.jpg",
        "0002_c001_0016450_0.jpg",
        "0002_c001_00016450_0.png",
        "0002_c001_00016450_x.jpg",
        "dir/0002_c001_00016450_0.jpg",
        "",
    ],
)
def test_parse_rejects_other_shapes(name: str) -> None:
    with pytest.raises(DatasetError, match="not a VeRi file name"):
        parse_veri_name(name)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param((10_000, 1, 1), "identity", id="identity-5-digits"),
        pytest.param((-1, 1, 1), "identity", id="negative-identity"),
        pytest.param((1, 1000, 1), "camera", id="camera-4-digits"),
        pytest.param((1, 1, 100_000_000), "frame", id="frame-9-digits"),
        pytest.param((1, 1, 1, -1), "k", id="negative-k"),
    ],
)
def test_veri_name_range_errors(args: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        veri_name(*args)


def crops(make_image: ImageWriter, folder: Path, names: list[str]) -> list[Path]:
    return [make_image(folder / name, 8, 6) for name in names]


def test_read_with_lists_folders_and_missing_split(tmp_path: Path, make_image: ImageWriter) -> None:
    train = crops(
        make_image, tmp_path / "image_train", [veri_name(2, 1, 5), veri_name(1, 3, 7, 1), veri_name(9, 9, 9)]
    )
    query = crops(make_image, tmp_path / "image_query", [veri_name(5, 2, 8), veri_name(4, 2, 1)])
    # The list names two of the three train crops, in its own order.
    write_veri_lists(tmp_path, {"train": [train[1].name, train[0].name]})
    got = read_veri(tmp_path)
    assert got == {
        "train": [ReidSample(train[1], 1, "c003", 7), ReidSample(train[0], 2, "c001", 5)],
        "val": [],
        "query": [ReidSample(query[1], 4, "c002", 1), ReidSample(query[0], 5, "c002", 8)],
        "test": [],
    }


def test_empty_folder_gives_empty_splits(tmp_path: Path) -> None:
    assert read_veri(tmp_path) == {"train": [], "val": [], "query": [], "test": []}


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="dataset folder not found"):
        read_veri(tmp_path / "nope")


def test_listed_crop_that_does_not_exist(tmp_path: Path, make_image: ImageWriter) -> None:
    crops(make_image, tmp_path / "image_test", [veri_name(1, 1, 1)])
    (tmp_path / "name_test.txt").write_text(f"{veri_name(1, 1, 1)}\n{veri_name(1, 1, 2)}\n")
    with pytest.raises(DatasetError, match="does not exist") as info:
        read_veri(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'name_test.txt'}:2: ")


def test_bad_name_in_folder_names_the_file(tmp_path: Path, make_image: ImageWriter) -> None:
    (bad,) = crops(make_image, tmp_path / "image_query", ["car.jpg"])
    with pytest.raises(DatasetError, match="not a VeRi file name") as info:
        read_veri(tmp_path)
    assert str(info.value).startswith(f"{bad}: ")


def test_bad_name_in_list_names_the_line(tmp_path: Path, make_image: ImageWriter) -> None:
    crops(make_image, tmp_path / "image_train", ["car.jpg"])
    (tmp_path / "name_train.txt").write_text("\ncar.jpg\n")
    with pytest.raises(DatasetError, match="not a VeRi file name") as info:
        read_veri(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'name_train.txt'}:2: ")


def test_plate_sidecar_round_trip(tmp_path: Path, make_image: ImageWriter) -> None:
    a, b, c = crops(
        make_image, tmp_path / "image_train", [veri_name(1, 1, 1), veri_name(2, 1, 1), veri_name(3, 1, 1)]
    )
    corners = np.array([[1.5, 2], [30, 2.25], [30, 12], [1.5, 12.125]], np.float32)
    plates = [
        (a.name, PlateSample(Path("ignored"), "皖AD86766", (1.5, 2, 30, 12.125), corners, "cn", 2)),
        (c.name, PlateSample(Path("ignored"), "", (0, 0, 4, 4), None)),
    ]
    write_plate_sidecar(tmp_path / "plates_train.csv", plates)
    got = read_veri(tmp_path)["train"]
    assert got[0].plate == PlateSample(a, "皖AD86766", (1.5, 2, 30, 12.125), corners, "cn", 2)
    assert got[0].plate != PlateSample(a, "皖AD86766", (1.5, 2, 30, 12.125), corners, "cn", 1)
    assert got[1] == ReidSample(b, 2, "c001", 1)
    assert got[2].plate == PlateSample(c, "", (0, 0, 4, 4), None, None)


def test_sidecar_without_the_lines_column_reads_as_unknown(tmp_path: Path, make_image: ImageWriter) -> None:
    (a,) = crops(make_image, tmp_path / "image_train", [veri_name(1, 1, 1)])
    sidecar = tmp_path / "plates_train.csv"
    header = ",".join(SIDECAR_COLUMNS)
    sidecar.write_text(f"{header}\n{a.name},AB12,eu,1,2,30,12,,,,,,,,\n", encoding="utf-8")
    plate = read_veri(tmp_path)["train"][0].plate
    assert plate is not None
    assert (plate.text, plate.lines) == ("AB12", None)


def test_sidecar_lines_must_be_one_or_two(tmp_path: Path, make_image: ImageWriter) -> None:
    (a,) = crops(make_image, tmp_path / "image_train", [veri_name(1, 1, 1)])
    sidecar = tmp_path / "plates_train.csv"
    header = ",".join([*SIDECAR_COLUMNS, "lines"])
    sidecar.write_text(f"{header}\n{a.name},AB12,eu,1,2,30,12,,,,,,,,,3\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="lines must be 1, 2 or empty, got '3'") as info:
        read_veri(tmp_path)
    assert str(info.value).startswith(f"{sidecar}:2: ")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        pytest.param(f"{veri_name(7, 1, 1)},AB,,,,,,,,,,,,,", "is not in this split", id="unknown-crop"),
        pytest.param(
            f"{veri_name(1, 1, 1)},AB,,1,2,3,,,,,,,,,", "x1,y1,x2,y2 must be all set", id="partial-box"
        ),
        pytest.param(f"{veri_name(1, 1, 1)},AB,,1,2,x,4,,,,,,,,", "x2 is not a number", id="bad-number"),
        pytest.param(f"{veri_name(1, 1, 1)},AB,,3,2,1,4,,,,,,,,", "x1 > x2", id="inverted-box"),
        pytest.param(f"{veri_name(1, 1, 1)},A B,,,,,,,,,,,,,", "whitespace", id="space-in-text"),
        pytest.param(f"{veri_name(1, 1, 1)},AB,,,", "expected 15 cells, got 5", id="short-row"),
    ],
)
def test_bad_sidecar_row_names_the_line(
    tmp_path: Path, make_image: ImageWriter, row: str, message: str
) -> None:
    crops(make_image, tmp_path / "image_train", [veri_name(1, 1, 1)])
    sidecar = tmp_path / "plates_train.csv"
    sidecar.write_text(",".join(SIDECAR_COLUMNS) + "\n" + row + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=message) as info:
        read_veri(tmp_path)
    assert str(info.value).startswith(f"{sidecar}:2: ")


def test_sidecar_wrong_header(tmp_path: Path) -> None:
    (tmp_path / "plates_query.csv").write_text("name,plate\n")
    with pytest.raises(DatasetError, match="header must name"):
        read_veri(tmp_path)


def test_write_lists_and_sidecar_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        write_veri_lists(tmp_path, {"gallery": []})
    with pytest.raises(DatasetError, match="not a VeRi file name"):
        write_veri_lists(tmp_path, {"train": ["car.jpg"]})
    plate = PlateSample(Path("x"), "AB", None, None)
    with pytest.raises(DatasetError, match="given twice"):
        write_plate_sidecar(tmp_path / "p.csv", [(veri_name(1, 1, 1), plate)] * 2)
    assert list(tmp_path.iterdir()) == []


def test_write_lists_format(tmp_path: Path) -> None:
    write_veri_lists(tmp_path, {"query": [veri_name(1, 2, 3)], "test": []})
    assert (tmp_path / "name_query.txt").read_text() == "0001_c002_00000003_0.jpg\n"
    assert (tmp_path / "name_test.txt").read_text() == ""
