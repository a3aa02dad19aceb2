"""Greedy non-maximum suppression in torch (training and reference); the runtime uses ONNX Runtime's."""

from __future__ import annotations

import torch
from torch import Tensor


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float, limit: int | None = None) -> Tensor:
    """Indices of the kept boxes, highest score first.

    A box is dropped when it overlaps an already kept, higher-scoring box by more than
    ``iou_threshold``. ``boxes`` ``(N, 4)``, ``scores`` ``(N,)``; N may be 0. With ``limit``,
    stops after that many boxes are kept (each kept box costs one pass over the rest).
    """
    order = scores.argsort(descending=True)
    b = boxes.detach()
    areas = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    keep: list[int] = []
    while order.numel() and (limit is None or len(keep) < limit):
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        lt = torch.maximum(b[i, :2], b[rest, :2])
        rb = torch.minimum(b[i, 2:], b[rest, 2:])
        wh = (rb - lt).clamp(min=0)
        inter = wh[:, 0] * wh[:, 1]
        union = areas[i] + areas[rest] - inter
        iou = torch.where(union > 0, inter / union.clamp(min=1e-9), torch.zeros_like(inter))
        order = rest[iou <= iou_threshold]
    return torch.tensor(keep, dtype=torch.int64)


def batched_nms(
    boxes: Tensor, scores: Tensor, groups: Tensor, iou_threshold: float, limit: int | None = None
) -> Tensor:
    """NMS within each group (class) only: boxes of different groups never suppress each other."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64)
    shift = (boxes.max() + 1) * groups.to(boxes.dtype)  # move each group to its own region
    return nms(boxes + shift[:, None], scores, iou_threshold, limit)
