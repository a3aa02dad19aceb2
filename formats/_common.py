"""Helpers shared by the format modules: image listing and size, text and CSV files, plate cells."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from formats.types import DatasetError, PlateSample

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
BOX_COLUMNS = ("x1", "y1", "x2", "y2")
CORNER_COLUMNS = ("c0x", "c0y", "c1x", "c1y", "c2x", "c2y", "c3x", "c3y")


def list_images(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name (suffix case ignored)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image file.

    Raises:
        DatasetError: The file cannot be read or decoded.
    """
    try:
        # np.fromfile + imdecode, not imread: imread fails silently on non-ASCII paths.
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise DatasetError(path, f"cannot read image: {exc.strerror or exc}") from None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise DatasetError(path, "cannot decode image")
    return int(image.shape[1]), int(image.shape[0])


def read_text(path: Path) -> str:
    """The file's UTF-8 text (a byte-order mark is dropped).

    Raises:
        DatasetError: Missing, unreadable, or not UTF-8.
    """
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(path, "no such file") from None
    except OSError as exc:
        raise DatasetError(path, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"not UTF-8 text (byte {exc.start})") from None


def format_number(value: float) -> str:
    """Pixel coordinate for a text file: 3 decimals, trailing zeros dropped (``12``, ``10.25``)."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def parse_number(text: str, *, name: str, source: Path, line: int) -> float:
    """A finite float from a text field.

    Raises:
        DatasetError: Naming ``source:line`` and the field when it is not a finite number.
    """
    try:
        value = float(text)
    except ValueError:
        raise DatasetError(source, f"{name} is not a number: {text!r}", line=line) from None
    if not math.isfinite(value):
        raise DatasetError(source, f"{name} is not finite: {text!r}", line=line)
    return value


def read_csv(
    path: Path, columns: Sequence[str], optional: Sequence[str] = ()
) -> list[tuple[int, dict[str, str]]]:
    """Rows of a CSV file with a header naming exactly ``columns`` (in any order), and any of
    the ``optional`` columns (a row has a key only for the columns its file has).

    Returns:
        ``(line number, row)`` pairs; blank lines are skipped.

    Raises:
        DatasetError: Unreadable file, wrong header, or a row with the wrong number of cells.
    """
    lines = read_text(path).splitlines()
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise DatasetError(path, f"empty file; expected a header: {','.join(columns)}")
    if sorted(c for c in header if c not in optional) != sorted(columns) or len(set(header)) != len(header):
        also = f" (and optionally {','.join(optional)})" if optional else ""
        raise DatasetError(
            path, f"header must name {','.join(columns)}{also}; got {','.join(header)}", line=1
        )
    rows = []
    for cells in reader:
        if not cells or cells == [""]:
            continue
        if len(cells) != len(header):
            raise DatasetError(path, f"expected {len(header)} cells, got {len(cells)}", line=reader.line_num)
        rows.append((reader.line_num, dict(zip(header, cells, strict=True))))
    return rows


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Write a UTF-8 CSV file (header, then rows), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)


def plate_cells(plate: PlateSample) -> list[str]:
    """The box and corner cells of a plate row (empty strings where unknown)."""
    box = [format_number(v) for v in plate.xyxy] if plate.xyxy is not None else [""] * 4
    corners = (
        [format_number(float(v)) for v in plate.corners.reshape(-1)]
        if plate.corners is not None
        else [""] * 8
    )
    return box + corners


def plate_from_row(
    row: Mapping[str, str], *, image_path: Path, source: Path, line: int, text_column: str = "text"
) -> PlateSample:
    """Build a plate from a CSV row holding ``text``, ``format``, box and corner columns, and
    optionally ``lines`` (1, 2, or empty when unknown).

    Raises:
        DatasetError: Naming ``source:line``: a number is malformed, a group is partly empty,
            or the values make an invalid plate (inverted box, text with spaces).
    """
    box = _number_group(row, BOX_COLUMNS, source=source, line=line)
    corners = _number_group(row, CORNER_COLUMNS, source=source, line=line)
    lines = row.get("lines", "").strip()
    if lines not in ("", "1", "2"):
        raise DatasetError(source, f"lines must be 1, 2 or empty, got {lines!r}", line=line)
    try:
        return PlateSample(
            image_path=image_path,
            text=row[text_column],
            xyxy=(box[0], box[1], box[2], box[3]) if box is not None else None,
            corners=np.array(corners, dtype=np.float32).reshape(4, 2) if corners is not None else None,
            plate_format=row["format"] or None,
            lines=int(lines) if lines else None,
        )
    except ValueError as exc:
        raise DatasetError(source, str(exc).removeprefix(f"{image_path}: "), line=line) from None


def _number_group(
    row: Mapping[str, str], columns: Sequence[str], *, source: Path, line: int
) -> list[float] | None:
    cells = [row[c].strip() for c in columns]
    if not any(cells):
        return None
    if not all(cells):
        raise DatasetError(source, f"{','.join(columns)} must be all set or all empty", line=line)
    return [
        parse_number(cell, name=c, source=source, line=line) for c, cell in zip(columns, cells, strict=True)
    ]
