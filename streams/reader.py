"""One reader thread per camera: open, read, hand frames to the bus, reconnect with backoff."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from streams.backoff import Backoff
from streams.bus import FrameBus
from streams.frame import Frame
from streams.health import CameraHealth, CameraState
from streams.sources import Capture, FrameSource, SourceError

log = logging.getLogger(__name__)

StateListener = Callable[[CameraHealth], None]
_FPS_WINDOW_S = 5.0


class CameraReader:
    """Reads one source on its own thread into a :class:`FrameBus`.

    Live sources are reopened after any failure with exponential backoff; recordings end
    at their last frame or fail once with a clear error. A failure here never touches other
    cameras. ``on_state`` is called from this thread with a health snapshot at every
    state change.

    Args:
        camera_id: Camera id, used on frames and in the bus.
        source: Where frames come from.
        bus: Where frames go.
        backoff: Reconnect delays.
        fps_cap: Deliver at most this many frames per second of source time; None: all.
        on_state: Optional listener for state changes.
    """

    def __init__(
        self,
        *,
        camera_id: str,
        source: FrameSource,
        bus: FrameBus,
        backoff: Backoff,
        fps_cap: float | None = None,
        on_state: StateListener | None = None,
    ) -> None:
        self.camera_id = camera_id
        self._source = source
        # Live sources, and recordings played as live cameras, drop their oldest frame when
        # the pipeline is behind; other recordings wait for room (a replay loses nothing).
        self._drops = bool(source.live or getattr(source, "drops_when_behind", False))
        self._bus = bus
        self._backoff = backoff
        self._min_gap = 0.0 if fps_cap is None else 1.0 / fps_cap
        self._on_state = on_state
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"reader-{camera_id}", daemon=True)
        self._state = CameraState.CONNECTING
        self._last_error: str | None = None
        self._frames_read = 0
        self._skipped = 0
        self._reconnects = 0
        self._opened_once = False
        self._last_kept: float | None = None
        self._read_times: deque[float] = deque(maxlen=512)
        self._announced = False

    def start(self) -> None:
        """Start the reader thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to finish; it notices within one read timeout."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; returns True when it has finished."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def frame_count(self) -> int | None:
        """Frames in the recording, when the source knows (after it opened)."""
        return self._source.frame_count

    def health(self) -> CameraHealth:
        """A consistent snapshot of this camera's state and counters."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._read_times if now - t <= _FPS_WINDOW_S]
            span = now - recent[0] if recent else 0.0
            fps = (len(recent) - 1) / span if len(recent) > 1 and span > 0 else 0.0
            return CameraHealth(
                camera_id=self.camera_id,
                source=self._source.description,
                state=self._state,
                fps=fps,
                frames_read=self._frames_read,
                frames_dropped=self._bus.dropped(self.camera_id),
                frames_skipped=self._skipped,
                reconnects=self._reconnects,
                last_error=self._last_error,
                seconds_since_frame=now - self._read_times[-1] if self._read_times else None,
            )

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._set_state(CameraState.CONNECTING)
                try:
                    self._source.open()
                    self._count_open()
                    self._set_state(CameraState.STREAMING)
                    ended = self._pump()
                except SourceError as exc:
                    self._source.close()
                    if not self._wait_to_retry(exc):
                        return
                    continue
                self._source.close()
                if ended and not self._source.live:
                    self._set_state(CameraState.ENDED)
                    return
                if ended and not self._wait_to_retry(SourceError("stream ended", retryable=True)):
                    return
        except Exception as exc:  # a library bug must end this camera only, loudly
            log.exception("camera %s: reader crashed", self.camera_id)
            self._set_state(CameraState.FAILED, error=f"internal error: {exc!r}")
        finally:
            self._source.close()
            self._bus.producer_done(self.camera_id)
            if self._state not in (CameraState.ENDED, CameraState.FAILED):
                self._set_state(CameraState.ENDED)

    def _pump(self) -> bool:
        """Move frames to the bus; True at end of stream, False when asked to stop."""
        while not self._stop.is_set():
            capture = self._source.read()
            if capture is None:
                return True
            index = self._count_read()
            if self._skip(capture):
                continue
            frame = Frame(self.camera_id, index, capture.timestamp, capture.image, time.monotonic())
            if not self._bus.put(frame, live=self._drops):
                return False
        return False

    def _count_open(self) -> None:
        with self._lock:
            if self._opened_once:
                self._reconnects += 1
            self._opened_once = True

    def _count_read(self) -> int:
        with self._lock:
            self._read_times.append(time.monotonic())
            self._frames_read += 1
            index = self._frames_read - 1
        self._backoff.reset()
        return index

    def _skip(self, capture: Capture) -> bool:
        """Apply the fps cap on source time; count what it leaves out."""
        if self._last_kept is not None and capture.timestamp - self._last_kept < self._min_gap * 0.999:
            with self._lock:
                self._skipped += 1
            return True
        self._last_kept = capture.timestamp
        return False

    def _wait_to_retry(self, exc: SourceError) -> bool:
        """Record the error; for live sources wait out the backoff. True: try again."""
        if not exc.retryable or not self._source.live:
            self._set_state(CameraState.FAILED, error=str(exc))
            log.info("camera %s: failed: %s", self.camera_id, exc)
            return False
        delay = self._backoff.next_delay()
        self._set_state(CameraState.BACKOFF, error=str(exc))
        log.warning("camera %s: %s; retrying in %.1f s", self.camera_id, exc, delay)
        return not self._stop.wait(delay)

    def _set_state(self, state: CameraState, error: str | None = None) -> None:
        with self._lock:
            changed = state != self._state or error is not None or not self._announced
            self._announced = True
            self._state = state
            if error is not None:
                self._last_error = error
        if changed and self._on_state is not None:
            self._on_state(self.health())
