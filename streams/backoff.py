"""Exponential backoff with jitter for reconnecting cameras."""

from __future__ import annotations

import random


class Backoff:
    """Delays ``initial * multiplier**n``, capped at ``max_s``, each spread by ``±jitter``.

    Args:
        initial_s: First delay.
        max_s: Largest delay before jitter.
        multiplier: Growth per consecutive failure.
        jitter: Fraction of the delay added or removed at random (0 = none).
        rng: Random source (a seeded one in tests).
    """

    def __init__(
        self,
        *,
        initial_s: float,
        max_s: float,
        multiplier: float,
        jitter: float,
        rng: random.Random | None = None,
    ) -> None:
        if initial_s <= 0 or max_s < initial_s or multiplier < 1 or not 0 <= jitter <= 1:
            raise ValueError(
                f"bad backoff: initial_s={initial_s} max_s={max_s} multiplier={multiplier} jitter={jitter}"
            )
        self._initial = initial_s
        self._max = max_s
        self._multiplier = multiplier
        self._jitter = jitter
        self._rng = rng or random.Random()
        self._failures = 0

    def next_delay(self) -> float:
        """Return the wait before the next attempt and count one more failure."""
        base = min(self._max, self._initial * self._multiplier**self._failures)
        if base < self._max:  # stop growing at the cap: no overflow however long a camera is down
            self._failures += 1
        return base * (1.0 + self._jitter * self._rng.uniform(-1.0, 1.0))

    def reset(self) -> None:
        """Forget past failures (call after a success)."""
        self._failures = 0
