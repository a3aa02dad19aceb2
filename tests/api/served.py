"""The served site the API and dashboard tests share (see conftest.py for how it starts)."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

TOKEN = "test-token-3f9a"
SECONDS = 20  # long enough for vehicles to reach a second camera


@dataclass(frozen=True)
class Served:
    url: str
    token: str
    run: Path  # the demo's run folder
    world: Path  # the demo's rendered world
    log: Path  # the server's stderr

    def client(self, token: str | None = TOKEN, headers: dict[str, str] | None = None) -> httpx.Client:
        sent = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.Client(base_url=self.url, headers=sent | (headers or {}), timeout=60.0)

    def finals(self) -> list[dict[str, Any]]:
        """The demo's final sightings (from its event log)."""
        lines = (self.run / "events.jsonl").read_text().splitlines()
        events = [json.loads(line) for line in lines]
        return [e for e in events if e["kind"] == "sighting" and e["status"] == "final"]


def two_camera_identity(served: Served) -> int:
    """An identity the demo saw at two or more cameras."""
    cameras: dict[int, set[str]] = {}
    for sighting in served.finals():
        if sighting["identity"] is not None:
            cameras.setdefault(sighting["identity"], set()).add(sighting["camera_id"])
    wide = sorted(i for i, c in cameras.items() if len(c) >= 2)
    assert wide, "the demo run has no identity seen at two cameras"
    return wide[0]


def wait_ready(url: str, process: subprocess.Popen[Any], timeout_s: float) -> bool:
    """Whether ``url``'s ``/api/ready`` answered 200 before ``process`` ended or time ran out."""
    deadline = time.monotonic() + timeout_s
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/ready", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False
