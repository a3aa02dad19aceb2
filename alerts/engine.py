"""The alert engine: a consumer of the sighting stream that runs the rules and hands alerts to
the sinks, on its own thread, off the video path.

It reads ``<namespace>:events`` (the Redis stream every worker's pipeline appends its events
to) from where it last stopped, so it sees every camera of every worker. Each alert is stored
once under ``<namespace>:alert:<id>`` (``SET NX``): an alert raised again, after a restart that
re-reads the stream to rebuild the rules' state, is not delivered twice. New alerts are added to
the stream ``<namespace>:alerts`` and handed to every sink.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from alerts.delivery import AlertSink
from alerts.rules import TollRule, WatchRule
from alerts.schema import Alert
from alerts.watchlist import Watchlist, WatchlistError, WatchlistStore

log = logging.getLogger(__name__)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class AlertEngine:
    """Runs the rules over the sighting stream and delivers what they raise.

    Args:
        client: A connected ``redis.Redis``.
        namespace: Key prefix (the gallery's).
        toll: The toll/escape rule, or None.
        watch: The watchlist rule, or None; its entries are reloaded from ``watchlist`` after
            every change.
        watchlist: The shared watchlist in Redis, or None.
        sinks: Where alerts go.
        rebuild_s: On start, how far before the saved position to re-read the stream so the
            rules' windows are full again (at least the longest rule window).
        keep_s: How long an alert's record (and its dedup key) is kept in Redis.
        stream_max_len: Entries ``<namespace>:alerts`` keeps.
        on_alert: Called with each new alert (printing), on the engine's thread.
    """

    def __init__(
        self,
        client: Any,
        namespace: str,
        *,
        toll: TollRule | None,
        watch: WatchRule | None,
        watchlist: WatchlistStore | None,
        sinks: Sequence[AlertSink],
        rebuild_s: float = 600.0,
        keep_s: float = 30 * 86400,
        stream_max_len: int = 100_000,
        on_alert: Callable[[Alert], None] | None = None,
        block_ms: int = 100,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.events_key = f"{namespace}:events"
        self.alerts_key = f"{namespace}:alerts"
        self.cursor_key = f"{namespace}:alerts:cursor"
        self.toll = toll
        self.watch = watch
        self.watchlist = watchlist
        self.sinks = tuple(sinks)
        self.keep_s = keep_s
        self.stream_max_len = stream_max_len
        self.on_alert = on_alert
        self.block_ms = block_ms
        self.sightings = 0
        self.alerts = 0
        self.repeats = 0
        self.errors = 0
        self._watch_version = -1
        self._stop = threading.Event()
        self._drain_to: str | None = None
        self._cursor = self._start_id(rebuild_s)
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)

    def start(self) -> AlertEngine:
        """Start reading on the engine's thread."""
        self._reload_watchlist()
        self._thread.start()
        return self

    def close(self, timeout_s: float = 10.0) -> None:
        """Handle every event already in the stream, then stop and close the sinks (each
        delivering what it can within ``timeout_s``; webhooks spool the rest)."""
        if self._thread.is_alive():
            try:
                self._drain_to = self._last_id() or "0-0"
            except Exception as exc:  # Redis gone: stop where we are
                log.warning("alerts: cannot read %s to finish (%s)", self.events_key, exc)
                self._drain_to = "0-0"
            self._thread.join(timeout_s + 5.0)
            self._stop.set()
            self._thread.join()
        for sink in self.sinks:
            sink.close(timeout_s)

    def stats(self) -> dict[str, Any]:
        """Counters of the engine and of each sink."""
        return {
            "sightings": self.sightings,
            "alerts": self.alerts,
            "repeats": self.repeats,
            "errors": self.errors,
            "sinks": {s.name: s.stats() for s in self.sinks},
        }

    def _last_id(self) -> str | None:
        last = self.client.xrevrange(self.events_key, count=1)
        return _text(last[0][0]) if last else None

    def _start_id(self, rebuild_s: float) -> str:
        """Where reading starts: ``rebuild_s`` before the saved position, else the stream's end."""
        try:
            saved = self.client.get(self.cursor_key)
            if saved is not None:
                ms = int(_text(saved).split("-")[0]) - int(rebuild_s * 1000)
                return f"{max(0, ms)}-0"
            return self._last_id() or "0-0"
        except Exception as exc:
            log.warning("alerts: cannot read %s (%s); starting at its end", self.cursor_key, exc)
            return "$"

    def _reload_watchlist(self) -> None:
        if self.watchlist is None or self.watch is None:
            return
        try:
            version = self.watchlist.version()
            if version != self._watch_version:
                self.watch.replace(Watchlist(self.watchlist.entries(), partial=self.watch.watchlist.partial))
                self._watch_version = version
        except WatchlistError as exc:
            self.errors += 1
            log.warning("alerts: watchlist not reloaded: %s", exc)
        except Exception as exc:
            self.errors += 1
            log.warning("alerts: cannot read the watchlist (%s)", exc)

    def _run(self) -> None:
        delay = 0.1
        last_reload = 0.0
        while not self._stop.is_set():
            if time.monotonic() - last_reload > 1.0:
                self._reload_watchlist()
                last_reload = time.monotonic()
            try:
                batch = self.client.xread({self.events_key: self._cursor}, count=200, block=self.block_ms)
                delay = 0.1
            except Exception as exc:
                self.errors += 1
                log.warning("alerts: cannot read %s (%s); retrying in %.1f s", self.events_key, exc, delay)
                self._stop.wait(delay)
                delay = min(5.0, delay * 2)
                continue
            entries = batch[0][1] if batch else []
            for entry_id, fields in entries:
                self._handle(fields)
                self._cursor = _text(entry_id)
            if entries:
                self._save_cursor()
            if self._drain_to is not None and not entries and _id_at_or_after(self._cursor, self._drain_to):
                return

    def _save_cursor(self) -> None:
        try:
            self.client.set(self.cursor_key, self._cursor)
        except Exception as exc:
            log.warning("alerts: cannot save the stream position (%s)", exc)

    def _handle(self, fields: dict[Any, Any]) -> None:
        values = {_text(k): v for k, v in fields.items()}
        if _text(values.get("kind", "")) != "sighting":
            return
        try:
            event = json.loads(_text(values["event"]))
        except (KeyError, ValueError):
            self.errors += 1
            log.warning("alerts: a stream entry that is not a sighting event: %r", values)
            return
        if event.get("status") != "final":
            return
        self.sightings += 1
        raised: list[Alert] = []
        for rule in (self.toll, self.watch):
            if rule is not None:
                try:
                    raised += rule.observe(event)
                except (KeyError, TypeError, ValueError) as exc:
                    self.errors += 1
                    log.warning("alerts: sighting %s not checked: %s", event.get("id"), exc)
        for alert in raised:
            self._deliver(alert)

    def _deliver(self, alert: Alert) -> None:
        line = alert.to_json()
        try:
            fresh = self.client.set(
                f"{self.namespace}:alert:{alert.id}", line, nx=True, px=int(self.keep_s * 1000)
            )
            if not fresh:
                self.repeats += 1
                return
            self._keep_snapshots(alert)
            self.client.xadd(
                self.alerts_key,
                {"id": alert.id, "kind": alert.kind, "alert": line},
                maxlen=self.stream_max_len,
                approximate=True,
            )
        except Exception as exc:  # Redis away: deliver anyway, a repeat beats a loss
            self.errors += 1
            log.warning("alerts: alert %s not recorded in Redis (%s); delivering it", alert.id, exc)
        self.alerts += 1
        if self.on_alert is not None:
            self.on_alert(alert)
        for sink in self.sinks:
            sink.submit(alert)

    def _keep_snapshots(self, alert: Alert) -> None:
        """Spare the snapshots of the alert's sightings from retention while the alert is kept."""
        until = time.time() + self.keep_s
        ids = [str(alert.sighting.get("id"))]
        entry = alert.rule.get("entry")
        if alert.kind == "escape" and isinstance(entry, dict) and entry.get("id"):
            ids.append(str(entry["id"]))
        self.client.hset(kept_key(self.namespace), mapping=dict.fromkeys(ids, f"{until:.0f}"))


def kept_key(namespace: str) -> str:
    """The hash of sighting id → Unix time until which an alert keeps its snapshots."""
    return f"{namespace}:snapshots:kept"


def kept_sightings(client: Any, namespace: str, now: float | None = None) -> set[str]:
    """Sighting ids whose snapshots an alert still needs (expired marks are removed)."""
    now = time.time() if now is None else now
    marks = {_text(k): float(_text(v)) for k, v in client.hgetall(kept_key(namespace)).items()}
    expired = [k for k, until in marks.items() if until < now]
    if expired:
        client.hdel(kept_key(namespace), *expired)
    return {k for k, until in marks.items() if until >= now}


def _id_at_or_after(a: str, b: str) -> bool:
    """Stream id ``a`` >= ``b`` (``$``, the end, is after everything)."""
    if a == "$":
        return True
    ma, sa = (int(x) for x in a.split("-"))
    mb, sb = (int(x) for x in b.split("-"))
    return (ma, sa) >= (mb, sb)
