"""Matching of method 1 (seed 004): fused → fusion library, plate → plate library, vehicle → vehicle library.

A sighting brings the features re-id computed for one vehicle: ``vehicle`` always, and when
the plate was readable also ``plate`` and ``fusion`` (the renormalised concatenation).

**Which library decides** (the method lists three thresholds; the order is ours):

1. A sighting with a plate is compared with the fusion library; cosine > ``fusion_threshold``
   (0.9) → that identity.
2. Otherwise its plate alone is compared with the plate library; cosine > ``plate_threshold``
   → that identity (the same plate seen from another side or in other light, where the fused
   feature moved).
3. A sighting without a plate is compared with the vehicle library; cosine >
   ``vehicle_threshold`` → that identity.

A plated sighting never falls back to the vehicle library: look-alikes (same type and colour)
are common and a read plate that differs is the stronger evidence, so a vehicle-only match
must not merge them. When fusion and plate libraries would disagree, the fusion match wins
(it is checked first and agrees on both features). A matched identity gains the sighting's
features (exemplar policy in ``gallery.store``); no match enrols a new identity in every
library the sighting has features for, atomically and race-free (``GalleryStore.enrol``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gallery.index import ExactIndex
from gallery.store import LIBRARIES, GalleryStore, Sighting


@dataclass(frozen=True, slots=True)
class Match:
    """The gallery's answer for one sighting."""

    identity: int
    library: str  # which library decided: fusion, plate or vehicle
    score: float  # cosine with the best exemplar (1.0 for a new identity's own features)
    new: bool


def _unit(vector: npt.ArrayLike) -> npt.NDArray[np.float32]:
    array = np.asarray(vector, np.float32).reshape(-1)
    norm = float(np.linalg.norm(array))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("features must be finite and not all zero")
    return (array / norm).astype(np.float32)


class Gallery:
    """Match-or-enrol over a :class:`GalleryStore`, with exact in-process indexes."""

    def __init__(self, store: GalleryStore, thresholds: dict[str, float] | None = None) -> None:
        self.store = store
        self.thresholds = thresholds or {"fusion": 0.9, "plate": 0.9, "vehicle": 0.9}
        self.indexes = {library: ExactIndex(dim) for library, dim in LIBRARIES.items()}
        self.position = "0-0"
        self.load()

    def load(self) -> None:
        """Build the indexes from Redis (every identity's exemplars), then follow the stream."""
        self.position = self.store.last_position()
        for identity in self.store.identities():
            for library, index in self.indexes.items():
                index.set(identity, self.store.exemplars(library, identity))

    def sync(self) -> int:
        """Apply changes other workers made since the last sync; returns how many."""
        changes = self.store.changes_since(self.position)
        for position, _op, identity, libraries in changes:
            for library in libraries:
                if library in self.indexes:
                    self.indexes[library].set(identity, self.store.exemplars(library, identity))
            self.position = position
        return len(changes)

    def match(self, features: Mapping[str, npt.ArrayLike], sighting: Sighting) -> Match:
        """Identify (or enrol) the vehicle of one sighting.

        Raises:
            ValueError: No vehicle feature, an unknown library, wrong lengths or non-finite values.
        """
        if "vehicle" not in features:
            raise ValueError("a sighting needs its vehicle feature")
        unknown = set(features) - set(LIBRARIES)
        if unknown:
            raise ValueError(f"unknown libraries {sorted(unknown)}; one of {', '.join(LIBRARIES)}")
        units = {library: _unit(vector) for library, vector in features.items()}
        self.sync()
        order = ["fusion", "plate"] if "plate" in units else ["vehicle"]
        for library in order:
            if library not in units:
                continue
            found = self.indexes[library].search(units[library], 1)
            if found and found[0][1] > self.thresholds[library]:
                identity, score = found[0]
                self.store.add_exemplars(identity, units, sighting)
                self.sync()
                return Match(identity, library, score, new=False)
        # twins enrolled meanwhile are looked for in the deciding libraries only (2.0: never)
        compare = {library: (self.thresholds[library] if library in order else 2.0) for library in units}
        result = self.store.enrol(units, compare, sighting, since=self.position)
        self.sync()
        if result.new:
            return Match(result.identity, order[0] if order[0] in units else "vehicle", 1.0, new=True)
        return Match(result.identity, result.library, result.score, new=False)
