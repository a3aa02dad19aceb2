"""Reporting: charts and contact sheets, drawn with matplotlib (no display needed)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from roadwatch.events import Sighting  # noqa: E402


def identity_sheet(path: Path, sightings: Sequence[Sighting], *, limit: int = 40) -> Path:
    """A contact sheet: one row per identity seen at more than one camera first (then the
    rest), its sightings' best crops side by side with camera and time; sightings without a
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
