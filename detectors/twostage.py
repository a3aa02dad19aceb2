"""The two-stage detector (seeds 000 and 003) in plain torch.

    image → seed-001 ResNet (narrow) → FPN → balanced feature pyramid (seed 003)
          → RPN (anchors per level) → proposals (decode, top-k, NMS)
          → RoIAlign 7×7 on the level that suits each box → two-layer MLP → class + box

Training adds anchor matching for the RPN and IoU-balanced sampling of proposals for the box
head (``detectors.sampling``). Images with no boxes train the classifiers only: their box
losses are exactly zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from detectors.boxes import box_iou, clip_boxes, decode, encode, make_anchors
from detectors.nms import batched_nms
from detectors.npbox import in_regions, kind_scores
from detectors.pyramid import FPN, BalancedFeaturePyramid
from detectors.roi_align import roi_align
from detectors.sampling import SamplerSpec, sample_regions
from reid.backbone import Backbone, BackboneSpec
from reid.precision import autocast

RPN_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
HEAD_WEIGHTS = (10.0, 10.0, 5.0, 5.0)


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """Shape of the two-stage detector.

    Attributes:
        classes: Object classes (background is added internally as class 0).
        backbone: Seed-001 backbone; its last three stages feed the pyramid (strides 8, 16, 32
            with a stride-4 stem and last stride 2).
        channels: Pyramid channels.
        anchor_sizes: Anchor sides per pyramid level (the same number on every level).
        anchor_ratios: Height/width ratios of the anchors (plates are wide: 0.25).
        balanced: Use the balanced feature pyramid (seed 003); False: plain FPN.
        roi_size: RoIAlign output side.
        canonical: Box side pooled from the middle level; each doubling moves one level up.
        hidden: Width of the box head's two layers.
        pre_nms: Proposals kept per level before NMS.
        post_nms: Proposals kept after NMS.
    """

    classes: tuple[str, ...]
    backbone: BackboneSpec = field(
        default_factory=lambda: BackboneSpec(
            depths=(1, 2, 2, 1), widths=(16, 32, 64, 128), stem_stride=4, last_stride=2
        )
    )
    channels: int = 64
    anchor_sizes: tuple[tuple[float, ...], ...] = ((12.0, 24.0), (40.0, 72.0), (128.0, 224.0))
    anchor_ratios: tuple[float, ...] = (0.25, 0.5, 1.0)
    balanced: bool = True
    roi_size: int = 7
    canonical: float = 56.0
    hidden: int = 256
    pre_nms: int = 600
    post_nms: int = 300

    @property
    def strides(self) -> tuple[int, ...]:
        """Strides of the pyramid levels."""
        s = self.backbone.stem_stride
        strides = [s]
        for i in range(1, len(self.backbone.depths)):
            s *= self.backbone.last_stride if i == len(self.backbone.depths) - 1 else 2
            strides.append(s)
        return tuple(strides[-len(self.anchor_sizes) :])


@dataclass(frozen=True, slots=True)
class TrainSpec:
    """Anchor matching and sampling during training."""

    rpn_pos_iou: float = 0.7
    rpn_neg_iou: float = 0.3
    rpn_batch: int = 256
    head: SamplerSpec = field(default_factory=lambda: SamplerSpec(batch=256, positive_fraction=0.25, bins=3))


@dataclass(frozen=True, slots=True)
class RawDetections:
    """What the detector finds in one image (before the class-name mapping)."""

    boxes: Tensor  # (N, 4)
    scores: Tensor  # (N,)
    labels: Tensor  # (N,) 1-based class index


class TwoStageDetector(nn.Module):
    """Backbone, pyramid (balanced or not), RPN and box head."""

    def __init__(self, spec: DetectorSpec) -> None:
        super().__init__()
        self.spec = spec
        self._plate = spec.classes.index("plate") if "plate" in spec.classes else None
        self.backbone = Backbone(spec.backbone)
        levels = len(spec.anchor_sizes)
        in_channels = [w * spec.backbone.expansion for w in spec.backbone.widths][-levels:]
        self.fpn = FPN(in_channels, spec.channels)
        self.bfp: nn.Module = BalancedFeaturePyramid(spec.channels) if spec.balanced else nn.Identity()
        if len({len(sizes) for sizes in spec.anchor_sizes}) != 1:
            raise ValueError(f"every level needs the same number of anchor sizes, got {spec.anchor_sizes}")
        anchors = len(spec.anchor_ratios) * len(spec.anchor_sizes[0])
        self.rpn_conv = nn.Conv2d(spec.channels, spec.channels, 3, padding=1)
        self.rpn_score = nn.Conv2d(spec.channels, anchors, 1)
        self.rpn_delta = nn.Conv2d(spec.channels, anchors * 4, 1)
        flat = spec.channels * spec.roi_size * spec.roi_size
        self.head = nn.Sequential(
            nn.Linear(flat, spec.hidden),
            nn.ReLU(inplace=True),
            nn.Linear(spec.hidden, spec.hidden),
            nn.ReLU(),
        )
        self.cls = nn.Linear(spec.hidden, len(spec.classes) + 1)
        self.box = nn.Linear(spec.hidden, 4)  # class-agnostic refinement
        for layer in (self.rpn_score, self.rpn_delta, self.cls, self.box):
            nn.init.normal_(layer.weight, std=0.01)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)

    # --- stages ------------------------------------------------------------------------------

    def features(self, images: Tensor) -> list[Tensor]:
        """Pyramid maps (balanced when the spec says so), finest first."""
        levels = self.backbone.stage_outputs(images)[-len(self.spec.anchor_sizes) :]
        maps: list[Tensor] = self.bfp(self.fpn(levels))
        return maps

    def rpn(self, maps: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """Objectness ``(N, h·w·A)`` and deltas ``(N, h·w·A, 4)`` per level."""
        scores, deltas = [], []
        for x in maps:
            t = F.relu(self.rpn_conv(x))
            n = x.shape[0]
            scores.append(self.rpn_score(t).permute(0, 2, 3, 1).reshape(n, -1))
            deltas.append(self.rpn_delta(t).permute(0, 2, 3, 1).reshape(n, -1, 4))
        return scores, deltas

    def anchors(self, maps: list[Tensor]) -> list[Tensor]:
        """Anchors per level for these maps."""
        return [
            make_anchors((int(x.shape[2]), int(x.shape[3])), stride, sizes, self.spec.anchor_ratios)
            for x, stride, sizes in zip(maps, self.spec.strides, self.spec.anchor_sizes, strict=True)
        ]

    def proposals(
        self, scores: list[Tensor], deltas: list[Tensor], anchors: list[Tensor], size: tuple[int, int]
    ) -> list[Tensor]:
        """Per image: top ``pre_nms`` per level, decoded, clipped, NMS 0.7, top ``post_nms``."""
        out = []
        for i in range(scores[0].shape[0]):
            boxes, objectness, levels = [], [], []
            for lvl, (s, d, a) in enumerate(zip(scores, deltas, anchors, strict=True)):
                k = min(self.spec.pre_nms, s.shape[1])
                top = s[i].detach().topk(k).indices
                boxes.append(clip_boxes(decode(d[i, top].detach(), a[top], RPN_WEIGHTS), *size))
                objectness.append(s[i, top].detach())
                levels.append(torch.full((k,), lvl))
            b, o, g = torch.cat(boxes), torch.cat(objectness), torch.cat(levels)
            wide = ((b[:, 2] - b[:, 0]) > 1) & ((b[:, 3] - b[:, 1]) > 1)
            b, o, g = b[wide], o[wide], g[wide]
            keep = batched_nms(b, o, g, 0.7, limit=self.spec.post_nms)  # highest objectness first
            out.append(b[keep])
        return out

    def pool(self, maps: list[Tensor], rois: list[Tensor]) -> Tensor:
        """RoIAlign each box on the level whose scale suits it (FPN's rule, anchored on the middle level)."""
        boxes = torch.cat(rois) if rois else torch.zeros(0, 4)
        index = torch.cat([torch.full((len(r),), i, dtype=torch.int64) for i, r in enumerate(rois)])
        side = ((boxes[:, 2] - boxes[:, 0]).clamp(min=1) * (boxes[:, 3] - boxes[:, 1]).clamp(min=1)).sqrt()
        middle = len(maps) // 2
        level = torch.floor(middle + torch.log2(side / self.spec.canonical + 1e-6) + 0.5)
        level = level.clamp(0, len(maps) - 1).long()
        size = (self.spec.roi_size, self.spec.roi_size)
        pooled = boxes.new_zeros((len(boxes), self.spec.channels, *size))
        for lvl, (x, stride) in enumerate(zip(maps, self.spec.strides, strict=True)):
            chosen = (level == lvl).nonzero().flatten()
            if len(chosen):
                pooled[chosen] = roi_align(x, boxes[chosen], index[chosen], size, 1.0 / stride)
        return pooled

    def classify(self, pooled: Tensor) -> tuple[Tensor, Tensor]:
        """Class logits ``(K, C+1)`` and box deltas ``(K, 4)`` of pooled regions."""
        hidden = self.head(pooled.flatten(1))
        return self.cls(hidden), self.box(hidden)

    # --- inference ---------------------------------------------------------------------------

    @torch.no_grad()
    def detect(self, images: Tensor, score_threshold: float = 0.3, iou: float = 0.5) -> list[RawDetections]:
        """Detections per image; images ``(N, 3, H, W)`` normalised, H and W multiples of 32."""
        size = (int(images.shape[2]), int(images.shape[3]))
        maps = self.features(images)
        scores, deltas = self.rpn(maps)
        rois = self.proposals(scores, deltas, self.anchors(maps), size)
        logits, box_deltas = self.classify(self.pool(maps, rois))
        probs = logits.softmax(1)
        out = []
        start = 0
        for r in rois:
            p, d = probs[start : start + len(r)], box_deltas[start : start + len(r)]
            start += len(r)
            boxes = clip_boxes(decode(d, r, HEAD_WEIGHTS), *size)
            label_np, score_np, kind_np = kind_scores(p.numpy(), self._plate)  # one rule with the runtime
            score, label, kind = (
                torch.from_numpy(score_np),
                torch.from_numpy(label_np),
                torch.from_numpy(kind_np),
            )
            keep = score >= score_threshold
            boxes, score, label, kind = boxes[keep], score[keep], label[keep] + 1, kind[keep]
            kept = batched_nms(boxes, score, kind, iou)  # a vehicle is one box whatever its type
            out.append(RawDetections(boxes[kept], score[kept], label[kept]))
        return out

    # --- training ----------------------------------------------------------------------------

    def losses(
        self,
        images: Tensor,
        targets: Sequence[tuple[Tensor, Tensor] | tuple[Tensor, Tensor, Tensor]],
        train: TrainSpec,
        rng: np.random.Generator,
        precision: str = "fp32",
    ) -> dict[str, Tensor]:
        """RPN and head losses; ``targets`` per image: boxes ``(M, 4)``, 1-based labels ``(M,)``
        and, optionally, regions to ignore ``(G, 4)``: an anchor or region lying mostly inside
        one (``detectors.npbox.in_regions``) and not a positive is never drawn
        as background, since an unlabelled object may be there.

        ``precision`` ``bf16`` runs the backbone, pyramid and RPN in bf16 autocast (channels-last
        input); their outputs, RoIAlign, the head and every loss stay fp32.
        """
        size = (int(images.shape[2]), int(images.shape[3]))
        with autocast(precision):
            maps = self.features(images.contiguous(memory_format=torch.channels_last))
            scores, deltas = self.rpn(maps)
        maps = [m.float() for m in maps]
        scores, deltas = [s.float() for s in scores], [d.float() for d in deltas]
        anchors = torch.cat(self.anchors(maps))
        all_scores, all_deltas = torch.cat(scores, 1), torch.cat(deltas, 1)
        rpn_cls, rpn_box = [], []
        for i, truth in enumerate(targets):
            boxes = truth[0]
            labels, matched = _match_anchors(anchors, boxes, train)
            if len(truth) > 2 and len(truth[2]):
                labels[(labels == 0) & _inside(anchors, truth[2])] = -1
            pos, neg = _rpn_sample(labels, train.rpn_batch, rng)
            chosen = torch.cat([pos, neg])
            target = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))])
            rpn_cls.append(F.binary_cross_entropy_with_logits(all_scores[i, chosen], target, reduction="sum"))
            if len(pos):
                goal = encode(boxes[matched[pos]], anchors[pos], RPN_WEIGHTS)
                rpn_box.append(F.smooth_l1_loss(all_deltas[i, pos], goal, beta=1 / 9, reduction="sum"))
        n_rpn = max(1, len(targets) * train.rpn_batch)
        zero = all_scores.sum() * 0
        out = {
            "rpn_cls": sum(rpn_cls, zero) / n_rpn,
            "rpn_box": sum(rpn_box, zero) / n_rpn,
        }
        rois, classes, goals, pos_mask = [], [], [], []
        proposals = self.proposals(scores, deltas, self.anchors(maps), size)
        for truth, props in zip(targets, proposals, strict=True):
            boxes, labels = truth[0], truth[1]
            candidates = torch.cat([props, boxes]) if len(boxes) else props
            if len(boxes):
                iou = box_iou(candidates, boxes)
                best, which = iou.max(1)
            else:
                best = torch.zeros(len(candidates))
                which = torch.zeros(len(candidates), dtype=torch.int64)
            if len(truth) > 2 and len(truth[2]):
                usable = (best >= train.head.pos_iou) | ~_inside(candidates, truth[2])
                candidates, best, which = candidates[usable], best[usable], which[usable]
            pos_i, neg_i = sample_regions(best.numpy(), train.head, rng)
            pos_t, neg_t = torch.from_numpy(pos_i), torch.from_numpy(neg_i)
            chosen = torch.cat([pos_t, neg_t])
            rois.append(candidates[chosen])
            cls = torch.zeros(len(chosen), dtype=torch.int64)
            if len(pos_t):
                cls[: len(pos_t)] = labels[which[pos_t]]
                goals.append(encode(boxes[which[pos_t]], candidates[pos_t], HEAD_WEIGHTS))
            classes.append(cls)
            pos_mask.append(torch.arange(len(chosen)) < len(pos_t))
        logits, box_deltas = self.classify(self.pool(maps, rois))
        target_cls = torch.cat(classes)
        positive = torch.cat(pos_mask)
        out["head_cls"] = F.cross_entropy(logits, target_cls) if len(target_cls) else zero
        if goals:
            goal = torch.cat(goals)
            out["head_box"] = F.smooth_l1_loss(box_deltas[positive], goal, beta=1.0, reduction="sum") / max(
                1, len(target_cls)
            )
        else:
            out["head_box"] = zero
        out["total"] = out["rpn_cls"] + out["rpn_box"] + out["head_cls"] + out["head_box"]
        return out


