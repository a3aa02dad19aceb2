"""Plate crops with a ``labels.csv`` beside them.

Columns: ``file,text,format,split,x1,y1,x2,y2,c0x,c0y,c1x,c1y,c2x,c2y,c3x,c3y``. ``file`` is
relative to the CSV's folder; coordinates are pixels of that file; box or corner cells may be
left empty (all four, all eight) when unknown; ``format`` may be empty. UTF-8, so province
characters such as 皖 round-trip unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from formats._common import BOX_COLUMNS, CORNER_COLUMNS, plate_cells, plate_from_row, read_csv, write_csv
from formats.types import DatasetError, PlateSample

COLUMNS = ("file", "text", "format", "split", *BOX_COLUMNS, *CORNER_COLUMNS)


def write_plate_csv(path: Path, samples: Sequence[tuple[PlateSample, str]]) -> None:
    """Write ``labels.csv`` for plate crops that lie in (or below) its folder.

    Args:
        path: The CSV file to write.
        samples: ``(plate, split)`` pairs; each plate's ``image_path`` is its crop file.

    Raises:
        DatasetError: A crop is not under ``path``'s folder or is listed twice, or a split is empty.
    """
    rows = []
    seen: set[str] = set()
    for sample, split in samples:
        try:
            file = sample.image_path.relative_to(path.parent).as_posix()
        except ValueError:
            raise DatasetError(sample.image_path, f"crop is not under the folder of {path}") from None
        if file in seen:
            raise DatasetError(sample.image_path, "crop listed twice")
        if not split:
            raise DatasetError(sample.image_path, "split must not be empty")
        seen.add(file)
        rows.append([file, sample.text, sample.plate_format or "", split, *plate_cells(sample)])
    write_csv(path, COLUMNS, rows)


def read_plate_csv(path: Path) -> list[tuple[PlateSample, str]]:
    """Read ``labels.csv``; every listed crop must exist.

    Returns:
        ``(plate, split)`` pairs in file order; ``plate.image_path`` is the crop file.

    Raises:
        DatasetError: Naming ``path:line`` for a wrong header, a missing crop, an empty file
            or split cell, or a malformed coordinate.
    """
    out = []
    for n, row in read_csv(path, COLUMNS):
        file = row["file"]
        if not file or PurePosixPath(file).is_absolute() or ".." in PurePosixPath(file).parts:
            raise DatasetError(path, f"file must be a path inside the CSV's folder, got {file!r}", line=n)
        image_path = path.parent / file
        if not image_path.is_file():
            raise DatasetError(path, f"crop {file!r} does not exist", line=n)
        if not row["split"]:
            raise DatasetError(path, "split is empty", line=n)
        out.append((plate_from_row(row, image_path=image_path, source=path, line=n), row["split"]))
    return out
