"""CCPD (Chinese City Parking Dataset): annotations encoded in the file name.

A name has seven ``-``-separated fields, e.g.
``025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_33_16-37-15.jpg``:

1. area: plate area as a percentage of the image (``025``)
2. tilt: horizontal and vertical tilt degrees, ``h_v``
3. bounding box: ``x1&y1_x2&y2`` (top-left, bottom-right)
4. four vertices ``x&y`` joined by ``_``, starting at right-bottom: right-bottom, left-bottom,
   left-top, right-top
5. plate indices ``p_a_d_d_d_d_d``: province into PROVINCES, letter into ALPHABETS, the rest
   into ADS. CCPD2020 (``ccpd_green``, new-energy plates) has six ADS indices, 8 characters.
6. brightness, 7. blurriness.

The example decodes to 皖AY339S.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from formats.types import DatasetError, PlateSample

# The three lists are copied from the CCPD README, "Dataset Annotations" section:
# https://github.com/detectRecog/CCPD/blob/3a04ca345af281e290752e48ae6db0e35953f40a/README.md
# The last entry of each is the letter O, used there as "no character" (Chinese plates have no O).
# 8-index names (CCPD2020 green plates) use the same lists, the last six indices into ADS; see
# PaddleOCR applications/轻量级车牌识别.md (its CCPD2020 example 0_0_3_32_30_31_30_30 = 皖AD86766).
PROVINCES = (
    "皖", "沪", "津", "渝", "冀", "晋", "蒙", "辽", "吉", "黑", "苏", "浙", "京", "闽", "赣", "鲁", "豫",
    "鄂", "湘", "粤", "桂", "琼", "川", "贵", "云", "藏", "陕", "甘", "青", "宁", "新", "警", "学", "O",
)  # fmt: skip
ALPHABETS = (
    "A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "Q", "R", "S", "T", "U", "V",
    "W", "X", "Y", "Z", "O",
)  # fmt: skip
ADS = (
    "A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "Q", "R", "S", "T", "U", "V",
    "W", "X", "Y", "Z", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "O",
)  # fmt: skip
NO_CHARACTER = "O"
_FIELDS = ("area", "tilt", "bbox", "vertices", "plate", "brightness", "blurriness")


def parse_ccpd_name(name: str, image_path: Path | None = None) -> PlateSample:
    """Decode a CCPD file name.

    Args:
        name: The file name (a path is accepted; only its last part is read).
        image_path: Stored as the sample's image; defaults to ``Path(name)``.

    Returns:
        The plate: decoded text (an ``O`` "no character" index is left out), ``xyxy`` from the
        bounding box, corners reordered to top-left, top-right, bottom-right, bottom-left,
        ``plate_format="cn"``.

    Raises:
        DatasetError: Naming the file: wrong field count, a malformed number, an index
            outside its list, or an inverted box.
    """
    path = image_path if image_path is not None else Path(name)
    stem = Path(name).name.rsplit(".", 1)[0]
    fields = stem.split("-")
    if len(fields) != len(_FIELDS):
        raise DatasetError(
            path, f"not a CCPD name: expected {len(_FIELDS)} '-'-separated fields, got {len(fields)}"
        )
    # Only the box, vertices and plate are kept; the other fields are checked for shape.
    _ints(fields[0], "", 1, path, "area")
    _ints(fields[1], "_", 2, path, "tilt")
    x1, y1, x2, y2 = _ints(fields[2], "_&", 4, path, "bbox")
    vertices = np.array(_ints(fields[3], "_&", 8, path, "vertices"), np.float32).reshape(4, 2)
    right_bottom, left_bottom, left_top, right_top = vertices
    text = _decode(_ints(fields[4], "_", None, path, "plate"), path)
    _ints(fields[5], "", 1, path, "brightness")
    _ints(fields[6], "", 1, path, "blurriness")
    try:
        return PlateSample(
            image_path=path,
            text=text,
            xyxy=(x1, y1, x2, y2),
            corners=np.stack([left_top, right_top, right_bottom, left_bottom]),
            plate_format="cn",
        )
    except ValueError as exc:
        raise DatasetError(path, str(exc).removeprefix(f"{path}: ")) from None


def ccpd_name(
    sample: PlateSample,
    *,
    area: int = 0,
    tilt: tuple[int, int] = (0, 0),
    brightness: int = 0,
    blurriness: int = 0,
) -> str:
    """Encode a plate as a CCPD file name (the inverse of :func:`parse_ccpd_name`).

    Coordinates are rounded to whole pixels. The area is written with 3 digits, as in the
    CCPD README example.

    Args:
        sample: The plate; needs ``xyxy``, ``corners`` and a 7-character text (8 for a
            new-energy plate) whose characters are in the CCPD lists.
        area: Plate area as a percentage of the image.
        tilt: Horizontal and vertical tilt degrees.
        brightness: Brightness of the plate region.
        blurriness: Blurriness of the plate region.

    Returns:
        The file name, ending in ``.jpg``.

    Raises:
        DatasetError: Naming the sample's image: the text cannot be encoded, the box or
            corners are missing, or a value is negative (a ``-`` would break the name).
    """
    where = sample.image_path
    if sample.xyxy is None or sample.corners is None:
        raise DatasetError(where, "CCPD names need both the plate box and its corners")
    indices = _encode(sample.text, where)
    top_left, top_right, bottom_right, bottom_left = np.rint(sample.corners).astype(int).tolist()
    box = [round(v) for v in sample.xyxy]
    numbers = [area, *tilt, brightness, blurriness, *box, *top_left, *top_right, *bottom_right, *bottom_left]
    if min(numbers) < 0:
        raise DatasetError(where, f"CCPD names cannot hold negative numbers, got {numbers}")
    fields = [
        f"{area:03d}",
        f"{tilt[0]}_{tilt[1]}",
        f"{box[0]}&{box[1]}_{box[2]}&{box[3]}",
        "_".join(f"{x}&{y}" for x, y in (bottom_right, bottom_left, top_left, top_right)),
        "_".join(str(i) for i in indices),
        str(brightness),
        str(blurriness),
    ]
    return "-".join(fields) + ".jpg"


def read_ccpd(folder: Path) -> list[PlateSample]:
    """Decode every ``.jpg`` name in a CCPD folder (sorted by name; an empty folder gives ``[]``).

    Raises:
        DatasetError: The folder is missing or a name is not a CCPD name.
    """
    if not folder.is_dir():
        raise DatasetError(folder, "folder not found")
    return [parse_ccpd_name(p.name, p) for p in sorted(folder.iterdir()) if p.suffix.lower() == ".jpg"]


def _ints(text: str, separators: str, count: int | None, path: Path, field: str) -> list[int]:
    """Non-negative integers from ``text`` split at any of ``separators``."""
    parts = [text]
    for sep in separators:
        parts = [piece for part in parts for piece in part.split(sep)]
    if (count is not None and len(parts) != count) or not all(p.isdecimal() and p.isascii() for p in parts):
        shape = f"{count} whole numbers" if count is not None else "whole numbers"
        raise DatasetError(path, f"CCPD {field} field must hold {shape}, got {text!r}")
    return [int(p) for p in parts]


def _decode(indices: list[int], path: Path) -> str:
    if len(indices) not in (7, 8):
        raise DatasetError(path, f"CCPD plate field must hold 7 or 8 indices, got {len(indices)}")
    tables = (PROVINCES, ALPHABETS) + (ADS,) * (len(indices) - 2)
    chars = []
    for position, (index, table) in enumerate(zip(indices, tables, strict=True)):
        if index >= len(table):
            raise DatasetError(
                path, f"CCPD plate index {index} at position {position} is outside 0..{len(table) - 1}"
            )
        chars.append(table[index])
    return "".join(c for c in chars if c != NO_CHARACTER)


def _encode(text: str, where: Path) -> list[int]:
    if len(text) not in (7, 8):
        raise DatasetError(where, f"CCPD plates have 7 or 8 characters, got {text!r} ({len(text)})")
    tables = (PROVINCES, ALPHABETS) + (ADS,) * (len(text) - 2)
    indices = []
    for position, (char, table) in enumerate(zip(text, tables, strict=True)):
        if char == NO_CHARACTER or char not in table:
            raise DatasetError(
                where, f"cannot encode {text!r}: {char!r} at position {position} is not in the CCPD list"
            )
        indices.append(table.index(char))
    return indices
