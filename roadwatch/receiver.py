"""A local webhook receiver: what the demo posts its alerts to when asked (``--receiver``), and
what the delivery tests post to. It records every POST (body, headers, when it arrived), can
answer with a chosen status, and can go down and come back on the same port.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class Received:
    """One POST: its JSON body, headers, and the Unix time it arrived."""

    body: dict[str, Any]
    headers: dict[str, str]
    at: float


class Receiver:
    """An HTTP server on ``127.0.0.1`` that stores the JSON bodies POSTed to it.

    Args:
        port: 0 picks a free port (kept across :meth:`stop` / :meth:`start`).
        secret: When given, a POST whose ``X-Roadwatch-Signature`` is wrong is answered 401.
        status: The status to answer with (a test sets 500 to refuse everything).
    """

    def __init__(self, port: int = 0, *, secret: str | None = None, status: int = 200) -> None:
        self.port = port
        self.secret = secret.encode() if secret else None
        self.status = status
        self.received: list[Received] = []
        self.refused = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self.port}/alerts"

    def start(self) -> Receiver:
        """Listen (again, on the same port after :meth:`stop`)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status = receiver.status
                if receiver.secret is not None:
                    want = "sha256=" + hmac.new(receiver.secret, raw, hashlib.sha256).hexdigest()
                    if not hmac.compare_digest(want, self.headers.get("X-Roadwatch-Signature", "")):
                        status = 401
                if status == 200:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        status = 400
                    else:
                        with receiver._lock:
                            receiver.received.append(Received(body, dict(self.headers.items()), time.time()))
                if status != 200:
                    with receiver._lock:
                        receiver.refused += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening: connections are refused until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def bodies(self) -> list[dict[str, Any]]:
        """Every body received, in order of arrival."""
        with self._lock:
            return [r.body for r in self.received]

    def wait_for(self, count: int, timeout_s: float = 10.0) -> bool:
        """Wait until ``count`` POSTs have arrived."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with self._lock:
                if len(self.received) >= count:
                    return True
            time.sleep(0.02)
        return False
