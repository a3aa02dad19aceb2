"""Detections: the empty case, default parents, and malformed arrays that must raise."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from detectors.base import Detections


def boxes(*rows: tuple[float, float, float, float]) -> np.ndarray:
    return np.array(rows, np.float32).reshape(-1, 4)


def f32(*values: float) -> np.ndarray:
    return np.array(values, np.float32)


def i32(*values: int) -> np.ndarray:
    return np.array(values, np.int32)


def test_empty() -> None:
    det = Detections.empty()
    assert len(det) == 0
    assert (det.xyxy.shape, det.xyxy.dtype) == ((0, 4), np.float32)
    assert (det.confidence.shape, det.confidence.dtype) == ((0,), np.float32)
    assert (det.class_id.shape, det.class_id.dtype) == ((0,), np.int32)
    assert (det.parent.shape, det.parent.dtype) == ((0,), np.int32)


def test_empty_built_by_hand_equals_empty() -> None:
    det = Detections(np.zeros((0, 4), np.float32), f32(), i32())
    assert len(det) == 0
    assert det.parent.shape == (0,)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_parent_defaults_to_minus_one(n: int) -> None:
    det = Detections(np.tile(f32(0, 0, 10, 10), (n, 1)), np.full(n, 0.5, np.float32), np.zeros(n, np.int32))
    assert len(det) == n
    assert det.parent.dtype == np.int32
    assert det.parent.tolist() == [-1] * n


def test_explicit_parent_kept() -> None:
    det = Detections(
        boxes((0, 0, 100, 50), (10, 30, 40, 45)),
        f32(0.9, 0.8),
        i32(2, 7),
        parent=i32(-1, 0),
    )
    assert det.parent.tolist() == [-1, 0]
    assert det.class_id.tolist() == [2, 7]
    assert det.confidence.tolist() == pytest.approx([0.9, 0.8])


@pytest.mark.parametrize(
    "box",
    [
        pytest.param((5, 5, 5, 9), id="zero-width"),
        pytest.param((5, 5, 9, 5), id="zero-height"),
        pytest.param((0, 0, 0, 0), id="point"),
        pytest.param((-3, -2, 1, 1), id="negative-coordinates"),
    ],
)
def test_degenerate_but_ordered_boxes_accepted(box: tuple[float, float, float, float]) -> None:
    assert len(Detections(boxes(box), f32(1.0), i32(0))) == 1


# (xyxy, confidence, class_id, parent or None, the message expected)
BAD_SHAPES = [
    pytest.param(
        f32(0, 0, 1, 1),
        f32(1, 1, 1, 1),
        i32(0, 0, 0, 0),
        None,
        "xyxy must have shape (N, 4), got (4,)",
        id="xyxy-1d",
    ),
    pytest.param(
        np.zeros((2, 3), np.float32),
        f32(1, 1),
        i32(0, 0),
        None,
        "xyxy must have shape (N, 4), got (2, 3)",
        id="xyxy-3-columns",
    ),
    pytest.param(
        np.zeros((1, 2, 4), np.float32),
        f32(1),
        i32(0),
        None,
        "xyxy must have shape (N, 4), got (1, 2, 4)",
        id="xyxy-3d",
    ),
    pytest.param(
        np.zeros(0, np.float32),
        f32(),
        i32(),
        None,
        "xyxy must have shape (N, 4), got (0,)",
        id="xyxy-empty-1d",
    ),
    pytest.param(
        boxes((0, 0, 1, 1), (0, 0, 2, 2)),
        f32(1),
        i32(0, 0),
        None,
        "confidence must have shape (2,), got (1,)",
        id="confidence-too-short",
    ),
    pytest.param(
        boxes((0, 0, 1, 1)),
        np.ones((1, 1), np.float32),
        i32(0),
        None,
        "confidence must have shape (1,), got (1, 1)",
        id="confidence-2d",
    ),
    pytest.param(
        boxes((0, 0, 1, 1)),
        f32(1),
        i32(0, 1),
        None,
        "class_id must have shape (1,), got (2,)",
        id="class-id-too-long",
    ),
    pytest.param(
        Detections.empty().xyxy,
        f32(),
        i32(3),
        None,
        "class_id must have shape (0,), got (1,)",
        id="class-id-on-empty",
    ),
    pytest.param(
        boxes((0, 0, 1, 1), (0, 0, 2, 2)),
        f32(1, 1),
        i32(0, 0),
        i32(-1, -1, -1),
        "parent must have shape (2,), got (3,)",
        id="parent-too-long",
    ),
    pytest.param(
        Detections.empty().xyxy,
        f32(),
        i32(),
        i32(-1),
        "parent must have shape (0,), got (1,)",
        id="parent-on-empty",
    ),
]


@pytest.mark.parametrize(("xyxy", "confidence", "class_id", "parent", "message"), BAD_SHAPES)
def test_wrong_shapes_raise(
    xyxy: np.ndarray, confidence: np.ndarray, class_id: np.ndarray, parent: np.ndarray | None, message: str
) -> None:
    kwargs = {} if parent is None else {"parent": parent}
    with pytest.raises(ValueError, match=re.escape(message)):
        Detections(xyxy, confidence, class_id, **kwargs)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="inf"),
        pytest.param(float("-inf"), id="minus-inf"),
    ],
)
@pytest.mark.parametrize("column", [0, 1, 2, 3])
def test_non_finite_boxes_raise(bad: float, column: int) -> None:
    xyxy = boxes((0, 0, 10, 10), (1, 1, 5, 5))
    xyxy[1, column] = bad
    with pytest.raises(ValueError, match="xyxy holds NaN or infinite coordinates"):
        Detections(xyxy, f32(0.5, 0.5), i32(0, 0))


@pytest.mark.parametrize(
    "box",
    [
        pytest.param((10, 0, 9, 5), id="x2-below-x1"),
        pytest.param((0, 10, 5, 9.5), id="y2-below-y1"),
        pytest.param((10, 10, 0, 0), id="both-swapped"),
    ],
)
def test_unordered_corners_raise(box: tuple[float, float, float, float]) -> None:
    with pytest.raises(ValueError, match=re.escape("xyxy boxes must have x1 <= x2 and y1 <= y2")):
        Detections(boxes((0, 0, 1, 1), box), f32(0.5, 0.5), i32(0, 0))


def test_frozen() -> None:
    det = Detections.empty()
    with pytest.raises(dataclasses.FrozenInstanceError):
        det.xyxy = np.zeros((1, 4), np.float32)  # type: ignore[misc]
