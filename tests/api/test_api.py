"""The HTTP API of a real ``roadwatch serve`` process: tokens, sightings, identities, snapshots,
search, watchlist, live events, metrics, and bad input."""

from __future__ import annotations

import io
import json
import threading
import time
import zlib
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image

from tests.api.served import TOKEN, Served, two_camera_identity

SAMPLE_PATH_VALUES = {
    "camera": "entry",
    "sighting_id": "0123456789abcdef",
    "identity": "1",
    "entry": "x1",
    "path": "entry/a.jpg",
}


def _routes(served: Served) -> list[tuple[str, str]]:
    schema = httpx.get(f"{served.url}/api/openapi.json").json()
    out = []
    for path, item in schema["paths"].items():
        for method in item:
            concrete = path
            for name, value in SAMPLE_PATH_VALUES.items():
                concrete = concrete.replace("{" + name + "}", value)
            out.append((method.upper(), concrete))
    return out


def test_health_and_metrics_need_no_token(served: Served) -> None:
    assert httpx.get(f"{served.url}/api/health").json()["status"] == "ok"
    ready = httpx.get(f"{served.url}/api/ready")
    assert ready.status_code == 200, ready.text
    metrics = httpx.get(f"{served.url}/metrics")
    assert metrics.status_code == 200
    text = metrics.text
    for name in (
        'roadwatch_camera_fps{camera="entry"}',
        'roadwatch_camera_frames_dropped_total{camera="entry"}',
        'roadwatch_camera_reconnects_total{camera="entry"}',
        'roadwatch_stage_seconds_bucket{le="0.001",stage="detect"}',
        'roadwatch_queue_depth{queue="frames_entry"}',
        "roadwatch_gallery_identities ",
        "roadwatch_alerts_raised_total ",
        "roadwatch_api_stream_clients ",
    ):
        assert name in text, name


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Cookie": "roadwatch_token=wrong-token"},
    ],
    ids=["none", "wrong", "longer", "shorter", "basic-scheme", "wrong-cookie"],
)
def test_every_endpoint_but_health_and_metrics_refuses_a_missing_or_wrong_token(
    served: Served, headers: dict[str, str]
) -> None:
    open_routes = {"/api/health", "/api/ready", "/metrics"}
    checked = 0
    with served.client(None, headers=headers) as client:
        for method, path in _routes(served):
            if path in open_routes:
                continue
            response = client.request(method, path)
            assert response.status_code == 401, (method, path, response.status_code)
            checked += 1
        for path in ("/", "/static/app.js"):  # the dashboard's page and assets too
            assert client.get(path).status_code == 401, path
    assert checked >= 12


def test_the_token_is_taken_from_a_cookie_after_the_dashboard_link(served: Served) -> None:
    with httpx.Client(base_url=served.url, follow_redirects=False) as client:
        assert client.get("/", params={"token": "nope"}).status_code == 401
        opened = client.get("/", params={"token": TOKEN})
        assert opened.status_code == 303
        assert "httponly" in opened.headers["set-cookie"].lower()
        assert client.get("/").status_code == 200  # the cookie now goes along
        assert client.get("/api/cameras").status_code == 200


