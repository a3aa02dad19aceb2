"""RoIAlign in plain torch (no torchvision): region pooling of the two-stage detector.

Each region of interest is split into ``out_h × out_w`` bins; each bin is the mean of
``sampling_ratio × sampling_ratio`` bilinear samples at regularly spaced points inside it.
Coordinates follow the "aligned" (half-pixel) convention: a box in input pixels is scaled by
``spatial_scale`` and shifted by −0.5 so that pixel centres sit on integer feature positions.

Out-of-map samples follow Detectron / ONNX ``RoiAlign``: a sample further than one cell outside
the map (``y < -1`` or ``y > H``) contributes 0; otherwise its coordinates are clamped into the
map. With these rules this function equals ONNX Runtime's ``RoiAlign`` (``half_pixel``, ``avg``)
that the exported detector runs, which ``tests/detectors/test_roi_align.py`` checks.
"""

from __future__ import annotations

import torch
from torch import Tensor


def roi_align(
    features: Tensor,
    rois: Tensor,
    batch_index: Tensor,
    output_size: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int = 2,
) -> Tensor:
    """Pool ``rois`` from ``features``.

    Args:
        features: ``(N, C, H, W)`` feature maps.
        rois: ``(K, 4)`` boxes ``x1, y1, x2, y2`` in input pixels.
        batch_index: ``(K,)`` int64, which image of ``features`` each box belongs to.
        output_size: ``(out_h, out_w)`` bins.
        spatial_scale: Feature cells per input pixel (1 / stride).
        sampling_ratio: Samples per bin along each axis (> 0).

    Returns:
        ``(K, C, out_h, out_w)``; ``K`` may be 0.

    Raises:
        ValueError: Shapes disagree, a batch index is out of range, or a parameter is not positive.
    """
    if features.ndim != 4:
        raise ValueError(f"features must be (N, C, H, W), got shape {tuple(features.shape)}")
    if rois.ndim != 2 or rois.shape[1] != 4:
        raise ValueError(f"rois must be (K, 4), got shape {tuple(rois.shape)}")
    if batch_index.shape != (rois.shape[0],):
        raise ValueError(f"batch_index must be ({rois.shape[0]},), got shape {tuple(batch_index.shape)}")
    out_h, out_w = output_size
    if out_h < 1 or out_w < 1 or sampling_ratio < 1 or spatial_scale <= 0:
        raise ValueError("output_size, sampling_ratio and spatial_scale must be positive")
    n, c, height, width = features.shape
    k = rois.shape[0]
    if k == 0:
        return features.new_zeros((0, c, out_h, out_w))
    if int(batch_index.min()) < 0 or int(batch_index.max()) >= n:
        raise ValueError(f"batch_index must lie in [0, {n}), got {batch_index.tolist()}")

    boxes = rois.to(features.dtype) * spatial_scale - 0.5  # (K, 4) in feature cells, half-pixel
    x1, y1, x2, y2 = boxes.unbind(1)
    bin_h = (y2 - y1) / out_h  # (K,)
    bin_w = (x2 - x1) / out_w
    s = sampling_ratio
    # offsets of the sample points inside the map, in bins: (b + (i + 0.5) / s)
    steps_h = (torch.arange(out_h * s, dtype=features.dtype, device=features.device) + 0.5) / s
    steps_w = (torch.arange(out_w * s, dtype=features.dtype, device=features.device) + 0.5) / s
    ys = y1[:, None] + bin_h[:, None] * steps_h[None, :]  # (K, out_h*s)
    xs = x1[:, None] + bin_w[:, None] * steps_w[None, :]  # (K, out_w*s)

    wy0, wy1, iy0, iy1, vy = _axis_weights(ys, height)  # each (K, out_h*s)
    wx0, wx1, ix0, ix1, vx = _axis_weights(xs, width)  # each (K, out_w*s)
    # rows of (N·H·W, C): one gather per corner, never a copy of a whole map per region
    table = features.permute(0, 2, 3, 1).reshape(n * height * width, c)
    base = batch_index.long()[:, None, None] * (height * width)  # (K, 1, 1)

    def gather(iy: Tensor, ix: Tensor) -> Tensor:  # (K, C, out_h*s, out_w*s)
        index = base + iy[:, :, None] * width + ix[:, None, :]  # (K, out_h*s, out_w*s)
        return table[index.reshape(-1)].reshape(k, iy.shape[1], ix.shape[1], c).permute(0, 3, 1, 2)

    sampled = (
        gather(iy0, ix0) * (wy0[:, :, None] * wx0[:, None, :])[:, None]
        + gather(iy0, ix1) * (wy0[:, :, None] * wx1[:, None, :])[:, None]
        + gather(iy1, ix0) * (wy1[:, :, None] * wx0[:, None, :])[:, None]
        + gather(iy1, ix1) * (wy1[:, :, None] * wx1[:, None, :])[:, None]
    )
    valid = (vy[:, :, None] & vx[:, None, :])[:, None]  # (K, 1, out_h*s, out_w*s)
    sampled = sampled * valid.to(sampled.dtype)
    return sampled.reshape(k, c, out_h, s, out_w, s).mean((3, 5))


def _axis_weights(coords: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Bilinear weights and cell indices along one axis, Detectron's boundary rules."""
    valid = (coords >= -1.0) & (coords <= size)
    c = coords.clamp(min=0.0)
    low = c.floor().long().clamp(max=size - 1)
    high = (low + 1).clamp(max=size - 1)
    c = torch.where(low >= size - 1, low.to(c.dtype), c)  # at the last cell: no interpolation
    frac = c - low.to(c.dtype)
    return 1.0 - frac, frac, low, high, valid
