"""One plate text per track: the reads of its frames combined character by character.

Each read votes with weight ``confidence × size`` per character, size being the plate's height
in pixels (capped: beyond :data:`SIZE_CAP` a plate is as legible as it gets). Reads of
different lengths disagree on where characters sit, so the length with the most weight (size
× mean character confidence of its reads) wins first and only reads of that length vote on
characters. A voted character's confidence is its share of the weight at its position times
the mean confidence its voters gave it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from plates.read import PlateRead

SIZE_CAP = 40.0  # px of plate height


@dataclass(frozen=True, slots=True)
class Ballot:
    """One frame's read of a track's plate and the plate's height in that frame (px)."""

    read: PlateRead
    height_px: float


@dataclass(frozen=True, slots=True)
class PlateVote:
    """A track's plate text.

    Attributes:
        read: The voted text, its characters' confidences and region ('' when no read had that
            exact text); unreadable when no ballot was readable.
        reads: Readable ballots counted (of any length).
    """

    read: PlateRead
    reads: int


def vote(ballots: Sequence[Ballot]) -> PlateVote:
    """Combine a track's reads; unreadable ballots are ignored."""
    readable = [b for b in ballots if b.read.readable and b.read.text]
    if not readable:
        return PlateVote(PlateRead.unreadable("no readable plate"), 0)
    by_length: dict[int, float] = defaultdict(float)
    for b in readable:
        by_length[len(b.read.text)] += _weight(b) * sum(b.read.chars) / len(b.read.chars)
    length = max(by_length, key=lambda n: (by_length[n], n))
    voters = [b for b in readable if len(b.read.text) == length]
    text, chars = [], []
    for i in range(length):
        weights: dict[str, float] = defaultdict(float)
        confidences: dict[str, list[float]] = defaultdict(list)
        for b in voters:
            c = b.read.text[i]
            weights[c] += _weight(b) * b.read.chars[i]
            confidences[c].append(b.read.chars[i])
        best = max(weights, key=lambda c: (weights[c], c))
        total = sum(weights.values())
        share = weights[best] / total if total > 0 else 0.0
        text.append(best)
        chars.append(share * sum(confidences[best]) / len(confidences[best]))
    voted = "".join(text)
    regions = [b.read.region for b in voters if b.read.text == voted and b.read.region]
    region = max(set(regions), key=regions.count) if regions else ""
    return PlateVote(PlateRead(voted, tuple(chars), region), len(readable))


def _weight(ballot: Ballot) -> float:
    return min(max(ballot.height_px, 0.0), SIZE_CAP)
