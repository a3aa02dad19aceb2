"""Shared fixtures: a real RTSP server (gst-rtsp-server) and a small generated clip."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.clips import write_sample_video
from tests.support import RtspServer, free_port
from tests.synth_world import TINY


@pytest.fixture
def rtsp_server() -> Iterator[Callable[[], RtspServer]]:
    """Factory of started RTSP servers on free ports; all are killed after the test."""
    servers: list[RtspServer] = []

    def make() -> RtspServer:
        server = RtspServer(free_port()).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.kill()


@pytest.fixture(scope="session")
def sample_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 40-frame 160x96 mp4 at 20 fps."""
    path = tmp_path_factory.mktemp("clip") / "sample.mp4"
    return write_sample_video(path, frames=40, size=(160, 96), fps=20.0, seed=1)


@pytest.fixture(scope="session")
def tiny_scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "tiny.yaml"
    path.write_text(TINY)
    return path
