"""The pipeline when its gallery's Redis (a real ``redis-server``) is unreachable: at start a
clear error naming the server; during a run the sightings wait, nothing is lost, and they are
matched once the server is back."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from config.schema import GalleryConfig
from roadwatch.cli import main
from roadwatch.events import Sighting
from roadwatch.flow import Flow
from streams import Frame
from tests.roadwatch.test_pipeline import MovingCar
from tests.support import REDIS_SERVER, free_port, make_flow, start_redis


def _images(clip: Path) -> list[npt.NDArray[np.uint8]]:
    capture = cv2.VideoCapture(str(clip))
    images = []
    while True:
        ok, image = capture.read()
        if not ok:
            return images
        images.append(image)


class Gone(MovingCar):
    """The car of :class:`MovingCar` for the first ``until`` frames, then nothing."""

    def __init__(self, until: int) -> None:
        super().__init__()
        self.until = until

    def detect(self, frame: Frame):  # type: ignore[no-untyped-def]
        found = super().detect(frame)
        return found if frame.index < self.until else type(found).empty()


def _pass(flow: Flow, camera: str, images: list[npt.NDArray[np.uint8]]) -> list[Sighting]:
    """One car crossing ``camera`` for 20 frames, then 80 empty frames (its track ends, and its
    camera's clock passes the end by more than the merge gap)."""
    out = []
    for i in range(100):
        sightings, _ = flow.process([Frame(camera, i, i / 20, images[i % len(images)])])
        out += sightings
    return out


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    if not REDIS_SERVER.is_file():
        pytest.skip(f"no redis-server binary at {REDIS_SERVER}")
    return free_port()


def _server(tmp: Path, port: int) -> tuple[Path, subprocess.Popen[bytes], GalleryConfig]:
    """A redis-server persisting into ``tmp/redis``, and a gallery config that gives up at once."""
    folder = tmp / "redis"
    folder.mkdir()
    server = start_redis(port, folder)
    cfg = GalleryConfig(redis_url=f"redis://127.0.0.1:{port}/0", data_dir=tmp / "g", retries=0, timeout_s=0.5)
    return folder, server, cfg


def test_sightings_wait_for_redis_and_are_matched_when_it_returns(
    sample_clip: Path, tmp_path: Path, redis_port: int
) -> None:
    folder, server, cfg = _server(tmp_path, redis_port)
    images = _images(sample_clip)
    flow = make_flow(Gone(until=20), tmp_path, gallery=cfg)
    try:
        first = [s for s in _pass(flow, "a", images) if s.status == "final"]
        assert len(first) == 1
        assert first[0].identity is not None
        server.kill()
        server.wait()
        during = [s for s in _pass(flow, "b", images) if s.status == "final"]
        assert during == []  # the pass ended, its identity is still owed
        server = start_redis(redis_port, folder)  # the same data: the append-only file
        assert flow.owed == 1
        later: list[Sighting] = []
        deadline = time.monotonic() + 30
        while flow.owed and time.monotonic() < deadline:
            later += flow.retry()
            time.sleep(0.1)
        assert flow.owed == 0
        later = [s for s in later + flow.finish() if s.status == "final"]
        assert len(later) == 1
        assert later[0].camera == "b"
        assert later[0].identity == first[0].identity
        assert not later[0].new
        assert later[0].error == ""
    finally:
        flow.close()
        server.kill()
        server.wait()


def test_sightings_still_owed_at_the_end_are_written_with_the_reason(
    sample_clip: Path, tmp_path: Path, redis_port: int
) -> None:
    _, server, cfg = _server(tmp_path, redis_port)
    flow = make_flow(Gone(until=20), tmp_path, gallery=cfg, finish_wait_s=1.0)
    server.kill()
    server.wait()
    try:
        assert [s for s in _pass(flow, "a", _images(sample_clip)) if s.status == "final"] == []
        finals = [s for s in flow.finish() if s.status == "final"]
        assert len(finals) == 1
        assert finals[0].identity is None
        assert f"127.0.0.1:{redis_port}" in finals[0].error
    finally:
        flow.close()


def test_unreachable_gallery_at_start_is_one_line_naming_the_server(
    sample_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"gallery: {{redis_url: 'redis://:pw@127.0.0.1:{port}/0', retries: 0, timeout_s: 0.5}}\n")
    assert (
        main(["replay", str(sample_clip), "--config", str(cfg), "--events", str(tmp_path / "e.jsonl")]) == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"127.0.0.1:{port}" in err
    assert "pw" not in err
    assert "Traceback" not in err


def _servers_in(folder: Path) -> list[int]:
    """Redis servers running with ``folder`` as their data folder (their working directory)."""
    import psutil

    found = []
    for process in psutil.process_iter(["name"]):
        try:
            if process.info["name"] == "redis-server" and Path(process.cwd()).resolve() == folder.resolve():
                found.append(process.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_the_embedded_redis_stops_when_the_command_ends(sample_clip: Path, tmp_path: Path) -> None:
    # the alert engine's thread and the pipeline share the client's pool, so at exit the pool
    # holds several idle connections; the embedded server used to count them and stay up, orphaned
    import sys

    data = tmp_path / "g"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"gallery: {{data_dir: {data}}}\n")
    argv = [sys.executable, "-m", "roadwatch", "replay", str(sample_clip), "--config", str(cfg), "--json"]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert (data / "gallery.rdb").exists()  # the server saved before it stopped
    deadline = time.monotonic() + 10
    while _servers_in(data) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _servers_in(data) == []
