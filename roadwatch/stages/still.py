"""Frames where nothing moves: detection is skipped on them (docs/PERFORMANCE.md).

A camera's frame is compared with the last frame detection ran on, as a small grey thumbnail
(``size``, area-averaged, so sensor noise and compression grain average out): when fewer than
``share`` of the thumbnail's pixels (inside the camera's ``roi``, when it has one) changed by
more than ``threshold`` grey levels, nothing entered, left or moved, and the frame's
detections would be the last ones again, so detection is skipped. Never while the camera has
a live track (a vehicle standing still is still followed), and never for more than
``max_skip_s`` seconds in a row, so a scene that changes slowly is looked at regularly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from streams.frame import Frame

Polygon = Sequence[tuple[float, float]]


@dataclass(slots=True)
class _Camera:
    reference: npt.NDArray[np.uint8]
    since: float  # timestamp of the reference frame
    mask: npt.NDArray[np.bool_] | None


@dataclass(slots=True)
class StillFrames:
    """Decides per frame whether detection can be skipped; counts what it skipped."""

    threshold: int = 10
    share: float = 0.002
    max_skip_s: float = 2.0
    size: tuple[int, int] = (96, 54)
    roi: Mapping[str, Polygon] = field(default_factory=dict)
    skipped: int = 0
    looked: int = 0
    _cameras: dict[str, _Camera] = field(default_factory=dict)

    def skip(self, frame: Frame, busy: bool) -> bool:
        """True when ``frame`` can go without detection (``busy``: the camera has live tracks)."""
        small = self._thumbnail(frame.image)
        state = self._cameras.get(frame.camera_id)
        if state is None or busy or small.shape != state.reference.shape:
            self._look(frame, small)
            return False
        changed = cv2.absdiff(small, state.reference) > self.threshold
        if state.mask is not None:
            changed &= state.mask
            area = max(1, int(state.mask.sum()))
        else:
            area = changed.size
        if int(changed.sum()) <= self.share * area and 0 <= frame.timestamp - state.since < self.max_skip_s:
            self.skipped += 1
            return True
        self._look(frame, small)
        return False

    def _look(self, frame: Frame, small: npt.NDArray[np.uint8]) -> None:
        self.looked += 1
        state = self._cameras.get(frame.camera_id)
        if state is None or state.reference.shape != small.shape:
            self._cameras[frame.camera_id] = _Camera(small, frame.timestamp, self._mask(frame.camera_id))
        else:
            state.reference, state.since = small, frame.timestamp

    def _thumbnail(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        return np.asarray(cv2.resize(grey, self.size, interpolation=cv2.INTER_AREA), np.uint8)

    def _mask(self, camera: str) -> npt.NDArray[np.bool_] | None:
        polygon = self.roi.get(camera)
        if not polygon:
            return None
        w, h = self.size
        points = np.array([[x * w, y * h] for x, y in polygon], np.int32)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [points], 1)
        return mask.astype(bool)
