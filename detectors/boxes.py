"""Box arithmetic shared by training and runtime: IoU, anchors, delta encoding, validation."""

from __future__ import annotations

import math

import torch
from torch import Tensor

# Largest log-scale change a decoded delta may apply (as Detectron: log(1000 / 16)).
MAX_LOG_SCALE = math.log(1000.0 / 16)


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """``(N, M)`` IoU of ``x1, y1, x2, y2`` boxes ``a`` ``(N, 4)`` and ``b`` ``(M, 4)``; 0 for empty boxes."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-9), torch.zeros_like(inter))


def make_anchors(
    feature_size: tuple[int, int], stride: int, sizes: tuple[float, ...], ratios: tuple[float, ...]
) -> Tensor:
    """Anchors of one pyramid level: ``(h·w·A, 4)``, position-major, ``A = len(sizes)·len(ratios)``.

    Each cell centre ``((x + 0.5)·stride, (y + 0.5)·stride)`` gets one box per size and
    height/width ratio, of area ``size²``.
    """
    h, w = feature_size
    shapes = []
    for size in sizes:
        for ratio in ratios:
            bw = size / math.sqrt(ratio)
            shapes.append((-bw / 2, -bw * ratio / 2, bw / 2, bw * ratio / 2))
    base = torch.tensor(shapes, dtype=torch.float32)  # (A, 4)
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) * stride
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    centres = torch.stack([cx, cy, cx, cy], -1).reshape(-1, 1, 4)  # (h·w, 1, 4)
    return (centres + base[None]).reshape(-1, 4)


def encode(boxes: Tensor, reference: Tensor, weights: tuple[float, float, float, float]) -> Tensor:
    """Deltas ``(dx, dy, dw, dh)`` that turn ``reference`` boxes into ``boxes`` (both ``(N, 4)``)."""
    rw = reference[:, 2] - reference[:, 0]
    rh = reference[:, 3] - reference[:, 1]
    rx = reference[:, 0] + 0.5 * rw
    ry = reference[:, 1] + 0.5 * rh
    bw = boxes[:, 2] - boxes[:, 0]
    bh = boxes[:, 3] - boxes[:, 1]
    bx = boxes[:, 0] + 0.5 * bw
    by = boxes[:, 1] + 0.5 * bh
    wx, wy, ww, wh = weights
    return torch.stack(
        [
            wx * (bx - rx) / rw,
            wy * (by - ry) / rh,
            ww * torch.log(bw.clamp(min=1e-3) / rw),
            wh * torch.log(bh.clamp(min=1e-3) / rh),
        ],
        1,
    )


def decode(deltas: Tensor, reference: Tensor, weights: tuple[float, float, float, float]) -> Tensor:
    """Inverse of :func:`encode`; scale changes are capped at ``MAX_LOG_SCALE``."""
    rw = reference[:, 2] - reference[:, 0]
    rh = reference[:, 3] - reference[:, 1]
    rx = reference[:, 0] + 0.5 * rw
    ry = reference[:, 1] + 0.5 * rh
    wx, wy, ww, wh = weights
    cx = deltas[:, 0] / wx * rw + rx
    cy = deltas[:, 1] / wy * rh + ry
    w = torch.exp((deltas[:, 2] / ww).clamp(max=MAX_LOG_SCALE)) * rw
    h = torch.exp((deltas[:, 3] / wh).clamp(max=MAX_LOG_SCALE)) * rh
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], 1)


def clip_boxes(boxes: Tensor, height: int, width: int) -> Tensor:
    """Boxes clipped to the image ``[0, width] × [0, height]``."""
    x = boxes[:, 0::2].clamp(0, width)
    y = boxes[:, 1::2].clamp(0, height)
    return torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], 1)


def check_target_boxes(boxes: Tensor, labels: Tensor, height: int, width: int, where: str) -> Tensor:
    """Validate training boxes; returns them clipped to the image.

    Raises:
        ValueError: Wrong shapes, non-finite coordinates, ``x2 <= x1`` or ``y2 <= y1``, or a box
            wholly outside the image; the message names ``where`` and the box.
    """
    if boxes.ndim != 2 or boxes.shape[1] != 4 or labels.shape != (boxes.shape[0],):
        raise ValueError(f"{where}: boxes must be (N, 4) with N labels, got {tuple(boxes.shape)}")
    for i, box in enumerate(boxes.tolist()):
        if not all(math.isfinite(v) for v in box):
            raise ValueError(f"{where}: box {i} {box} has a non-finite coordinate")
        x1, y1, x2, y2 = box
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"{where}: box {i} {box} has no area (need x2 > x1 and y2 > y1)")
        if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
            raise ValueError(f"{where}: box {i} {box} lies outside the {width}x{height} image")
    return clip_boxes(boxes, height, width)