def test_cameras_report_their_live_state(served: Served) -> None:
    with served.client() as client:
        deadline = time.monotonic() + 60
        while True:
            cameras = client.get("/api/cameras").json()
            if cameras[0]["frame"] is not None:
                break
            assert time.monotonic() < deadline, cameras
            time.sleep(0.5)
        assert [c["id"] for c in cameras] == ["entry"]
        assert cameras[0]["health"]["state"] == "streaming"
        picture = client.get("/api/cameras/entry/frame.jpg")
        assert picture.headers["content-type"] == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(picture.content, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None
        assert image.shape[1] > 0
        tracks = client.get("/api/cameras/entry/tracks").json()
        assert tracks["camera"] == "entry"
        width, height = tracks["size"]  # the frame's own pixels; the picture is at most 960 wide
        assert image.shape[1] == min(width, 960)
        assert abs(image.shape[0] / image.shape[1] - height / width) < 0.01
        assert client.get("/api/cameras/nowhere/frame.jpg").status_code == 404


def test_sightings_page_and_filter(served: Served) -> None:
    finals = served.finals()
    with served.client() as client:
        first = client.get("/api/sightings", params={"limit": 3}).json()
        assert len(first["items"]) == 3
        assert first["next"]
        second = client.get("/api/sightings", params={"limit": 3, "after": first["next"]}).json()
        ids = [s["id"] for s in first["items"] + second["items"]]
        assert len(ids) == len(set(ids))  # no sighting twice across pages
        assert all(s["status"] == "final" for s in first["items"] + second["items"])
        exits = client.get("/api/sightings", params={"camera": "exit", "limit": 500}).json()["items"]
        assert exits
        assert {s["camera"] for s in exits} == {"exit"}
        assert {s["id"] for s in exits} == {e["id"] for e in finals if e["camera_id"] == "exit"}
        plated = next(e for e in finals if len(e["plate_text"]) >= 4)
        by_plate = client.get("/api/sightings", params={"plate": plated["plate_text"][1:4], "limit": 500})
        assert plated["id"] in {s["id"] for s in by_plate.json()["items"]}
        one = client.get(f"/api/sightings/{plated['id']}").json()
        assert one["plate_text"] == plated["plate_text"]
        assert one["camera"] == plated["camera_id"]
        future = client.get("/api/sightings", params={"since": time.time() + 3600}).json()
        assert future == {"items": [], "next": None}


def test_an_identity_shows_its_sightings_across_cameras(served: Served) -> None:
    identity = two_camera_identity(served)
    with served.client() as client:
        found = client.get(f"/api/identities/{identity}").json()
        assert found["identity"] == identity
        assert len(found["cameras"]) >= 2
        assert {s["identity"] for s in found["sightings"]} == {identity}
        urls = [
            s["snapshot_urls"]["vehicle"] for s in found["sightings"] if s["snapshot_urls"].get("vehicle")
        ]
        assert urls
        crop = client.get(urls[0])
        assert crop.status_code == 200
        assert crop.headers["content-type"] == "image/jpeg"
        assert client.get("/api/identities/999999").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/snapshots/../gallery/gallery.rdb",
        "/api/snapshots/..%2Fgallery%2Fgallery.rdb",
        "/api/snapshots/%2E%2E/events.jsonl",
        "/api/snapshots//etc/passwd",
        "/api/snapshots/entry/../../events.jsonl",
        "/api/snapshots/nothing.jpg",
    ],
)
def test_paths_that_leave_the_snapshot_folder_are_refused(served: Served, path: str) -> None:
    with served.client() as client:
        response = client.get(path)
        assert response.status_code == 404, response.text
        assert b"SQLite" not in response.content
        assert b"sighting" not in response.content


def _vehicle_crop(served: Served, identity: int) -> bytes:
    with served.client() as client:
        found = client.get(f"/api/identities/{identity}").json()
        best = max(
            (s for s in found["sightings"] if s["snapshot_urls"].get("vehicle")), key=lambda s: s["quality"]
        )
        return client.get(best["snapshot_urls"]["vehicle"]).content


def test_search_by_image_returns_the_identity_first(served: Served) -> None:
    identity = two_camera_identity(served)
    crop = _vehicle_crop(served, identity)
    with served.client() as client:
        answer = client.post("/api/search", content=crop, headers={"Content-Type": "image/jpeg"})
        assert answer.status_code == 200, answer.text
        found = answer.json()
        assert found["is_vehicle"]
        first = found["vehicles"][0]["results"][0]
        assert first["identity"] == identity
        assert first["snapshot_url"].startswith("/api/snapshots/")


