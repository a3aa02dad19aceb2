"""Reporting: charts and contact sheets, drawn with matplotlib's Agg backend (no display, full
Unicode through its bundled DejaVu fonts)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from roadwatch.events import Sighting

MIN_SIZE = (200, 150)


def line_plot(
    path: Path,
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    y_range: tuple[float, float] | None = None,
    size: tuple[int, int] = (800, 500),
) -> None:
    """Write a line chart of one or more ``(x, y)`` series as a PNG of ``size`` (width, height) pixels.

    Points with a NaN or infinite coordinate are dropped; a series left with one point is drawn as
    a dot, one left with none is skipped (and left out of the legend).

    Raises:
        ValueError: A series is not a list of number pairs, ``y_range`` is not finite with
            ``low < high``, or ``size`` is below :data:`MIN_SIZE`.
        OSError: The PNG cannot be written; the message names ``path``.
    """
    width, height = size
    if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
        raise ValueError(f"size must be at least {MIN_SIZE[0]}x{MIN_SIZE[1]}, got {width}x{height}")
    if y_range is not None and not (all(math.isfinite(v) for v in y_range) and y_range[0] < y_range[1]):
        raise ValueError(f"y_range must be finite with low < high, got {y_range}")
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    ax = fig.add_subplot()
    for name, points in series.items():
        try:
            kept = [(float(x), float(y)) for x, y in points]
        except (TypeError, ValueError):
            raise ValueError(f"series {name!r} must be a list of (x, y) number pairs") from None
        kept = [(x, y) for x, y in kept if math.isfinite(x) and math.isfinite(y)]
        if kept:
            xs, ys = zip(*kept, strict=True)
            ax.plot(xs, ys, marker="o" if len(kept) == 1 else None, label=str(name))
    if y_range is not None:
        ax.set_ylim(*y_range)
    ax.set_title(title)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(Path(path), format="png")
    except OSError as exc:
        raise OSError(f"{path}: cannot write the chart: {exc.strerror or exc}") from None


def identity_sheet(path: Path, sightings: Sequence[Sighting], *, limit: int = 40) -> Path:
    """A contact sheet: one row per identity, those seen at most cameras first, its sightings'
    best crops side by side with camera and time (at most ``limit`` rows); sightings without a
    saved vehicle snapshot are left out. Returns ``path``."""
    rows: dict[int, list[Sighting]] = defaultdict(list)
    for s in sightings:
        if s.identity is not None and s.snapshots.get("vehicle"):
            rows[s.identity].append(s)
    order = sorted(rows, key=lambda i: (-len({s.camera for s in rows[i]}), i))[:limit]
    columns = max((len(rows[i]) for i in order), default=1)
    fig, axes = plt.subplots(
        max(1, len(order)), columns, figsize=(1.8 * columns + 0.6, 1.7 * max(1, len(order))), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    for r, identity in enumerate(order):
        for c, s in enumerate(sorted(rows[identity], key=lambda s: s.first_time)):
            image = cv2.imread(s.snapshots["vehicle"])
            if image is not None:
                axes[r][c].imshow(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            axes[r][c].set_title(f"#{identity} {s.camera} {s.first_time:.0f}s", fontsize=7)
    if not order:
        axes[0][0].text(0.5, 0.5, "no identified sightings", ha="center", va="center")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
