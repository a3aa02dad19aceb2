"""Alert delivery: JSON lines, webhooks (retries with backoff and jitter, then a disk spool,
delivered in order) and MQTT. Each network sink runs on its own thread: ``submit`` never waits
on the network, and a slow receiver holds up only its own sink.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from pathlib import Path
from typing import IO, Any, Protocol

from alerts.schema import Alert

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Roadwatch-Signature"
ID_HEADER = "X-Roadwatch-Alert-Id"


class AlertSink(Protocol):
    """Somewhere alerts go."""

    name: str

    def submit(self, alert: Alert) -> None:
        """Hand one alert over (never waits on the network)."""
        ...

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what can be delivered within ``timeout_s``, keep the rest (spool), stop."""
        ...

    def stats(self) -> dict[str, int]:
        """Counters: delivered, failures, and the sink's own."""
        ...


class JsonlAlertSink:
    """Appends alerts to a JSON-lines file, flushed after each. A write that fails (a full
    disk) is counted and logged; the other sinks go on."""

    def __init__(self, path: Path) -> None:
        self.name = f"jsonl {path}"
        self.path = Path(path)
        self.delivered = 0
        self.failures = 0
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._closed = False
        try:  # checked at start; the file itself appears with the first alert
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and not os.access(self.path, os.W_OK):
                raise PermissionError(13, "permission denied")
            if not os.access(self.path.parent, os.W_OK):
                raise PermissionError(13, "folder not writable")
        except OSError as exc:
            raise OSError(f"{self.path}: cannot write alerts: {exc.strerror or exc}") from None

    def submit(self, alert: Alert) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                if self._file is None:
                    self._file = self.path.open("a", encoding="utf-8")
                self._file.write(alert.to_json() + "\n")
                self._file.flush()
                self.delivered += 1
            except OSError as exc:
                self.failures += 1
                log.warning("%s: alert %s not written: %s", self.path, alert.id, exc.strerror or exc)

    def close(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            self._closed = True
            if self._file is not None:
                try:
                    self._file.close()
                except OSError as exc:
                    log.warning("%s: %s", self.path, exc.strerror or exc)
                self._file = None

    def stats(self) -> dict[str, int]:
        return {"delivered": self.delivered, "failures": self.failures}


class Spool:
    """Alerts waiting on disk, in order: a JSON-lines file and the count of lines already
    delivered beside it (``NAME.jsonl``, ``NAME.done``), so a restart resumes where it stopped.

    Args:
        path: The spool file (its folder is created).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.done_path = self.path.with_suffix(".done")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lines: deque[str] = deque()
        if self.path.exists():
            lines = [line for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
            done = int(self.done_path.read_text() or 0) if self.done_path.exists() else 0
            self._lines.extend(lines[done:])
            self._done = done
        else:
            self._done = 0

    def __len__(self) -> int:
        return len(self._lines)

    def append(self, alert: Alert) -> None:
        """Write one alert at the end (raises ``OSError`` when the disk refuses)."""
        line = alert.to_json()
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
        self._lines.append(line)

    def head(self) -> Alert:
        """The oldest waiting alert."""
        return Alert.from_dict(json.loads(self._lines[0]))

    def pop(self) -> None:
        """Mark the oldest as delivered; an emptied spool is truncated."""
        self._lines.popleft()
        self._done += 1
        if not self._lines:
            self.path.write_text("", encoding="utf-8")
            self.done_path.unlink(missing_ok=True)
            self._done = 0
        else:
            self.done_path.write_text(str(self._done))


class WebhookSink:
    """POSTs each alert as JSON to ``url``, one at a time and in order.

    A failed POST (connection refused or closed, a timeout, a 5xx, 408 or 429) is retried with
    exponential backoff (``backoff_s`` doubling up to ``max_backoff_s``, ±25 % jitter). After
    ``retries`` failed retries the receiver counts as down: the waiting alerts, and every new one
    until the spool is empty again, go to the disk spool, and the oldest keeps being retried at
    ``max_backoff_s``; once one gets through, the spool is delivered in order. A 4xx other than
    408/429 is the receiver refusing that alert: it is counted as ``rejected`` and skipped.
    With ``secret``, the header ``X-Roadwatch-Signature: sha256=<hex HMAC-SHA256 of the body>``
    lets the receiver check the sender; ``X-Roadwatch-Alert-Id`` carries the alert id.

    Args:
        url: The receiver.
        spool_path: The disk spool for this receiver.
        secret: HMAC key, or None for no signature.
        timeout_s: Per request.
        retries: Retries before the receiver counts as down.
        queue_size: Alerts held in memory before new ones go to the spool.
    """

    def __init__(
        self,
        url: str,
        spool_path: Path,
        *,
        secret: str | None = None,
        timeout_s: float = 5.0,
        retries: int = 3,
        queue_size: int = 1000,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
    ) -> None:
        self.name = f"webhook {url}"
        self.url = url
        self.secret = secret.encode() if secret else None
        self.timeout_s = timeout_s
        self.retries = retries
        self.queue_size = queue_size
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.spool = Spool(spool_path)
        self.delivered = self.failures = self.rejected = self.spooled = self.lost = 0
        self._memory: deque[Alert] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._deadline = float("inf")
        self._random = random.Random()
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self._thread.start()

    def submit(self, alert: Alert) -> None:
        with self._cond:
            if len(self.spool) or len(self._memory) >= self.queue_size:
                self._to_spool(alert)
            else:
                self._memory.append(alert)
            self._cond.notify()

    def close(self, timeout_s: float = 10.0) -> None:
        with self._cond:
            self._closing = True
            self._deadline = time.monotonic() + timeout_s
            self._cond.notify()
        self._thread.join()
        with self._cond:  # what could not be delivered in time waits on disk for the next start
            while self._memory:
                self._to_spool(self._memory.popleft())

    def stats(self) -> dict[str, int]:
        return {
            "delivered": self.delivered,
            "failures": self.failures,
            "rejected": self.rejected,
            "spooled": self.spooled,
            "waiting": len(self.spool) + len(self._memory),
            "lost": self.lost,
        }

    def _to_spool(self, alert: Alert) -> None:
        try:
            self.spool.append(alert)
            self.spooled += 1
        except OSError as exc:  # a full disk: keep it in memory rather than lose it
            self.failures += 1
            log.warning("%s: cannot spool alert %s (%s); kept in memory", self.spool.path, alert.id, exc)
            self._memory.append(alert)

    def _next(self) -> Alert | None:
        """The oldest waiting alert (spool first), waiting for one; None when closing."""
        with self._cond:
            while not len(self.spool) and not self._memory:
                if self._closing:
                    return None
                self._cond.wait()
            return self.spool.head() if len(self.spool) else self._memory[0]

    def _done(self, alert: Alert) -> None:
        with self._cond:
            if len(self.spool) and self.spool.head().id == alert.id:
                self.spool.pop()
            elif self._memory and self._memory[0].id == alert.id:
                self._memory.popleft()

    def _run(self) -> None:
        while (alert := self._next()) is not None:
            tries, delay = 0, self.backoff_s
            while True:
                outcome = self._post(alert)
                if outcome in ("ok", "rejected"):
                    self._done(alert)
                    break
                self.failures += 1
                tries += 1
                if tries == self.retries + 1:
                    with self._cond:  # the receiver is down: what waits goes to disk, in order
                        if self._memory:
                            log.warning("%s: down; spooling to %s", self.url, self.spool.path)
                        while self._memory:
                            self._to_spool(self._memory.popleft())
                if self._closing and time.monotonic() >= self._deadline:
                    return
                pause = min(delay, self.max_backoff_s) * self._random.uniform(0.75, 1.25)
                with self._cond:
                    if self._closing:
                        pause = min(pause, max(0.0, self._deadline - time.monotonic()))
                    self._cond.wait(pause)
                delay *= 2
                if len(self.spool) and self.spool.head().id != alert.id:
                    break  # an older alert was spooled ahead of it: start from the spool's head

    def _post(self, alert: Alert) -> str:
        body = alert.to_json().encode()
        headers = {"Content-Type": "application/json", ID_HEADER: alert.id, "User-Agent": "roadwatch"}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
            self.delivered += 1
            return "ok"
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                self.rejected += 1
                log.warning("%s: refused alert %s with HTTP %d; skipped", self.url, alert.id, exc.code)
                return "rejected"
            log.warning("%s: HTTP %d for alert %s; retrying", self.url, exc.code, alert.id)
        except (OSError, ValueError) as exc:  # refused, reset, closed, timed out
            log.warning("%s: alert %s not delivered (%s); retrying", self.url, alert.id, _reason(exc))
        return "retry"


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc) or type(exc).__name__


class MqttSink:
    """Publishes alerts to an MQTT broker with paho-mqtt, QoS 1, in the spirit of Frigate's
    topics: ``<prefix>/alerts`` carries ``{"type": "new", "after": <alert>}`` for every alert,
    ``<prefix>/<camera>/alerts`` the same per camera, and ``<prefix>/available`` is ``online``
    while connected (``offline`` as the last will).

    A broker that is down at start or goes away is reconnected to in the background; alerts
    wait in order (up to ``queue_size``; beyond that the oldest are dropped and counted).

    Args:
        host, port: The broker.
        prefix: Topic prefix.
        client_id: MQTT client id.
        username, password: Credentials, or None.
        queue_size: Alerts held while the broker is away.
    """

    def __init__(
        self,
        host: str,
        port: int = 1883,
        *,
        prefix: str = "roadwatch",
        client_id: str = "roadwatch",
        username: str | None = None,
        password: str | None = None,
        queue_size: int = 10_000,
        timeout_s: float = 5.0,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.name = f"mqtt {host}:{port}"
        self.prefix = prefix.rstrip("/")
        self.timeout_s = timeout_s
        self.delivered = self.failures = self.lost = 0
        self._queue: deque[Alert] = deque()
        self.queue_size = queue_size
        self._cond = threading.Condition()
        self._closing = False
        self._deadline = float("inf")
        self._connected = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            client.username_pw_set(username, password)
        client.will_set(f"{self.prefix}/available", "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self.client = client
        client.connect_async(host, port, keepalive=30)
        client.loop_start()
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self._thread.start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not getattr(reason, "is_failure", False):
            client.publish(f"{self.prefix}/available", "online", qos=1, retain=True)
            self._connected.set()
            with self._cond:
                self._cond.notify()
        else:
            log.warning("%s: connection refused: %s", self.name, reason)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._connected.clear()
        if not self._closing:
            log.warning("%s: disconnected (%s); reconnecting", self.name, reason)

    def submit(self, alert: Alert) -> None:
        with self._cond:
            if len(self._queue) >= self.queue_size:
                self._queue.popleft()
                self.lost += 1
                log.warning("%s: queue full; oldest alert dropped", self.name)
            self._queue.append(alert)
            self._cond.notify()

    def close(self, timeout_s: float = 10.0) -> None:
        with self._cond:
            self._closing = True
            self._deadline = time.monotonic() + timeout_s
            self._cond.notify()
        self._thread.join()
        if self._connected.is_set():
            offline = self.client.publish(f"{self.prefix}/available", "offline", qos=1, retain=True)
            offline.wait_for_publish(1.0)
        self.client.disconnect()
        self.client.loop_stop()
        self.lost += len(self._queue)

    def stats(self) -> dict[str, int]:
        waiting = len(self._queue)
        return {"delivered": self.delivered, "failures": self.failures, "lost": self.lost, "waiting": waiting}

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue or not self._connected.is_set():
                    if self._closing and (not self._queue or time.monotonic() >= self._deadline):
                        return
                    self._cond.wait(0.2 if self._closing else 1.0)
                alert = self._queue[0]
            if self._publish(alert):
                with self._cond:
                    self._queue.popleft()
                self.delivered += 1
            else:
                self.failures += 1
                time.sleep(0.2)

    def _publish(self, alert: Alert) -> bool:
        payload = json.dumps({"type": "new", "after": alert.to_dict()}, ensure_ascii=False)
        try:
            for topic in (f"{self.prefix}/alerts", f"{self.prefix}/{alert.camera}/alerts"):
                info = self.client.publish(topic, payload, qos=1)
                info.wait_for_publish(self.timeout_s)
                if not info.is_published():
                    return False
            return True
        except (RuntimeError, ValueError, OSError) as exc:
            log.warning("%s: alert %s not published (%s); retrying", self.name, alert.id, exc)
            return False
