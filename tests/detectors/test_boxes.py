"""Box arithmetic: IoU by hand, anchors, encode/decode round trip, malformed training boxes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detectors.boxes import box_iou, check_target_boxes, clip_boxes, decode, encode, make_anchors

W = (10.0, 10.0, 5.0, 5.0)


def test_iou_by_hand() -> None:
    a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 1, 1]])
    b = torch.tensor([[1.0, 1, 3, 3], [0, 0, 2, 2], [5, 5, 5, 5]])
    expected = torch.tensor([[1 / 7, 1.0, 0.0], [0.0, 0.25, 0.0]])
    torch.testing.assert_close(box_iou(a, b), expected)


def test_anchors_centre_on_cells_with_the_asked_area_and_ratio() -> None:
    anchors = make_anchors((2, 3), 8, sizes=(16.0,), ratios=(0.5, 2.0))
    assert anchors.shape == (2 * 3 * 2, 4)
    first = anchors[0]  # cell (0, 0), ratio h/w 0.5
    w, h = float(first[2] - first[0]), float(first[3] - first[1])
    assert w * h == pytest.approx(256.0)
    assert h / w == pytest.approx(0.5)
    assert float((first[0] + first[2]) / 2) == pytest.approx(4.0)
    last = anchors[-1]  # cell (1, 2), ratio 2
    assert float((last[0] + last[2]) / 2) == pytest.approx(20.0)
    assert float((last[1] + last[3]) / 2) == pytest.approx(12.0)


def test_encode_decode_round_trip() -> None:
    ref = torch.tensor([[0.0, 0, 10, 20], [5, 5, 9, 7]])
    boxes = torch.tensor([[1.0, 2, 12, 18], [4, 4, 12, 8]])
    deltas = encode(boxes, ref, W)
    torch.testing.assert_close(decode(deltas, ref, W), boxes)
    torch.testing.assert_close(deltas[0, 0], torch.tensor(10 * (6.5 - 5) / 10))


def test_decode_caps_huge_scales() -> None:
    out = decode(torch.tensor([[0.0, 0, 1000, 1000]]), torch.tensor([[0.0, 0, 1, 1]]), W)
    assert torch.isfinite(out).all()


def test_clip() -> None:
    out = clip_boxes(torch.tensor([[-5.0, -1, 50, 9]]), height=8, width=40)
    torch.testing.assert_close(out, torch.tensor([[0.0, 0, 40, 8]]))


def test_training_boxes_are_checked_and_clipped() -> None:
    ok = check_target_boxes(torch.tensor([[-3.0, 2, 5, 9]]), torch.tensor([1]), 8, 8, "a.txt")
    torch.testing.assert_close(ok, torch.tensor([[0.0, 2, 5, 8]]))
    assert check_target_boxes(torch.zeros(0, 4), torch.zeros(0), 8, 8, "empty.txt").shape == (0, 4)


@pytest.mark.parametrize(
    ("box", "message"),
    [
        ([5.0, 5, 5, 9], "no area"),
        ([5.0, 9, 7, 3], "no area"),
        ([20.0, 2, 30, 5], "outside the 8x8 image"),
        ([1.0, float("nan"), 3, 4], "non-finite"),
    ],
)
def test_malformed_training_boxes_name_the_file_and_box(box: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=rf"labels/x\.txt: box 0 .*{message}"):
        check_target_boxes(torch.tensor([box]), torch.tensor([0]), 8, 8, "labels/x.txt")


def test_kind_scores_sum_the_vehicle_types() -> None:
    from detectors.npbox import kind_scores

    # background, car, suv, plate
    probs = np.array(
        [
            [0.20, 0.35, 0.30, 0.15],  # unsure car or suv, surely a vehicle: 0.65, labelled car
            [0.10, 0.20, 0.25, 0.45],  # vehicle 0.45 vs plate 0.45: a tie stays a vehicle (suv)
            [0.10, 0.20, 0.20, 0.50],  # plate 0.50 beats vehicle 0.40
            [0.90, 0.05, 0.03, 0.02],  # background: low scores either way
        ]
    )
    label, score, kind = kind_scores(probs, plate=2)
    assert label.tolist() == [0, 1, 2, 0]
    np.testing.assert_allclose(score, [0.65, 0.45, 0.50, 0.08], atol=1e-6)
    assert kind.tolist() == [0, 0, 1, 0]
    label, score, kind = kind_scores(probs[:, :3], plate=None)  # no plate class: every class a vehicle
    assert label.tolist() == [0, 1, 0, 0]
    np.testing.assert_allclose(score, [0.65, 0.45, 0.40, 0.08], atol=1e-6)
    assert kind.tolist() == [0, 0, 0, 0]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("limit", [None, 1, 50])
def test_runtime_nms_equals_the_greedy_loop(seed: int, limit: int | None) -> None:
    from detectors.npbox import batched_nms, greedy_nms, nms

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    corner = rng.uniform(0, 300, (n, 2))
    boxes = np.concatenate([corner, corner + rng.uniform(2, 80, (n, 2))], 1).astype(np.float32)
    scores = rng.permutation(n).astype(np.float32) / n  # distinct: ties may break either way
    for iou in (0.3, 0.5, 0.7):
        assert nms(boxes, scores, iou, limit).tolist() == greedy_nms(boxes, scores, iou, limit).tolist()
    groups = rng.integers(0, 3, n)
    kept = batched_nms(boxes, scores, groups, 0.5, limit)
    shifted = boxes + ((boxes.max() + 1) * groups.astype(np.float32))[:, None]
    assert kept.tolist() == greedy_nms(shifted, scores, 0.5, limit).tolist()


def test_runtime_nms_edges() -> None:
    from detectors.npbox import nms

    box = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.2, 0.9, 0.5], np.float32)
    assert nms(box, scores, 0.5).tolist() == [1, 2]  # the duplicate goes, the best stays first
    assert nms(box, scores, 0.5, limit=0).tolist() == []
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).tolist() == []
    assert nms(box, scores, 1.0).tolist() == [1, 2, 0]  # identical boxes overlap 1.0, not above it
