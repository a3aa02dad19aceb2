"""Live state the dashboard shows: each camera's newest frame with its tracks, and the event
broadcaster behind ``/api/stream``.

:class:`LiveView` is fed by the pipeline thread, which only swaps references (no copy, no
encoding); JPEG encoding happens on the API's threads, at most ``fps`` times a second per
camera however many clients look. :class:`Broadcaster` reads the sighting and alert streams
from Redis on one thread of its own and hands each entry to every subscriber's bounded queue,
so fifty dashboards cost one Redis reader, not fifty, and never reach the pipeline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2

from roadwatch.events import Sighting
from roadwatch.stages.track import TrackedFrame
from streams.frame import Frame
from streams.health import CameraHealth

log = logging.getLogger(__name__)
_JPEG = [cv2.IMWRITE_JPEG_QUALITY, 80]


@dataclass(slots=True)
class _Camera:
    frame: Frame | None = None
    tracked: TrackedFrame | None = None
    jpeg: bytes | None = None
    jpeg_index: int = -1
    encoded_at: float = 0.0


class LiveView:
    """Newest frame, tracks and identities per camera.

    Args:
        cameras: Camera ids, in the order the dashboard shows them.
        fps: Frames per second each camera's picture is refreshed at most.
        health: Returns every camera's health (the readers'), or None when no camera runs here.
        class_names: Detector class names, by class id.
        max_width: Pictures wider than this are scaled down before encoding.
    """

    def __init__(
        self,
        cameras: Sequence[str],
        *,
        fps: float = 4.0,
        health: Callable[[], Sequence[CameraHealth]] | None = None,
        class_names: Sequence[str] = (),
        max_width: int = 960,
    ) -> None:
        self.cameras = list(cameras)
        self.period = 1.0 / fps
        self.health = health
        self.class_names = list(class_names)
        self.max_width = max_width
        self._state = {c: _Camera() for c in self.cameras}
        self._who: dict[tuple[str, int], tuple[int | None, str]] = {}
        self._lock = threading.Lock()

    # -- the pipeline thread ---------------------------------------------------------------

    def frame(self, frame: Frame, tracked: TrackedFrame | None) -> None:
        """Keep ``frame`` as its camera's newest (references only)."""
        state = self._state.get(frame.camera_id)
        if state is None:
            state = self._state.setdefault(frame.camera_id, _Camera())
            self.cameras.append(frame.camera_id)
        state.frame, state.tracked = frame, tracked

    def sighting(self, sighting: Sighting) -> None:
        """Remember which identity and plate a track is (for the overlays)."""
        with self._lock:
            self._who[(sighting.camera, sighting.track_id)] = (sighting.identity, sighting.plate_text)
            if len(self._who) > 10_000:  # old tracks: forget the oldest half
                for key in list(self._who)[:5000]:
                    del self._who[key]

    # -- the API's threads -----------------------------------------------------------------

    def jpeg(self, camera: str) -> tuple[bytes, int] | None:
        """The camera's newest picture as JPEG and its frame index (None before the first)."""
        state = self._state.get(camera)
        if state is None or state.frame is None:
            return None
        with self._lock:
            frame = state.frame
            now = time.monotonic()
            stale = state.jpeg is None or (
                frame.index != state.jpeg_index and now - state.encoded_at >= self.period
            )
            if stale:
                image: Any = frame.image
                if image.shape[1] > self.max_width:
                    size = (self.max_width, round(image.shape[0] * self.max_width / image.shape[1]))
                    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
                ok, buffer = cv2.imencode(".jpg", image, _JPEG)
                if ok:
                    state.jpeg, state.jpeg_index, state.encoded_at = buffer.tobytes(), frame.index, now
            assert state.jpeg is not None
            return state.jpeg, state.jpeg_index

    def overlay(self, camera: str) -> dict[str, Any] | None:
        """The newest frame's tracks: boxes in the frame's pixels, class, identity and plate."""
        state = self._state.get(camera)
        if state is None:
            return None
        frame, tracked = state.frame, state.tracked
        out: dict[str, Any] = {"camera": camera, "frame": None, "time": None, "size": None, "tracks": []}
        if frame is None:
            return out
        out.update(frame=frame.index, time=round(frame.timestamp, 3), size=[frame.width, frame.height])
        if tracked is None:
            return out
        t = tracked.tracks
        with self._lock:
            for k in range(len(t)):
                track_id = int(t.track_id[k])
                identity, plate = self._who.get((camera, track_id), (None, ""))
                class_id = int(t.class_id[k])
                name = self.class_names[class_id] if 0 <= class_id < len(self.class_names) else str(class_id)
                out["tracks"].append(
                    {
                        "track_id": track_id,
                        "box": [round(float(v), 1) for v in t.xyxy[k]],
                        "vehicle_type": name,
                        "state": int(t.state[k]),
                        "identity": identity,
                        "plate_text": plate,
                    }
                )
        return out

    def cameras_view(self) -> list[dict[str, Any]]:
        """Every camera with its health (when cameras run in this process) and newest frame."""
        health = {h.camera_id: h.to_dict() for h in (self.health() if self.health else ())}
        out = []
        for camera in self.cameras:
            state = self._state[camera]
            frame = state.frame
            item: dict[str, Any] = {"id": camera, "health": health.get(camera)}
            item["frame"] = None if frame is None else frame.index
            item["size"] = None if frame is None else [frame.width, frame.height]
            out.append(item)
        return out


