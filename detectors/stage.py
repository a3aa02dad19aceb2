"""The pipeline's detection stage, built from the ``detectors`` config section.

``detectors.vehicle.kind``:

- ``none``: no detection (frames are read and counted).
- ``builtin``: the two-stage detector in ONNX Runtime with its second pass (``detectors/models``
  or ``detectors.models``).
- ``yolov5`` / ``yolov8`` / ``yolo11`` / ``yolox`` / ``yolox-raw``: a user's ONNX model
  (``detectors/byo.py``), its class ids mapped by ``class_map``.
- ``motion``: moving blobs of a fixed camera (one background model per camera), kept when
  the intent gate accepts them.

Plates (``detectors.plate.kind``) come from the built-in detector: with ``builtin`` vehicles
they are its own (first pass plus second pass); with any other vehicle source each vehicle
goes through the built-in second pass. A user's ONNX plate model (``yolo*``) runs on each
vehicle crop instead. Class ids of the output index :data:`CLASSES`.

A model that cannot load, or answers a probe frame with an unexpected output, is refused when
the stage is built, with the file and the problem named; a frame that fails later gives empty
detections and a counted error, never a stopped pipeline.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from config.schema import DetectorsConfig
from detectors.base import Detections
from detectors.byo import Family, OnnxYolo
from detectors.gate import VEHICLE_TYPES, IntentGate
from detectors.motion import MotionDetector
from detectors.pipeline import DetectionPipeline, PipelineSpec
from detectors.runtime import DetectorModelError, OnnxDetector
from streams.frame import Frame

log = logging.getLogger(__name__)
CLASSES: tuple[str, ...] = (*VEHICLE_TYPES, "plate")
PLATE = CLASSES.index("plate")
BUNDLED = Path(__file__).resolve().parent / "models"


class DetectionStage:
    """Frame → vehicles and plates, as configured (see the module docstring)."""

    def __init__(self, cfg: DetectorsConfig) -> None:
        self.cfg = cfg
        self.errors = 0
        self.last_error = ""
        vehicle = cfg.vehicle
        self._builtin: DetectionPipeline | None = None
        if vehicle.kind == "builtin" or cfg.plate.kind == "builtin":
            folder = cfg.models or BUNDLED
            runner = OnnxDetector(
                folder / "detector_features.onnx",
                folder / "detector_head.onnx",
                provider=cfg.provider,
                threads=cfg.threads,
                proposals=cfg.proposals,
            )
            if runner.meta.classes != CLASSES:
                raise DetectorModelError(f"{folder}: model classes {runner.meta.classes} are not {CLASSES}")
            self._builtin = DetectionPipeline(
                runner,
                pipeline_spec(cfg, runner.meta.input_size),
                runner.limited(cfg.plate.second_pass_proposals),
            )
        self._user: OnnxYolo | None = None
        if vehicle.kind not in ("none", "builtin", "motion"):
            assert vehicle.model is not None  # the config validator requires it
            self._user = OnnxYolo(
                vehicle.model,
                cast(Family, vehicle.kind),
                vehicle.class_map,
                CLASSES,
                input_size=vehicle.input_size,
                provider=cfg.provider,
                threads=cfg.threads,
                score_threshold=vehicle.score_threshold,
                iou=vehicle.nms_iou,
            )
        self._user_plates: OnnxYolo | None = None
        if cfg.plate.kind not in ("none", "builtin"):
            if cfg.plate.model is None:
                raise DetectorModelError(
                    f"detectors.plate.model: kind '{cfg.plate.kind}' needs the ONNX file"
                )
            self._user_plates = OnnxYolo(
                cfg.plate.model,
                cast(Family, cfg.plate.kind),
                cfg.plate.class_map,
                CLASSES,
                provider=cfg.provider,
                threads=cfg.threads,
                score_threshold=cfg.plate.score_threshold,
            )
        self._gate: IntentGate | None = None
        self._motion: dict[str, MotionDetector] = {}
        if vehicle.kind == "motion":
            self._gate = IntentGate(vehicle.gate_model or BUNDLED / "gate.onnx", provider=cfg.provider)
        self._probe()

    @property
    def builtin(self) -> DetectionPipeline | None:
        """The built-in two-pass detector, where the config uses it."""
        return self._builtin

    def _probe(self) -> None:
        """Run every model once on a blank frame so a wrong model fails now, not mid-stream."""
        blank = np.zeros((64, 96, 3), np.uint8)
        if self._user is not None:
            self._user.detect_image(blank)
        if self._user_plates is not None:
            self._user_plates.detect_image(blank)
        if self._gate is not None:
            self._gate.classify([blank])

    def detect(self, frame: Frame) -> Detections:
        """Vehicles and plates of one frame; empty (and counted) if a model fails on it."""
        try:
            return self.detect_image(frame.image, frame.camera_id)
        except (DetectorModelError, ValueError) as exc:
            self.errors += 1
            self.last_error = str(exc)
            log.warning("detection failed on a frame of %s: %s", frame.camera_id, exc)
            return Detections.empty()

    def detect_many(self, frames: list[Frame]) -> list[Detections]:
        """Detections of several frames (any cameras); the built-in detector runs their first
        passes as one batch. A frame a model fails on gets empty detections (counted)."""
        if self.cfg.vehicle.kind != "builtin" or len(frames) < 2:
            return [self.detect(frame) for frame in frames]
        assert self._builtin is not None
        try:
            found = self._builtin.detect_images([frame.image for frame in frames])
        except (DetectorModelError, ValueError):  # find the frame it was, detect the others
            return [self.detect(frame) for frame in frames]
        return found if self.cfg.plate.kind == "builtin" else [self._without_plates(f) for f in found]

    def detect_image(self, image: npt.NDArray[np.generic], camera: str = "") -> Detections:
        """Vehicles and plates of one image (any size; grey and BGRA are converted)."""
        kind = self.cfg.vehicle.kind
        if kind == "none":
            return Detections.empty()
        if kind == "builtin":
            assert self._builtin is not None
            found = self._builtin.detect_image(image)
            return found if self.cfg.plate.kind == "builtin" else self._without_plates(found)
        if kind == "motion":
            assert self._gate is not None
            detector = self._motion.setdefault(camera, MotionDetector(self._gate.classify, CLASSES))
            vehicles = detector.detect_image(image)
        else:
            assert self._user is not None
            vehicles = self._user.detect_image(image)
        return self._add_plates(image, vehicles)

    def _without_plates(self, found: Detections) -> Detections:
        keep = found.class_id != PLATE
        return Detections(found.xyxy[keep], found.confidence[keep], found.class_id[keep])

    def _add_plates(self, image: npt.NDArray[np.generic], vehicles: Detections) -> Detections:
        if self.cfg.plate.kind == "none" or len(vehicles) == 0:
            return vehicles
        if self._builtin is not None:
            return self._builtin.plates_in(image, vehicles)
        assert self._user_plates is not None
        boxes, scores, classes, parents = [vehicles.xyxy], [vehicles.confidence], [vehicles.class_id], []
        frame = np.asarray(image)
        for i, (x1, y1, x2, y2) in enumerate(vehicles.xyxy.astype(int)):
            crop = frame[max(0, y1) : y2, max(0, x1) : x2]
            if crop.size == 0:
                continue
            plates = self._user_plates.detect_image(crop)
            boxes.append(plates.xyxy + np.array([x1, y1, x1, y1], np.float32))
            scores.append(plates.confidence)
            classes.append(plates.class_id)
            parents.append(np.full(len(plates), i, np.int32))
        return Detections(
            np.concatenate(boxes),
            np.concatenate(scores),
            np.concatenate(classes),
            np.concatenate([np.full(len(vehicles), -1, np.int32), *parents]),
        )


def pipeline_spec(cfg: DetectorsConfig, first_input: tuple[int, int]) -> PipelineSpec:
    """The built-in detector's two passes as configured (``first_input``: the model's input)."""
    return PipelineSpec(
        classes=CLASSES,
        first_input=first_input,
        second_input=cfg.plate.second_pass_input,
        score_threshold=cfg.vehicle.score_threshold,
        plate_score_threshold=cfg.plate.score_threshold,
        small_plate_px=float(cfg.plate.small_plate_height_px),
        upsample=cfg.plate.upsample_factor,
    )


def build_detector(cfg: DetectorsConfig) -> DetectionStage | None:
    """The configured stage, or None for ``kind: none``.

    Raises:
        DetectorModelError: A model file is missing, unloadable, or answers with the wrong layout.
    """
    if cfg.vehicle.kind == "none":
        return None
    return DetectionStage(cfg)
