"""Matching of method 1 (seed 004): fused → fusion library, plate → plate library, vehicle → vehicle library.

A sighting brings the features re-id computed for one vehicle: ``vehicle`` always, and when
the plate was readable also ``plate`` and ``fusion`` (the renormalised concatenation).

**Which library decides** (the method lists three thresholds; the order is ours):

1. A sighting with a plate is compared with the fusion library; cosine > ``fusion_threshold``
   (0.9) → that identity.
2. Otherwise its plate alone is compared with the plate library; cosine > ``plate_threshold``
   → that identity (the same plate seen from another side or in other light, where the fused
   feature moved).
3. A sighting without a plate is compared with the vehicle library; cosine >
   ``vehicle_threshold`` → that identity.

A plated sighting never falls back to the vehicle library: look-alikes (same type and colour)
are common and a read plate that differs is the stronger evidence, so a vehicle-only match
must not merge them. When fusion and plate libraries would disagree, the fusion match wins
(it is checked first and agrees on both features). A matched identity gains the sighting's
features (exemplar policy in ``gallery.store``); no match enrols a new identity in every
library the sighting has features for, atomically and race-free (``GalleryStore.enrol``).
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import redis

from gallery.index import LibraryIndex, use_one_thread
from gallery.store import (
    LIBRARIES,
    TRANSIENT,
    EnrolBatch,
    GalleryStore,
    NewIdentity,
    Sighting,
    record_fields,
    unavailable,
    unpack,
    where,
)

log = logging.getLogger(__name__)
INDEX_LAYOUT = 1
_T = TypeVar("_T")


def _redis_call(method: Callable[..., _T]) -> Callable[..., _T]:
    """Turn a lost Redis connection (after the client's own retries) into GalleryUnavailableError."""

    @functools.wraps(method)
    def wrapper(self: Gallery, *args: Any, **kwargs: Any) -> _T:
        try:
            return method(self, *args, **kwargs)
        except TRANSIENT as exc:
            raise unavailable(where(self.store.client), exc) from None

    return wrapper


@dataclass(frozen=True, slots=True)
class Match:
    """The gallery's answer for one sighting."""

    identity: int
    library: str  # which library decided: fusion, plate or vehicle
    score: float  # cosine with the best exemplar (1.0 for a new identity's own features)
    new: bool


@dataclass(frozen=True, slots=True)
class IndexOptions:
    """How the in-process indexes search (see ``gallery.index``)."""

    nlist: int = 4096
    nprobe: int = 16
    train_at: int = 65536
    sync_interval_s: float = 0.01  # a match reads the change stream when its last read is older
    enrol_sync_s: float = 0.001  # before enrolling, when its last read is older than this
    follow_s: float = 0.005  # how often the follower thread reads the stream (Gallery.follow)


@dataclass(frozen=True, slots=True)
class _Fetched:
    """Stream entries after some position, and what Redis held for the identities they touch
    (per library: ids, then each id's exemplar blob and IVF lists), read without the lock."""

    changes: list[tuple[str, str, int, list[str]]]
    found: dict[str, dict[int, tuple[bytes, str]]]


def _unit(vector: npt.ArrayLike) -> npt.NDArray[np.float32]:
    array = np.asarray(vector, np.float32).reshape(-1)
    norm = float(np.linalg.norm(array))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("features must be finite and not all zero")
    return (array / norm).astype(np.float32)


class Gallery:
    """Match-or-enrol over a :class:`GalleryStore`, with in-process indexes kept in step."""

    def __init__(
        self,
        store: GalleryStore,
        thresholds: dict[str, float] | None = None,
        *,
        index_dir: Path | None = None,
        options: IndexOptions | None = None,
    ) -> None:
        use_one_thread()  # small products on one thread (gallery.index docstring)
        self.store = store
        self.thresholds = thresholds or {"fusion": 0.9, "plate": 0.9, "vehicle": 0.9}
        self.options = options or IndexOptions()
        self.index_dir = index_dir
        self.indexes: dict[str, LibraryIndex] = {}
        self.position = "0-0"
        self._own: set[str] = set()  # positions of our own writes, applied locally already
        self._synced_at = -1e9
        self._foreign_at = -1e9  # when a sync last brought another writer's change
        self.loaded_from = ""  # "saved" or "rebuilt"
        # Guards the indexes, position and _own: matches, syncs and the follower's applying take
        # it; the follower's Redis reads do not (see follow()).
        self._lock = threading.RLock()
        self._dirty: set[int] | None = None  # identities applied here while the follower reads
        self._stop = threading.Event()
        self._follower: threading.Thread | None = None
        self.load()

    # -- loading and keeping in step ---------------------------------------------------------

    def _fresh_indexes(self) -> dict[str, LibraryIndex]:
        o = self.options
        return {
            lib: LibraryIndex(dim, nlist=o.nlist, nprobe=o.nprobe, train_at=o.train_at)
            for lib, dim in LIBRARIES.items()
        }

    @_redis_call
    def load(self) -> None:
        """From the saved index plus the changes after it where it is still usable, else a rebuild.

        Objects alive after loading are moved out of the cyclic garbage collector's scans
        (``gc.freeze``): its full passes over them were the slowest matches' extra milliseconds.
        """
        if self.index_dir is not None and self._load_saved():
            self.loaded_from = "saved"
            self.sync()
        else:
            self.rebuild()
        gc.freeze()

    def _meta_path(self) -> Path:
        assert self.index_dir is not None
        return self.index_dir / f"{self.store.prefix.replace(':', '_')}index.json"

    def _load_saved(self) -> bool:
        meta_path = self._meta_path()
        if not meta_path.is_file():
            return False
        try:
            meta = json.loads(meta_path.read_text())
            position, layout = str(meta["position"]), int(meta["layout"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s: unreadable saved index (%s); rebuilding from Redis", meta_path, exc)
            return False
        first = self.store.first_position()
        if layout != INDEX_LAYOUT or _before(position, first):  # changes after it may be trimmed away
            log.warning("%s: saved index older than the change stream; rebuilding from Redis", meta_path)
            return False
        if position != "0-0" and not self.store.has_position(position):  # Redis was reset or replaced
            log.warning("%s: saved index is not of this Redis's gallery; rebuilding from Redis", meta_path)
            return False
        indexes = {}
        for library in LIBRARIES:
            path = meta_path.with_name(meta_path.stem + f".{library}.npz")
            try:
                indexes[library] = LibraryIndex.load(
                    path, nprobe=self.options.nprobe, train_at=self.options.train_at
                )
            except (OSError, ValueError) as exc:
                log.warning("%s; rebuilding from Redis", exc)
                return False
        self.indexes, self.position = indexes, position
        return True

    @_redis_call
    def save_index(self) -> Path:
        """Write the indexes and the stream position they reflect beside each other."""
        if self.index_dir is None:
            raise ValueError("no index directory configured")
        with self._lock:
            self.sync()
            meta_path = self._meta_path()
            for library, index in self.indexes.items():
                index.save(meta_path.with_name(meta_path.stem + f".{library}.npz"))
            tmp = meta_path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"layout": INDEX_LAYOUT, "position": self.position}))
            tmp.replace(meta_path)
        return meta_path

    @_redis_call
    def rebuild(self) -> None:
        """Build the indexes from Redis alone: every identity's exemplars, read with MGET."""
        with self._lock:
            self._rebuild()

    def _rebuild(self) -> None:
        self.indexes = self._fresh_indexes()
        self.position, self._own = self.store.last_position(), set()
        last = self.store.last_id()
        for library, index in self.indexes.items():
            centroids = self.store.centroids(library)
            if centroids is not None:
                index.use_centroids(centroids)
            known = self.store.all_lists(library) if index.trained else {}
            for start in range(1, last + 1, 20_000):
                ids = list(range(start, min(last, start + 19_999) + 1))
                blobs = self.store.exemplar_blobs(library, ids)
                owners, vectors, lists = [], [], []
                for identity, blob in zip(ids, blobs, strict=True):
                    if blob:
                        rows = unpack(blob, library)
                        owners.append(np.full(len(rows), identity, np.int64))
                        vectors.append(rows)
                        lists.append(parse_lists(known.get(identity, ""), len(rows)))
                if owners:
                    _add_rows(index, owners, vectors, lists)
                self._maybe_train(library)
        self.loaded_from = "rebuilt"
        self.sync()

    def _maybe_train(self, library: str) -> None:
        index = self.indexes[library]
        if not index.wants_training:
            return
        centroids = self.store.centroids(library)
        if centroids is None:
            log.info("training the %s index on %d rows", library, index.live_rows)
            centroids = self.store.put_centroids(library, index.train())
        index.use_centroids(centroids)

    @_redis_call
    def sync(self) -> int:
        """Apply changes made since the last sync by other writers; returns how many (this
        worker's own changes, applied locally when made, are stepped over and not counted)."""
        total = 0
        with self._lock:
            while True:
                fetched = self._fetch(self.position)
                if fetched is None:
                    return total
                total += self._apply(fetched, None)
                if len(fetched.changes) < 10_000:
                    return total

    def follow(self, interval_s: float | None = None) -> None:
        """Keep in step from a background thread that reads the change stream every
        ``interval_s`` (default ``options.follow_s``), so matches need not read it themselves.

        The thread reads Redis without the lock, then applies under it what is still newer than
        the position; identities a match or sync applied meanwhile are re-read under the lock,
        so a slow read never puts back an older state. Redis errors are logged and retried
        with backoff; :meth:`close` stops the thread.
        """
        interval = interval_s if interval_s is not None else self.options.follow_s
        if interval <= 0:
            raise ValueError(f"follow interval must be positive, got {interval}")
        if self._follower is not None:
            return
        self._stop.clear()
        self._follower = threading.Thread(
            target=self._follow, args=(interval,), name="gallery-follow", daemon=True
        )
        self._follower.start()

    def close(self) -> None:
        """Stop the follower thread (if any)."""
        self._stop.set()
        if self._follower is not None:
            self._follower.join()
            self._follower = None

    def _follow(self, interval: float) -> None:
        failures = 0
        while not self._stop.wait(min(5.0, interval * 2**failures) if failures else interval):
            try:
                while self._follow_once() >= 10_000:
                    pass
                failures = 0
            except (*TRANSIENT, redis.RedisError, ValueError) as exc:  # ValueError: a malformed stored blob
                if not failures:
                    problem = (
                        exc if isinstance(exc, ValueError) else unavailable(where(self.store.client), exc)
                    )
                    log.warning("gallery follower: %s; retrying with backoff", problem)
                failures = min(failures + 1, 16)

    def _follow_once(self) -> int:
        """One read of the stream by the follower; returns how many entries it read."""
        with self._lock:
            position = self.position
            self._dirty = set()
        try:
            fetched = self._fetch(position)
        except BaseException:
            with self._lock:
                self._dirty = None
            raise
        with self._lock:
            dirty, self._dirty = self._dirty, None
            if fetched is not None:
                self._apply(fetched, dirty)
            return 0 if fetched is None else len(fetched.changes)

    def _fetch(self, position: str) -> _Fetched | None:
        """The stream entries after ``position`` (at most 10 000) and, for every identity they
        touch that is not one of our own writes, its exemplars and lists (Redis reads only)."""
        changes = self.store.changes_since(position)
        if not changes:
            return None
        touched: dict[str, dict[int, None]] = {library: {} for library in LIBRARIES}
        own = self._own
        for entry, _, identity, libraries in changes:
            if entry not in own:
                for library in libraries:
                    if library in touched:
                        touched[library][identity] = None
        found = {
            library: dict(zip(ids, self.store.exemplars_with_lists(library, list(ids)), strict=True))
            for library, ids in touched.items()
            if ids
        }
        return _Fetched(changes, found)

    def _apply(self, fetched: _Fetched, dirty: set[int] | None) -> int:
        """Apply the fetched entries still after the position (caller holds the lock); identities
        in ``dirty`` or not fetched are re-read first. Returns how many were other writers'."""
        changes = fetched.changes
        fresh = (
            changes
            if _before(self.position, changes[0][0])
            else [c for c in changes if _before(self.position, c[0])]
        )
        self._synced_at = time.monotonic()
        if not fresh:
            return 0
        wanted: dict[str, dict[int, None]] = {library: {} for library in LIBRARIES}
        foreign = 0
        for entry, _, identity, libraries in fresh:
            if entry in self._own:
                self._own.discard(entry)
                continue
            foreign += 1
            for library in libraries:
                if library in wanted:
                    wanted[library][identity] = None
        for library, ids in wanted.items():
            if not ids:
                continue
            have = fetched.found.get(library, {})
            again = [i for i in ids if i not in have or (dirty is not None and i in dirty)]
            if again:
                have = {
                    **have,
                    **dict(zip(again, self.store.exemplars_with_lists(library, again), strict=True)),
                }
            self._refresh(library, list(ids), [have[i] for i in ids])
        self.position = fresh[-1][0]
        if foreign:
            self._foreign_at = time.monotonic()
        return foreign

    def _mark(self, identities: Iterable[int]) -> None:
        """Note identities this thread applied while the follower reads (it re-reads them)."""
        if self._dirty is not None:
            self._dirty.update(identities)

    def _refresh(self, library: str, ids: list[int], found: list[tuple[bytes, str]]) -> None:
        """Apply the exemplars (and lists) Redis holds for ``ids`` in one library.

        Identities new to this index with one exemplar each, the bulk of following other
        workers' enrolments, take a vectorised path: one join, one ``add``."""
        self._mark(ids)
        index = self.indexes[library]
        size = 4 * LIBRARIES[library]
        fresh = [n for n, (blob, _) in enumerate(found) if len(blob) == size and not index.holds(ids[n])]
        if fresh:
            vectors = np.frombuffer(b"".join(found[n][0] for n in fresh), "<f4").reshape(len(fresh), -1)
            lists = single_lists([found[n][1] for n in fresh])
            index.add(np.array([ids[n] for n in fresh], np.int64), vectors.astype(np.float32), lists)
        taken = set(fresh)
        rest = [n for n in range(len(ids)) if n not in taken]
        if rest:
            exemplars = [unpack(found[n][0], library) for n in rest]
            lists_of = [parse_lists(found[n][1], len(rows)) for n, rows in zip(rest, exemplars, strict=True)]
            index.set_many([ids[n] for n in rest], exemplars, lists_of)
        self._maybe_train(library)

    # -- matching ----------------------------------------------------------------------------

    def search(self, library: str, query: npt.ArrayLike, k: int = 1) -> list[tuple[int, float]]:
        """The ``k`` identities nearest ``query`` in one library (cosine, best first)."""
        unit = _unit(query)
        with self._lock:
            return self.indexes[library].search(unit, k)

    @_redis_call
    def lookup(self, features: Mapping[str, npt.ArrayLike]) -> Match | None:
        """The known identity :meth:`match` would name for these features, or None; writes nothing.

        Raises:
            ValueError: As :meth:`match`.
        """
        units = self._units(features)
        with self._lock:
            if self._follower is None and time.monotonic() - self._synced_at >= self.options.sync_interval_s:
                self.sync()
            found = self._decide(["fusion", "plate"] if "plate" in units else ["vehicle"], units)
        return None if found is None else Match(found[1], found[0], found[2], new=False)

    @_redis_call
    def note_plate(self, identity: int, plate: str, confidence: float) -> bool:
        """Index a plate text confidently read on a known identity, and record it on the
        identity when it has none yet; True if the record took it."""
        return bool(plate) and self.store.note_plate(identity, plate, confidence)

    @_redis_call
    def identity_of_plate(self, plate: str) -> int | None:
        """The identity this plate text was last confidently read on, or None."""
        return self.store.identity_of_plate(plate) if plate else None

    def _units(self, features: Mapping[str, npt.ArrayLike]) -> dict[str, npt.NDArray[np.float32]]:
        if "vehicle" not in features:
            raise ValueError("a sighting needs its vehicle feature")
        unknown = set(features) - set(LIBRARIES)
        if unknown:
            raise ValueError(f"unknown libraries {sorted(unknown)}; one of {', '.join(LIBRARIES)}")
        return {library: _unit(vector) for library, vector in features.items()}

    @_redis_call
    def match(self, features: Mapping[str, npt.ArrayLike], sighting: Sighting) -> Match:
        """Identify (or enrol) the vehicle of one sighting.

        Raises:
            ValueError: No vehicle feature, an unknown library, wrong lengths or non-finite values.
        """
        units = self._units(features)
        with self._lock:
            return self._match(units, sighting)

    def _match(self, units: dict[str, npt.NDArray[np.float32]], sighting: Sighting) -> Match:
        now = time.monotonic()
        if self._follower is None and now - self._synced_at >= self.options.sync_interval_s:
            self.sync()
        order = ["fusion", "plate"] if "plate" in units else ["vehicle"]
        found = self._decide(order, units)
        # Before enrolling, read what others wrote since the last read, when others are writing
        # (a twin found here is cheaper than the enrol script comparing in Lua; with no other
        # writer for a second, the script's own comparison covers the gap at no extra call).
        others = now - self._foreign_at < 1.0
        stale = time.monotonic() - self._synced_at >= self.options.enrol_sync_s
        if found is None and others and stale and self.sync():
            found = self._decide(order, units)
        if found is not None:
            library, identity, score = found
            self._extend(identity, units, sighting)
            return Match(identity, library, score, new=False)
        # twins enrolled meanwhile are looked for in the deciding libraries only (2.0: never)
        compare = {library: (self.thresholds[library] if library in order else 2.0) for library in units}
        lists = self._lists(units)
        item = NewIdentity(units, record_fields(sighting), {k: str(v) for k, v in lists.items()})
        try:
            batch = self.store.enrol_many([item], compare, since=self.position)
        except redis.exceptions.ResponseError as exc:
            if "STALE" not in str(exc):
                raise
            self.sync()  # over 2 000 changes behind: catch up, then compare with the rest in Redis
            return self._match(units, sighting)
        result = batch.results[0]
        if result.new:
            self._mark((result.identity,))
            for name, unit in units.items():
                known = np.array([lists.get(name, -1)], np.int64)
                self.indexes[name].add([result.identity], unit[None], known)
                self._maybe_train(name)
        self._step_over(result.position, batch.follows_since)
        if result.new:
            return Match(result.identity, order[0] if order[0] in units else "vehicle", 1.0, new=True)
        return Match(result.identity, result.library, result.score, new=False)

    @_redis_call
    def extend(self, identity: int, features: Mapping[str, npt.ArrayLike], sighting: Sighting) -> None:
        """Record a sighting of a known identity and keep its features as exemplars (the store's
        exemplar policy), e.g. a better view of a vehicle already identified.

        Raises:
            ValueError: As :meth:`match`.
        """
        units = self._units(features)
        with self._lock:
            self._extend(identity, units, sighting)

    def _extend(self, identity: int, units: dict[str, npt.NDArray[np.float32]], sighting: Sighting) -> None:
        lists = self._lists(units)
        position, blobs, follows = self.store.add_exemplars(
            identity, units, sighting, lists, since=self.position
        )
        for name, blob in blobs.items():
            rows = unpack(blob, name)
            known = np.full(len(rows), -1, np.int64)
            known[-1] = lists.get(name, -1)  # the new exemplar is the last one
            self.indexes[name].set_many([identity], [rows], [known])
        self._mark((identity,))
        self._step_over(position, follows)

    def _step_over(self, position: str, follows: bool) -> None:
        """Account for this worker's own change at ``position``, applied locally already: when
        nothing else landed since our position, move past it; else skip it at the next sync."""
        if follows:
            self.position = position
        else:
            self._own.add(position)

    def _decide(
        self, order: list[str], units: Mapping[str, npt.NDArray[np.float32]]
    ) -> tuple[str, int, float] | None:
        """The first library in ``order`` whose nearest identity passes its threshold."""
        for library in order:
            if library in units:
                found = self.indexes[library].search(units[library], 1)
                if found and found[0][1] > self.thresholds[library]:
                    return library, found[0][0], found[0][1]
        return None

    def _lists(self, units: Mapping[str, npt.NDArray[np.float32]]) -> dict[str, int]:
        """The IVF list of each unit feature, for libraries whose index is trained."""
        return {
            name: int(self.indexes[name].assign(unit[None])[0])
            for name, unit in units.items()
            if self.indexes[name].trained
        }

    def enrol_many(self, items: Sequence[NewIdentity]) -> list[int]:
        """Enrol distinct new vehicles in one atomic batch (imports, benchmarks); returns their ids."""
        return self.enrol_batches([items], pipelined=False)

    @_redis_call
    def enrol_batches(self, batches: Iterable[Sequence[NewIdentity]], *, pipelined: bool = True) -> list[int]:
        """Enrol batches of distinct new vehicles, each batch one atomic script; returns the ids.

        ``pipelined``: while Redis runs batch n's script (on a helper thread), this thread prepares
        batch n + 1 (unit features, IVF lists) and adds batch n − 1 to the local indexes. Other
        workers pick the batches up from the change stream.
        """
        with self._lock:
            return self._enrol_batches(batches, pipelined)

    def _enrol_batches(self, batches: Iterable[Sequence[NewIdentity]], pipelined: bool) -> list[int]:
        chain = {"since": self.position}

        def send(items: list[NewIdentity]) -> EnrolBatch:  # runs batches one after another, in order
            batch = self.store.enrol_many(items, None, since=chain["since"])
            if batch.results:
                chain["since"] = batch.results[-1].position
            return batch

        ids: list[int] = []
        in_step = [True]  # every batch so far followed the previous one directly
        if not pipelined:
            for items in batches:
                prepared = self._with_lists(_normalised(items))
                self._apply_batch(send(prepared), prepared, in_step, ids)
            return ids
        with ThreadPoolExecutor(1, thread_name_prefix="gallery-enrol") as pool:
            inflight: tuple[Future[EnrolBatch], list[NewIdentity]] | None = None
            for items in batches:
                prepared = self._with_lists(_normalised(items))
                future = pool.submit(send, prepared)
                if inflight is not None:
                    self._apply_batch(inflight[0].result(), inflight[1], in_step, ids)
                inflight = (future, prepared)
            if inflight is not None:
                self._apply_batch(inflight[0].result(), inflight[1], in_step, ids)
        return ids

    def _apply_batch(
        self, batch: EnrolBatch, items: list[NewIdentity], in_step: list[bool], ids: list[int]
    ) -> None:
        """Add a written batch to the local indexes; step the position over it when nothing
        else came in between, else remember its entries so the next sync skips them."""
        ids += [r.identity for r in batch.results]
        if not batch.results:
            return
        self._mark(r.identity for r in batch.results)
        for library in LIBRARIES:
            having = [
                (r.identity, item)
                for r, item in zip(batch.results, items, strict=True)
                if library in item.features
            ]
            if not having:
                continue
            arrays = [np.asarray(item.features[library], np.float32) for _, item in having]
            if all(a.ndim == 1 for a in arrays):  # one exemplar each (the usual case): one stack, one add
                texts = [item.lists.get(library, "") for _, item in having]
                self.indexes[library].add(
                    np.array([identity for identity, _ in having], np.int64),
                    np.stack(arrays),
                    single_lists(texts),
                )
            else:
                owners, vectors, lists = [], [], []
                for (identity, item), array in zip(having, arrays, strict=True):
                    rows = array.reshape(-1, LIBRARIES[library])
                    owners.append(np.full(len(rows), identity, np.int64))
                    vectors.append(rows)
                    lists.append(parse_lists(item.lists.get(library, ""), len(rows)))
                _add_rows(self.indexes[library], owners, vectors, lists)
            self._maybe_train(library)
        in_step[0] = in_step[0] and batch.follows_since
        if in_step[0]:
            self.position = batch.results[-1].position
        else:
            self._own.update(r.position for r in batch.results)

    def _with_lists(self, items: list[NewIdentity]) -> list[NewIdentity]:
        """Items with the IVF list of every exemplar, computed once here for all workers."""
        lists: list[dict[str, str]] = [{} for _ in items]
        for library, index in self.indexes.items():
            having = [i for i, item in enumerate(items) if library in item.features]
            if not having or not index.trained:
                continue
            rows = [np.asarray(items[i].features[library], np.float32).reshape(-1, index.dim) for i in having]
            assigned = index.assign(np.concatenate(rows)).tolist()
            at = 0
            for i, r in zip(having, rows, strict=True):
                lists[i][library] = ",".join(str(x) for x in assigned[at : at + len(r)])
                at += len(r)
        return [NewIdentity(item.features, item.record, lst) for item, lst in zip(items, lists, strict=True)]


