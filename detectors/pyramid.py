"""Feature pyramid (FPN) and the balanced feature pyramid of seed 003 (Libra R-CNN).

FPN: a 1×1 lateral convolution per backbone level, a top-down path (nearest up-sampling and
addition), a 3×3 output convolution per level.

Balance step, as the method describes it: every level is rescaled to one preset resolution
(that of ``refine_level``; larger maps by max pooling, smaller ones by nearest
interpolation), the rescaled maps are averaged, the average is refined (a 3×3 convolution
block), rescaled back to each level's size and added to that level (residual). The
detection heads run on the balanced maps.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class FPN(nn.Module):
    """Top-down feature pyramid over backbone levels (finest first), all with ``channels`` channels."""

    def __init__(self, in_channels: list[int], channels: int) -> None:
        super().__init__()
        if not in_channels or channels < 1:
            raise ValueError("FPN needs at least one input level and channels >= 1")
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.output = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in in_channels)

    def forward(self, levels: list[Tensor]) -> list[Tensor]:
        if len(levels) != len(self.lateral):
            raise ValueError(f"FPN expects {len(self.lateral)} levels, got {len(levels)}")
        merged = [lateral(x) for lateral, x in zip(self.lateral, levels, strict=True)]
        for i in range(len(merged) - 2, -1, -1):  # coarse to fine; each level is twice the next
            merged[i] = merged[i] + F.interpolate(merged[i + 1], scale_factor=2.0, mode="nearest")
        return [conv(x) for conv, x in zip(self.output, merged, strict=True)]


class BalancedFeaturePyramid(nn.Module):
    """Seed 003's balance step: rescale, average, refine, rescale back, add.

    Args:
        channels: Channels of every level.
        refine_level: Index of the level whose resolution the levels are averaged at.
    """

    def __init__(self, channels: int, refine_level: int = 1) -> None:
        super().__init__()
        if refine_level < 0:
            raise ValueError(f"refine_level must be >= 0, got {refine_level}")
        self.refine_level = refine_level
        self.refine = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )

    def gather(self, levels: list[Tensor]) -> Tensor:
        """The levels rescaled to the refine level's size and averaged (before refining).

        Levels halve in resolution one after the other (input sides are multiples of the
        coarsest stride), so rescaling uses whole factors: max pooling by ``2^k`` down,
        nearest up-sampling by ``2^k`` up. Whole factors keep the exported graph valid for
        any input size.
        """
        if not 0 <= self.refine_level < len(levels):
            raise ValueError(f"refine_level {self.refine_level} is not one of the {len(levels)} levels")
        rescaled = []
        for i, x in enumerate(levels):
            factor = 2 ** abs(i - self.refine_level)
            if i < self.refine_level:
                rescaled.append(F.max_pool2d(x, factor))
            elif i > self.refine_level:
                rescaled.append(F.interpolate(x, scale_factor=float(factor), mode="nearest"))
            else:
                rescaled.append(x)
        total = rescaled[0]
        for x in rescaled[1:]:
            total = total + x
        return total / len(levels)

    def forward(self, levels: list[Tensor]) -> list[Tensor]:
        refined = self.refine(self.gather(levels))  # (N, C, h_r, w_r)
        out = []
        for i, x in enumerate(levels):
            factor = 2 ** abs(i - self.refine_level)
            if i < self.refine_level:
                back = F.interpolate(refined, scale_factor=float(factor), mode="nearest")
            elif i > self.refine_level:
                back = F.max_pool2d(refined, factor)
            else:
                back = refined
            out.append(x + back)
        return out
