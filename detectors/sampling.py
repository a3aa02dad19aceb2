"""Which regions train the heads: the usual random positives, IoU-balanced negatives (seed 003).

Libra R-CNN observes that random sampling draws mostly easy negatives (IoU near 0) and starves
the hard ones near the positive threshold. IoU-balanced sampling splits the negatives' IoU
range ``[0, neg_iou)`` into ``bins`` equal intervals and draws the same number from each;
a bin with too few regions gives all it has and the shortfall is drawn at random from the
negatives not yet taken. Positives (IoU ≥ ``pos_iou``) are drawn at random, at most
``positive_fraction`` of the batch; the rest of the batch is negatives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class SamplerSpec:
    """Region sampling of one head.

    Attributes:
        batch: Regions per image.
        positive_fraction: Largest share of positives in the batch.
        pos_iou: IoU with a ground-truth box from which a region is positive.
        neg_iou: IoU below which a region is negative (between the two: ignored).
        bins: IoU bins of the negatives; 0 or 1 means plain random negatives.
    """

    batch: int = 256
    positive_fraction: float = 0.25
    pos_iou: float = 0.5
    neg_iou: float = 0.5
    bins: int = 3

    def __post_init__(self) -> None:
        if self.batch < 1 or not 0 < self.positive_fraction <= 1:
            raise ValueError("batch must be >= 1 and positive_fraction in (0, 1]")
        if not 0 <= self.neg_iou <= self.pos_iou <= 1:
            raise ValueError(f"need 0 <= neg_iou <= pos_iou <= 1, got {self.neg_iou} and {self.pos_iou}")
        if self.bins < 0:
            raise ValueError(f"bins must be >= 0, got {self.bins}")


def sample_regions(
    max_iou: npt.NDArray[np.floating], spec: SamplerSpec, rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Indices of the positive and the negative regions to train on.

    Args:
        max_iou: ``(R,)`` each region's largest IoU with any ground-truth box (0 when the
            image has none, so every region is a negative and the box loss is zero).
        spec: Batch size, fractions, thresholds and bins.
        rng: Random source.

    Returns:
        ``(positives, negatives)``, disjoint, sorted, together at most ``spec.batch``.
    """
    iou = np.asarray(max_iou, np.float64)
    if iou.ndim != 1:
        raise ValueError(f"max_iou must be 1-D, got shape {iou.shape}")
    positive = np.flatnonzero(iou >= spec.pos_iou)
    negative = np.flatnonzero(iou < spec.neg_iou)
    n_pos = min(len(positive), int(spec.batch * spec.positive_fraction))
    pos = rng.choice(positive, n_pos, replace=False) if n_pos else positive[:0]
    n_neg = min(len(negative), spec.batch - n_pos)
    if spec.bins > 1 and spec.neg_iou > 0:
        neg = _iou_balanced(negative, iou[negative], n_neg, spec.neg_iou, spec.bins, rng)
    else:
        neg = rng.choice(negative, n_neg, replace=False) if n_neg else negative[:0]
    return np.sort(pos).astype(np.int64), np.sort(neg).astype(np.int64)


def _iou_balanced(
    candidates: npt.NDArray[np.int64],
    iou: npt.NDArray[np.float64],
    count: int,
    top: float,
    bins: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.int64]:
    """``count`` of ``candidates``, an equal share from each of ``bins`` IoU intervals over [0, top)."""
    if count == 0:
        return candidates[:0]
    which = np.minimum((np.clip(iou, 0, None) / top * bins).astype(np.int64), bins - 1)  # (R,)
    share = count // bins
    taken: list[npt.NDArray[np.int64]] = []
    for b in range(bins):
        members = candidates[which == b]
        k = min(len(members), share + (1 if b < count % bins else 0))
        if k:
            taken.append(rng.choice(members, k, replace=False))
    chosen = np.concatenate(taken) if taken else candidates[:0]
    short = count - len(chosen)
    if short > 0:  # some bins were thin: fill at random from the rest
        rest = np.setdiff1d(candidates, chosen, assume_unique=True)
        chosen = np.concatenate([chosen, rng.choice(rest, short, replace=False)])
    return chosen
