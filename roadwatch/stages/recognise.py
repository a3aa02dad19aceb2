"""Recognition stage: shots → features (one batch per network, across tracks and cameras) →
gallery decisions.

**Identifying** a track's features (one vector per network, the mean of its best views):

1. Method 1 (seed 004): with a plate, the fusion library, then the plate library; without,
   the vehicle library; the nearest identity above that library's threshold (0.9) is the
   vehicle.
2. Camera links (``links`` in the config: roads between cameras with their travel times):
   among the ``candidates`` nearest identities, the most similar one whose last sighting was
   at a linked upstream camera within the link's travel time is the vehicle when its
   similarity (fused where both show a plate, else vehicle) passes ``linked_threshold`` and
   beats the next such candidate by ``linked_margin``. Plate text read on both sides, each at
   ``plate_text_confidence`` or more, overrides the similarity: the same text makes the
   candidate the vehicle whatever its similarity (``plate-text+link``), texts that differ in
   two characters or more rule it out. The gallery's plate index (text → identity it was last
   read on) finds the identity even outside the nearest candidates, and also joins a second
   track of the same vehicle at the same camera within ``same_camera_s``.
3. Otherwise the vehicle is new and is enrolled (``Gallery.match``, race-free).

``first``, ``better`` and ``plate`` requests (a live track) only identify: the answer is the
track's provisional identity, nothing is written. The ``end`` request decides: a known
identity gains the pass's views as an exemplar, or a new identity is enrolled. Deciding once
per pass, with the best views, was measured against deciding at the first good view and
correcting later (``docs/research/pipeline-reid.md``).

When Redis cannot be reached the requests come back with ``error`` set and the stage stops
calling Redis for a backoff period (doubling from ``retry_s`` up to ``retry_cap_s``): the
pipeline keeps the requests, with their features, and sends them again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from gallery.gallery import Gallery, Match
from gallery.store import TRANSIENT, GalleryUnavailableError, reason
from gallery.store import Sighting as GallerySighting
from plates.vote import PlateVote
from reid.embedder import Embedder, EmbedderError
from reid.fusion import F32, Features
from roadwatch.stages.shots import ShotRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recognition:
    """The outcome of one :class:`ShotRequest`.

    Attributes:
        request: What was asked.
        match: The identity the track now holds: a new or known one for ``first``/``end``, the
            identity that takes over for a re-match, or None (no change, or a failure).
        features: The shot's features (kept so a failed request is not embedded twice).
        error: Why the request failed (empty when it did not); ``gallery`` errors are retried.
        retry: The request should be sent again (the gallery was unreachable).
        final: The answer decides the pass's identity (an ``end`` request).
        plate: The track's plate text voted over its best plate views (None: no plate view,
            or plates are not read).
    """

    request: ShotRequest
    match: Match | None
    features: Features | None
    error: str = ""
    retry: bool = False
    final: bool = False
    plate: PlateVote | None = None


class Recogniser:
    """Embeds shots in batches and matches them in the gallery (module docstring)."""

    def __init__(
        self,
        embedder: Embedder,
        gallery: Gallery,
        class_names: Sequence[str],
        *,
        links: Sequence[tuple[str, str, float, float]] = (),
        linked_threshold: float = 0.55,
        linked_margin: float = 0.0,
        candidates: int = 10,
        plate_text_confidence: float = 0.8,
        same_camera_s: float = 5.0,
        retry_s: float = 0.5,
        retry_cap_s: float = 15.0,
    ) -> None:
        self.embedder = embedder
        self.links: dict[str, dict[str, tuple[float, float]]] = {}
        for source, target, low, high in links:
            self.links.setdefault(target, {})[source] = (low, high)
        self.linked_threshold = linked_threshold
        self.linked_margin = linked_margin
        self.candidates = candidates
        self.plate_text_confidence = plate_text_confidence
        self.same_camera_s = same_camera_s
        self.gallery = gallery
        self.class_names = tuple(class_names)
        self.retry_s, self.retry_cap_s = retry_s, retry_cap_s
        self._down_until = 0.0
        self._delay = retry_s
        self._last_error = "gallery unreachable"

    def embed(self, requests: Sequence[ShotRequest]) -> Features | str:
        """Features of the requests' shots (one batch per network), or the error message."""
        try:
            return self.embedder.features_of_views(
                [r.shot.vehicle_views for r in requests], [r.shot.plate_views for r in requests]
            )
        except (EmbedderError, ValueError) as exc:
            log.warning("re-id failed on %d shots: %s", len(requests), exc)
            return f"re-id: {exc}"

    def match(
        self,
        requests: Sequence[ShotRequest],
        features: Sequence[Features | None],
        plates: Sequence[PlateVote | None],
    ) -> list[Recognition]:
        """Gallery decisions for requests whose features are known (None: embedding failed);
        ``plates``, the requests' plate votes (None: no vote), travel with them."""
        out = []
        for request, feature, plate in zip(requests, features, plates, strict=True):
            final = request.reason == "end"
            if feature is None:
                out.append(Recognition(request, None, None, "re-id failed", final=final, plate=plate))
            elif time.monotonic() < self._down_until:
                out.append(
                    Recognition(
                        request, None, feature, self._last_error, retry=True, final=final, plate=plate
                    )
                )
            else:
                out.append(self._match_one(request, feature, final, plate))
        return out

    def _match_one(
        self, request: ShotRequest, features: Features, final: bool, plate: PlateVote | None
    ) -> Recognition:
        shot = request.shot
        read = plate.read if plate is not None and plate.read.readable else None
        sighting = GallerySighting(
            camera=shot.camera,
            timestamp=shot.timestamp,
            plate=read.text if read is not None else "",
            plate_confidence=read.confidence if read is not None else 0.0,
            vehicle_type=self.class_names[shot.class_id]
            if 0 <= shot.class_id < len(self.class_names)
            else "",
        )
        wanted = features.for_gallery(0)
        text = read.text if read is not None and read.confidence >= self.plate_text_confidence else ""
        try:
            found = self._identify(wanted, shot.camera, shot.timestamp, text)
            if not final:
                result = found
            elif found is None:
                result = self.gallery.match(wanted, sighting)  # enrols (or finds a twin enrolled meanwhile)
            else:
                self.gallery.extend(found.identity, wanted, sighting)
                result = found
            if final and text and result is not None:
                self.gallery.note_plate(result.identity, text, sighting.plate_confidence)
        except (GalleryUnavailableError, *TRANSIENT) as exc:
            message = str(exc) if isinstance(exc, GalleryUnavailableError) else f"gallery: {reason(exc)}"
            self._down_until = time.monotonic() + self._delay
            self._last_error = message
            log.warning("%s; retrying in %.1f s", message, self._delay)
            self._delay = min(self.retry_cap_s, self._delay * 2)
            return Recognition(request, None, features, message, retry=True, final=final, plate=plate)
        self._delay = self.retry_s
        return Recognition(request, result, features, final=final, plate=plate)

    def _identify(
        self, wanted: dict[str, F32], camera: str, timestamp: float, text: str = ""
    ) -> Match | None:
        """The known identity of these features (and confidently read plate ``text``), or None
        (module docstring)."""
        found = self.gallery.lookup(wanted)  # method 1: its libraries at their thresholds
        upstream = self.links.get(camera, {})
        if found is not None or not (upstream or text):
            return found
        by_text = self.gallery.identity_of_plate(text) if text else None
        if by_text is not None:
            # The text also joins a second track of a vehicle at this camera (a duplicate).
            windows = {**upstream, camera: (-self.same_camera_s, self.same_camera_s)}
            if self._linked(self.gallery.store.record(by_text), windows, timestamp):
                return Match(by_text, "plate-text+link", 1.0, new=False)
        if not upstream:
            return None
        score = {
            i: (s, "vehicle") for i, s in self.gallery.search("vehicle", wanted["vehicle"], self.candidates)
        }
        if "fusion" in wanted:  # both sides show a plate: the fused cosine decides
            score |= {
                i: (s, "fusion") for i, s in self.gallery.search("fusion", wanted["fusion"], self.candidates)
            }
        ids = sorted(score, key=lambda i: -score[i][0])
        plausible = []
        for identity, record in zip(ids, self.gallery.store.records(ids), strict=True):
            if not self._linked(record, upstream, timestamp):
                continue
            theirs = self._confident_plate(record)
            if text and theirs == text:
                return Match(identity, "plate-text+link", score[identity][0], new=False)
            if not (text and theirs and _differences(text, theirs) >= 2):
                plausible.append(identity)
        if not plausible:
            return None
        best, (s, lib) = plausible[0], score[plausible[0]]
        runner_up = score[plausible[1]][0] if len(plausible) > 1 else -1.0
        if s > self.linked_threshold and s - runner_up >= self.linked_margin:
            return Match(best, f"{lib}+link", s, new=False)
        return None

    @staticmethod
    def _linked(record: dict[str, str], upstream: dict[str, tuple[float, float]], timestamp: float) -> bool:
        """The identity was last seen at an upstream camera of a link, within its travel time."""
        try:
            dt = timestamp - float(record.get("last_ts", "nan"))
        except ValueError:
            return False
        window = upstream.get(record.get("last_camera", ""))
        return window is not None and window[0] <= dt <= window[1]

    def _confident_plate(self, record: dict[str, str]) -> str:
        """The plate text a gallery record holds, if it was read confidently enough ('' if not)."""
        try:
            confidence = float(record.get("plate_conf") or 0.0)
        except ValueError:
            return ""
        return record.get("plate", "") if confidence >= self.plate_text_confidence else ""


def _differences(a: str, b: str) -> int:
    """Characters that differ between two texts (position by position, plus the length gap)."""
    return sum(x != y for x, y in zip(a, b, strict=False)) + abs(len(a) - len(b))
