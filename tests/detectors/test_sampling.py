"""Region sampling: positive share, IoU-balanced negatives per bin, thin bins, empty targets."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.sampling import SamplerSpec, sample_regions


def _iou() -> np.ndarray:
    # 1000 easy negatives (IoU < 1/6), 30 medium (1/6..1/3), 30 hard (1/3..0.5), 20 ignored, 50 positives
    rng = np.random.default_rng(1)
    return np.concatenate(
        [
            rng.uniform(0.0, 0.16, 1000),
            rng.uniform(0.17, 0.33, 30),
            rng.uniform(0.34, 0.49, 30),
            np.full(20, 0.55),
            rng.uniform(0.7, 1.0, 50),
        ]
    )


def test_iou_balanced_draws_equally_from_each_bin() -> None:
    iou = _iou()
    spec = SamplerSpec(batch=64, positive_fraction=0.25, pos_iou=0.6, neg_iou=0.5, bins=3)
    pos, neg = sample_regions(iou, spec, np.random.default_rng(0))
    assert len(pos) == 16
    assert (iou[pos] >= 0.6).all()
    assert len(neg) == 48
    assert (iou[neg] < 0.5).all()
    counts = np.bincount(np.minimum((iou[neg] / 0.5 * 3).astype(int), 2), minlength=3)
    assert counts.tolist() == [16, 16, 16]
    assert not set(pos) & set(neg)


def test_random_negatives_are_mostly_easy() -> None:
    iou = _iou()
    spec = SamplerSpec(batch=64, positive_fraction=0.25, pos_iou=0.6, neg_iou=0.5, bins=0)
    _, neg = sample_regions(iou, spec, np.random.default_rng(0))
    assert len(neg) == 48
    assert (iou[neg] < 1 / 6).sum() > 40  # 1000 of 1060 negatives are easy


def test_thin_bins_are_filled_from_the_rest() -> None:
    iou = np.concatenate([np.full(100, 0.05), np.full(2, 0.45)])  # the hard bin has 2, the middle 0
    spec = SamplerSpec(batch=30, positive_fraction=0.5, neg_iou=0.5, bins=3)
    pos, neg = sample_regions(iou, spec, np.random.default_rng(0))
    assert len(pos) == 0
    assert len(neg) == 30
    assert len(set(neg)) == 30
    assert {100, 101} <= set(neg)  # both hard negatives taken


def test_no_ground_truth_means_no_positives() -> None:
    pos, neg = sample_regions(np.zeros(500), SamplerSpec(batch=128), np.random.default_rng(0))
    assert len(pos) == 0
    assert len(neg) == 128


def test_fewer_regions_than_the_batch() -> None:
    pos, neg = sample_regions(np.array([0.9, 0.1, 0.3]), SamplerSpec(batch=64), np.random.default_rng(0))
    assert pos.tolist() == [0]
    assert neg.tolist() == [1, 2]


def test_no_regions() -> None:
    pos, neg = sample_regions(np.zeros(0), SamplerSpec(), np.random.default_rng(0))
    assert len(pos) == len(neg) == 0


def test_seeded_sampling_repeats() -> None:
    iou = _iou()
    a = sample_regions(iou, SamplerSpec(batch=64), np.random.default_rng(7))
    b = sample_regions(iou, SamplerSpec(batch=64), np.random.default_rng(7))
    assert all((x == y).all() for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    "kwargs",
    [{"batch": 0}, {"positive_fraction": 0.0}, {"neg_iou": 0.7, "pos_iou": 0.5}, {"bins": -1}],
)
def test_bad_specs_raise(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        SamplerSpec(**kwargs)  # type: ignore[arg-type]
