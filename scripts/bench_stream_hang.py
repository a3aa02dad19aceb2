"""Measure how long a reader takes to notice a frozen RTSP camera, per read timeout.

Run from the repository root after `scripts/dev test` set up the RTSP test server:

    .venv/bin/python scripts/bench_stream_hang.py [--json]

It freezes a real gst-rtsp-server with SIGSTOP mid-stream and times the reader's change
from `streaming` to `backoff`. Prints one line per timeout and, with --json, a JSON object
``{"read_timeout_s": [...], "noticed_after_s": [...]}`` as the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streams import Backoff, CameraReader, CameraState, FrameBus, StreamSource
from tests.support import RtspServer, free_port


def noticed_after(read_timeout_s: float) -> float:
    server = RtspServer(free_port()).start()
    source = StreamSource(server.url, open_timeout_s=5, read_timeout_s=read_timeout_s, transport="tcp")
    backoff = Backoff(initial_s=0.5, max_s=1.0, multiplier=2.0, jitter=0.0)
    reader = CameraReader(camera_id="bench", source=source, bus=FrameBus([("bench", 4)]), backoff=backoff)
    reader.start()
    try:
        while reader.health().frames_read < 5:
            time.sleep(0.05)
        server.freeze()
        started = time.monotonic()
        while reader.health().state is CameraState.STREAMING:
            time.sleep(0.01)
        return time.monotonic() - started
    finally:
        server.thaw()
        reader.stop()
        reader.join(10)
        server.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeouts", type=float, nargs="+", default=[1.5, 3.0, 5.0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = []
    for timeout in args.timeouts:
        took = noticed_after(timeout)
        results.append(took)
        print(f"read_timeout_s={timeout:g}: hang noticed after {took:.2f} s")
    if args.json:
        print(
            json.dumps({"read_timeout_s": args.timeouts, "noticed_after_s": [round(t, 3) for t in results]})
        )


if __name__ == "__main__":
    main()
