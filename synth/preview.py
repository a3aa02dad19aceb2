"""A contact sheet of a synthetic world, so a person can judge its realism at a glance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from synth.truth import FrameTruth

Image = npt.NDArray[np.uint8]
_TILE_W = 480
_CROP_H = 96
_PLATE_H = 40


def _annotated(image: Image, truth: FrameTruth) -> Image:
    scale = _TILE_W / image.shape[1]
    tile = cv2.resize(image, (_TILE_W, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    for v in truth.vehicles:
        x0, y0, x1, y1 = (int(c * scale) for c in v.xyxy)
        cv2.rectangle(tile, (x0, y0), (x1, y1), (0, 220, 0), 1)
        if v.plate_xyxy is not None:
            px0, py0, px1, py1 = (int(c * scale) for c in v.plate_xyxy)
            colour = (0, 0, 255) if v.plate_readable else (0, 200, 255)
            cv2.rectangle(tile, (px0, py0), (px1, py1), colour, 1)
    label = f"{truth.camera} t={truth.time:.1f}s  {len(truth.vehicles)} vehicles"
    cv2.putText(tile, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(tile, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return np.asarray(tile, np.uint8)


def _strip(images: Sequence[Image], height: int, width: int) -> Image:
    row = np.full((height + 8, width, 3), 40, np.uint8)
    x = 4
    for image in images:
        w = max(1, round(image.shape[1] * height / image.shape[0]))
        if x + w > width - 4:
            break
        row[4 : 4 + height, x : x + w] = cv2.resize(image, (w, height), interpolation=cv2.INTER_AREA)
        x += w + 4
    return row


def contact_sheet(
    frames: Mapping[str, Sequence[tuple[int, Image, FrameTruth]]],
    crops: Sequence[Image],
    plates: Sequence[tuple[Image, str]],
) -> Image:
    """One image: per camera a row of frames (truth boxes drawn), then vehicle and plate crops.

    Green: vehicle boxes; red: readable plates; orange: plates present but not readable.
    """
    rows = []
    for kept in frames.values():
        tiles = [_annotated(image, truth) for _, image, truth in sorted(kept, key=lambda k: k[0])]
        height = max(t.shape[0] for t in tiles)
        tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0))) for t in tiles]
        tiles += [np.zeros((height, _TILE_W, 3), np.uint8)] * (3 - len(tiles))
        rows.append(np.hstack(tiles[:3]))
    width = 3 * _TILE_W
    if crops:
        rows.append(_strip(crops, _CROP_H, width))
    if plates:
        rows.append(_strip([p for p, _ in plates], _PLATE_H, width))
    return np.vstack(rows) if rows else np.zeros((_CROP_H, width, 3), np.uint8)


def write_contact_sheet(
    path: Path,
    frames: Mapping[str, Sequence[tuple[int, Image, FrameTruth]]],
    crops: Sequence[Image],
    plates: Sequence[tuple[Image, str]],
) -> None:
    """Write :func:`contact_sheet` as PNG.

    Raises:
        OSError: The file cannot be written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), contact_sheet(frames, crops, plates)):
        raise OSError(f"{path}: cannot write the preview image")
