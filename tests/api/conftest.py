"""A served site for the API and dashboard tests: a short demo run (its gallery, events and
snapshots), then ``roadwatch serve`` as a real process over the same Redis, with the entry
camera's recording looped as a live camera so that sightings keep arriving."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
import yaml

from roadwatch.app import REID_MODELS
from roadwatch.cli import main
from tests.api.served import SECONDS, TOKEN, Served, wait_ready
from tests.support import free_port


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("served")
    assert main(["demo", "--dir", str(folder), "--seconds", str(SECONDS), "--json"]) == 0
    gc.collect()  # the demo's embedded Redis shuts down; the server starts its own on the same file
    run = folder / "run"
    world = folder / f"toll-road-seed7-{SECONDS}s"
    port = free_port()
    config = {
        "cameras": [
            {
                "id": "entry",
                "kind": "file",
                "path": str(world / "videos" / "entry.mp4"),
                "loop": True,
                "pace": "native",
            }
        ],
        "reid": {
            "vehicle_model": str(REID_MODELS / "toll-road" / "vehicle.onnx"),
            "plate_model": str(REID_MODELS / "toll-road" / "plate.onnx"),
        },
        "gallery": {"data_dir": str(run / "gallery")},
        "outputs": {"events_path": str(run / "events-served.jsonl"), "snapshots_dir": str(run / "snapshots")},
        "alerts": {"jsonl_path": str(run / "alerts-served.jsonl"), "spool_dir": str(run / "spool")},
        "api": {"port": port, "token": TOKEN},
    }
    path = folder / "serve.yaml"
    path.write_text(yaml.safe_dump(config))
    log = folder / "serve.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "roadwatch", "serve", "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    if not wait_ready(url, process, 120):
        process.kill()
        pytest.fail(f"roadwatch serve did not come up:\n{log.read_text()}")
    try:
        yield Served(url, TOKEN, run, world, log)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
