"""FPN and the balanced feature pyramid: shapes, the averaging by hand, the residual path."""

from __future__ import annotations

import pytest
import torch

from detectors.pyramid import FPN, BalancedFeaturePyramid
from reid.backbone import Backbone, BackboneSpec


def test_gather_rescales_to_the_refine_level_and_averages_by_hand() -> None:
    fine = torch.arange(16.0).reshape(1, 1, 4, 4)  # max-pooled 2×2 → [[5, 7], [13, 15]]
    mid = torch.ones(1, 1, 2, 2)
    coarse = torch.full((1, 1, 1, 1), 4.0)  # nearest up-sampling → all 4
    avg = BalancedFeaturePyramid(1, refine_level=1).gather([fine, mid, coarse])
    expected = (torch.tensor([[5.0, 7], [13, 15]]) + 1 + 4) / 3
    torch.testing.assert_close(avg[0, 0], expected)


def test_balanced_maps_are_the_levels_plus_the_rescaled_refinement() -> None:
    torch.manual_seed(0)
    bfp = BalancedFeaturePyramid(4, refine_level=1).eval()
    levels = [torch.randn(2, 4, 16, 24), torch.randn(2, 4, 8, 12), torch.randn(2, 4, 4, 6)]
    out = bfp(levels)
    assert [x.shape for x in out] == [x.shape for x in levels]
    refined = bfp.refine(bfp.gather(levels))
    torch.testing.assert_close(out[1], levels[1] + refined)  # the refine level: no rescaling
    up = refined.repeat_interleave(2, 2).repeat_interleave(2, 3)
    torch.testing.assert_close(out[0], levels[0] + up)
    down = torch.nn.functional.max_pool2d(refined, 2)
    torch.testing.assert_close(out[2], levels[2] + down)


def test_fpn_on_backbone_levels() -> None:
    backbone = Backbone(BackboneSpec(depths=(1, 1, 1, 1), widths=(4, 8, 8, 16), stem_stride=4, last_stride=2))
    levels = backbone.stage_outputs(torch.zeros(1, 3, 96, 160))[1:]  # strides 8, 16, 32
    assert [tuple(x.shape[-2:]) for x in levels] == [(12, 20), (6, 10), (3, 5)]
    fpn = FPN([x.shape[1] for x in levels], 8)
    out = BalancedFeaturePyramid(8)(fpn(levels))
    assert [tuple(x.shape) for x in out] == [(1, 8, 12, 20), (1, 8, 6, 10), (1, 8, 3, 5)]


def test_wrong_level_counts_raise() -> None:
    with pytest.raises(ValueError, match="expects 2 levels"):
        FPN([4, 8], 8)([torch.zeros(1, 4, 4, 4)])
    with pytest.raises(ValueError, match="refine_level 3"):
        BalancedFeaturePyramid(4, refine_level=3)([torch.zeros(1, 4, 4, 4)])
