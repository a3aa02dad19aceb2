"""The pipeline: reader threads → FrameBus → the stages (:mod:`roadwatch.flow`) → events.

The pipeline thread (the caller of :meth:`Pipeline.run`) owns the stages and their state;
reader threads own their sources; the :class:`~streams.FrameBus` is the only thing they
share. Sightings go to the event sink as the stages let them out.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from roadwatch.events import Event, EventSink, Sighting
from roadwatch.flow import Flow
from roadwatch.stages.track import TrackedFrame
from streams.bus import FrameBus
from streams.frame import Frame
from streams.health import CameraHealth
from streams.reader import CameraReader

_JOIN_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one pipeline run did (the ``--json`` summary of ``replay`` and ``run``)."""

    frames_read: int
    frames_processed: int
    frames_dropped: int
    frames_skipped: int
    seconds: float
    cameras: tuple[CameraHealth, ...]
    stage_ms: Mapping[str, float] = field(default_factory=dict)
    tracks: Mapping[str, int] = field(default_factory=dict)
    latency_ms: tuple[float, float] | None = None  # p50, p95: frame decoded → its sightings written
    detection: Mapping[str, int] = field(default_factory=dict)  # frames detected, skipped as still
    camera_latency_ms: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # per camera

    @property
    def fps(self) -> float:
        """Frames processed per second of run time."""
        return self.frames_processed / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form; keys are part of the command contract."""
        return {
            "frames_read": self.frames_read,
            "frames_processed": self.frames_processed,
            "frames_dropped": self.frames_dropped,
            "frames_skipped": self.frames_skipped,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 2),
            "stage_ms": dict(self.stage_ms),
            "tracks": dict(self.tracks),
            "detection": dict(self.detection),
            "latency_p50_ms": None if self.latency_ms is None else round(self.latency_ms[0], 1),
            "latency_p95_ms": None if self.latency_ms is None else round(self.latency_ms[1], 1),
            "camera_latency_p95_ms": {c: round(v[1], 1) for c, v in self.camera_latency_ms.items()},
            "cameras": [c.to_dict() for c in self.cameras],
        }


def camera_event(health: CameraHealth) -> Event:
    """The ``camera.state`` event written at each reader state change."""
    data = {
        "state": health.state.value,
        "source": health.source,
        "frames_read": health.frames_read,
        "reconnects": health.reconnects,
        "last_error": health.last_error,
    }
    return Event("camera.state", health.camera_id, time.time(), data)


class Pipeline:
    """Runs readers and the stages until the sources end or ``stop`` is set.

    Args:
        bus: Frame queues the readers fill.
        readers: Camera readers (started and joined by :meth:`run`).
        flow: The stages; None when detection is off (frames are read and counted only).
        sink: Event destination (not closed by the pipeline).
        batch_frames: Frames taken from the bus at once (across cameras); their shots are
            embedded in one batch.
        on_frame: Called after each processed frame with its tracks (progress bars, drawing).
        on_sighting: Called with every sighting written (the demo's live lines and score).
    """

    def __init__(
        self,
        *,
        bus: FrameBus,
        readers: Sequence[CameraReader],
        flow: Flow | None,
        sink: EventSink,
        batch_frames: int = 4,
        on_frame: Callable[[Frame, TrackedFrame | None], None] | None = None,
        on_sighting: Callable[[Sighting], None] | None = None,
    ) -> None:
        self._bus = bus
        self._readers = list(readers)
        self._flow = flow
        self._sink = sink
        self._batch = batch_frames
        self._on_frame = on_frame
        self._on_sighting = on_sighting
        self._latencies: dict[str, deque[float]] = {}

    def run(self, stop: threading.Event) -> RunSummary:
        """Process frames until every source ended or ``stop`` is set; always joins readers."""
        started = time.monotonic()
        processed = 0
        for reader in self._readers:
            reader.start()
        try:
            while not stop.is_set():
                frames = self._bus.take(self._batch, timeout=0.2)
                if not frames and self._bus.finished:
                    break
                self._process(frames)
                processed += len(frames)
            if self._flow is not None:
                self._write(self._flow.finish())
        finally:
            for reader in self._readers:
                reader.stop()
            self._bus.close()
            for reader in self._readers:
                reader.join(_JOIN_TIMEOUT_S)
        return self._summary(processed, time.monotonic() - started)

    def _process(self, frames: list[Frame]) -> None:
        if self._flow is None:
            tracked: list[TrackedFrame | None] = [None] * len(frames)
        elif frames:
            sightings, tracked_frames = self._flow.process(frames)
            tracked = list(tracked_frames)
            self._write(sightings)
            done = time.monotonic()
            for f in frames:
                if f.received > 0:
                    self._latencies.setdefault(f.camera_id, deque(maxlen=100_000)).append(done - f.received)
        else:
            self._write(self._flow.retry())
            return
        if self._on_frame is not None:
            for frame, t in zip(frames, tracked, strict=True):
                self._on_frame(frame, t)

    def _write(self, sightings: list[Sighting]) -> None:
        for sighting in sightings:
            self._sink.write(sighting.to_event())
            if self._on_sighting is not None:
                self._on_sighting(sighting)

    def _summary(self, processed: int, seconds: float) -> RunSummary:
        cameras = tuple(r.health() for r in self._readers)
        return RunSummary(
            frames_read=sum(c.frames_read for c in cameras),
            frames_processed=processed,
            frames_dropped=sum(c.frames_dropped for c in cameras),
            frames_skipped=sum(c.frames_skipped for c in cameras),
            seconds=seconds,
            cameras=cameras,
            stage_ms=self._flow.stage_ms() if self._flow is not None else {},
            tracks=self._flow.track_counts() if self._flow is not None else {},
            latency_ms=_percentiles_ms([s for q in self._latencies.values() for s in q]),
            camera_latency_ms={
                camera: p for camera, q in self._latencies.items() if (p := _percentiles_ms(q)) is not None
            },
            detection=self._flow.detection_counts() if self._flow is not None else {},
        )


def _percentiles_ms(seconds: Sequence[float]) -> tuple[float, float] | None:
    """p50 and p95 of ``seconds``, in milliseconds (None when empty)."""
    if not seconds:
        return None
    p50, p95 = np.percentile(np.fromiter(seconds, np.float64), [50, 95])
    return 1000 * float(p50), 1000 * float(p95)
