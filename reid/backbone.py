"""The residual backbone of seed 001 (Tencent): pre-activation bottleneck blocks.

Each block's convolution branch is BN→ReLU→1×1 (stride 1) → BN→ReLU→3×3 (stride 2 in the
first block of a down-sampling stage) → BN→ReLU→1×1 (stride 1): the stride sits on the 3×3,
larger than the 1×1's and smaller than the 3×3 kernel width. The first block of every stage
has a BN→1×1 convolution projection on its residual branch; other blocks add the identity.
An initial convolution comes first; a final BN→ReLU→1×1 convolution sets the output width
(the feature dimension), so global pooling yields the feature directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from config.schema import BackboneConfig


@dataclass(frozen=True, slots=True)
class BackboneSpec:
    """Shape of a backbone.

    Attributes:
        depths: Blocks per stage.
        widths: Bottleneck width per stage (the block outputs ``width * expansion``).
        expansion: Output/bottleneck channel ratio of a block.
        stem_channels: Channels of the initial convolution.
        stem_stride: Stride of the stem: 1 or 2 (the convolution's), or 4 (a stride-2
            convolution then a 3×3 stride-2 max pooling, as ResNet's stem).
        last_stride: Stride of the last stage (1 keeps a larger final map).
        out_channels: Channels of the final projection (the feature dimension).
    """

    depths: tuple[int, ...] = (1, 2, 2, 1)
    widths: tuple[int, ...] = (16, 32, 64, 128)
    expansion: int = 4
    stem_channels: int = 16
    stem_stride: int = 2
    last_stride: int = 1
    out_channels: int = 128

    def __post_init__(self) -> None:
        if not self.depths or len(self.depths) != len(self.widths):
            raise ValueError(
                f"depths {self.depths} and widths {self.widths} must be non-empty and of equal length"
            )
        if min(self.depths) < 1 or min(self.widths) < 1 or self.expansion < 1 or self.out_channels < 1:
            raise ValueError("depths, widths, expansion and out_channels must be positive")
        if self.last_stride not in (1, 2) or self.stem_stride not in (1, 2, 4):
            raise ValueError("last_stride must be 1 or 2, stem_stride 1, 2 or 4")


def backbone_spec(cfg: BackboneConfig) -> BackboneSpec:
    """The backbone shape a ``reid.vehicle_net`` / ``reid.plate_net`` config section describes."""
    return BackboneSpec(
        depths=cfg.depths, widths=cfg.widths, stem_stride=cfg.stem_stride, last_stride=cfg.last_stride
    )


class Bottleneck(nn.Module):
    """One pre-activation bottleneck block (see the module docstring)."""

    def __init__(self, in_channels: int, width: int, out_channels: int, stride: int, project: bool) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, width, 1, stride=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, stride=1, bias=False)
        self.project: nn.Sequential | None = None
        if project:
            self.project = nn.Sequential(
                nn.BatchNorm2d(in_channels),
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(torch.relu(self.bn1(x)))
        out = self.conv2(torch.relu(self.bn2(out)))
        out = self.conv3(torch.relu(self.bn3(out)))
        shortcut: Tensor = self.project(x) if self.project is not None else x
        result: Tensor = out + shortcut
        return result


class Backbone(nn.Module):
    """Initial convolution, stages of :class:`Bottleneck`, final projection.

    Input ``(N, 3, H, W)``; output ``(N, out_channels, H / s, W / s)`` where ``s`` is the
    product of the stem stride and the stage strides (1, 2, 2, ..., ``last_stride``).
    """

    def __init__(self, spec: BackboneSpec) -> None:
        super().__init__()
        self.spec = spec
        conv_stride = min(spec.stem_stride, 2)
        self.stem = nn.Conv2d(3, spec.stem_channels, 3, stride=conv_stride, padding=1, bias=False)
        self.stem_pool: nn.Module = nn.MaxPool2d(3, 2, 1) if spec.stem_stride == 4 else nn.Identity()
        stages = []
        channels = spec.stem_channels
        last = len(spec.depths) - 1
        for i, (depth, width) in enumerate(zip(spec.depths, spec.widths, strict=True)):
            stride = 1 if i == 0 else (spec.last_stride if i == last else 2)
            out = width * spec.expansion
            blocks = [Bottleneck(channels, width, out, stride, project=True)]
            blocks += [Bottleneck(out, width, out, 1, project=False) for _ in range(depth - 1)]
            stages.append(nn.Sequential(*blocks))
            channels = out
        self.stages = nn.Sequential(*stages)
        self.head_bn = nn.BatchNorm2d(channels)
        self.head = nn.Conv2d(channels, spec.out_channels, 1, bias=False)
        self.out_bn = nn.BatchNorm2d(spec.out_channels)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def stage_outputs(self, x: Tensor) -> list[Tensor]:
        """Each stage's output, finest first (the inputs of a feature pyramid)."""
        outputs = []
        x = self.stem_pool(self.stem(x))
        for stage in self.stages:
            x = stage(x)
            outputs.append(x)
        return outputs

    def forward(self, x: Tensor) -> Tensor:
        x = self.stages(self.stem_pool(self.stem(x)))  # (N, C, H/s, W/s)
        out: Tensor = torch.relu(self.out_bn(self.head(torch.relu(self.head_bn(x)))))
        return out


# torchvision ResNet parameter names -> ours, for the layers whose shapes can agree
# (a user's own ImageNet-pretrained torchvision-format file; never downloaded).
TORCHVISION_PREFIXES: dict[str, str] = {
    "conv1.": "stem.",
    "layer1.": "stages.0.",
    "layer2.": "stages.1.",
    "layer3.": "stages.2.",
    "layer4.": "stages.3.",
}
_TV_BLOCK_NAMES = {"downsample.0.": "project.1.", "downsample.1.": "project.0."}


def load_torchvision_state(backbone: Backbone, state: Mapping[str, Tensor]) -> list[str]:
    """Copy every torchvision-format tensor whose mapped name and shape match; return those copied.

    Mapping: ``conv1`` → ``stem``, ``layerK.B.convJ`` → ``stages.(K-1).B.convJ``,
    ``layerK.B.bnJ`` → ``stages.(K-1).B.bnJ`` and ``downsample`` → ``project``. Torchvision
    places BN after convolutions and ours before, so only tensors of equal shape carry over
    (convolutions, mostly); everything else keeps its initialisation. Returns the names copied.
    """
    ours = backbone.state_dict()
    copied = []
    for name, tensor in state.items():
        mapped = name
        for theirs, mine in TORCHVISION_PREFIXES.items():
            if mapped.startswith(theirs):  # prefixes only: "conv1." also ends block names
                mapped = mine + mapped[len(theirs) :]
                break
        for theirs, mine in _TV_BLOCK_NAMES.items():
            mapped = mapped.replace(theirs, mine)
        if mapped in ours and ours[mapped].shape == tensor.shape:
            ours[mapped] = tensor.detach().clone()
            copied.append(mapped)
    backbone.load_state_dict(ours)
    return copied
