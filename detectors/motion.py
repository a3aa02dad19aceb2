"""Motion proposals for fixed cameras: background subtraction, blobs, then the intent gate.

A cheap detector for cameras that never move: a Gaussian-mixture background model (OpenCV's
MOG2) marks moving pixels; opening and closing clean the mask; each blob large enough becomes
a proposal box. Proposals are many and noisy (rain, headlights, shadows, swaying trees), so
every one goes through the intent gate (seed 002) and only the crops it accepts as vehicles
come out, with the gate's type as their class. ``last_proposals`` / ``last_accepted`` tell how
much downstream work (re-id) the gate saved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from detectors.base import Detections
from detectors.data import as_bgr
from detectors.gate import GateResult

Classify = Callable[[Sequence[npt.NDArray[np.generic]]], list[GateResult]]


@dataclass(frozen=True, slots=True)
class MotionSpec:
    """Background model and blob settings."""

    history: int = 200
    learning_rate: float = 0.005  # per frame; slow, so a vehicle waiting a few frames stays foreground
    var_threshold: float = 32.0
    min_area_px: int = 300
    kernel_px: int = 5
    margin: float = 0.1


class MotionProposals:
    """Moving blobs of one fixed camera (keep one instance per camera)."""

    def __init__(self, spec: MotionSpec = MotionSpec()) -> None:
        self.spec = spec
        self.model = cv2.createBackgroundSubtractorMOG2(
            history=spec.history, varThreshold=spec.var_threshold, detectShadows=False
        )
        self.kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (spec.kernel_px, spec.kernel_px))

    def propose(self, frame: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
        """``(N, 4)`` boxes of the moving blobs in this frame (the model learns from it too)."""
        image = as_bgr(np.asarray(frame))
        mask = self.model.apply(image, learningRate=self.spec.learning_rate)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self.kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self.kernel, iterations=2)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        h, w = image.shape[:2]
        boxes = []
        for contour in contours:
            if cv2.contourArea(contour) < self.spec.min_area_px:
                continue
            x, y, bw, bh = cv2.boundingRect(contour)
            mx, my = bw * self.spec.margin, bh * self.spec.margin
            boxes.append((max(0.0, x - mx), max(0.0, y - my), min(w, x + bw + mx), min(h, y + bh + my)))
        return np.array(boxes, np.float32).reshape(-1, 4)


class MotionDetector:
    """Motion proposals filtered by the intent gate: a frame → vehicle :class:`Detections`.

    Args:
        classify: The gate (``IntentGate.classify``).
        names: Class names of the returned ``class_id`` (the gate's type is looked up in it).
    """

    def __init__(self, classify: Classify, names: Sequence[str], spec: MotionSpec = MotionSpec()) -> None:
        self.proposals = MotionProposals(spec)
        self.classify = classify
        self.names = list(names)
        self.last_proposals = 0
        self.last_accepted = 0

    def detect_image(self, frame: npt.NDArray[np.generic]) -> Detections:
        """Gated motion detections of this frame."""
        image = as_bgr(np.asarray(frame))
        boxes = self.proposals.propose(image)
        self.last_proposals = len(boxes)
        if not len(boxes):
            self.last_accepted = 0
            return Detections.empty()
        crops = [image[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] for x0, y0, x1, y1 in boxes]
        answers = self.classify(crops)
        keep = [i for i, a in enumerate(answers) if a.is_vehicle and a.type in self.names]
        self.last_accepted = len(keep)
        return Detections(
            boxes[keep].reshape(-1, 4),
            np.array([answers[i].vehicle_probability for i in keep], np.float32),
            np.array([self.names.index(answers[i].type) for i in keep], np.int32),
        )


__all__ = ["MotionDetector", "MotionProposals", "MotionSpec"]
