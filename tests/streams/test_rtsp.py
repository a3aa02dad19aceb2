"""Stream sources and readers against a real RTSP server (gst-rtsp-server)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from streams import Backoff, CameraReader, CameraState, FrameBus, SourceError, StreamSource
from tests.support import RtspServer, free_port


def _source(url: str, *, read_timeout_s: float = 5.0, open_timeout_s: float = 5.0) -> StreamSource:
    return StreamSource(url, open_timeout_s=open_timeout_s, read_timeout_s=read_timeout_s, transport="tcp")


def _reader(camera_id: str, source: StreamSource, bus: FrameBus) -> CameraReader:
    backoff = Backoff(initial_s=0.2, max_s=1.0, multiplier=2.0, jitter=0.1)
    return CameraReader(camera_id=camera_id, source=source, bus=bus, backoff=backoff)


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until ``condition`` holds; return the seconds it took, fail after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def test_stream_source_reads_live_frames(rtsp_server: Callable[[], RtspServer]) -> None:
    server = rtsp_server()
    source = _source(server.url)
    source.open()
    try:
        captures = [source.read() for _ in range(5)]
    finally:
        source.close()
    assert all(c is not None for c in captures)
    shapes = {c.image.shape for c in captures if c is not None}
    assert shapes == {(240, 320, 3)}
    times = [c.timestamp for c in captures if c is not None]
    assert times == sorted(times)


def test_reader_reconnects_when_killed_server_returns(rtsp_server: Callable[[], RtspServer]) -> None:
    server = rtsp_server()
    bus = FrameBus([("cam", 4)])
    reader = _reader("cam", _source(server.url, read_timeout_s=2.0), bus)
    reader.start()
    try:
        _wait_for(lambda: reader.health().frames_read >= 5, 15, "first frames")
        server.kill()
        _wait_for(lambda: reader.health().state is not CameraState.STREAMING, 10, "the reader to notice")
        assert reader.health().last_error is not None
        before = reader.health().frames_read
        server.start()
        _wait_for(lambda: reader.health().reconnects >= 1, 20, "a reconnect")
        _wait_for(lambda: reader.health().frames_read >= before + 5, 15, "frames after reconnect")
        assert reader.health().state is CameraState.STREAMING
        # live source, nobody consuming: the queue stays bounded and drops are counted
        assert reader.health().frames_dropped > 0
    finally:
        reader.stop()
        assert reader.join(10)


def test_hung_server_is_noticed_within_timeout_while_other_camera_flows(
    rtsp_server: Callable[[], RtspServer],
) -> None:
    hung, healthy = rtsp_server(), rtsp_server()
    read_timeout_s = 1.5
    bus = FrameBus([("hung", 4), ("healthy", 4)])
    readers = [
        _reader("hung", _source(hung.url, read_timeout_s=read_timeout_s), bus),
        _reader("healthy", _source(healthy.url, read_timeout_s=read_timeout_s), bus),
    ]
    for reader in readers:
        reader.start()
    try:
        for reader in readers:
            _wait_for(lambda r=reader: r.health().frames_read >= 3, 15, f"{reader.camera_id} frames")
        hung.freeze()
        frozen_at = readers[1].health().frames_read
        took = _wait_for(
            lambda: readers[0].health().state is not CameraState.STREAMING, 15, "the hang to be noticed"
        )
        # FFmpeg may hand over a few buffered frames first; the budget is the read timeout
        # plus that slack, not FFmpeg's default 30 s per read.
        assert took <= read_timeout_s + 2.5, f"hang noticed after {took:.1f} s"
        assert "stalled" in (readers[0].health().last_error or "")
        assert readers[1].health().frames_read >= frozen_at + 10  # the other camera kept flowing
        assert readers[1].health().state is CameraState.STREAMING
    finally:
        hung.thaw()
        for reader in readers:
            reader.stop()
        for reader in readers:
            assert reader.join(10)


@pytest.mark.parametrize("path", ["nope", "cam/extra"])
def test_wrong_path_goes_to_backoff(rtsp_server: Callable[[], RtspServer], path: str) -> None:
    server = rtsp_server()
    url = f"rtsp://127.0.0.1:{server.port}/{path}"
    with pytest.raises(SourceError, match="cannot open") as info:
        _source(url, open_timeout_s=3).open()
    assert info.value.retryable


def test_unknown_host_is_named() -> None:
    with pytest.raises(SourceError, match=r"unknown host 'camera\.invalid'") as info:
        _source("rtsp://user:pw@camera.invalid:554/s").open()
    assert info.value.retryable
    assert "pw" not in str(info.value)


def test_unreachable_url_backs_off_without_crashing(caplog: pytest.LogCaptureFixture) -> None:
    url = f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/cam"
    bus = FrameBus([("dead", 2)])
    reader = _reader("dead", _source(url, open_timeout_s=2), bus)
    with caplog.at_level(logging.INFO):
        reader.start()
        _wait_for(lambda: reader.health().state is CameraState.BACKOFF, 10, "backoff")
        time.sleep(1.5)  # several attempts at 0.2-1 s backoff
        reader.stop()
        assert reader.join(10)
    health = reader.health()
    assert health.reconnects == 0
    assert health.frames_read == 0
    assert "cannot open" in (health.last_error or "")
    assert "s3cret" not in caplog.text
    assert "s3cret" not in (health.last_error or "") + health.source
    assert "admin:***@" in health.source
    assert caplog.text.count("retrying in") >= 2
