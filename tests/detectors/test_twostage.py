"""The two-stage detector: shapes, zero box loss without targets, learning one easy scene, NMS."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detectors.boxes import box_iou
from detectors.nms import batched_nms, nms
from detectors.sampling import SamplerSpec
from detectors.twostage import DetectorSpec, TrainSpec, TwoStageDetector
from reid.backbone import BackboneSpec

TINY = DetectorSpec(
    classes=("car", "plate"),
    backbone=BackboneSpec(depths=(1, 1, 1, 1), widths=(4, 8, 8, 16), stem_stride=4, last_stride=2),
    channels=16,
    anchor_sizes=((16.0,), (32.0,), (64.0,)),
    canonical=32.0,
    anchor_ratios=(0.5, 1.0),
    hidden=32,
    pre_nms=100,
    post_nms=50,
)
TRAIN = TrainSpec(rpn_batch=64, head=SamplerSpec(batch=32, bins=3))


def _scene() -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
    image = torch.full((1, 3, 64, 96), -1.0)
    image[0, :, 16:48, 24:56] = 1.5  # a bright "car"
    return image, [(torch.tensor([[24.0, 16, 56, 48]]), torch.tensor([1]))]


def test_strides_follow_the_backbone() -> None:
    assert TINY.strides == (8, 16, 32)


def test_losses_are_finite_and_reach_every_part() -> None:
    torch.manual_seed(0)
    model = TwoStageDetector(TINY)
    image, targets = _scene()
    losses = model.losses(image, targets, TRAIN, np.random.default_rng(0))
    assert all(torch.isfinite(v) for v in losses.values())
    assert float(losses["rpn_box"].detach()) > 0
    assert float(losses["head_box"].detach()) >= 0
    losses["total"].backward()
    for part in (model.backbone, model.fpn, model.bfp, model.rpn_conv, model.head, model.cls):
        assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in part.parameters())


def test_an_image_wholly_ignored_trains_no_background() -> None:
    torch.manual_seed(0)
    model = TwoStageDetector(TINY)
    image, _ = _scene()
    nothing = (torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))
    everywhere = (*nothing, torch.tensor([[-50.0, -50, 150, 120]]))  # holds every anchor and region
    losses = model.losses(image, [everywhere], TRAIN, np.random.default_rng(0))
    assert all(float(v.detach()) == 0.0 for v in losses.values())
    # a region elsewhere leaves the labelled scene's losses at work
    corner = (*_scene()[1][0], torch.tensor([[80.0, 0, 96, 12]]))
    losses = model.losses(image, [corner], TRAIN, np.random.default_rng(0))
    assert float(losses["rpn_cls"].detach()) > 0
    assert float(losses["head_cls"].detach()) > 0


def test_no_targets_give_zero_box_losses() -> None:
    torch.manual_seed(0)
    model = TwoStageDetector(TINY)
    image, _ = _scene()
    empty = [(torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))]
    losses = model.losses(image, empty, TRAIN, np.random.default_rng(0))
    assert float(losses["rpn_box"].detach()) == 0.0
    assert float(losses["head_box"].detach()) == 0.0
    assert float(losses["rpn_cls"].detach()) > 0
    assert float(losses["head_cls"].detach()) > 0


def test_learns_one_easy_scene() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = TwoStageDetector(TINY)
    image, targets = _scene()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    model.train()
    for _ in range(60):
        loss = model.losses(image, targets, TRAIN, rng)["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    (found,) = model.detect(image, score_threshold=0.3)
    assert len(found.boxes) >= 1
    best = int(found.scores.argmax())
    assert int(found.labels[best]) == 1
    assert float(box_iou(found.boxes[best : best + 1], targets[0][0])[0, 0]) > 0.5


def test_plain_fpn_variant_runs() -> None:
    model = TwoStageDetector(DetectorSpec(**{**_fields(TINY), "balanced": False})).eval()
    (found,) = model.detect(torch.zeros(1, 3, 64, 96))
    assert found.boxes.shape[1] == 4


def _fields(spec: DetectorSpec) -> dict[str, object]:
    return {name: getattr(spec, name) for name in spec.__dataclass_fields__}


def test_nms_by_hand() -> None:
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 9, 10]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    assert nms(boxes, scores, 0.5).tolist() == [3, 2]
    groups = torch.tensor([0, 1, 0, 0])
    assert batched_nms(boxes, scores, groups, 0.5).tolist() == [3, 1, 2]
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).shape == (0,)


@pytest.mark.parametrize("size", [(32, 32), (64, 96)])
def test_detect_on_blank_images_returns_valid_arrays(size: tuple[int, int]) -> None:
    model = TwoStageDetector(TINY).eval()
    (found,) = model.detect(torch.zeros(1, 3, *size), score_threshold=0.0)
    assert found.boxes.shape[1] == 4
    assert len(found.boxes) == len(found.scores) == len(found.labels)
    if len(found.boxes):
        assert (found.boxes[:, 2] >= found.boxes[:, 0]).all()
        assert (found.boxes[:, 2] <= size[1]).all()


def test_bf16_training_forward_matches_fp32_within_rounding() -> None:
    torch.manual_seed(0)
    model = TwoStageDetector(TINY)
    image, targets = _scene()
    reference = model.losses(image, targets, TRAIN, np.random.default_rng(0), "fp32")
    got = model.losses(image, targets, TRAIN, np.random.default_rng(0), "bf16")
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in got.values())
    # anchor sampling does not depend on the scores, so the RPN losses compare term for term;
    # proposals (and so the head's regions) may differ where bf16 rounding reorders scores
    for name in ("rpn_cls", "rpn_box"):
        assert float(got[name].detach()) == pytest.approx(float(reference[name].detach()), rel=0.05, abs=1e-3)
    got["total"].backward()
    for part in (model.backbone, model.fpn, model.bfp, model.rpn_conv, model.head, model.cls):
        assert all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in part.parameters())
        assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in part.parameters())


def test_a_dead_rpn_is_told_apart_from_a_live_one() -> None:
    from detectors.train import rpn_collapsed

    torch.manual_seed(0)
    model = TwoStageDetector(TINY)
    rng = np.random.default_rng(0)
    views = [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(2)]
    assert not rpn_collapsed(model, views)
    with torch.no_grad():  # every hidden unit of the RPN below zero: a dead ReLU layer
        model.rpn_conv.weight.zero_()
        model.rpn_conv.bias.fill_(-1.0)
    assert rpn_collapsed(model, views)
    assert model.training  # the check runs in eval mode and gives the model back as it was
