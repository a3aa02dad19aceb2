"""Sample dataclasses: validation, copies, equality; DatasetError messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from formats import DatasetError, DetectionSample, PlateSample, ReidSample

IMG = Path("img.jpg")


@pytest.mark.parametrize(
    ("source", "problem", "line", "expected"),
    [
        pytest.param("a.txt", "bad", None, "a.txt: bad", id="no-line"),
        pytest.param(Path("d/a.txt"), "bad", 3, "d/a.txt:3: bad", id="path-and-line"),
        pytest.param("a.csv", "two\nlines", 1, "a.csv:1: two lines", id="kept-on-one-line"),
    ],
)
def test_dataset_error_message(source: str | Path, problem: str, line: int | None, expected: str) -> None:
    err = DatasetError(source, problem, line=line)
    assert str(err) == expected
    assert (err.source, err.line) == (str(source), line)


def test_detection_sample_with_no_boxes() -> None:
    sample = DetectionSample(IMG, 10, 8, np.zeros((0, 4)), np.zeros(0))
    assert sample.xyxy.shape == (0, 4)
    assert sample.xyxy.dtype == np.float32
    assert sample.class_id.shape == (0,)
    assert sample.class_id.dtype == np.int32


def test_detection_sample_empty_lists_are_accepted() -> None:
    sample = DetectionSample(IMG, 10, 8, np.array([]), np.array([], np.int64))
    assert sample.xyxy.shape == (0, 4)


def test_detection_sample_copies_and_freezes_arrays() -> None:
    boxes = np.array([[1.0, 2.0, 3.0, 4.0]])
    ids = np.array([2])
    sample = DetectionSample(IMG, 10, 8, boxes, ids)
    boxes[0, 0] = 99.0
    ids[0] = 7
    assert sample.xyxy[0, 0] == 1.0
    assert sample.class_id[0] == 2
    with pytest.raises(ValueError, match="read-only"):
        sample.xyxy[0, 0] = 5.0


BAD_DETECTIONS: list[Any] = [
    pytest.param(10, 8, [[1, 2, 3]], [0], "shape", id="three-columns"),
    pytest.param(10, 8, [1, 2, 3, 4], [0], "shape", id="flat-box"),
    pytest.param(10, 8, [[1, 2, 3, 4]], [0, 1], "class_id must have shape", id="ids-longer"),
    pytest.param(10, 8, [[1, 2, 3, 4]], [[0]], "class_id must have shape", id="ids-2d"),
    pytest.param(10, 8, [[5, 2, 3, 4]], [0], "x1 > x2", id="x-inverted"),
    pytest.param(10, 8, [[1, 5, 3, 4]], [0], "x1 > x2 or y1 > y2", id="y-inverted"),
    pytest.param(10, 8, [[1, 2, np.nan, 4]], [0], "not finite", id="nan"),
    pytest.param(10, 8, [[1, 2, np.inf, 4]], [0], "not finite", id="inf"),
    pytest.param(10, 8, [[1, 2, 3, 4]], [-1], ">= 0", id="negative-class"),
    pytest.param(10, 8, [[1, 2, 3, 4]], [0.5], "whole numbers", id="fractional-class"),
    pytest.param(0, 8, [[1, 2, 3, 4]], [0], "positive", id="zero-width"),
    pytest.param(10, -1, [[1, 2, 3, 4]], [0], "positive", id="negative-height"),
]


@pytest.mark.parametrize(("width", "height", "xyxy", "class_id", "message"), BAD_DETECTIONS)
def test_detection_sample_rejects(width: int, height: int, xyxy: Any, class_id: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DetectionSample(IMG, width, height, np.array(xyxy, np.float64), np.array(class_id))


def test_detection_sample_equality_compares_arrays() -> None:
    a = DetectionSample(IMG, 10, 8, np.array([[1, 2, 3, 4]]), np.array([1]))
    assert a == DetectionSample(IMG, 10, 8, np.array([[1, 2, 3, 4]], np.float32), np.array([1], np.int32))
    assert a != DetectionSample(IMG, 10, 8, np.array([[1, 2, 3, 5]], np.float32), np.array([1], np.int32))
    assert a != DetectionSample(IMG, 10, 8, np.array([[1, 2, 3, 4]], np.float32), np.array([0], np.int32))


def test_detection_sample_ignore_regions_default_empty_and_are_checked() -> None:
    plain = DetectionSample(IMG, 10, 8, np.array([[1, 2, 3, 4]]), np.array([1]))
    assert plain.ignore_xyxy.shape == (0, 4)
    assert plain.ignore_class_id.shape == (0,)
    regions = DetectionSample(
        IMG, 10, 8, np.array([[1, 2, 3, 4]]), np.array([1]), np.array([[0, 0, 2, 2]]), np.array([0])
    )
    assert regions != plain
    with pytest.raises(ValueError, match=r"ignore region 0 .* x1 > x2"):
        DetectionSample(IMG, 10, 8, np.zeros((0, 4)), np.zeros(0), np.array([[5, 0, 2, 2]]), np.array([0]))
    with pytest.raises(ValueError, match="ignore_class_id must have shape"):
        DetectionSample(IMG, 10, 8, np.zeros((0, 4)), np.zeros(0), np.array([[0, 0, 2, 2]]), np.zeros(0))


def test_plate_sample_normalises_box_and_corners() -> None:
    corners = np.array([[0, 0], [4, 0], [4, 2], [0, 2]])
    plate = PlateSample(IMG, "皖AY339S", (0, 0, 4, 2), corners, "cn")
    assert plate.xyxy == (0.0, 0.0, 4.0, 2.0)
    assert all(isinstance(v, float) for v in plate.xyxy)
    assert plate.corners is not None
    assert plate.corners.dtype == np.float32
    corners[0, 0] = 9
    assert plate.corners[0, 0] == 0.0


@pytest.mark.parametrize(
    ("text", "xyxy", "corners", "message"),
    [
        pytest.param("AB 123", None, None, "whitespace", id="space-in-text"),
        pytest.param("AB\t123", None, None, "whitespace", id="tab-in-text"),
        pytest.param("AB", (5, 0, 4, 2), None, "x1 > x2", id="inverted-box"),
        pytest.param("AB", (0, 0, float("nan"), 2), None, "finite", id="nan-box"),
        pytest.param("AB", (0, 0, 4), None, "4 finite numbers", id="three-numbers"),
        pytest.param("AB", None, np.zeros((3, 2)), r"shape \(4, 2\)", id="three-corners"),
        pytest.param("AB", None, np.full((4, 2), np.inf), "not finite", id="inf-corner"),
    ],
)
def test_plate_sample_rejects(text: str, xyxy: Any, corners: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PlateSample(IMG, text, xyxy, corners)


def test_plate_sample_equality() -> None:
    corners = np.array([[0, 0], [4, 0], [4, 2], [0, 2]], np.float32)
    a = PlateSample(IMG, "AB1", (0, 0, 4, 2), corners, "eu")
    assert a == PlateSample(IMG, "AB1", (0, 0, 4, 2), corners.copy(), "eu")
    assert a != PlateSample(IMG, "AB1", (0, 0, 4, 2), None, "eu")
    assert a != PlateSample(IMG, "AB1", (0, 0, 4, 2), corners + 1, "eu")
    assert a != PlateSample(IMG, "AB2", (0, 0, 4, 2), corners, "eu")
    assert PlateSample(IMG, "", None, None) == PlateSample(IMG, "", None, None)


def test_reid_sample_holds_a_plate_and_compares_equal() -> None:
    plate = PlateSample(IMG, "AB1", None, np.zeros((4, 2)))
    a = ReidSample(IMG, 3, "c001", 10, plate)
    assert a == ReidSample(IMG, 3, "c001", 10, PlateSample(IMG, "AB1", None, np.zeros((4, 2))))
    assert a != ReidSample(IMG, 3, "c001", 10)


@pytest.mark.parametrize(
    ("identity", "camera", "frame", "message"),
    [
        pytest.param(-1, "c001", None, "identity", id="negative-identity"),
        pytest.param(1, "", None, "camera", id="empty-camera"),
        pytest.param(1, "c001", -5, "frame", id="negative-frame"),
    ],
)
def test_reid_sample_rejects(identity: int, camera: str, frame: int | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReidSample(IMG, identity, camera, frame)
