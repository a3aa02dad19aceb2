"""Numpy box arithmetic of the runtime side (no torch): IoU matrix and greedy NMS.

The torch twins (``detectors.boxes``, ``detectors.nms``) serve training; these serve ONNX
inference, the pipeline and the metrics, and agree with them (``tests/detectors/test_runtime.py``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


def iou_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``(N, M)`` IoU of ``x1, y1, x2, y2`` boxes ``a`` and ``b``; 0 where the union is empty."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod((rb - lt).clip(0), axis=2)
    area_a = np.prod((a[:, 2:] - a[:, :2]).clip(0), axis=1)
    area_b = np.prod((b[:, 2:] - b[:, :2]).clip(0), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def nms(boxes: F32, scores: F32, iou: float, limit: int | None = None) -> npt.NDArray[np.int64]:
    """Indices kept by greedy NMS, highest score first (numpy twin of :func:`detectors.nms.nms`)."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    keep: list[int] = []
    while order.size and (limit is None or len(keep) < limit):
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        wh = (rb - lt).clip(0)
        inter = wh[:, 0] * wh[:, 1]
        union = areas[i] + areas[rest] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
        order = rest[overlap <= iou]
    return np.array(keep, np.int64)


def batched_nms(
    boxes: F32, scores: F32, groups: npt.NDArray[np.int64], iou: float, limit: int | None = None
) -> npt.NDArray[np.int64]:
    """NMS within each group (class) only."""
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    shifted = boxes + ((boxes.max() + 1) * groups.astype(np.float32))[:, None]
    return nms(shifted, scores, iou, limit)


def kind_scores(
    probs: npt.NDArray[np.floating], plate: int | None
) -> tuple[npt.NDArray[np.int64], F32, npt.NDArray[np.int64]]:
    """Label, score and kind (0 vehicle, 1 plate) of each region from its class probabilities.

    ``probs`` is ``(K, 1 + C)`` with background first; ``plate`` is the plate's 0-based class
    (None: no plate class). A region scores the probability of its kind, not of one class: a
    vehicle's score is the sum over the vehicle types (the type is a category, its label the
    likeliest type), a plate's is the plate probability, and the larger of the two decides.
    So a vehicle whose type is uncertain (car or suv) is still confidently a vehicle.
    """
    fg = np.asarray(probs, np.float64)[:, 1:]
    if plate is None:
        return fg.argmax(1).astype(np.int64), fg.sum(1).astype(np.float32), np.zeros(len(fg), np.int64)
    vehicle = fg.copy()
    vehicle[:, plate] = -1.0
    vehicle_mass = fg.sum(1) - fg[:, plate]
    is_plate = fg[:, plate] > vehicle_mass
    label = np.where(is_plate, plate, vehicle.argmax(1)).astype(np.int64)
    score = np.where(is_plate, fg[:, plate], vehicle_mass).astype(np.float32)
    return label, score, is_plate.astype(np.int64)
