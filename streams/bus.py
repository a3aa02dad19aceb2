"""Bounded per-camera frame queues behind one condition variable.

Reader threads put, the pipeline thread gets. Live cameras never wait: when their queue is
full the oldest frame is dropped and counted. Recordings wait for room (backpressure), so a
replay loses nothing. The consumer takes frames round-robin across cameras so one busy
camera cannot starve the others.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable

from streams.frame import Frame


class FrameBus:
    """Per-camera bounded queues.

    Args:
        capacities: ``(camera_id, queue_size)`` for every producer that will put frames.
    """

    def __init__(self, capacities: Iterable[tuple[str, int]]) -> None:
        self._cond = threading.Condition()
        self._queues: dict[str, deque[Frame]] = {}
        self._capacity: dict[str, int] = {}
        self._dropped: dict[str, int] = {}
        for camera_id, size in capacities:
            if size < 1:
                raise ValueError(f"queue size of camera '{camera_id}' must be >= 1, got {size}")
            self._queues[camera_id] = deque()
            self._capacity[camera_id] = size
            self._dropped[camera_id] = 0
        self._open_producers = set(self._queues)
        self._order = list(self._queues)
        self._turn = 0
        self._closed = False

    def put(self, frame: Frame, *, live: bool) -> bool:
        """Queue a frame; live frames push out the oldest one, others wait for room.

        Returns:
            False once the bus is closed (the frame was not queued).
        """
        if frame.camera_id not in self._queues:
            raise ValueError(f"camera '{frame.camera_id}' has no queue on this bus")
        queue = self._queues[frame.camera_id]
        capacity = self._capacity[frame.camera_id]
        with self._cond:
            if self._closed:
                return False
            if live and len(queue) >= capacity:
                queue.popleft()
                self._dropped[frame.camera_id] += 1
            while not self._closed and len(queue) >= capacity:
                self._cond.wait()
            if self._closed:
                return False
            queue.append(frame)
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> Frame | None:
        """Take the next frame, round-robin across cameras.

        Returns:
            A frame, or None when ``timeout`` passed or the bus is :attr:`finished`.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._has_frames() or self._done(), timeout):
                return None
            for _ in range(len(self._order)):
                camera_id = self._order[self._turn]
                self._turn = (self._turn + 1) % len(self._order)
                if self._queues[camera_id]:
                    frame = self._queues[camera_id].popleft()
                    self._cond.notify_all()
                    return frame
            return None

    def take(self, limit: int, timeout: float) -> list[Frame]:
        """Up to ``limit`` frames, round-robin across cameras, waiting at most ``timeout`` for the
        first; returns at once with what is queued (an empty list on timeout or when finished)."""
        first = self.get(timeout)
        if first is None:
            return []
        frames = [first]
        while len(frames) < limit:
            frame = self.get(0.0)
            if frame is None:
                break
            frames.append(frame)
        return frames

    def producer_done(self, camera_id: str) -> None:
        """A reader will put no more frames."""
        with self._cond:
            self._open_producers.discard(camera_id)
            self._cond.notify_all()

    def close(self) -> None:
        """Stop accepting frames and wake every waiting thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def finished(self) -> bool:
        """Every producer is done (or the bus closed) and nothing is left to get."""
        with self._cond:
            return self._done() and not self._has_frames()

    def depths(self) -> dict[str, int]:
        """Frames waiting per camera."""
        with self._cond:
            return {camera: len(q) for camera, q in self._queues.items()}

    def dropped(self, camera_id: str) -> int:
        """Frames of one camera pushed out of its full queue."""
        with self._cond:
            return self._dropped[camera_id]

    def _has_frames(self) -> bool:
        return any(self._queues.values())

    def _done(self) -> bool:
        return self._closed or not self._open_producers
