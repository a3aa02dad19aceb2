"""The plate-reading boundary: ``PlateRead`` and the ``PlateReader`` interface.

A reader takes rectified plate crops (BGR, any size; two-line plates as printed) and gives
one ``PlateRead`` each. Engines convert their model's raw output at their edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
MIN_SIDE = 4  # pixels; a smaller crop holds no readable character


@dataclass(frozen=True, slots=True)
class PlateRead:
    """What one plate crop says.

    Attributes:
        text: Upper-case characters without spaces or separators; '' when unreadable.
        chars: Confidence of each character of ``text`` in [0, 1] (same length as ``text``).
        region: Region whose format the text matches (``fr``, ``us``, ``br``, ``cn`` ...); ''
            when none does or formats were not applied.
        readable: False when the crop gave no text or its confidence is under the floor.
        reason: Why a read is unreadable ('' when readable): 'empty crop', 'low confidence' ...
    """

    text: str
    chars: tuple[float, ...] = field(default=())
    region: str = ""
    readable: bool = True
    reason: str = ""

    def __post_init__(self) -> None:
        if len(self.chars) != len(self.text):
            raise ValueError(f"{len(self.chars)} confidences for {len(self.text)} characters")

    @property
    def confidence(self) -> float:
        """The weakest character's confidence (0 for no text)."""
        return min(self.chars) if self.chars else 0.0

    @classmethod
    def unreadable(cls, reason: str) -> PlateRead:
        """A read that gave nothing usable, and why."""
        return cls("", (), "", False, reason)


class PlateReader(Protocol):
    """A plate-reading engine: rectified crops in, one read each out, in order."""

    def read(self, crops: Sequence[Image]) -> list[PlateRead]:
        """Read each crop (BGR uint8, H×W×3); a crop it cannot use gives ``PlateRead.unreadable``."""
        ...


def to_bgr(crop: object) -> Image | str:
    """The crop as a contiguous BGR uint8 image (grey and BGRA converted), or why it cannot be
    read: every engine checks its crops with this."""
    if not isinstance(crop, np.ndarray) or crop.size == 0:
        return "empty crop"
    if crop.dtype != np.uint8:
        return f"bad crop: dtype {crop.dtype}, expected uint8"
    channels = 1 if crop.ndim == 2 else crop.shape[2] if crop.ndim == 3 else 0
    if channels not in (1, 3, 4):
        return f"bad crop: shape {crop.shape}, expected H×W, H×W×3 or H×W×4"
    if min(crop.shape[:2]) < MIN_SIDE:
        return "crop too small"
    image = np.ascontiguousarray(crop)
    if channels == 1:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), np.uint8)
    if channels == 4:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), np.uint8)
    return image
