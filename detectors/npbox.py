"""Numpy box arithmetic of the runtime side (no torch): IoU matrix and greedy NMS (ONNX Runtime's kernel).

The torch twins (``detectors.boxes``, ``detectors.nms``) serve training; these serve ONNX
inference, the pipeline and the metrics, and agree with them (``tests/detectors/test_runtime.py``).
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from onnx import TensorProto, helper

F32 = npt.NDArray[np.float32]
IGNORE_IOA = 0.5  # a box this much inside a region to ignore (share of its own area) is "in" it


def _overlaps(
    a: npt.ArrayLike, b: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """``(N, M)`` intersection areas of boxes ``a`` and ``b``, and the areas of each."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod((rb - lt).clip(0), axis=2)
    return (
        inter,
        np.prod((a[:, 2:] - a[:, :2]).clip(0), axis=1),
        np.prod((b[:, 2:] - b[:, :2]).clip(0), axis=1),
    )


def iou_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``(N, M)`` IoU of ``x1, y1, x2, y2`` boxes ``a`` and ``b``; 0 where the union is empty."""
    inter, area_a, area_b = _overlaps(a, b)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def smaller_overlap_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``(N, M)`` intersection over the smaller box's area: 1 when one box lies inside the
    other, whichever is larger; 0 where either box is empty."""
    inter, area_a, area_b = _overlaps(a, b)
    smaller = np.minimum(area_a[:, None], area_b[None, :])
    return np.where(smaller > 0, inter / np.maximum(smaller, 1e-12), 0.0)


def match_boxes(truth: npt.ArrayLike, found: npt.ArrayLike, min_iou: float) -> dict[int, int]:
    """Pair labelled boxes with found ones: each label, best-overlapping first, takes its
    best free found box when their IoU reaches ``min_iou``. Returns ``{label: found}``."""
    a = np.asarray(truth, np.float32).reshape(-1, 4)
    b = np.asarray(found, np.float32).reshape(-1, 4)
    if not len(a) or not len(b):
        return {}
    overlap = iou_matrix(a, b)
    used = np.zeros(len(b), bool)
    pairs: dict[int, int] = {}
    for i in np.argsort(-overlap.max(1)):
        free = np.where(used, -1.0, overlap[i])
        j = int(np.argmax(free))
        if free[j] >= min_iou:
            used[j] = True
            pairs[int(i)] = j
    return pairs


def clip_boxes(boxes: npt.ArrayLike, size: tuple[int, int]) -> F32:
    """``(N, 4)`` float32 copy of ``boxes`` clipped to an image of ``size`` (height, width)."""
    h, w = size
    out = np.array(boxes, np.float32).reshape(-1, 4)
    out[:, 0::2] = out[:, 0::2].clip(0, w)
    out[:, 1::2] = out[:, 1::2].clip(0, h)
    return out


def in_regions(boxes: npt.ArrayLike, regions: npt.ArrayLike | None) -> npt.NDArray[np.bool_]:
    """Which boxes lie mostly inside some region: intersection ≥ ``IGNORE_IOA`` of the box's area."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    g = np.zeros((0, 4)) if regions is None else np.asarray(regions, np.float64).reshape(-1, 4)
    if not len(b) or not len(g):
        return np.zeros(len(b), bool)
    lo = np.maximum(b[:, None, :2], g[None, :, :2])
    hi = np.minimum(b[:, None, 2:], g[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(2)
    area = np.clip(b[:, 2:] - b[:, :2], 1e-6, None).prod(1)
    result: npt.NDArray[np.bool_] = (inter / area[:, None]).max(1) >= IGNORE_IOA
    return result


def greedy_nms(boxes: F32, scores: F32, iou: float, limit: int | None = None) -> npt.NDArray[np.int64]:
    """Indices kept by greedy NMS, highest score first, as a numpy loop (the reference :func:`nms`
    is tested against; numpy twin of :func:`detectors.nms.nms`)."""
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


@functools.cache
def _nms_session() -> ort.InferenceSession:
    """A one-node ONNX graph running ONNX Runtime's ``NonMaxSuppression`` (built once, 1 thread)."""
    inputs = [
        helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [1, None, 4]),
        helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 1, None]),
        helper.make_tensor_value_info("limit", TensorProto.INT64, [1]),
        helper.make_tensor_value_info("iou", TensorProto.FLOAT, [1]),
        helper.make_tensor_value_info("floor", TensorProto.FLOAT, [1]),
    ]
    node = helper.make_node("NonMaxSuppression", [i.name for i in inputs], ["selected"], center_point_box=0)
    output = helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3])
    model = helper.make_model(
        helper.make_graph([node], "nms", inputs, [output]),
        opset_imports=[helper.make_opsetid("", 11)],
        ir_version=6,
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def nms(boxes: F32, scores: F32, iou: float, limit: int | None = None) -> npt.NDArray[np.int64]:
    """Indices kept by greedy NMS, highest score first: a box is dropped when its IoU with a kept,
    higher-scoring box exceeds ``iou``; at most ``limit`` are kept.

    Runs ONNX Runtime's ``NonMaxSuppression`` kernel, the same rule as :func:`greedy_nms` (tested
    equal) in C++ (``scripts/detect_profile.py`` times both on the RPN's 1 800 candidates). Boxes
    are ``x1, y1, x2, y2``: the kernel reads any diagonal corner pair and its IoU is symmetric
    in x and y.
    """
    if len(boxes) == 0 or limit == 0:
        return np.zeros(0, np.int64)
    feeds = {
        "boxes": np.ascontiguousarray(boxes, np.float32)[None],
        "scores": np.ascontiguousarray(scores, np.float32)[None, None],
        "limit": np.array([len(boxes) if limit is None else limit], np.int64),
        "iou": np.array([iou], np.float32),
        "floor": np.array([-np.inf], np.float32),
    }
    selected = _nms_session().run(None, feeds)[0]
    return np.asarray(selected[:, 2], np.int64)


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
