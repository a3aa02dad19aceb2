"""The one fusion rule and the re-id → gallery dataclass."""

from __future__ import annotations

import numpy as np
import pytest

from reid.fusion import Features, fuse


def _unit(*v: float) -> np.ndarray:  # type: ignore[type-arg]
    a = np.array(v, np.float32)
    return a / np.linalg.norm(a)


def test_fused_cosine_is_the_mean_of_the_two_cosines() -> None:
    v1, p1 = _unit(1, 0, 0), _unit(0, 1, 0)
    v2, p2 = _unit(1, 1, 0), _unit(0, 1, 1)
    f1, f2 = fuse(v1, p1)[0], fuse(v2, p2)[0]
    assert float(f1 @ f2) == pytest.approx(0.5 * float(v1 @ v2) + 0.5 * float(p1 @ p2), abs=1e-6)
    assert np.linalg.norm(f1) == pytest.approx(1.0, abs=1e-6)


def test_fuse_rows_and_shapes() -> None:
    rows = fuse(np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32)[::-1])
    assert rows.shape == (3, 6)
    with pytest.raises(ValueError, match="differ in shape"):
        fuse(np.zeros((2, 3)), np.zeros((2, 4)))


def test_features_empty_and_malformed() -> None:
    empty = Features(np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32), np.zeros(0, bool))
    assert len(empty) == 0
    with pytest.raises(ValueError, match="must be"):
        Features(np.zeros((2, 4), np.float32), np.zeros((2, 3), np.float32), np.zeros(2, bool))
    with pytest.raises(ValueError, match="must be"):
        Features(np.zeros((2, 4), np.float32), np.zeros((2, 4), np.float32), np.zeros(3, bool))


def test_take_keeps_rows_in_order() -> None:
    f = Features(np.eye(3, dtype=np.float32), np.eye(3, dtype=np.float32), np.array([True, False, True]))
    sub = f.take([2, 0])
    assert sub.has_plate.tolist() == [True, True]
    np.testing.assert_array_equal(sub.vehicle, np.eye(3, dtype=np.float32)[[2, 0]])
