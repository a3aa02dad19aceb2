"""Recognition stage: shots → features (one batch per network, across tracks and cameras) →
gallery decisions.

- ``first`` and ``end`` requests go through :meth:`gallery.Gallery.match`: the fused, then the
  plate, then the vehicle library decide between a known identity and a new one, which is
  enrolled (method 1, seed 004).
- ``better`` and ``plate`` requests (a track already holding an identity) only look up
  (:meth:`~gallery.Gallery.lookup`): a different known identity above its threshold takes
  over (the earlier view was too poor to find it); otherwise the track keeps its identity and
  the better view is added to it as an exemplar.

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
from gallery.store import GalleryUnavailableError
from gallery.store import Sighting as GallerySighting
from reid.embedder import Embedder, EmbedderError
from reid.fusion import Features
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
    """

    request: ShotRequest
    match: Match | None
    features: Features | None
    error: str = ""
    retry: bool = False


class Recogniser:
    """Embeds shots in batches and matches them in the gallery (module docstring)."""

    def __init__(
        self,
        embedder: Embedder,
        gallery: Gallery,
        class_names: Sequence[str],
        *,
        retry_s: float = 0.5,
        retry_cap_s: float = 15.0,
    ) -> None:
        self.embedder = embedder
        self.gallery = gallery
        self.class_names = tuple(class_names)
        self.retry_s, self.retry_cap_s = retry_s, retry_cap_s
        self._down_until = 0.0
        self._delay = retry_s
        self.switches = 0
        self.embed_s = 0.0
        self.match_s = 0.0

    def embed(self, requests: Sequence[ShotRequest]) -> Features | str:
        """Features of the requests' shots (one batch per network), or the error message."""
        started = time.perf_counter()
        try:
            return self.embedder.features_of_views(
                [r.shot.vehicle_views or (r.shot.vehicle_crop,) for r in requests],
                [r.shot.plate_views or (() if r.shot.plate_crop is None else (r.shot.plate_crop,)) for r in requests],
            )
        except (EmbedderError, ValueError) as exc:
            log.warning("re-id failed on %d shots: %s", len(requests), exc)
            return f"re-id: {exc}"
        finally:
            self.embed_s += time.perf_counter() - started

    def match(self, requests: Sequence[ShotRequest], features: Sequence[Features | None]) -> list[Recognition]:
        """Gallery decisions for requests whose features are known (None: embedding failed)."""
        started = time.perf_counter()
        out = []
        for request, feature in zip(requests, features, strict=True):
            if feature is None:
                out.append(Recognition(request, None, None, "re-id failed"))
            elif time.monotonic() < self._down_until:
                out.append(Recognition(request, None, feature, "gallery unreachable", retry=True))
            else:
                out.append(self._match_one(request, feature))
        self.match_s += time.perf_counter() - started
        return out

    def __call__(self, requests: Sequence[ShotRequest]) -> list[Recognition]:
        """Embed and match in one go."""
        if not requests:
            return []
        features = self.embed(requests)
        if isinstance(features, str):
            return [Recognition(r, None, None, features) for r in requests]
        return self.match(requests, [features.take([i]) for i in range(len(requests))])

    def _match_one(self, request: ShotRequest, features: Features) -> Recognition:
        shot = request.shot
        sighting = GallerySighting(
            camera=shot.camera,
            timestamp=shot.timestamp,
            vehicle_type=self.class_names[shot.class_id] if 0 <= shot.class_id < len(self.class_names) else "",
        )
        wanted = features.for_gallery(0)
        try:
            if request.identity is None:
                result: Match | None = self.gallery.match(wanted, sighting)
            else:
                found = self.gallery.lookup(wanted)
                if found is not None and found.identity != request.identity:
                    result = self.gallery.match(wanted, sighting)
                    self.switches += 1
                else:
                    self.gallery.extend(request.identity, wanted, sighting)
                    result = None
        except GalleryUnavailableError as exc:
            self._down_until = time.monotonic() + self._delay
            log.warning("%s; retrying in %.1f s", exc, self._delay)
            self._delay = min(self.retry_cap_s, self._delay * 2)
            return Recognition(request, None, features, str(exc), retry=True)
        self._delay = self.retry_s
        return Recognition(request, result, features)
