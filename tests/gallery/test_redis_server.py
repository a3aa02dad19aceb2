"""The gallery against a separate ``redis-server`` process reached by a ``redis://`` URL with a
password: killed mid-write (nothing half-written, a clear error, nothing lost once it is back),
and unreachable (a clear error naming the server, no traceback)."""

from __future__ import annotations

import multiprocessing
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from config.schema import GalleryConfig
from gallery.connect import open_gallery, open_redis
from gallery.store import LIBRARIES, GalleryStore, GalleryUnavailableError
from tests.support import REDIS_SERVER as SERVER
from tests.support import free_port as _free_port
from tests.support import start_redis

PASSWORD = "s3cret-pw"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    if not SERVER.is_file():
        pytest.skip(f"no redis-server binary at {SERVER}")
    port = _free_port()
    process = start_redis(port, tmp_path, PASSWORD)
    yield port, tmp_path
    process.kill()
    process.wait()
    subprocess.run(["pkill", "-f", f"redis-server 127.0.0.1:{port}"], check=False)


def _cfg(port: int, tmp: Path, **extra: object) -> GalleryConfig:
    return GalleryConfig(
        redis_url=f"redis://127.0.0.1:{port}/0",
        password=PASSWORD,
        namespace="k",
        data_dir=tmp / "local",
        **extra,
    )


def _writer(port: int, tmp: str, count: int, written: object) -> None:
    """Enrol ``count`` vehicles one by one, counting the enrolments Redis acknowledged."""
    cfg = _cfg(port, Path(tmp), retries=0, timeout_s=1.0)
    gallery = open_gallery(cfg, index_dir=None)
    rng = np.random.default_rng(0)
    from gallery.store import Sighting

    for i in range(count):
        v, p = rng.normal(size=128), rng.normal(size=128)
        v, p = v / np.linalg.norm(v), p / np.linalg.norm(p)
        fused = np.concatenate([v, p]) / np.sqrt(2)
        try:
            gallery.match({"vehicle": v, "plate": p, "fusion": fused}, Sighting("c1", float(i)))
        except GalleryUnavailableError:
            return
        written.value = i + 1  # type: ignore[attr-defined]


def test_killed_mid_write_leaves_no_partial_identity(server: tuple[int, Path]) -> None:
    port, tmp = server
    ctx = multiprocessing.get_context("spawn")
    written = ctx.Value("i", 0)
    writer = ctx.Process(target=_writer, args=(port, str(tmp), 100_000, written))
    writer.start()
    client = redis.Redis(port=port, password=PASSWORD)
    deadline = time.time() + 60
    while int(client.get("k:g1:next") or 0) < 300 and time.time() < deadline:
        time.sleep(0.05)
    subprocess.run(["pkill", "-9", "-f", f"redis-server 127.0.0.1:{port}"], check=True)  # mid-write
    writer.join(30)
    assert writer.exitcode == 0  # the writer got a clear error, no traceback
    acknowledged = written.value
    process = start_redis(port, tmp, PASSWORD)  # same folder: the append-only file is replayed
    try:
        store = GalleryStore(redis.Redis(port=port, password=PASSWORD), namespace="k")
        ids = store.identities()
        assert len(ids) >= acknowledged > 0  # every acknowledged enrolment survived
        for identity in ids:
            record = store.record(identity)
            assert record["first_camera"] == "c1"
            for library in LIBRARIES:
                assert store.exemplars(library, identity).shape[0] == 1  # whole: record and all exemplars
        orphans = [
            k for k in store.client.scan_iter("k:g1:ex:*") if int(k.decode().rsplit(":", 1)[1]) not in ids
        ]
        assert orphans == []
        assert store.last_id() == max(ids)
    finally:
        process.kill()
        process.wait()


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    port = _free_port()  # nothing listens here
    cfg = _cfg(port, tmp_path, retries=2, retry_cap_s=0.05, timeout_s=0.5)
    with pytest.raises(GalleryUnavailableError, match=rf"cannot reach redis://127\.0\.0\.1:{port}/0"):
        open_redis(cfg)


def test_a_wrong_password_is_a_clear_error(server: tuple[int, Path]) -> None:
    port, tmp = server
    cfg = GalleryConfig(redis_url=f"redis://127.0.0.1:{port}/0", password="wrong", data_dir=tmp)
    with pytest.raises(GalleryUnavailableError, match="cannot reach") as caught:
        open_redis(cfg)
    assert "wrong" not in str(caught.value)


def test_the_embedded_server_keeps_its_data_in_the_data_dir(tmp_path: Path) -> None:
    cfg = GalleryConfig(data_dir=tmp_path / "var")
    gallery = open_gallery(cfg)
    rng = np.random.default_rng(1)
    v = rng.normal(size=128)
    from gallery.store import Sighting

    made = gallery.match({"vehicle": v}, Sighting("c9", 1.0))
    gallery.store.client.shutdown(save=True)
    assert (tmp_path / "var" / "gallery.rdb").is_file()
    again = open_gallery(cfg)
    assert again.match({"vehicle": v}, Sighting("c9", 2.0)).identity == made.identity
    again.store.client.shutdown(save=True)


def test_a_follower_rides_out_a_lost_server(
    server: tuple[int, Path], caplog: pytest.LogCaptureFixture
) -> None:
    from gallery.store import Sighting

    port, tmp = server
    cfg = _cfg(port, tmp, retries=0, timeout_s=0.5, follow_s=0.005)
    rng = np.random.default_rng(2)

    def enrol(gallery: object, count: int) -> None:
        for i in range(count):
            v = rng.normal(size=128)
            gallery.match({"vehicle": v / np.linalg.norm(v)}, Sighting("c1", float(i)))  # type: ignore[attr-defined]

    def wait_for(gallery: object, count: int) -> int:
        deadline = time.time() + 20
        while len(gallery.indexes["vehicle"]) < count and time.time() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.02)
        return len(gallery.indexes["vehicle"])  # type: ignore[attr-defined]

    follower = open_gallery(cfg, index_dir=None)
    follower.follow()
    try:
        enrol(open_gallery(cfg, index_dir=None), 5)
        assert wait_for(follower, 5) == 5
        subprocess.run(["pkill", "-9", "-f", f"redis-server 127.0.0.1:{port}"], check=True)
        time.sleep(0.5)
        assert follower._follower is not None
        assert follower._follower.is_alive()  # no exception ended the thread
        warnings = [r.getMessage() for r in caplog.records if "gallery follower" in r.getMessage()]
        assert len(warnings) == 1  # said once, not every 5 ms
        assert f"lost Redis at 127.0.0.1:{port}" in warnings[0]
        process = start_redis(port, tmp, PASSWORD)  # back, with its append-only file
        try:
            enrol(open_gallery(cfg, index_dir=None), 3)
            assert wait_for(follower, 8) == 8  # caught up once the server answered again
        finally:
            process.kill()
            process.wait()
    finally:
        follower.close()