def parse_lists(text: str, rows: int) -> npt.NDArray[np.int64]:
    """IVF lists stored as ``"3,17"``; all -1 (unknown) when absent or not one per row."""
    parts = text.split(",") if text else []
    if len(parts) != rows:
        return np.full(rows, -1, np.int64)
    try:
        return np.array([int(p) for p in parts], np.int64)
    except ValueError:
        return np.full(rows, -1, np.int64)


def single_lists(texts: Sequence[str]) -> npt.NDArray[np.int64]:
    """:func:`parse_lists` for items of one exemplar each, vectorised: ``"17"`` → 17, else -1."""
    return np.array([int(t) if t.isdigit() else -1 for t in texts], np.int64)


def _before(a: str, b: str) -> bool:
    """Stream position ``a`` comes strictly before ``b``."""
    ma, sa = (int(x) for x in a.split("-"))
    mb, sb = (int(x) for x in b.split("-"))
    return (ma, sa) < (mb, sb)


def _unit_rows(vectors: npt.ArrayLike) -> npt.NDArray[np.float32]:
    rows = np.atleast_2d(np.asarray(vectors, np.float32))
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    if not (np.isfinite(norms).all() and (norms > 0).all()):
        raise ValueError("features must be finite and not all zero")
    unit: npt.NDArray[np.float32] = (rows / norms).astype(np.float32)
    return unit


def _add_rows(
    index: LibraryIndex,
    owners: list[npt.NDArray[np.int64]],
    vectors: list[npt.NDArray[np.float32]],
    lists: list[npt.NDArray[np.int64]],
) -> None:
    index.add(np.concatenate(owners), np.concatenate(vectors), np.concatenate(lists))
    index.max_rows_per_identity = max(index.max_rows_per_identity, max(len(o) for o in owners))


def _normalised(items: Sequence[NewIdentity]) -> list[NewIdentity]:
    """Items with unit features (one vectorised pass per library when every item has one row)."""
    features: list[dict[str, npt.NDArray[np.float32]]] = [{} for _ in items]
    for library in LIBRARIES:
        having = [i for i, item in enumerate(items) if library in item.features]
        if not having:
            continue
        arrays = [np.asarray(items[i].features[library], np.float32) for i in having]
        if all(a.shape == (LIBRARIES[library],) for a in arrays):
            rows = _unit_rows(np.stack(arrays))
            for i, row in zip(having, rows, strict=True):
                features[i][library] = row
        else:
            for i, array in zip(having, arrays, strict=True):
                features[i][library] = _unit_rows(array)
    return [NewIdentity(f, item.record) for f, item in zip(features, items, strict=True)]
