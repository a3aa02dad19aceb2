"""Backoff: hand-computed delays, cap, reset, jitter bounds, argument checks."""

from __future__ import annotations

import random

import pytest

from streams.backoff import Backoff


class FixedUniform(random.Random):
    """A random source whose ``uniform`` always returns one value (and records its arguments)."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value
        self.calls: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.calls.append((a, b))
        return self.value


def _delays(backoff: Backoff, n: int) -> list[float]:
    return [backoff.next_delay() for _ in range(n)]


@pytest.mark.parametrize(
    ("initial_s", "max_s", "multiplier", "expected"),
    [
        pytest.param(0.5, 4.0, 2.0, [0.5, 1.0, 2.0, 4.0, 4.0, 4.0], id="doubling-capped-at-4"),
        pytest.param(0.5, 3.0, 2.0, [0.5, 1.0, 2.0, 3.0, 3.0], id="cap-between-steps"),
        pytest.param(1.0, 100.0, 3.0, [1.0, 3.0, 9.0, 27.0, 81.0, 100.0], id="tripling"),
        pytest.param(2.0, 10.0, 1.0, [2.0, 2.0, 2.0], id="multiplier-1-constant"),
        pytest.param(5.0, 5.0, 2.0, [5.0, 5.0, 5.0], id="max-equals-initial"),
        pytest.param(0.25, 30.0, 1.5, [0.25, 0.375, 0.5625], id="fractional-multiplier"),
    ],
)
def test_delays_without_jitter(
    initial_s: float, max_s: float, multiplier: float, expected: list[float]
) -> None:
    backoff = Backoff(initial_s=initial_s, max_s=max_s, multiplier=multiplier, jitter=0.0)
    assert _delays(backoff, len(expected)) == pytest.approx(expected)


def test_reset_starts_again_from_initial() -> None:
    backoff = Backoff(initial_s=0.5, max_s=4.0, multiplier=2.0, jitter=0.0)
    assert _delays(backoff, 3) == [0.5, 1.0, 2.0]
    backoff.reset()
    assert _delays(backoff, 2) == [0.5, 1.0]


def test_reset_before_any_failure_is_harmless() -> None:
    backoff = Backoff(initial_s=0.5, max_s=4.0, multiplier=2.0, jitter=0.0)
    backoff.reset()
    assert backoff.next_delay() == 0.5


@pytest.mark.parametrize(
    ("draw", "expected"),
    [
        pytest.param(-1.0, 0.8, id="lowest"),
        pytest.param(-0.5, 0.9, id="below"),
        pytest.param(0.0, 1.0, id="middle"),
        pytest.param(0.5, 1.1, id="above"),
        pytest.param(1.0, 1.2, id="highest"),
    ],
)
def test_jitter_is_a_fraction_of_the_delay(draw: float, expected: float) -> None:
    rng = FixedUniform(draw)
    backoff = Backoff(initial_s=1.0, max_s=8.0, multiplier=2.0, jitter=0.2, rng=rng)
    assert backoff.next_delay() == pytest.approx(expected)
    # The second delay (base 2.0) gets the same relative spread.
    assert backoff.next_delay() == pytest.approx(2 * expected)
    assert rng.calls == [(-1.0, 1.0), (-1.0, 1.0)]


def test_jitter_applies_after_the_cap() -> None:
    backoff = Backoff(initial_s=1.0, max_s=2.0, multiplier=4.0, jitter=0.5, rng=FixedUniform(1.0))
    # base: 1, then min(2, 4) = 2; each times (1 + 0.5).
    assert _delays(backoff, 2) == pytest.approx([1.5, 3.0])


def test_jitter_stays_within_bounds_with_a_seeded_rng() -> None:
    backoff = Backoff(initial_s=1.0, max_s=1.0, multiplier=2.0, jitter=0.2, rng=random.Random(1234))
    delays = _delays(backoff, 500)
    assert all(0.8 <= d <= 1.2 for d in delays)
    # The spread is actually used, not collapsed to one value.
    assert min(delays) < 0.85
    assert max(delays) > 1.15


def test_seeded_rng_gives_repeatable_delays() -> None:
    def make() -> Backoff:
        return Backoff(initial_s=0.5, max_s=30.0, multiplier=2.0, jitter=0.3, rng=random.Random(7))

    first = _delays(make(), 10)
    assert first == _delays(make(), 10)
    assert len(set(first)) == 10


def test_full_jitter_never_negative() -> None:
    backoff = Backoff(initial_s=1.0, max_s=1.0, multiplier=1.0, jitter=1.0, rng=random.Random(99))
    assert all(0.0 <= d <= 2.0 for d in _delays(backoff, 300))


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"initial_s": 0.0}, id="initial-zero"),
        pytest.param({"initial_s": -1.0}, id="initial-negative"),
        pytest.param({"initial_s": 2.0, "max_s": 1.0}, id="max-below-initial"),
        pytest.param({"multiplier": 0.5}, id="multiplier-below-1"),
        pytest.param({"multiplier": 0.0}, id="multiplier-zero"),
        pytest.param({"jitter": -0.1}, id="jitter-negative"),
        pytest.param({"jitter": 1.5}, id="jitter-above-1"),
        pytest.param({"jitter": float("nan")}, id="jitter-nan"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, float]) -> None:
    args = {"initial_s": 0.5, "max_s": 30.0, "multiplier": 2.0, "jitter": 0.2} | kwargs
    with pytest.raises(ValueError, match="bad backoff: initial_s=") as info:
        Backoff(**args)
    # The message shows the offending value.
    name, value = next(iter(kwargs.items()))
    assert f"{name}={value}" in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"jitter": 0.0}, id="jitter-0"),
        pytest.param({"jitter": 1.0}, id="jitter-1"),
        pytest.param({"multiplier": 1.0}, id="multiplier-1"),
        pytest.param({"initial_s": 30.0}, id="max-equals-initial"),
    ],
)
def test_edge_arguments_accepted(kwargs: dict[str, float]) -> None:
    args = {"initial_s": 0.5, "max_s": 30.0, "multiplier": 2.0, "jitter": 0.2} | kwargs
    assert Backoff(**args).next_delay() > 0


def test_a_camera_down_for_days_does_not_overflow() -> None:
    backoff = Backoff(initial_s=0.5, max_s=30.0, multiplier=10.0, jitter=0.0)
    delays = [backoff.next_delay() for _ in range(5000)]
    assert delays[:3] == pytest.approx([0.5, 5.0, 30.0])
    assert delays[-1] == 30.0
