"""The re-identification networks of seed 004: backbone → global pooling → BN neck → classifier.

The vehicle and plate networks have the same form and classify the same identity labels.
``forward`` returns the pooled feature (for the metric loss), the BN-neck feature (the
embedding used at inference) and the classifier logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from config.schema import ReidConfig
from reid.backbone import Backbone, BackboneSpec, backbone_spec

Pooling = Literal["avg", "max"]
Feature = Literal["neck", "pooled"]

# The built-in shapes are the config's defaults (``reid.vehicle_net``, ``reid.plate_net``).
VEHICLE_SPEC = backbone_spec(ReidConfig().vehicle_net)
PLATE_SPEC = backbone_spec(ReidConfig().plate_net)


@dataclass(frozen=True, slots=True)
class ReidOutput:
    """What a re-id network computes for a batch.

    Attributes:
        pooled: ``(N, D)`` globally pooled feature (metric loss).
        embedding: ``(N, D)`` BN-neck feature (inference; L2-normalise before comparing).
        logits: ``(N, C)`` identity logits (classification and distillation losses).
        maps: ``(N, D, h, w)`` final feature map (auxiliary heads during training).
    """

    pooled: Tensor
    embedding: Tensor
    logits: Tensor
    maps: Tensor


class ReidNet(nn.Module):
    """Backbone, global pooling, BN neck and identity classifier.

    Args:
        backbone: Feature extractor; its ``out_channels`` is the feature dimension.
        num_classes: Training identities.
        pooling: ``"avg"`` or ``"max"`` global pooling.
    """

    def __init__(self, *, backbone: Backbone, num_classes: int, pooling: Pooling = "avg") -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.backbone = backbone
        self.pooling: Pooling = pooling
        dim = backbone.spec.out_channels
        self.neck = nn.BatchNorm1d(dim)
        self.neck.bias.requires_grad_(False)  # BNNeck: no shift, so the embedding stays centred
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)

    @property
    def feature_dim(self) -> int:
        """Length of the pooled and embedding vectors."""
        return int(self.neck.num_features)

    def forward(self, images: Tensor) -> ReidOutput:
        maps = self.backbone(images)  # (N, D, h, w)
        pooled = maps.mean((2, 3)) if self.pooling == "avg" else maps.amax((2, 3))  # (N, D)
        embedding = self.neck(pooled)  # (N, D)
        return ReidOutput(pooled, embedding, self.classifier(embedding), maps)


# Characters a plate reader can emit: digits, Latin capitals, Chinese province glyphs.
PLATE_ALPHABET = (
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
)


class PlateTextHead(nn.Module):
    """Training-only reader: per-column character scores over the plate feature map, for CTC.

    Input ``(N, D, h, w)`` → mean over height → linear per column → ``(w, N, len+1)`` log
    probabilities (class 0 is the CTC blank). Not exported: it only shapes the plate features.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, len(PLATE_ALPHABET) + 1)

    def forward(self, maps: Tensor) -> Tensor:
        columns = maps.mean(2).transpose(1, 2)  # (N, w, D)
        return F.log_softmax(self.proj(columns), dim=2).transpose(0, 1)  # (w, N, C)


def encode_plate_text(texts: list[str]) -> tuple[Tensor, Tensor]:
    """CTC targets: concatenated 1-based character indices and per-text lengths (unknown chars dropped)."""
    index = {c: i + 1 for i, c in enumerate(PLATE_ALPHABET)}
    codes = [[index[c] for c in text if c in index] for text in texts]
    flat = [c for code in codes for c in code]
    return torch.tensor(flat, dtype=torch.int64), torch.tensor([len(c) for c in codes], dtype=torch.int64)


class EmbeddingModel(nn.Module):
    """The inference graph that is exported: images ``(N, 3, H, W)`` float → L2-normalised ``(N, D)``.

    ``feature`` picks the vector (seed 004: "the pooled (or BN) vector is the feature"):
    ``neck``, the BN-neck output the classifier reads; or ``pooled``, the globally pooled
    vector the triplet loss shapes, centred by the neck's running mean (the mean over the
    training crops). Without the centring, two different vehicles of the shipped weights have
    a median cosine of 0.71 (``scripts/reid_features.py``), and the gallery's similarity
    thresholds would mean nothing.
    """

    def __init__(self, net: ReidNet, feature: Feature = "neck") -> None:
        super().__init__()
        self.net = net
        self.feature: Feature = feature

    def forward(self, images: Tensor) -> Tensor:
        maps = self.net.backbone(images)
        pooled = maps.mean((2, 3)) if self.net.pooling == "avg" else maps.amax((2, 3))
        if self.feature == "pooled":
            mean = self.net.neck.running_mean
            assert mean is not None  # the neck tracks running statistics
            return F.normalize(pooled - mean, dim=1)
        return F.normalize(self.net.neck(pooled), dim=1)


def build_net(spec: BackboneSpec, num_classes: int, pooling: Pooling = "avg") -> ReidNet:
    """A fresh network (deterministic under ``torch.manual_seed``)."""
    return ReidNet(backbone=Backbone(spec), num_classes=num_classes, pooling=pooling)


def count_parameters(module: nn.Module) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


__all__ = [
    "PLATE_SPEC",
    "VEHICLE_SPEC",
    "EmbeddingModel",
    "Feature",
    "ReidNet",
    "ReidOutput",
    "build_net",
    "count_parameters",
    "torch",
]
