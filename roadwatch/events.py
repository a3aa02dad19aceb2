"""Events: what the pipeline reports, written as JSON lines."""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened.

    Attributes:
        kind: Dotted event type, e.g. ``camera.state`` or ``detections``.
        camera_id: Camera the event belongs to.
        timestamp: The frame time it refers to (see ``Frame.timestamp``), or wall clock.
        data: Kind-specific JSON-ready fields.
        wall_time: Unix time the event was created.
    """

    kind: str
    camera_id: str
    timestamp: float
    data: Mapping[str, Any] = field(default_factory=dict)
    wall_time: float = field(default_factory=time.time)

    def to_json(self) -> str:
        """One compact JSON object (the line format of the event log)."""
        record = {"kind": self.kind, "camera_id": self.camera_id, "time": self.timestamp}
        record["wall_time"] = round(self.wall_time, 6)
        record.update(self.data)
        return json.dumps(record, separators=(",", ":"), allow_nan=False)


class EventSink(Protocol):
    """Where events go; ``write`` may be called from several threads."""

    def write(self, event: Event) -> None:
        """Record one event."""
        ...

    def close(self) -> None:
        """Flush and release; safe to call twice."""
        ...


class JsonlEventSink:
    """Appends events to a JSON-lines file, flushed after every event so none is lost.

    Args:
        path: The file; its folder is created.
        append: Keep earlier content (live runs) or start empty (a replay's own log).
    """

    def __init__(self, path: Path, *, append: bool = True) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.count = 0
        self.failures = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] | None = self.path.open("a" if append else "w", encoding="utf-8")
        except OSError as exc:
            raise OSError(f"{self.path}: cannot write events: {exc.strerror or exc}") from None

    def write(self, event: Event) -> None:
        line = event.to_json()
        with self._lock:
            if self._file is None:  # a reader that outlived shutdown; say so, don't crash it
                log.warning("%s: closed, event not written: %s", self.path, line)
                return
            try:
                self._file.write(line + "\n")
                self._file.flush()
            except OSError as exc:  # a full disk: count it, say so now and then, keep running
                self.failures += 1
                if self.failures in (1, 10, 100) or self.failures % 1000 == 0:
                    reason = exc.strerror or exc
                    log.warning("%s: %d events not written: %s", self.path, self.failures, reason)
                self._recover()
                return
            self.count += 1

    def _recover(self) -> None:
        """Drop what the failed write left buffered, so the next write starts on a whole line."""
        try:
            if self._file is not None:
                self._file.close()
        except OSError:
            pass
        try:
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            log.warning("%s: cannot reopen: %s", self.path, exc.strerror or exc)
            self._file = None

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


SIGHTING_SCHEMA = 1
Box = tuple[float, float, float, float]


def sighting_id(camera: str, track_id: int, first_frame: int) -> str:
    """The id of a sighting: 16 hex digits of SHA-1 over camera, track and first frame, so the
    same footage replayed gives the same ids."""
    return hashlib.sha1(f"{camera}\x00{track_id}\x00{first_frame}".encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Sighting:
    """One vehicle pass at one camera (schema version :data:`SIGHTING_SCHEMA`; docs/EVENTS.md).

    Written as a ``provisional`` event as soon as the track's identity is known, and as a
    ``final`` one when the track ends. Both carry the same ``id``.

    Attributes:
        id: :func:`sighting_id` of camera, track and first frame.
        status: ``provisional`` or ``final``.
        camera: Camera id.
        track_id: The camera's track id.
        first_time: Time of the first frame of the pass (the frame's own time).
        last_time: Time of the last frame with the vehicle (never before ``first_time``).
        first_frame: Index of the first frame.
        last_frame: Index of the last frame.
        identity: Gallery identity, None when none could be given (``error`` says why).
        new: The identity was enrolled by this sighting.
        library: Which gallery library decided (fusion, plate, vehicle; empty without identity).
        score: Cosine with the identity's best exemplar (1.0 for a new one).
        vehicle_type: The track's class.
        best_box: Vehicle box of the best shot, pixels.
        best_time: Time of the best shot's frame.
        quality: Quality of the best shot.
        snapshots: ``frame``, ``vehicle``, ``plate`` JPEG paths (empty without a snapshot folder).
        plate_text: Read plate text (empty until plates are read).
        plate_confidence: Confidence of the read (None until plates are read).
        plate_region: Region of the plate format (empty until plates are read).
        plate_reads: Frames whose reads were voted (0 until plates are read).
        colour: Colour name of the best shot's body (``reid.colour``); '' when it cannot be told.
        error: Why there is no identity (empty otherwise).
        path: ``(frame index, box)`` of every frame the vehicle was detected in (kept in memory
            for scoring and drawing; not written).
    """

    id: str
    status: str
    camera: str
    track_id: int
    first_time: float
    last_time: float
    first_frame: int
    last_frame: int
    identity: int | None
    new: bool
    library: str
    score: float
    vehicle_type: str
    best_box: Box | None
    best_time: float | None
    quality: float
    snapshots: Mapping[str, str] = field(default_factory=dict)
    plate_text: str = ""
    plate_confidence: float | None = None
    plate_region: str = ""
    plate_reads: int = 0
    colour: str = ""
    error: str = ""
    path: tuple[tuple[int, Box], ...] = field(default=(), repr=False)

    def to_event(self) -> Event:
        """The ``sighting`` event (``time`` is the first frame's time)."""
        data: dict[str, Any] = {
            "schema": SIGHTING_SCHEMA,
            "id": self.id,
            "status": self.status,
            "track_id": self.track_id,
            "first_time": round(self.first_time, 3),
            "last_time": round(self.last_time, 3),
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "identity": self.identity,
            "new": self.new,
            "library": self.library,
            "score": round(self.score, 4),
            "vehicle_type": self.vehicle_type,
            "best_box": None if self.best_box is None else [round(v, 1) for v in self.best_box],
            "best_time": None if self.best_time is None else round(self.best_time, 3),
            "quality": round(self.quality, 4),
            "snapshots": dict(self.snapshots),
            "plate_text": self.plate_text,
            "plate_confidence": self.plate_confidence,
            "plate_region": self.plate_region,
            "plate_reads": self.plate_reads,
            "colour": self.colour,
            "error": self.error,
        }
        return Event("sighting", self.camera, self.first_time, data)


class RedisStreamSink:
    """Appends events to a Redis stream (``XADD``, trimmed to about ``max_len`` entries), from its
    own thread behind a bounded queue, so the pipeline never waits on the network.

    Each entry has the fields ``kind``, ``camera``, ``id`` (the sighting id, if any) and ``event``
    (the JSON line). Consumers read it with ``XREAD`` or consumer groups (``XREADGROUP``). While
    Redis is unreachable the writer retries the same event with backoff (nothing is skipped);
    ``write`` waits only when ``queue_size`` events are already waiting.

    Args:
        client: A connected ``redis.Redis``.
        key: Stream key, e.g. ``rw:events``.
        max_len: Approximate length the stream is trimmed to.
        queue_size: Events waiting at most before ``write`` blocks.
        close_timeout_s: How long :meth:`close` keeps retrying what is still queued.
    """

    def __init__(
        self,
        client: Any,
        key: str,
        *,
        max_len: int = 100_000,
        queue_size: int = 10_000,
        close_timeout_s: float = 10.0,
    ) -> None:
        self.client = client
        self.key = key
        self.max_len = max_len
        self.close_timeout_s = close_timeout_s
        self.count = 0
        self.failures = 0
        self._queue: queue.Queue[Event | None] = queue.Queue(queue_size)
        self._closing_at: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"stream-{key}", daemon=True)
        self._thread.start()

    def write(self, event: Event) -> None:
        self._queue.put(event)

    def close(self) -> None:
        if self._closing_at is None:
            self._closing_at = time.monotonic()
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        delay = 0.05
        while (event := self._queue.get()) is not None:
            while True:
                try:
                    fields = {"kind": event.kind, "camera": event.camera_id, "event": event.to_json()}
                    if "id" in event.data:
                        fields["id"] = str(event.data["id"])
                    self.client.xadd(self.key, fields, maxlen=self.max_len, approximate=True)
                    self.count += 1
                    delay = 0.05
                    break
                except Exception as exc:
                    self.failures += 1
                    if (
                        self._closing_at is not None
                        and time.monotonic() - self._closing_at > self.close_timeout_s
                    ):
                        log.warning("%s: %d events not added to the stream: %s", self.key, self._left(), exc)
                        return
                    log.warning("%s: cannot add to the stream (%s); retrying in %.1f s", self.key, exc, delay)
                    time.sleep(delay)
                    delay = min(5.0, delay * 2)

    def _left(self) -> int:
        return 1 + self._queue.qsize()


class FanOut:
    """One sink that writes every event to several (the JSON lines file and the stream)."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    @property
    def count(self) -> int:
        """Events written to the first sink."""
        return int(getattr(self.sinks[0], "count", 0))

    def write(self, event: Event) -> None:
        for sink in self.sinks:
            sink.write(event)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
