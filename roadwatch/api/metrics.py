"""Prometheus metrics (``/metrics``), named by Prometheus's conventions (``roadwatch_`` prefix,
base units, ``_total`` for counters, ``_seconds`` for durations).

Counters and gauges that other parts already keep (camera health, queue depths, the alert
engine's and the sinks' counts) are read when Prometheus scrapes, by :class:`_Collector`;
nothing is updated on the pipeline thread for them. Stage latencies are histograms observed
by the flow as each stage ends, and sightings are counted as the pipeline writes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from roadwatch.events import Sighting
from roadwatch.flow import STAGES
from streams.health import CameraHealth

log = logging.getLogger(__name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(slots=True)
class Sources:
    """Where the scrape-time figures come from; each is optional (an API-only process has no
    cameras, a run without alerts has no engine).

    Attributes:
        cameras: Every camera's health.
        queues: Queue name → depth (frame queues, event and alert sinks).
        gallery: Identities, and the gallery's match/enrol counters.
        alerts: The alert engine's stats (``alerts``, ``repeats``, ``errors``, ...).
        sinks: Alert sink name → its stats (``delivered``, ``failures``, ``waiting``, ...).
        stream_clients: Live event stream clients connected.
    """

    cameras: Callable[[], Sequence[CameraHealth]] | None = None
    queues: Callable[[], dict[str, int]] | None = None
    gallery: Callable[[], dict[str, int]] | None = None
    alerts: Callable[[], dict[str, Any]] | None = None
    sinks: Callable[[], dict[str, dict[str, Any]]] | None = None
    stream_clients: Callable[[], int] | None = None
    extra: dict[str, Callable[[], float]] = field(default_factory=dict)


class _Collector(Collector):
    def __init__(self, sources: Sources) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Any]:
        s = self.sources
        try:
            yield from self._cameras(s)
            yield from self._queues(s)
            yield from self._gallery(s)
            yield from self._alerts(s)
        except Exception as exc:  # a scrape must never fail the process; say what is missing
            log.warning("metrics: a figure could not be read: %s", exc)

    @staticmethod
    def _cameras(s: Sources) -> Iterator[Any]:
        if s.cameras is None:
            return
        health = list(s.cameras())
        fps = GaugeMetricFamily(
            "roadwatch_camera_fps", "Frames per second read, per camera.", labels=["camera"]
        )
        up = GaugeMetricFamily(
            "roadwatch_camera_up", "1 while the camera delivers frames (state streaming).", labels=["camera"]
        )
        read = CounterMetricFamily("roadwatch_camera_frames_read", "Frames decoded.", labels=["camera"])
        dropped = CounterMetricFamily(
            "roadwatch_camera_frames_dropped",
            "Frames dropped because the pipeline fell behind.",
            labels=["camera"],
        )
        skipped = CounterMetricFamily(
            "roadwatch_camera_frames_skipped", "Frames left out by the camera's fps cap.", labels=["camera"]
        )
        reconnects = CounterMetricFamily(
            "roadwatch_camera_reconnects", "Successful re-opens.", labels=["camera"]
        )
        for h in health:
            fps.add_metric([h.camera_id], h.fps)
            up.add_metric([h.camera_id], 1.0 if h.state.value == "streaming" else 0.0)
            read.add_metric([h.camera_id], h.frames_read)
            dropped.add_metric([h.camera_id], h.frames_dropped)
            skipped.add_metric([h.camera_id], h.frames_skipped)
            reconnects.add_metric([h.camera_id], h.reconnects)
        yield from (fps, up, read, dropped, skipped, reconnects)

    @staticmethod
    def _queues(s: Sources) -> Iterator[Any]:
        if s.queues is None and s.stream_clients is None:
            return
        depth = GaugeMetricFamily("roadwatch_queue_depth", "Items waiting in a queue.", labels=["queue"])
        for name, value in (s.queues() if s.queues else {}).items():
            depth.add_metric([name], value)
        yield depth
        if s.stream_clients is not None:
            yield GaugeMetricFamily(
                "roadwatch_api_stream_clients",
                "Live event stream clients connected.",
                value=s.stream_clients(),
            )

    @staticmethod
    def _gallery(s: Sources) -> Iterator[Any]:
        if s.gallery is None:
            return
        figures = s.gallery()
        yield GaugeMetricFamily(
            "roadwatch_gallery_identities", "Identities in the gallery.", value=figures.get("identities", 0)
        )
        yield CounterMetricFamily(
            "roadwatch_events_stream_entries", "Entries in the event stream.", value=figures.get("events", 0)
        )

    @staticmethod
    def _alerts(s: Sources) -> Iterator[Any]:
        if s.alerts is not None:
            stats = s.alerts()
            yield CounterMetricFamily(
                "roadwatch_alerts_raised", "Alerts raised.", value=stats.get("alerts", 0)
            )
            yield CounterMetricFamily(
                "roadwatch_alerts_repeats",
                "Alerts already raised once (not delivered again).",
                value=stats.get("repeats", 0),
            )
        if s.sinks is not None:
            delivered = CounterMetricFamily(
                "roadwatch_alerts_delivered", "Alerts delivered, per output.", labels=["sink"]
            )
            failed = CounterMetricFamily(
                "roadwatch_alerts_failed",
                "Alert deliveries given up or refused, per output.",
                labels=["sink"],
            )
            backlog = GaugeMetricFamily(
                "roadwatch_alerts_backlog",
                "Alerts waiting for delivery (queue and spool), per output.",
                labels=["sink"],
            )
            for name, stats in s.sinks().items():
                delivered.add_metric([name], stats.get("delivered", 0))
                failed.add_metric(
                    [name], stats.get("failures", 0) + stats.get("rejected", 0) + stats.get("lost", 0)
                )
                backlog.add_metric([name], stats.get("waiting", 0))
            yield from (delivered, failed, backlog)


class Metrics:
    """The process's metrics, on a registry of its own (tests and several servers never clash)."""

    def __init__(self, sources: Sources | None = None) -> None:
        self.registry = CollectorRegistry()
        self.sources = sources or Sources()
        self.registry.register(_Collector(self.sources))
        self.stage_seconds = Histogram(
            "roadwatch_stage_seconds",
            "Time a pipeline stage took for one frame or one batch.",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=self.registry,
        )
        for stage in STAGES:  # every stage's series exists from the start, zero until it runs
            self.stage_seconds.labels(stage)
        self.sightings = Counter(
            "roadwatch_sightings",
            "Sightings written, by status and by how the identity was given (library, new or matched).",
            ["status", "library", "outcome"],
            registry=self.registry,
        )
        self.http_requests = Counter(
            "roadwatch_api_requests",
            "API requests answered, by route and status.",
            ["route", "status"],
            registry=self.registry,
        )

    def stage(self, name: str, seconds: float) -> None:
        """One stage's time (the flow's hook)."""
        self.stage_seconds.labels(name).observe(seconds)

    def sighting(self, sighting: Sighting) -> None:
        """Count one written sighting (matches and enrolments)."""
        outcome = "none" if sighting.identity is None else "enrolled" if sighting.new else "matched"
        self.sightings.labels(sighting.status, sighting.library or "none", outcome).inc()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