class Broadcaster:
    """Reads ``<ns>:events`` and ``<ns>:alerts`` from their ends and fans each entry out to the
    subscribed queues (asyncio queues of the API's event loop).

    A subscriber whose queue is full (a client that stopped reading) misses events, counted in
    ``dropped``; the others and the pipeline are not slowed.
    """

    def __init__(
        self,
        client: Any,
        namespace: str,
        *,
        sighting_view: Callable[[dict[str, Any]], dict[str, Any]],
        alert_view: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        self.client = client
        self.keys = {f"{namespace}:events": "event", f"{namespace}:alerts": "alert"}
        self.sighting_view = sighting_view
        self.alert_view = alert_view
        self.dropped = 0
        self.sent = 0
        self._subscribers: dict[
            int, tuple[asyncio.AbstractEventLoop, asyncio.Queue[str], frozenset[str]]
        ] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next = 0

    @property
    def clients(self) -> int:
        return len(self._subscribers)

    def start(self) -> Broadcaster:
        self._thread = threading.Thread(target=self._run, name="api-broadcast", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def subscribe(self, kinds: frozenset[str], size: int = 256) -> tuple[int, asyncio.Queue[str]]:
        """A queue of server-sent-event messages for ``kinds`` (``sighting``, ``alert``, ``camera``)."""
        queue: asyncio.Queue[str] = asyncio.Queue(size)
        with self._lock:
            self._next += 1
            self._subscribers[self._next] = (asyncio.get_running_loop(), queue, kinds)
            return self._next, queue

    def unsubscribe(self, key: int) -> None:
        with self._lock:
            self._subscribers.pop(key, None)

    def _run(self) -> None:
        cursors: dict[str, str] = {}
        delay = 0.2
        while not self._stop.is_set():
            try:
                if not cursors:
                    cursors = {key: self._end(key) for key in self.keys}
                rows = self.client.xread(cursors, count=100, block=500)
                delay = 0.2
            except Exception as exc:  # Redis away: say so once in a while, keep trying
                log.warning("api: live stream cannot read Redis (%s); retrying in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(5.0, delay * 2)
                continue
            for key, entries in rows or ():
                name = key.decode() if isinstance(key, bytes) else key
                for entry_id, fields in entries:
                    cursors[name] = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                    message = self._message(self.keys[name], fields)
                    if message is not None:
                        self._publish(*message)

    def _end(self, key: str) -> str:
        rows = self.client.xrevrange(key, count=1)
        return (rows[0][0].decode() if isinstance(rows[0][0], bytes) else rows[0][0]) if rows else "0-0"

    def _message(self, source: str, raw: dict[Any, Any]) -> tuple[str, str] | None:
        fields = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        try:
            record = json.loads(fields["alert" if source == "alert" else "event"])
        except (KeyError, ValueError, TypeError):
            return None
        if not isinstance(record, dict):
            return None
        if source == "alert":
            return "alert", json.dumps(self.alert_view(record))
        if record.get("kind") == "sighting":
            return "sighting", json.dumps(self.sighting_view(record))
        if record.get("kind") == "camera.state":
            return "camera", json.dumps(record)
        return None

    def _publish(self, kind: str, data: str) -> None:
        message = f"event: {kind}\ndata: {data}\n\n"
        with self._lock:
            targets = [(loop, queue) for loop, queue, kinds in self._subscribers.values() if kind in kinds]
        for loop, queue in targets:
            try:
                loop.call_soon_threadsafe(self._offer, queue, message)
            except RuntimeError:  # the loop has closed (server shutting down)
                continue

    def _offer(self, queue: asyncio.Queue[str], message: str) -> None:
        try:
            queue.put_nowait(message)
            self.sent += 1
        except asyncio.QueueFull:
            self.dropped += 1
