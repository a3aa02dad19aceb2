"""The pipeline: reader threads → detection stage → events.

The pipeline thread (the caller of :meth:`Pipeline.run`) owns the stages and the event
sink; reader threads own their sources; the :class:`~streams.FrameBus` is the only thing
they share. Later stages (plates, re-id, gallery, alerts) slot in after detection.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from detectors.base import Detections, Detector
from roadwatch.events import Event, EventSink
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
            "cameras": [c.to_dict() for c in self.cameras],
        }


def detection_events(frame: Frame, detections: Detections) -> list[Event]:
    """One ``detections`` event for a frame with anything in it (tracking replaces this)."""
    if len(detections) == 0:
        return []
    data = {
        "frame": frame.index,
        "boxes": detections.xyxy.round(1).tolist(),
        "scores": detections.confidence.round(4).tolist(),
        "classes": detections.class_id.tolist(),
    }
    return [Event("detections", frame.camera_id, frame.timestamp, data)]


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
    """Runs readers and stages until the sources end or ``stop`` is set.

    Args:
        bus: Frame queues the readers fill.
        readers: Camera readers (started and joined by :meth:`run`).
        detector: Detection stage; None leaves the slot empty (frames are counted only).
        sink: Event destination (not closed by the pipeline).
        on_frame: Called after each processed frame (progress bars).
    """

    def __init__(
        self,
        *,
        bus: FrameBus,
        readers: Sequence[CameraReader],
        detector: Detector | None,
        sink: EventSink,
        on_frame: Callable[[Frame], None] | None = None,
    ) -> None:
        self._bus = bus
        self._readers = list(readers)
        self._detector = detector
        self._sink = sink
        self._on_frame = on_frame

    def run(self, stop: threading.Event) -> RunSummary:
        """Process frames until every source ended or ``stop`` is set; always joins readers."""
        started = time.monotonic()
        processed = 0
        for reader in self._readers:
            reader.start()
        try:
            while not stop.is_set():
                frame = self._bus.get(timeout=0.2)
                if frame is None:
                    if self._bus.finished:
                        break
                    continue
                self._process(frame)
                processed += 1
        finally:
            for reader in self._readers:
                reader.stop()
            self._bus.close()
            for reader in self._readers:
                reader.join(_JOIN_TIMEOUT_S)
        return self._summary(processed, time.monotonic() - started)

    def _process(self, frame: Frame) -> None:
        detections = self._detector.detect(frame) if self._detector is not None else Detections.empty()
        for event in detection_events(frame, detections):
            self._sink.write(event)
        if self._on_frame is not None:
            self._on_frame(frame)

    def _summary(self, processed: int, seconds: float) -> RunSummary:
        cameras = tuple(r.health() for r in self._readers)
        return RunSummary(
            frames_read=sum(c.frames_read for c in cameras),
            frames_processed=processed,
            frames_dropped=sum(c.frames_dropped for c in cameras),
            frames_skipped=sum(c.frames_skipped for c in cameras),
            seconds=seconds,
            cameras=cameras,
        )
