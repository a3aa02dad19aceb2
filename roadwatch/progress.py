"""A training progress bar on stderr (only on a terminal, never with ``--json``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def step_progress(total: int, *, quiet: bool) -> Iterator[Callable[[int, dict[str, float]], None]]:
    """Yield an ``on_step(step, losses)`` callback that advances a bar showing the total loss."""
    from tqdm import tqdm

    with tqdm(total=total, unit="step", file=sys.stderr, disable=quiet or not sys.stderr.isatty()) as bar:

        def on_step(step: int, losses: dict[str, float]) -> None:
            bar.n = step
            bar.set_postfix(loss=f"{losses['total']:.3f}", refresh=False)
            bar.update(0)

        yield on_step
