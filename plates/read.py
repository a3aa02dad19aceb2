"""The plate-reading boundary: ``PlateRead`` and the ``PlateReader`` interface.

A reader takes rectified plate crops (BGR, any size; two-line plates as printed) and gives
one ``PlateRead`` each. Engines convert their model's raw output at their edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


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
