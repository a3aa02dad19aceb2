"""``roadwatch demo --serve`` and ``roadwatch serve`` as processes: the printed link opens the
dashboard, Ctrl-C stops cleanly, a port already taken is a clear error."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from tests.api.served import wait_ready


def _wait_for_line(process: subprocess.Popen[str], pattern: str, timeout_s: float) -> re.Match[str]:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        found = re.search(pattern, line)
        if found:
            return found
    process.kill()
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(seen)}")


def test_demo_serve_prints_a_working_link_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "roadwatch",
            "demo",
            "--serve",
            "--port",
            "0",
            "--seconds",
            "4",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        link = _wait_for_line(process, r"(http://127\.0\.0\.1:\d+/\?token=\S+)", 300).group(1)
        _wait_for_line(process, r"dashboard still up over the results", 300)  # the run has finished
        base, token = link.split("/?token=")
        with httpx.Client(base_url=base, follow_redirects=True) as client:
            page = client.get("/", params={"token": token})
            assert page.status_code == 200
            assert 'id="view"' in page.text
            sightings = client.get("/api/sightings").json()["items"]  # the cookie carries the token
            assert sightings
            assert client.get("/api/cameras").json()[0]["id"] in {"entry", "gate", "exit"}
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_serve_without_cameras_serves_the_api(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "api.yaml"
    config.write_text(
        yaml.safe_dump({"gallery": {"data_dir": str(tmp_path / "g")}, "api": {"port": port, "token": "t-1"}})
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "roadwatch", "serve", "--config", str(config), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        assert wait_ready(url, process, 60)
        headers = {"Authorization": "Bearer t-1"}
        assert httpx.get(f"{url}/api/cameras", headers=headers).json() == []
        assert httpx.get(f"{url}/api/sightings", headers=headers).json() == {"items": [], "next": None}
        assert httpx.get(f"{url}/api/identities/1", headers=headers).status_code == 404
        taken = subprocess.run(  # a second server on the same port: a clear error, exit 2
            [sys.executable, "-m", "roadwatch", "serve", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert taken.returncode == 2
        assert "cannot listen" in taken.stderr
        assert "Traceback" not in taken.stderr
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
        assert process.returncode == 0
        assert json.loads(out.strip().splitlines()[-1])["url"] == f"{url}/"
    finally:
        if process.poll() is None:
            process.kill()
