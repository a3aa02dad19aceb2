"""Detection metrics by hand, and the two-pass pipeline's bookkeeping with a scripted network."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from detectors.evaluate import average_precision, recall_at
from detectors.npbox import in_regions
from detectors.pipeline import DetectionPipeline, Found, PipelineSpec

F = np.float32


def _b(*rows: list[float]) -> npt.NDArray[np.float32]:
    return np.array(rows, F).reshape(-1, 4)


def test_ap_perfect_and_empty() -> None:
    truth = [_b([0, 0, 10, 10]), _b([5, 5, 20, 20])]
    preds = [(truth[0], np.array([0.9], F)), (truth[1], np.array([0.8], F))]
    assert average_precision(preds, truth) == pytest.approx(1.0)
    assert average_precision([(_b(), np.zeros(0, F))] * 2, truth) == 0.0
    assert math.isnan(average_precision([(_b(), np.zeros(0, F))], [_b()]))


def test_ap_by_hand() -> None:
    # 2 truths. Ranked: TP (0.9), FP (0.8), TP (0.7) → precision 1, 1/2, 2/3 at recall .5, .5, 1
    # interpolated: recall 0→0.5 at precision 1, 0.5→1 at precision 2/3 → AP = 0.5 + 1/3
    truth = [_b([0, 0, 10, 10], [20, 20, 30, 30])]
    preds = [(_b([0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 31]), np.array([0.9, 0.8, 0.7], F))]
    assert average_precision(preds, truth) == pytest.approx(0.5 + 1 / 3)


def test_predictions_on_ignore_regions_count_neither_way() -> None:
    # 2 truths. Ranked: TP (0.9), on an ignore region (0.85), FP (0.8), TP (0.7)
    truth = [_b([0, 0, 10, 10], [20, 20, 30, 30])]
    boxes = _b([0, 0, 10, 10], [101, 101, 104, 104], [50, 50, 60, 60], [20, 20, 30, 31])
    preds = [(boxes, np.array([0.9, 0.85, 0.8, 0.7], F))]
    ignore = [_b([100, 100, 105, 105])]
    # without the region: TP, FP, FP, TP → precision 1, 1/2, 1/3, 1/2 → AP = 0.5 + 0.5 · 0.5
    assert average_precision(preds, truth) == pytest.approx(0.75)
    # with it: TP, FP, TP → the hand-computed case above, AP = 0.5 + 1/3
    assert average_precision(preds, truth, ignores=ignore) == pytest.approx(0.5 + 1 / 3)
    # a prediction only half inside (intersection 0.4 of its area) still counts as false
    half = [(_b([0, 0, 10, 10], [100, 100, 110, 110], [20, 20, 30, 30]), np.array([0.9, 0.8, 0.7], F))]
    assert average_precision(half, truth, ignores=[_b([100, 100, 105, 108])]) == pytest.approx(0.5 + 1 / 3)
    # a region does not hide a missed truth: recall stays 1/2
    only = [(_b([0, 0, 10, 10]), np.array([0.9], F))]
    assert average_precision(only, truth, ignores=[_b([0, 0, 40, 40])]) == pytest.approx(0.5)


def test_in_regions_by_hand() -> None:
    boxes = _b([0, 0, 10, 10], [0, 0, 10, 4], [20, 20, 30, 30])
    region = _b([0, 0, 10, 5])  # holds half of the first box, all of the second, none of the third
    assert in_regions(boxes, region).tolist() == [True, True, False]
    assert in_regions(boxes, _b()).tolist() == [False] * 3
    assert in_regions(_b(), region).shape == (0,)


def test_duplicates_count_as_false_positives() -> None:
    truth = [_b([0, 0, 10, 10])]
    preds = [(_b([0, 0, 10, 10], [0, 0, 10, 10]), np.array([0.9, 0.8], F))]
    assert average_precision(preds, truth) == pytest.approx(1.0)  # the duplicate comes after full recall
    assert recall_at([_b([0, 0, 10, 10], [0, 0, 10, 10])], truth) == 1.0


def test_recall_needs_iou_half() -> None:
    truth = [_b([0, 0, 10, 10], [100, 100, 110, 110])]
    assert recall_at([_b([0, 0, 10, 12])], truth) == 0.5  # IoU 0.83 hits, the other is missed
    assert recall_at([_b([0, 0, 10, 30])], truth) == 0.0  # IoU 0.33


CLASSES = ("car", "plate")


class Scripted:
    """A network stand-in: a first-pass answer, and a plate in the middle of every second-pass crop."""

    def __init__(self, first: Found) -> None:
        self.first = first
        self.calls: list[tuple[int, ...]] = []

    def __call__(self, batch: npt.NDArray[np.float32]) -> list[Found]:
        self.calls.append(batch.shape)
        if batch.shape[2:] == (384, 640):
            return [self.first]
        h, w = batch.shape[2:]
        plate = _b([w / 2 - 30, h / 2 - 8, w / 2 + 30, h / 2 + 8])
        return [(plate, np.array([0.9], F), np.array([1]))] * batch.shape[0]


def test_small_plates_get_a_refining_second_pass() -> None:
    # first pass (in the 640×384 letterbox of a 1280×720 frame: scale 0.5): a car and a 5-px plate
    first = (_b([100, 100, 200, 180], [140, 160, 160, 165]), np.array([0.9, 0.6], F), np.array([0, 1]))
    runner = Scripted(first)
    frame = np.zeros((720, 1280, 3), np.uint8)
    found = DetectionPipeline(runner, PipelineSpec(CLASSES)).detect_image(frame)
    assert runner.calls == [(1, 3, 384, 640), (1, 3, 192, 320)]  # one plate region, batched
    plates = found.xyxy[found.class_id == 1]
    assert len(plates) == 1
    # the region is 64×107 frame px around the candidate (300, 325), up-sampled 3×: the scripted
    # plate (60×16 crop px) maps back to 20×5.3 frame px centred on the candidate
    np.testing.assert_allclose(plates[0], [290, 322.33, 310, 327.67], atol=0.6)
    assert found.parent[found.class_id == 1].tolist() == [0]  # assigned to the car


def test_vehicle_without_a_plate_is_searched_and_single_pass_is_left_alone() -> None:
    first = (_b([100, 100, 160, 150]), np.array([0.9], F), np.array([0]))
    frame = np.zeros((720, 1280, 3), np.uint8)
    runner = Scripted(first)
    found = DetectionPipeline(runner, PipelineSpec(CLASSES)).detect_image(frame)
    assert len(runner.calls) == 2
    assert (found.class_id == 1).sum() == 1
    single = Scripted(first)
    found_single = DetectionPipeline(single, PipelineSpec(CLASSES, second_pass=False)).detect_image(frame)
    assert len(single.calls) == 1
    assert (found_single.class_id == 1).sum() == 0


class SecondPassVehicle(Scripted):
    """The second pass finds a vehicle at ``box`` (second-pass input pixels) and no plate."""

    def __init__(self, first: Found, box: list[float]) -> None:
        super().__init__(first)
        self.box = _b(box)

    def __call__(self, batch: npt.NDArray[np.float32]) -> list[Found]:
        self.calls.append(batch.shape)
        if batch.shape[2:] == (384, 640):
            return [self.first]
        return [(self.box, np.array([0.95], F), np.array([0]))] * batch.shape[0]


def test_a_second_pass_vehicle_cut_by_the_window_replaces_nothing() -> None:
    # a 60×50 car without a plate (first-pass input px are half the frame's): its window is
    # 108.3×65 frame px around (130, 125), at (75.83, 92.5), up-sampled 320 / 108.33 = 2.954 times
    first = (_b([50, 50, 80, 75]), np.array([0.6], F), np.array([0]))
    frame = np.zeros((720, 1280, 3), np.uint8)
    spec = PipelineSpec(CLASSES, score_threshold=0.5)
    whole = DetectionPipeline(SecondPassVehicle(first, [40, 30, 280, 160]), spec).detect_image(frame)
    np.testing.assert_allclose(whole.xyxy, [[89.37, 102.66, 170.63, 146.67]], atol=0.05)
    assert whole.confidence.tolist() == [pytest.approx(0.95)]
    # the same vehicle reaching the window's left edge (inside the frame) is a part of one
    cut = DetectionPipeline(SecondPassVehicle(first, [0, 30, 250, 160]), spec).detect_image(frame)
    np.testing.assert_allclose(cut.xyxy, [[100, 100, 160, 150]])
    assert cut.confidence.tolist() == [pytest.approx(0.6)]
    # at the frame's own edge the window cuts nothing: a car at the left border is refined
    edge = (_b([0, 50, 30, 75]), np.array([0.6], F), np.array([0]))
    found = DetectionPipeline(SecondPassVehicle(edge, [0, 30, 250, 160]), spec).detect_image(frame)
    assert found.confidence.tolist() == [pytest.approx(0.95)]
    assert found.xyxy[0, 0] == 0.0
    assert found.xyxy[0, 2] > 60


def test_both_passes_end_in_one_nms_per_kind() -> None:
    # a car and an suv box on one vehicle (IoU 0.69): one vehicle, the likelier type kept
    classes = ("car", "suv", "plate")
    first = (_b([50, 50, 80, 75], [45, 51, 85, 73.5]), np.array([0.9, 0.7], F), np.array([0, 1]))
    runner_plate = Scripted(first)  # its second pass finds a plate (class 1 there) in every window
    frame = np.zeros((720, 1280, 3), np.uint8)

    def with_plate_id(batch: npt.NDArray[np.float32]) -> list[Found]:
        out = runner_plate(batch)
        return out if batch.shape[2:] == (384, 640) else [(b, s, np.full(len(c), 2)) for b, s, c in out]

    found = DetectionPipeline(with_plate_id, PipelineSpec(classes)).detect_image(frame)
    vehicles = found.class_id != 2
    assert found.class_id[vehicles].tolist() == [0]
    assert found.confidence[vehicles].tolist() == [pytest.approx(0.9)]
    assert (found.class_id == 2).sum() == 1  # the two windows' plates are one plate too


@pytest.mark.parametrize("shape", [(1, 1, 3), (2160, 3840, 3), (50, 80), (50, 80, 4)])
def test_any_frame_size_or_channel_count(shape: tuple[int, ...]) -> None:
    empty = (_b(), np.zeros(0, F), np.zeros(0, np.int64))
    found = DetectionPipeline(Scripted(empty), PipelineSpec(CLASSES)).detect_image(np.zeros(shape, np.uint8))
    assert len(found) == 0


def test_gate_savings_counts_rejections_and_true_rejections() -> None:
    from detectors.evaluate import _Frame, gate_savings
    from detectors.gate import GateResult

    # first pass (letterbox scale 0.5): a real car at frame (200..400, 200..360), a false box elsewhere
    first = (_b([100, 100, 200, 180], [400, 20, 450, 60]), np.array([0.9, 0.8], F), np.array([0, 0]))
    pipeline = DetectionPipeline(Scripted(first), PipelineSpec(CLASSES, second_pass=False))
    frame = _Frame(np.zeros((720, 1280, 3), np.uint8), _b([200, 200, 400, 360]), _b())
    embedded: list[int] = []

    def classify(crops: list[np.ndarray]) -> list[GateResult]:
        return [
            GateResult(c.shape[0] > 100, 0.9, "car", 0.9, "red", 0.9) for c in crops
        ]  # the car is 160 px high

    report = gate_savings([frame, frame], pipeline, classify, lambda crops: embedded.append(len(crops)))
    assert report["gate_crops"] == 4
    assert report["gate_rejected"] == 2
    assert report["gate_rejected_false"] == 2  # both rejections were the false box
    assert embedded == [2]  # re-id timed on exactly the rejected crops
