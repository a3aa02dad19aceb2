"""Live-stream clients for ``roadwatch bench api``, run as a process of their own so that their
work is not counted in the served process: ``python -m roadwatch.api.loadgen URL TOKEN N OUT``.

Each of the N clients holds ``/api/stream`` open and counts the events it receives; on SIGTERM
or SIGINT the counts are written to OUT as JSON (``{"clients", "connected", "events"}``).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import httpx


def main(argv: list[str]) -> int:
    url, token, count, out = argv[0], argv[1], int(argv[2]), Path(argv[3])
    stop = threading.Event()
    events = [0] * count
    connected = [False] * count

    def client(n: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        while not stop.is_set():
            try:
                with (
                    httpx.Client(
                        base_url=url, headers=headers, timeout=httpx.Timeout(5.0, read=None)
                    ) as http,
                    http.stream("GET", "/api/stream") as response,
                ):
                    connected[n] = response.status_code == 200
                    for line in response.iter_lines():
                        if line.startswith("data: "):
                            events[n] += 1
                        if stop.is_set():
                            return
            except httpx.HTTPError:
                stop.wait(0.5)

    def finish(_: int, __: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    for n in range(count):
        threading.Thread(target=client, args=(n,), daemon=True).start()
    while not stop.wait(0.2):
        pass
    out.write_text(json.dumps({"clients": count, "connected": sum(connected), "events": events}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
