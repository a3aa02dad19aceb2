"""Search post-processing of method 5 (seed 002): distance → rank, rank filter, category entropy, ordering.

For one query the index returns candidate identities with the L2 distance between
normalised features (``d = sqrt(2 − 2·cos)``, in [0, 2]). Then, as the method has it:

1. **Similar set**: candidates within ``max_distance``.
2. **Rank** ``= 2 − distance``; candidates whose rank is below ``min_rank`` (1.08 by default,
   the method's example: distance ≤ 0.92, cosine ≥ 0.577) are dropped.
3. **Category entropy**: each remaining candidate has a category (vehicle type or colour);
   the entropy of category ``c`` is ``−log(n_c / N)`` over the ``N`` remaining candidates;
   a category whose entropy is above ``max_entropy`` is dropped whole (rare, uncertain
   categories). Default ``log(10)``: a category holding under a tenth of the results goes.
4. **Ordering**: candidates sorted by rank give each category a score, the sum of
   ``1 / position`` over its members' positions (1-based: the best candidate adds 1, the
   second 1/2, ...), so a category with strong members near the top wins; results are ordered
   by category score, then by rank.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_MIN_RANK = 1.08
DEFAULT_MAX_ENTROPY = math.log(10.0)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One identity the index found for a query."""

    identity: str
    distance: float
    category: str

    @property
    def rank(self) -> float:
        """``2 − distance`` (method 5)."""
        return 2.0 - self.distance


@dataclass(frozen=True, slots=True)
class SearchResult:
    """A candidate that survived the filters, with its rank and its category's score."""

    identity: str
    distance: float
    rank: float
    category: str
    category_score: float


def category_entropy(candidates: Sequence[Candidate]) -> dict[str, float]:
    """``−log(n_c / N)`` per category of ``candidates`` (empty for none)."""
    counts = Counter(c.category for c in candidates)
    total = len(candidates)
    return {cat: -math.log(n / total) for cat, n in counts.items()}


def postprocess(
    candidates: Sequence[Candidate],
    *,
    max_distance: float = 2.0,
    min_rank: float = DEFAULT_MIN_RANK,
    max_entropy: float = DEFAULT_MAX_ENTROPY,
) -> list[SearchResult]:
    """Filter and order one query's candidates (see the module docstring).

    Raises:
        ValueError: A distance is not finite or outside [0, 2].
    """
    for c in candidates:
        if not (math.isfinite(c.distance) and 0.0 <= c.distance <= 2.0 + 1e-9):
            raise ValueError(f"candidate {c.identity}: distance must lie in [0, 2], got {c.distance}")
    similar = [c for c in candidates if c.distance <= max_distance and c.rank >= min_rank]
    entropy = category_entropy(similar)
    kept = [c for c in similar if entropy[c.category] <= max_entropy + 1e-12]
    by_rank = sorted(kept, key=lambda c: (-c.rank, c.identity))
    scores: dict[str, float] = {}
    for position, c in enumerate(by_rank, start=1):
        scores[c.category] = scores.get(c.category, 0.0) + 1.0 / position
    ordered = sorted(by_rank, key=lambda c: (-scores[c.category], c.category, -c.rank, c.identity))
    return [SearchResult(c.identity, c.distance, c.rank, c.category, scores[c.category]) for c in ordered]


def parse_seen(text: str) -> list[tuple[str, float]]:
    """``"camera ts;camera ts"`` (the record's ``seen`` field) as ``[(camera, ts), ...]``."""
    out = []
    for part in text.split(";"):
        camera, _, ts = part.rpartition(" ")
        try:
            out.append((camera, float(ts)))
        except ValueError:
            continue
    return out
