"""Bring your own detector: ONNX exports of the usual single-stage families, decoded here.

Supported output layouts (one image per call; a batch axis of 1 is expected):

- ``yolov5`` (Ultralytics YOLOv5 export): input RGB / 255, letterboxed with grey 114; output
  ``(1, N, 5 + C)``: cx, cy, w, h, objectness, C class probabilities; score = objectness ·
  class probability.
- ``yolov8`` / ``yolo11`` (Ultralytics YOLOv8 / YOLO11 export): input as YOLOv5; output
  ``(1, 4 + C, N)`` with 4 + C < N: cx, cy, w, h, C class scores (no objectness).
- ``yolox`` (Megvii YOLOX export, ``decode_in_inference`` on, the default): input BGR 0–255,
  letterboxed with grey 114; output ``(1, N, 5 + C)`` as YOLOv5, boxes in input pixels.
- ``yolox-raw`` (YOLOX exported with ``--decode_in_inference False``): output ``(1, N, 5 + C)``
  of grid offsets over strides 8, 16, 32, decoded as ``(x + gx)·s`` and ``exp(w)·s``.

Boxes are in input pixels; letterboxing pads right and bottom, so mapping back to the frame is a
division by the scale. Per-class NMS follows. ``class_map`` maps the model's class ids to
roadwatch names (``{2: car, 3: motorcycle, 5: bus, 7: truck}`` for COCO models); ids not in the
map are dropped. An output of any other shape is refused with the shapes named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from detectors.base import Detections
from detectors.data import as_bgr, letterbox
from detectors.npbox import batched_nms
from detectors.runtime import DetectorModelError, open_session

Family = Literal["yolov5", "yolov8", "yolo11", "yolox", "yolox-raw"]
FAMILIES: tuple[Family, ...] = ("yolov5", "yolov8", "yolo11", "yolox", "yolox-raw")
COCO_VEHICLES: dict[int, str] = {2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Decoded:
    """Candidates in input pixels before NMS."""

    boxes: F32  # (N, 4) x1, y1, x2, y2
    scores: F32  # (N,)
    classes: npt.NDArray[np.int64]  # (N,) the model's class ids


def decode_output(
    output: npt.NDArray[np.floating], family: Family, input_size: tuple[int, int] | None = None
) -> Decoded:
    """Turn one raw output tensor into boxes, scores and class ids.

    Raises:
        ValueError: The tensor does not have the family's layout (shapes named).
    """
    out = np.asarray(output, np.float32)
    if out.ndim == 3 and out.shape[0] == 1:
        out = out[0]
    if out.ndim != 2:
        raise ValueError(
            f"{family}: expected an output of shape (1, N, 5+C) or (1, 4+C, N), got {output.shape}"
        )
    if family in ("yolov8", "yolo11"):
        if out.shape[0] < 5 or out.shape[0] > out.shape[1]:
            raise ValueError(
                f"{family}: expected (1, 4+C, N) with 4+C < N (e.g. (1, 84, 8400)), got {tuple(output.shape)}"
            )
        rows = out.T  # (N, 4+C)
        scores_all = rows[:, 4:]
    else:
        if out.shape[1] < 6:
            raise ValueError(
                f"{family}: expected (1, N, 5+C) with C >= 1 (e.g. (1, 25200, 85)), got {tuple(output.shape)}"
            )
        rows = out
        scores_all = rows[:, 5:] * rows[:, 4:5]
        if family == "yolox-raw":
            rows = _yolox_grid(rows, input_size)
    classes = scores_all.argmax(1)
    scores = scores_all[np.arange(len(rows)), classes]
    cx, cy, w, h = rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    return Decoded(boxes.astype(np.float32), scores.astype(np.float32), classes.astype(np.int64))


def _yolox_grid(rows: F32, input_size: tuple[int, int] | None) -> F32:
    if input_size is None:
        raise ValueError("yolox-raw: the input size is needed to rebuild the grid")
    h, w = input_size
    grids, strides = [], []
    for s in (8, 16, 32):
        gy, gx = np.meshgrid(np.arange(h // s), np.arange(w // s), indexing="ij")
        grids.append(np.stack([gx, gy], -1).reshape(-1, 2))
        strides.append(np.full((gx.size, 1), s))
    grid = np.concatenate(grids).astype(np.float32)
    stride = np.concatenate(strides).astype(np.float32)
    if len(grid) != len(rows):
        raise ValueError(f"yolox-raw: {len(rows)} rows do not match the {len(grid)} cells of a {h}x{w} input")
    out = rows.copy()
    out[:, :2] = (rows[:, :2] + grid) * stride
    out[:, 2:4] = np.exp(np.minimum(rows[:, 2:4], 20.0)) * stride
    return out


class OnnxYolo:
    """A user's ONNX detector of a supported family, as a frame → :class:`Detections` stage.

    Args:
        path: The ONNX file.
        family: Its output layout (see the module docstring).
        class_map: Model class id → roadwatch class name; other ids are dropped.
        names: roadwatch class names, in the order of ``Detections.class_id``.
        input_size: (H, W) when the model's input is dynamic; read from the model otherwise.
    """

    def __init__(
        self,
        path: Path,
        family: Family,
        class_map: Mapping[int, str],
        names: tuple[str, ...],
        *,
        input_size: tuple[int, int] | None = None,
        provider: str = "cpu",
        threads: int = 2,
        score_threshold: float = 0.25,
        iou: float = 0.5,
    ) -> None:
        if family not in FAMILIES:
            raise DetectorModelError(f"unknown detector family {family!r}; choose from {', '.join(FAMILIES)}")
        unknown = sorted(set(class_map.values()) - set(names))
        if unknown:
            raise DetectorModelError(f"class_map names {unknown} are not roadwatch classes {list(names)}")
        self.session = open_session(path, provider, threads)
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise DetectorModelError(
                f"{path}: expected one image input (1, 3, H, W), got {[i.shape for i in inputs]}"
            )
        h, w = inputs[0].shape[2], inputs[0].shape[3]
        if isinstance(h, int) and isinstance(w, int):
            input_size = (h, w)
        if input_size is None:
            raise DetectorModelError(f"{path}: the input size is dynamic; set the detector's input_size")
        self.path = path
        self.family = family
        self.input_name = inputs[0].name
        self.input_size = input_size
        self.names = names
        self.lookup = {int(k): names.index(v) for k, v in class_map.items()}
        self.score_threshold = score_threshold
        self.iou = iou

    def preprocess(self, frame: npt.NDArray[np.generic]) -> tuple[F32, float]:
        """The frame as the family's input tensor, and the letterbox scale."""
        view, fit = letterbox(as_bgr(frame), self.input_size)
        if self.family in ("yolox", "yolox-raw"):
            tensor = view.astype(np.float32)  # BGR, 0..255
        else:
            tensor = cv2.cvtColor(view, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        return np.ascontiguousarray(tensor.transpose(2, 0, 1)[None]), fit.scale

    def detect_image(self, frame: npt.NDArray[np.generic]) -> Detections:
        """Detections in frame pixels.

        Raises:
            DetectorModelError: The model's output does not have the family's layout.
        """
        tensor, scale = self.preprocess(frame)
        outputs = self.session.run(None, {self.input_name: tensor})
        try:
            decoded = decode_output(outputs[0], self.family, self.input_size)
        except ValueError as exc:
            raise DetectorModelError(f"{self.path}: {exc}") from None
        ids = np.array([self.lookup.get(int(c), -1) for c in decoded.classes], np.int64)
        keep = (ids >= 0) & (decoded.scores >= self.score_threshold)
        boxes, scores, ids = decoded.boxes[keep] / scale, decoded.scores[keep], ids[keep]
        h, w = as_bgr(frame).shape[:2] if np.asarray(frame).ndim >= 2 else (0, 0)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        boxes, scores, ids = boxes[ok], scores[ok], ids[ok]
        kept = batched_nms(boxes, scores, ids, self.iou)
        return Detections(
            boxes[kept].astype(np.float32), scores[kept].astype(np.float32), ids[kept].astype(np.int32)
        )
