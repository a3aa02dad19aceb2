"""Events: what the pipeline reports, written as JSON lines."""

from __future__ import annotations

import json
import logging
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
            self._file.write(line + "\n")
            self._file.flush()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