def _inside(boxes: Tensor, regions: Tensor) -> Tensor:
    return torch.from_numpy(in_regions(boxes.detach().numpy(), regions.numpy()))


def _match_anchors(anchors: Tensor, boxes: Tensor, train: TrainSpec) -> tuple[Tensor, Tensor]:
    """Anchor labels (1 positive, 0 negative, −1 ignored) and the index of each one's box."""
    labels = torch.zeros(len(anchors), dtype=torch.int64)
    if len(boxes) == 0:
        return labels, torch.zeros(len(anchors), dtype=torch.int64)
    iou = box_iou(anchors, boxes)  # (A, M)
    best, matched = iou.max(1)
    labels[(best >= train.rpn_neg_iou) & (best < train.rpn_pos_iou)] = -1
    labels[best >= train.rpn_pos_iou] = 1
    # every box gets its best anchors, even below the positive threshold
    top = iou.max(0).values  # (M,)
    hit = ((iou == top[None, :]) & (top[None, :] > 0)).any(1)
    labels[hit] = 1
    return labels, matched


def _rpn_sample(labels: Tensor, batch: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    positive = (labels == 1).nonzero().flatten().numpy()
    negative = (labels == 0).nonzero().flatten().numpy()
    n_pos = min(len(positive), batch // 2)
    n_neg = min(len(negative), batch - n_pos)
    pos = rng.choice(positive, n_pos, replace=False) if n_pos else positive[:0]
    neg = rng.choice(negative, n_neg, replace=False) if n_neg else negative[:0]
    return torch.from_numpy(np.sort(pos)).long(), torch.from_numpy(np.sort(neg)).long()


__all__ = ["DetectorSpec", "RawDetections", "TrainSpec", "TwoStageDetector"]
