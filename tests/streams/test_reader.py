"""CameraReader state machine, driven by a scripted source (the reader is the unit under test)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from streams import (
    Backoff,
    CameraHealth,
    CameraReader,
    CameraState,
    Capture,
    FrameBus,
    SourceError,
    VideoFileSource,
)

_IMAGE = np.zeros((2, 2, 3), np.uint8)


class ScriptedSource:
    """Plays a script: each open() takes the next entry; an entry is an exception or a frame count.

    After ``frames`` captures, ``end`` decides what read() does: return None (end of
    stream) or raise a retryable SourceError (connection lost).
    """

    def __init__(self, script: list[Exception | int], *, live: bool, end: str = "none", fps: float = 10.0):
        self.live = live
        self.description = "scripted"
        self.frame_count = None
        self._script = list(script)
        self._left = 0
        self._end = end
        self._fps = fps
        self._t = 0.0
        self.opens = 0

    def open(self) -> None:
        self.opens += 1
        step = self._script.pop(0) if self._script else SourceError("script over", retryable=False)
        if isinstance(step, Exception):
            raise step
        self._left = step

    def read(self) -> Capture | None:
        if self._left == 0:
            if self._end == "raise":
                raise SourceError("connection lost", retryable=True)
            return None
        self._left -= 1
        self._t += 1.0 / self._fps
        return Capture(timestamp=self._t, image=_IMAGE)

    def close(self) -> None:
        pass


def _run(
    source: ScriptedSource, *, fps_cap: float | None = None, queue: int = 1000
) -> tuple[CameraReader, FrameBus, list[CameraHealth]]:
    bus = FrameBus([("cam", queue)])
    states: list[CameraHealth] = []
    backoff = Backoff(initial_s=0.01, max_s=0.02, multiplier=2.0, jitter=0.0)
    reader = CameraReader(
        camera_id="cam", source=source, bus=bus, backoff=backoff, fps_cap=fps_cap, on_state=states.append
    )
    reader.start()
    assert reader.join(10), "reader did not finish"
    return reader, bus, states


def _drain(bus: FrameBus) -> list[int]:
    out = []
    while (frame := bus.get(timeout=0.01)) is not None:
        out.append(frame.index)
    return out


def test_recording_delivers_every_frame_then_ends() -> None:
    reader, bus, states = _run(ScriptedSource([5], live=False))
    assert _drain(bus) == [0, 1, 2, 3, 4]
    assert [s.state for s in states] == [CameraState.CONNECTING, CameraState.STREAMING, CameraState.ENDED]
    assert reader.health().frames_read == 5
    assert bus.finished


def test_recording_that_cannot_open_fails_once_without_retry() -> None:
    source = ScriptedSource([SourceError("x.mp4: no such file", retryable=False)], live=False)
    reader, _, _ = _run(source)
    assert source.opens == 1
    assert reader.health().state is CameraState.FAILED
    assert reader.health().last_error == "x.mp4: no such file"


def test_live_source_retries_with_backoff_and_counts_reconnects() -> None:
    refused = SourceError("refused", retryable=True)
    source = ScriptedSource(
        [refused, refused, 3, 2, SourceError("gone", retryable=False)], live=True, end="raise"
    )
    reader, bus, states = _run(source)
    assert source.opens == 5
    assert _drain(bus) == [0, 1, 2, 3, 4]  # indices continue across reconnects
    health = reader.health()
    assert health.reconnects == 1  # opened twice successfully
    assert health.state is CameraState.FAILED
    seen = [s.state for s in states]
    assert seen.count(CameraState.BACKOFF) == 4  # 2 refusals + 2 lost connections
    assert CameraState.STREAMING in seen


def test_live_end_of_stream_counts_as_disconnect() -> None:
    source = ScriptedSource([2, SourceError("gone", retryable=False)], live=True, end="none")
    _, _, states = _run(source)
    assert source.opens == 2
    assert any(s.last_error == "stream ended" for s in states)


def test_live_queue_drops_oldest_when_nobody_consumes() -> None:
    source = ScriptedSource([10, SourceError("gone", retryable=False)], live=True)
    reader, bus, _ = _run(source, queue=3)
    assert _drain(bus) == [7, 8, 9]
    assert reader.health().frames_dropped == 7


@pytest.mark.parametrize(("fps", "cap", "expected"), [(10.0, 5.0, 5), (10.0, 2.0, 2), (10.0, 20.0, 10)])
def test_fps_cap_skips_frames_on_source_time(fps: float, cap: float, expected: int) -> None:
    reader, bus, _ = _run(ScriptedSource([10], live=False, fps=fps), fps_cap=cap)
    assert len(_drain(bus)) == expected
    assert reader.health().frames_skipped == 10 - expected
    assert reader.health().frames_read == 10


def test_crashing_source_fails_this_camera_only() -> None:
    class Broken(ScriptedSource):
        def read(self) -> Capture | None:
            raise ZeroDivisionError("bug")

    reader, bus, _ = _run(Broken([1], live=True))
    assert reader.health().state is CameraState.FAILED
    assert "internal error" in (reader.health().last_error or "")
    assert bus.finished


def test_stop_interrupts_a_long_backoff() -> None:
    bus = FrameBus([("cam", 2)])
    source = ScriptedSource([SourceError("refused", retryable=True)] * 100, live=True)
    reader = CameraReader(
        camera_id="cam",
        source=source,
        bus=bus,
        backoff=Backoff(initial_s=60.0, max_s=60.0, multiplier=1.0, jitter=0.0),
    )
    reader.start()
    _wait(lambda: reader.health().state is CameraState.BACKOFF)
    reader.stop()
    assert reader.join(2.0), "stop did not interrupt the 60 s backoff"
    assert reader.health().state is CameraState.ENDED


def _wait(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_recording_played_live_drops_its_oldest_frames_and_then_ends(sample_clip: Path) -> None:
    """``pace: live``: the clip's 40 frames come at 20 fps into a queue of 3 nobody reads."""
    source = VideoFileSource(sample_clip, pace="live")
    reader, bus, states = _run(source, queue=3)
    frames = []
    while (frame := bus.get(timeout=0.01)) is not None:
        frames.append(frame)
    assert [f.index for f in frames] == [37, 38, 39]
    assert reader.health().frames_dropped == 37
    assert states[-1].state is CameraState.ENDED  # a recording ends; it is not reconnected
    assert all(0 < f.received <= time.monotonic() for f in frames)
