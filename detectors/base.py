"""The detection stage boundary: the ``Detections`` dataclass and the ``Detector`` interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from streams.frame import Frame


@dataclass(frozen=True, slots=True)
class Detections:
    """Boxes found in one frame; one array per field, all of length N (N may be 0).

    Attributes:
        xyxy: ``(N, 4)`` float32 pixel boxes ``x1, y1, x2, y2`` with ``x1 <= x2``, ``y1 <= y2``.
        confidence: ``(N,)`` float32 scores in [0, 1].
        class_id: ``(N,)`` int32 class ids (meaning set by the detector's class names).
        parent: ``(N,)`` int32 index of the enclosing detection (a plate's vehicle), -1 if none.
    """

    xyxy: npt.NDArray[np.float32]
    confidence: npt.NDArray[np.float32]
    class_id: npt.NDArray[np.int32]
    parent: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must have shape (N, 4), got {self.xyxy.shape}")
        if self.parent.shape == (0,) and n:
            object.__setattr__(self, "parent", np.full(n, -1, np.int32))
        for name in ("confidence", "class_id", "parent"):
            shape = getattr(self, name).shape
            if shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {shape}")
        if n and not np.isfinite(self.xyxy).all():
            raise ValueError("xyxy holds NaN or infinite coordinates")
        if n and ((self.xyxy[:, 2] < self.xyxy[:, 0]) | (self.xyxy[:, 3] < self.xyxy[:, 1])).any():
            raise ValueError("xyxy boxes must have x1 <= x2 and y1 <= y2")

    @classmethod
    def empty(cls) -> Detections:
        """No detections."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.xyxy)


class Detector(Protocol):
    """A detection stage: one frame in, its detections out."""

    def detect(self, frame: Frame) -> Detections:
        """Find objects in ``frame``; must not modify it."""
        ...
