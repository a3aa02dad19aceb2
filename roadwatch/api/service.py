"""The API as a running service: token, Redis, live view, search models and uvicorn on a
thread of its own, started beside the pipeline (``serve``, ``run`` with ``api.enabled``,
``demo --serve``)."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from alerts.watchlist import WatchlistStore
from config import RoadwatchConfig
from detectors.gate import IntentGate
from detectors.stage import DetectionStage
from gallery.connect import open_redis
from gallery.gallery import Gallery
from gallery.store import GalleryUnavailableError
from plates.reader import FormattedReader
from reid.embedder import Embedder
from roadwatch.api.live import Broadcaster, LiveView
from roadwatch.api.metrics import Metrics
from roadwatch.api.reads import Reads
from roadwatch.api.server import ApiParts, create_app
from roadwatch.errors import CliError

log = logging.getLogger(__name__)
TOKEN_ENV = "ROADWATCH_API_TOKEN"


def api_tokens(cfg: RoadwatchConfig) -> tuple[list[str], bool]:
    """The accepted tokens and whether the first one was made up here (none configured: then
    it is printed at start). Order: ``api.token``, else ``$ROADWATCH_API_TOKEN``, else random;
    ``api.extra_tokens`` are accepted too."""
    given = cfg.api.token.get_secret_value() if cfg.api.token is not None else os.environ.get(TOKEN_ENV, "")
    made = not given
    tokens = [given or secrets.token_urlsafe(18)]
    tokens += [t.get_secret_value() for t in cfg.api.extra_tokens if t.get_secret_value()]
    return tokens, made


@dataclass(frozen=True, slots=True)
class _SearchModels:
    gate: IntentGate
    detector: DetectionStage | None
    embedder: Embedder
    reader: FormattedReader | None
    gallery: Gallery


class Searcher:
    """Search by image with the configured models, loaded on the first search (a service that
    is never asked to search never loads them).

    Raises (from a call):
        CliError: A model cannot be loaded or the gallery cannot be reached (the API answers
            503 with the message).
    """

    def __init__(self, cfg: RoadwatchConfig, reads: Reads) -> None:
        self.cfg = cfg
        self.reads = reads
        self._models: _SearchModels | None = None
        self._lock = threading.Lock()

    def _load(self) -> _SearchModels:
        from roadwatch import app

        with self._lock:
            if self._models is None:
                cfg = self.cfg
                try:
                    gallery = app.gallery(cfg.gallery)
                except GalleryUnavailableError as exc:
                    raise CliError(str(exc)) from None
                self._models = _SearchModels(
                    gate=app.intent_gate(cfg.detectors),
                    detector=app.detector(cfg.detectors),
                    embedder=app.embedder(cfg.reid),
                    reader=app.plate_reader(cfg.plates),
                    gallery=gallery,
                )
            return self._models

    def __call__(self, image: npt.NDArray[np.uint8], top: int, category: str) -> dict[str, Any]:
        from roadwatch.search import search_image, search_summary

        models = self._load()
        found = search_image(
            image,
            gate=models.gate,
            detector=models.detector,
            embedder=models.embedder,
            gallery=models.gallery,
            top=top,
            category=category,  # type: ignore[arg-type]
            plate_size=self.cfg.reid.plate_input,
            reader=models.reader,
        )
        answer = search_summary(found)
        ids = [hit["identity"] for vehicle in answer["vehicles"] for hit in vehicle["results"]]
        thumbs = self.reads.thumbnails(ids) if ids else {}
        for vehicle in answer["vehicles"]:
            for hit in vehicle["results"]:
                hit["snapshot_url"] = thumbs.get(hit["identity"])
        return answer


class ApiService:
    """uvicorn serving :func:`create_app` on a thread; :meth:`start` returns once it listens.

    Args:
        cfg: The whole config (``api``, ``gallery``, ``outputs`` and the models for search).
        live: The live view the pipeline feeds (an empty one when no camera runs here).
        metrics: The process's metrics.
        search: Serve search by image (its models load on the first search).
    """

    def __init__(
        self,
        cfg: RoadwatchConfig,
        *,
        live: LiveView,
        metrics: Metrics,
        search: bool = True,
    ) -> None:
        self.cfg = cfg
        self._attached = not live.cameras  # with cameras: ready once the run is wired
        self.live = live
        self.metrics = metrics
        self.tokens, self.token_made = api_tokens(cfg)
        try:
            self.client = open_redis(cfg.gallery)
        except GalleryUnavailableError as exc:
            raise CliError(f"api: {exc}") from None
        namespace = cfg.gallery.namespace
        self.reads = Reads(self.client, namespace, cfg.outputs.snapshots_dir)
        self.broadcaster = Broadcaster(
            self.client, namespace, sighting_view=self.reads.sighting_view, alert_view=self.reads.alert_view
        )
        metrics.sources.gallery = self.reads.counts
        metrics.sources.stream_clients = lambda: self.broadcaster.clients
        self.parts = ApiParts(
            reads=self.reads,
            live=live,
            broadcaster=self.broadcaster,
            watchlist=WatchlistStore(self.client, namespace),
            tokens=self.tokens,
            search=Searcher(cfg, self.reads) if search else None,
            metrics=metrics,
            snapshots_dir=cfg.outputs.snapshots_dir,
            max_upload_bytes=int(cfg.api.max_upload_mb * (1 << 20)),
            max_image_pixels=cfg.api.max_image_pixels,
            max_stream_clients=cfg.api.max_stream_clients,
            ready=self._ready,
        )
        self.app = create_app(self.parts)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port = cfg.api.port

    @property
    def url(self) -> str:
        host = self.cfg.api.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return f"http://{shown if ':' not in shown else f'[{shown}]'}:{self.port}/"

    @property
    def dashboard_link(self) -> str:
        """The dashboard's address with the token, to open in a browser."""
        return f"{self.url}?token={self.tokens[0]}"

    def _ready(self) -> tuple[bool, str]:
        return (True, "") if self._attached else (False, "cameras starting")

    def attach(self, readers: Sequence[Any], bus: Any, engine: Any, flow: Any) -> None:
        """Feed health, queue depths, alert counters and stage times of a run to the live view
        and the metrics (called once the run's parts exist)."""

        def health() -> list[Any]:
            return [r.health() for r in readers]

        self.live.health = health
        sources = self.metrics.sources
        sources.cameras = health
        sources.queues = lambda: {f"frames_{camera}": n for camera, n in bus.depths().items()}
        if engine is not None:
            sources.alerts = engine.stats
            sources.sinks = lambda: {s.name: s.stats() for s in engine.sinks}
        if flow is not None:
            flow.on_stage = self.metrics.stage
        self._attached = True

    def start(self, timeout_s: float = 20.0) -> ApiService:
        """Listen; raises CliError when the address cannot be bound."""
        import uvicorn

        self.broadcaster.start()
        config = uvicorn.Config(
            self.app,
            host=self.cfg.api.host,
            port=self.cfg.api.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, name="api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.broadcaster.close()
                raise CliError(
                    f"api: cannot listen on {self.cfg.api.host}:{self.cfg.api.port} "
                    "(address in use or not allowed; set api.port)"
                )
            time.sleep(0.02)
        sockets: Sequence[Any] = [s for srv in server.servers for s in srv.sockets]
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self

    def close(self) -> None:
        """Stop serving (open live streams are closed)."""
        if self._server is not None:
            self._server.should_exit = True
            if self._thread is not None:
                self._thread.join(10)
        self.broadcaster.close()
        with contextlib.suppress(Exception):  # already gone: nothing to release
            self.client.close()
