"""Greedy non-maximum suppression in torch (training and reference); the runtime uses ONNX Runtime's."""

from __future__ import annotations

import torch
from torch import Tensor

from detectors.boxes import box_iou


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Indices of the kept boxes, highest score first.

    A box is dropped when it overlaps an already kept, higher-scoring box by more than
    ``iou_threshold``. ``boxes`` ``(N, 4)``, ``scores`` ``(N,)``; N may be 0.
    """
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64)
    order = scores.argsort(descending=True)
    overlaps = box_iou(boxes[order], boxes[order]) > iou_threshold  # (N, N), in score order
    keep = torch.ones(len(order), dtype=torch.bool)
    for i in range(len(order)):
        if keep[i]:
            suppress = overlaps[i].clone()
            suppress[: i + 1] = False
            keep &= ~suppress
    return order[keep]


def batched_nms(boxes: Tensor, scores: Tensor, groups: Tensor, iou_threshold: float) -> Tensor:
    """NMS within each group (class) only: boxes of different groups never suppress each other."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64)
    shift = (boxes.max() + 1) * groups.to(boxes.dtype)  # move each group to its own region
    return nms(boxes + shift[:, None], scores, iou_threshold)
