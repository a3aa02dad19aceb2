"""VeRi-776 vehicle re-identification layout, with optional plate sidecars.

Layout::

    root/image_train/  root/image_query/  root/image_test/     crops VVVV_cCCC_FFFFFFFF_K.jpg
    root/name_train.txt  root/name_query.txt  root/name_test.txt   one file name per line
    root/plates_<split>.csv    optional: the plate inside each crop (crop pixel coordinates);
                               columns name, text, format, box, corners, and optionally lines
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from formats._common import (
    BOX_COLUMNS,
    CORNER_COLUMNS,
    plate_cells,
    plate_from_row,
    read_csv,
    read_text,
    write_csv,
)
from formats.types import DatasetError, PlateSample, ReidSample

# VeRi-776 has train/query/test; "val" (held-out identities for model selection) is our extra.
SPLITS = ("train", "val", "query", "test")
SIDECAR_COLUMNS = ("name", "text", "format", *BOX_COLUMNS, *CORNER_COLUMNS)
SIDECAR_OPTIONAL = ("lines",)  # rows of characters: 1, 2 or empty (older sidecars lack the column)
_NAME = re.compile(r"(\d{4})_(c\d{3})_(\d{8})_(\d+)\.jpg")


def veri_name(identity: int, camera: int, frame: int, k: int = 0) -> str:
    """The VeRi file name of a crop, e.g. ``veri_name(2, 1, 16450) == "0002_c001_00016450_0.jpg"``.

    Args:
        identity: Vehicle id, 0..9999.
        camera: Camera number, 0..999.
        frame: Frame number, 0..99999999.
        k: Index telling apart crops of one vehicle in one frame, >= 0.

    Raises:
        ValueError: A number does not fit its field.
    """
    for name, value, top in (
        ("identity", identity, 9999),
        ("camera", camera, 999),
        ("frame", frame, 99_999_999),
    ):
        if not 0 <= value <= top:
            raise ValueError(f"{name} must be in 0..{top}, got {value}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    return f"{identity:04d}_c{camera:03d}_{frame:08d}_{k}.jpg"


def parse_veri_name(name: str) -> tuple[int, str, int]:
    """``(identity, camera, frame)`` from a VeRi file name, e.g. ``(2, "c001", 16450)``.

    Raises:
        DatasetError: The name is not ``VVVV_cCCC_FFFFFFFF_K.jpg``.
    """
    match = _NAME.fullmatch(name)
    if match is None:
        raise DatasetError(name, "not a VeRi file name; expected VVVV_cCCC_FFFFFFFF_K.jpg")
    return int(match[1]), match[2], int(match[3])


def read_veri(root: Path) -> dict[str, list[ReidSample]]:
    """Read the train, (optional) val, query and test splits of a VeRi-style folder.

    A split's crops are those named in ``name_<split>.txt`` when it exists, else every
    ``.jpg`` in ``image_<split>/`` sorted by name; a split with neither is empty. When
    ``plates_<split>.csv`` exists its rows are attached as ``ReidSample.plate``.

    Returns:
        ``{"train": [...], "val": [...], "query": [...], "test": [...]}`` (absent splits empty).

    Raises:
        DatasetError: ``root`` is missing, a listed crop does not exist, a name is not a VeRi
            name, or a sidecar row is malformed or names no crop of its split.
    """
    if not root.is_dir():
        raise DatasetError(root, "dataset folder not found")
    out: dict[str, list[ReidSample]] = {}
    for split in SPLITS:
        folder, listing = root / f"image_{split}", root / f"name_{split}.txt"
        paths: list[tuple[Path, int | None]] = []
        if listing.exists():
            for n, line in enumerate(read_text(listing).splitlines(), start=1):
                name = line.strip()
                if not name:
                    continue
                if not (folder / name).is_file():
                    raise DatasetError(listing, f"{folder / name} does not exist", line=n)
                paths.append((folder / name, n))
        elif folder.is_dir():
            paths = [(p, None) for p in sorted(folder.glob("*.jpg"))]
        samples = []
        for path, line_no in paths:
            try:
                identity, camera, frame = parse_veri_name(path.name)
            except DatasetError as exc:
                where = listing if line_no is not None else path
                raise DatasetError(where, exc.problem, line=line_no) from None
            samples.append(ReidSample(path, identity, camera, frame))
        sidecar = root / f"plates_{split}.csv"
        out[split] = _attach_plates(samples, sidecar) if sidecar.exists() else samples
    return out


def write_veri_lists(root: Path, split_names: Mapping[str, Sequence[str]]) -> None:
    """Write ``name_<split>.txt`` for each split given (one file name per line).

    Raises:
        ValueError: A split is not train, query or test.
        DatasetError: A name is not a VeRi file name.
    """
    for split, names in split_names.items():
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        for name in names:
            parse_veri_name(name)
    root.mkdir(parents=True, exist_ok=True)
    for split, names in split_names.items():
        (root / f"name_{split}.txt").write_text("".join(f"{name}\n" for name in names), encoding="utf-8")


def write_plate_sidecar(path: Path, rows: Sequence[tuple[str, PlateSample]]) -> None:
    """Write a ``plates_<split>.csv`` sidecar: one ``(crop file name, plate)`` per row.

    The plate's coordinates must be in the crop's pixels; its ``image_path`` is not written
    (the reader sets it to the crop).

    Raises:
        DatasetError: A name is not a VeRi file name or is given twice.
    """
    seen: set[str] = set()
    cells = []
    for name, plate in rows:
        parse_veri_name(name)
        if name in seen:
            raise DatasetError(path, f"crop {name} is given twice")
        seen.add(name)
        lines = str(plate.lines) if plate.lines is not None else ""
        cells.append([name, plate.text, plate.plate_format or "", *plate_cells(plate), lines])
    write_csv(path, (*SIDECAR_COLUMNS, *SIDECAR_OPTIONAL), cells)


def _attach_plates(samples: list[ReidSample], sidecar: Path) -> list[ReidSample]:
    by_name = {s.image_path.name: i for i, s in enumerate(samples)}
    out = list(samples)
    seen: set[str] = set()
    for n, row in read_csv(sidecar, SIDECAR_COLUMNS, SIDECAR_OPTIONAL):
        name = row["name"]
        if name not in by_name:
            raise DatasetError(sidecar, f"crop {name!r} is not in this split", line=n)
        if name in seen:
            raise DatasetError(sidecar, f"crop {name!r} is given twice", line=n)
        seen.add(name)
        i = by_name[name]
        plate = plate_from_row(row, image_path=samples[i].image_path, source=sidecar, line=n)
        out[i] = replace(samples[i], plate=plate)
    return out