def _png(width: int, height: int) -> bytes:
    """A valid PNG of zeros, written by hand so that a huge one costs a few kB (a bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def _jpeg() -> bytes:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"", "image/jpeg", 400),
        (b"not an image at all", "image/jpeg", 400),
        (_jpeg()[:2000], "image/jpeg", 400),  # truncated
        (_jpeg(), "text/plain", 415),
        (_jpeg(), "application/octet-stream", 415),
        (_png(30_000, 30_000), "image/png", 413),  # a decompression bomb: 900 Mpixel in a few kB
        (_png(4, 4), "image/png", 400),  # too small to search
    ],
    ids=["empty", "garbage", "truncated-jpeg", "text", "octet-stream", "bomb", "tiny"],
)
def test_bad_uploads_get_a_clear_4xx(served: Served, body: bytes, content_type: str, status: int) -> None:
    with served.client() as client:
        response = client.post("/api/search", content=body, headers={"Content-Type": content_type})
        assert response.status_code == status, response.text
        assert response.json()["detail"]
        assert client.get("/api/health").status_code == 200


def test_a_100_mb_upload_is_refused_without_reading_it(served: Served) -> None:
    big = b"\xff" * (100 << 20)
    with served.client() as client:
        response = client.post("/api/search", content=big, headers={"Content-Type": "image/jpeg"})
        assert response.status_code == 413
        assert "limit" in response.json()["detail"]

        def chunks() -> Any:  # no Content-Length: refused while streaming
            for _ in range(100):
                yield b"\xff" * (1 << 20)

        streamed = client.post("/api/search", content=chunks(), headers={"Content-Type": "image/jpeg"})
        assert streamed.status_code == 413
        assert client.get("/api/health").status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 100_000},
        {"identity": -1},
        {"since": -5},
        {"since": 200, "until": 100},
        {"after": "not-a-position"},
        {"status": "maybe"},
    ],
)
def test_query_parameters_out_of_range_get_422(served: Served, query: dict[str, Any]) -> None:
    with served.client() as client:
        response = client.get("/api/sightings", params=query)
        assert response.status_code == 422, response.text
        assert response.json()["detail"]


def test_watchlist_create_read_update_delete(served: Served) -> None:
    with served.client() as client:
        made = client.post("/api/watchlist", json={"match": "plate", "value": "ab 12 cd", "note": "stolen"})
        assert made.status_code == 201, made.text
        entry = made.json()
        assert entry["value"] == "AB12CD"
        assert entry["severity"] == "warning"
        assert client.post("/api/watchlist", json={"match": "plate", "value": "AB12CD"}).status_code == 409
        assert client.get(f"/api/watchlist/{entry['id']}").json() == entry
        changed = client.put(
            f"/api/watchlist/{entry['id']}",
            json={"match": "plate_fuzzy", "value": "AB12CD", "severity": "critical", "max_distance": 1.5},
        ).json()
        assert changed["match"] == "plate_fuzzy"
        assert changed["severity"] == "critical"
        assert entry["id"] in {e["id"] for e in client.get("/api/watchlist").json()}
        assert client.delete(f"/api/watchlist/{entry['id']}").status_code == 204
        assert client.get(f"/api/watchlist/{entry['id']}").status_code == 404
        assert client.delete(f"/api/watchlist/{entry['id']}").status_code == 404


def test_an_invalid_watchlist_regex_is_named(served: Served) -> None:
    with served.client() as client:
        response = client.post(
            "/api/watchlist", json={"id": "bad-one", "match": "plate_regex", "value": "AB[12"}
        )
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert "bad-one" in detail
        assert "regular expression" in detail


def _read_events(response: httpx.Response, want: int, timeout_s: float) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    kind = ""
    deadline = time.monotonic() + timeout_s
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            events.append((kind, json.loads(line[6:])))
            if len(events) >= want:
                break
        if time.monotonic() > deadline:
            break
    return events


def test_live_stream_delivers_sightings_as_they_happen(served: Served) -> None:
    with (
        served.client() as client,
        client.stream("GET", "/api/stream", params={"kinds": "sighting"}) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _read_events(response, 1, 90)
    assert events
    assert events[0][0] == "sighting"
    sighting = events[0][1]
    assert sighting["camera"] == "entry"
    assert len(sighting["id"]) == 16


def test_fifty_stream_clients_and_one_that_disconnects_mid_stream(served: Served) -> None:
    got: list[int] = []
    lock = threading.Lock()

    def listen() -> None:
        with (
            httpx.Client(
                base_url=served.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120
            ) as client,
            client.stream("GET", "/api/stream", params={"kinds": "sighting"}) as response,
        ):
            n = len(_read_events(response, 1, 100))
            with lock:
                got.append(n)

    with served.client() as client, client.stream("GET", "/api/stream") as response:
        next(response.iter_lines())  # one client leaves at once, mid-stream
    threads = [threading.Thread(target=listen) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(150)
    assert got == [1] * 50
    with served.client() as client:
        assert client.get("/api/health").status_code == 200
        deadline = time.monotonic() + 30  # the server notices the closed streams
        while "roadwatch_api_stream_clients 0.0" not in httpx.get(f"{served.url}/metrics").text:
            assert time.monotonic() < deadline
            time.sleep(0.5)
