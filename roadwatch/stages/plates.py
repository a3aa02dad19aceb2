"""Plate-reading stage: the plate views of every shot due, read in one batch, voted per track.

A shot carries its track's best plate views (:mod:`roadwatch.stages.shots`); all views of all
requests go to the reader in one call, then each track's reads are combined by
:func:`plates.vote.vote` (weighted by confidence and plate height). Requests without a plate
view get no vote.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from plates.read import PlateRead
from plates.reader import FormattedReader
from plates.vote import Ballot, PlateVote, vote
from roadwatch.stages.shots import ShotRequest

log = logging.getLogger(__name__)


class PlateStage:
    """Reads and votes the plates of shot requests (module docstring)."""

    def __init__(self, reader: FormattedReader) -> None:
        self.reader = reader
        self.errors = 0

    def read(self, requests: Sequence[ShotRequest]) -> list[PlateVote | None]:
        """One vote per request (None without plate views)."""
        crops = [view for r in requests for view in r.shot.plate_views]
        if not crops:
            return [None] * len(requests)
        try:
            reads = self.reader.read(crops)
        except Exception as exc:  # a reader failing must not stop the pipeline; the pass keeps no text
            self.errors += 1
            log.warning("plate reading failed on %d crops: %s", len(crops), exc)
            reads = [PlateRead.unreadable("reader failed")] * len(crops)
        out: list[PlateVote | None] = []
        at = 0
        for r in requests:
            n = len(r.shot.plate_views)
            ballots = [
                Ballot(read, h) for read, h in zip(reads[at : at + n], r.shot.plate_heights, strict=True)
            ]
            out.append(vote(ballots) if n else None)
            at += n
        return out
