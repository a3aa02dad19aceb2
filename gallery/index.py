"""In-process index of one library's exemplars: exact (numpy) while small, IVF (faiss) once large.

Rows are unit feature vectors; each belongs to one identity (``owner``), and an identity's
rows are chained (``head[identity]`` → ``next[row]`` → ... → -1) so no per-identity Python
object is kept: a million identities cost a few int64 arrays beside the vectors.

**Exact mode** (the default until ``train_at`` live rows): a matrix product over every row.

**IVF mode**: ``IndexIVFFlat`` over inner product with ``nlist`` centroids (spherical k-means
on the rows present when the index trains, or centroids another worker stored in Redis, so
every worker's lists agree). New rows are assigned to their centroid in numpy and handed to
``add_core``: faiss's own ``add`` assigns while holding the index and stalls queries for tens of
milliseconds per batch (``FACTS.md``). ``nprobe`` lists are scanned per query; with
``nprobe = nlist`` the scan is exhaustive (``search_exhaustive``).

**Threads**: a gallery worker runs faiss and BLAS on one thread (``use_one_thread``, set by
``Gallery``): on a loaded two-core machine a multi-threaded product of one row waited
milliseconds for its second thread. Training and bulk assignment (256 rows and more) use
every core for their duration.

**Updates** replace an identity's rows: rows whose vector is unchanged (same 64-bit
fingerprint) stay, the others are marked dead and skipped, new ones are added. Dead rows are
removed in one pass once they reach a quarter of the live ones. Searches over-fetch rows so
that dead rows and an identity's several exemplars still leave ``k`` identities.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
BULK_ROWS = 256
_FINGERPRINT = np.random.default_rng(20261121).integers(1, 2**63, 1024, dtype=np.uint64) | np.uint64(1)


_CONTROLLER: Any = None


def _controller() -> Any:
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def use_one_thread() -> None:
    """Run BLAS and faiss on one thread in this process from now on (what a gallery worker
    wants: see the module docstring). Switching per call instead costs milliseconds on its own."""
    import faiss

    _controller().limit(limits=1, user_api="blas")
    faiss.omp_set_num_threads(1)


def bulk_threads(rows: int) -> Any:
    """A context giving BLAS every core for a bulk product of ``rows`` rows (else nothing)."""
    if rows < BULK_ROWS:
        return contextlib.nullcontext()
    return _controller().limit(limits=os.cpu_count() or 1, user_api="blas")


def fingerprints(vectors: F32) -> npt.NDArray[np.uint64]:
    """A 64-bit fingerprint per row (a multiply-add over its float32 bit patterns)."""
    bits = np.ascontiguousarray(vectors, np.float32).view(np.uint32).astype(np.uint64)
    with np.errstate(over="ignore"):
        out: npt.NDArray[np.uint64] = (bits * _FINGERPRINT[: bits.shape[1]]).sum(axis=1, dtype=np.uint64)
    return out


class _Grow:
    """A 1-D or 2-D numpy buffer that doubles its capacity (amortised O(1) appends)."""

    def __init__(self, dtype: Any, width: int = 0, fill: int = 0) -> None:
        shape = (1024, width) if width else (1024,)
        self.data = np.full(shape, fill, dtype)
        self.size = 0
        self.fill = fill

    def view(self) -> Any:
        return self.data[: self.size]

    def ensure(self, size: int) -> None:
        if size > len(self.data):
            grown = np.full((max(size, 2 * len(self.data)), *self.data.shape[1:]), self.fill, self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown

    def append(self, values: Any) -> npt.NDArray[np.int64]:
        start = self.size
        self.ensure(start + len(values))
        self.data[start : start + len(values)] = values
        self.size += len(values)
        return np.arange(start, self.size, dtype=np.int64)


class LibraryIndex:
    """Exemplars of one library (dimension ``dim``); see the module docstring."""

    def __init__(self, dim: int, *, nlist: int = 4096, nprobe: int = 16, train_at: int = 65536) -> None:
        if not 1 <= nprobe <= nlist:
            raise ValueError(f"nprobe must lie in [1, nlist={nlist}], got {nprobe}")
        self.dim, self.nlist, self.nprobe, self.train_at = dim, nlist, nprobe, train_at
        self._owner = _Grow(np.int64, fill=-1)  # row -> identity (-1: dead)
        self._next = _Grow(np.int64, fill=-1)  # row -> next row of the same identity
        self._print = _Grow(np.uint64)  # row -> fingerprint
        self._head = _Grow(np.int64, fill=-1)  # identity -> first row
        self._vectors: _Grow | None = _Grow(np.float32, width=dim)  # exact mode only
        self._ivf: Any = None
        self._quantizer: Any = None
        self.centroids: F32 | None = None
        self._centroids_t: F32 | None = None
        self._probed: tuple[bytes, int] | None = None  # (last IVF query, its nearest list)
        self.identities = 0
        self.live_rows = 0
        self.dead_rows = 0
        self.max_rows_per_identity = 1

    # -- state ------------------------------------------------------------------------------

    def __len__(self) -> int:
        """Identities held."""
        return self.identities

    @property
    def trained(self) -> bool:
        """Whether the index searches inverted lists (IVF mode)."""
        return self._ivf is not None

    @property
    def wants_training(self) -> bool:
        """Exact mode grew past ``train_at`` live rows."""
        return self._ivf is None and self.live_rows >= self.train_at

    def holds(self, identity: int) -> bool:
        """Whether ``identity`` has rows here."""
        return identity < self._head.size and bool(self._head.data[identity] >= 0)

    def rows_of(self, identity: int) -> list[int]:
        """Live rows of ``identity``, newest first."""
        head = self._head.view()
        rows: list[int] = []
        row = int(head[identity]) if identity < len(head) else -1
        nxt = self._next.data
        while row >= 0:
            rows.append(row)
            row = int(nxt[row])
        return rows

    # -- writes -----------------------------------------------------------------------------

    def add(self, identities: npt.ArrayLike, vectors: F32, lists: I64 | None = None) -> None:
        """Append one row per ``(identity, vector)`` pair (an identity may appear several times).

        ``lists``: each row's IVF list where a writer computed it already (-1: unknown).
        """
        ids = np.asarray(identities, np.int64).reshape(-1)
        vecs = np.ascontiguousarray(vectors, np.float32).reshape(-1, self.dim)
        if len(ids) != len(vecs):
            raise ValueError(f"{len(ids)} identities for {len(vecs)} vectors")
        if not len(ids):
            return
        rows = self._owner.append(ids)
        self._next.append(np.full(len(ids), -1, np.int64))
        self._print.append(fingerprints(vecs))
        if len(ids) and ids.max() >= self._head.size:
            self._head.ensure(int(ids.max()) + 1)
            self._head.size = int(ids.max()) + 1
        head, nxt = self._head.data, self._next.data
        if len(np.unique(ids)) == len(ids):
            self.identities += int((head[ids] < 0).sum())
            nxt[rows] = head[ids]
            head[ids] = rows
        else:
            for identity, row in zip(ids.tolist(), rows.tolist(), strict=True):
                self.identities += int(head[identity] < 0)
                nxt[row] = head[identity]
                head[identity] = row
        self.live_rows += len(ids)
        if self._ivf is None:
            assert self._vectors is not None
            self._vectors.append(vecs)
        else:
            self._ivf_add(rows, vecs, lists)

    def set(self, identity: int, exemplars: F32) -> None:
        """Make ``exemplars`` (``(K, dim)``; K = 0 removes it) the identity's rows."""
        self.set_many([identity], [exemplars])

    def set_many(
        self, identities: list[int], exemplars: list[F32], lists: Sequence[I64 | None] | None = None
    ) -> None:
        """:meth:`set` for several identities, with one batched add of every new row.

        ``lists[i]``: the IVF list of each of identity i's exemplars where known (else None).
        """
        fresh_ids: list[npt.NDArray[np.int64]] = []
        fresh_rows: list[F32] = []
        fresh_lists: list[I64] = []
        pr = self._print.data
        for n, (identity, given) in enumerate(zip(identities, exemplars, strict=True)):
            vecs = np.ascontiguousarray(given, np.float32).reshape(-1, self.dim)
            known = lists[n] if lists is not None else None
            if known is None or len(known) != len(vecs):
                known = np.full(len(vecs), -1, np.int64)
            rows = self.rows_of(identity)
            if not rows:
                wanted = list(range(len(vecs)))
            else:
                todo = {int(p): i for i, p in enumerate(fingerprints(vecs).tolist())}
                keep: list[int] = []
                for row in rows:
                    if todo.pop(int(pr[row]), None) is None:
                        self._kill(row)
                    else:
                        keep.append(row)
                self._relink(identity, keep)
                wanted = sorted(todo.values())
            if wanted:
                fresh_ids.append(np.full(len(wanted), identity, np.int64))
                fresh_rows.append(vecs[wanted])
                fresh_lists.append(known[wanted])
            self.max_rows_per_identity = max(self.max_rows_per_identity, len(vecs))
        if fresh_ids:
            self.add(np.concatenate(fresh_ids), np.concatenate(fresh_rows), np.concatenate(fresh_lists))
        if self.dead_rows > max(4096, self.live_rows // 4):
            self.compact()

    def remove(self, identity: int) -> None:
        """Drop every row of ``identity``."""
        self.set(identity, np.zeros((0, self.dim), np.float32))

    def _kill(self, row: int) -> None:
        self._owner.data[row] = -1
        self.live_rows -= 1
        self.dead_rows += 1

    def _relink(self, identity: int, keep: list[int]) -> None:
        """Chain only ``keep`` rows under ``identity`` (after ``_kill`` of the others)."""
        if identity >= self._head.size:
            return
        had = self._head.data[identity] >= 0
        previous = -1
        for row in sorted(keep):
            self._next.data[row] = previous
            previous = row
        self._head.data[identity] = previous
        self.identities -= int(had and previous < 0)

    def compact(self) -> None:
        """Remove dead rows from the search structures."""
        owner = self._owner.view()
        if self._ivf is not None:  # IVF rows are ids inside faiss: drop them there, keep numbering
            import faiss

            self._ivf.remove_ids(faiss.IDSelectorBatch(np.flatnonzero(owner < 0).astype(np.int64)))
            self.dead_rows = 0
            return
        assert self._vectors is not None
        keep = np.flatnonzero(owner >= 0)
        remap = np.full(len(owner) + 1, -1, np.int64)  # index -1 maps to -1
        remap[keep] = np.arange(len(keep))
        nxt = self._next.view()[keep]
        for buffer, values in (
            (self._owner, owner[keep]),
            (self._next, remap[nxt]),
            (self._print, self._print.view()[keep]),
            (self._vectors, self._vectors.view()[keep]),
        ):
            buffer.size = 0
            buffer.append(values)
        head = self._head.view()
        head[:] = remap[head]
        self.dead_rows = 0

    # -- IVF --------------------------------------------------------------------------------

    def train(self, seed: int = 0) -> F32:
        """Spherical k-means over the live rows (exact mode); returns ``(nlist, dim)`` centroids."""
        import faiss

        if self._vectors is None:
            raise RuntimeError("the index is trained already")
        live = self._vectors.view()[self._owner.view() >= 0]
        if len(live) < self.nlist:
            raise ValueError(f"{len(live)} rows cannot train {self.nlist} lists")
        kmeans = faiss.Kmeans(self.dim, self.nlist, niter=10, seed=seed + 1, spherical=True, verbose=False)
        kmeans.cp.max_points_per_centroid = 64
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # a one-off: every core, then one again
        try:
            kmeans.train(live)
        finally:
            faiss.omp_set_num_threads(1)
        return np.ascontiguousarray(kmeans.centroids, np.float32)

    def use_centroids(self, centroids: F32) -> None:
        """Switch to IVF mode with these centroids, moving every live row into its list."""
        import faiss

        c = np.ascontiguousarray(centroids, np.float32).reshape(-1, self.dim)
        quantizer = faiss.IndexFlatIP(self.dim)
        quantizer.add(c)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, len(c), faiss.METRIC_INNER_PRODUCT)
        ivf.is_trained = True
        ivf.nprobe = min(self.nprobe, len(c))
        self._quantizer, self._ivf, self.centroids, self.nlist = quantizer, ivf, c, len(c)
        self._centroids_t = np.ascontiguousarray(c.T)
        if self._vectors is not None:
            owner = self._owner.view()
            rows = np.flatnonzero(owner >= 0).astype(np.int64)
            vectors = self._vectors.view()
            for start in range(0, len(rows), 65536):
                chunk = rows[start : start + 65536]
                self._ivf_add(chunk, vectors[chunk], None)
        self._vectors = None
        self.dead_rows = 0

    def _ivf_add(self, rows: I64, vectors: F32, lists: I64 | None) -> None:
        assert self.centroids is not None
        for start in range(0, len(rows), 2048):  # blocks: the score matrix stays in cache
            ids = np.ascontiguousarray(rows[start : start + 2048], np.int64)
            block = np.ascontiguousarray(vectors[start : start + 2048], np.float32)
            given = None if lists is None else np.asarray(lists[start : start + 2048], np.int64)
            if given is None or (given < 0).any() or (given >= self.nlist).any():
                todo = np.ones(len(ids), bool) if given is None else (given < 0) | (given >= self.nlist)
                given = np.zeros(len(ids), np.int64) if given is None else given.copy()
                given[todo] = self.assign(block[todo])
            block_lists = np.ascontiguousarray(given, np.int64)  # named: faiss reads raw pointers
            self._ivf.add_core(len(ids), _ptr(block), _ptr(ids), _ptr(block_lists))

    def assign(self, vectors: F32) -> I64:
        """The list (nearest centroid) of each row (a product with the transposed centroids, kept
        contiguous: faiss's own flat search took milliseconds for a few rows under load).

        A single row equal to the last query searched takes that search's nearest list (a
        match searches a sighting's feature, then enrols or adds that same feature)."""
        assert self._centroids_t is not None
        if len(vectors) == 1 and self._probed is not None:
            row = np.ascontiguousarray(vectors, np.float32).reshape(-1)
            if row.tobytes() == self._probed[0]:
                return np.array([self._probed[1]], np.int64)
        with bulk_threads(len(vectors)):
            best: I64 = np.argmax(np.asarray(vectors, np.float32) @ self._centroids_t, axis=1).astype(
                np.int64
            )
        return best

    # -- search -----------------------------------------------------------------------------

    def search(self, query: F32, k: int = 1, *, exhaustive: bool = False) -> list[tuple[int, float]]:
        """The ``k`` identities whose best exemplar has the highest cosine with ``query``.

        ``query`` is a unit vector (or ``(dim,)`` array); results are best first, one per
        identity. ``exhaustive`` scans every list in IVF mode (the exact answer).
        """
        if not self.identities or k < 1:
            return []
        q = np.ascontiguousarray(query, np.float32).reshape(1, self.dim)
        fetch = min(self.live_rows + self.dead_rows, (k + 2) * self.max_rows_per_identity + 16)
        while True:
            rows, scores = self._rows(q, fetch, exhaustive)
            found = self._identities(rows, scores, k)
            if len(found) == k or fetch >= self.live_rows + self.dead_rows:
                return found
            fetch *= 4

    def _rows(self, q: F32, fetch: int, exhaustive: bool) -> tuple[I64, F32]:
        if self._ivf is None:
            assert self._vectors is not None
            scores = (self._vectors.view() @ q[0]).astype(np.float32)
            scores[self._owner.view() < 0] = -np.inf
            if fetch < len(scores):
                top = np.argpartition(-scores, fetch - 1)[:fetch]
            else:
                top = np.arange(len(scores))
            top = top[np.argsort(-scores[top], kind="stable")]
            return top.astype(np.int64), scores[top]
        nprobe = self.nlist if exhaustive else min(self.nprobe, self.nlist)
        self._ivf.nprobe = nprobe
        try:  # the coarse step by hand, so its nearest list serves a following assign()
            near, lists = self._quantizer.search(q, nprobe)
            self._probed = (q.tobytes(), int(lists[0, 0]))
            scores, rows = self._ivf.search_preassigned(q, fetch, lists, near)
        finally:
            self._ivf.nprobe = min(self.nprobe, self.nlist)
        return rows[0], scores[0]

    def _identities(self, rows: I64, scores: F32, k: int) -> list[tuple[int, float]]:
        owner = self._owner.data
        out: list[tuple[int, float]] = []
        seen: set[int] = set()
        for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
            if row < 0 or not np.isfinite(score):
                continue
            identity = int(owner[row])
            if identity < 0 or identity in seen:
                continue
            seen.add(identity)
            out.append((identity, float(score)))
            if len(out) == k:
                break
        return out

    # -- persistence ------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the index (rows, chains, vectors or IVF lists) to ``path`` (``.npz`` + ``.faiss``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {
            "owner": self._owner.view(),
            "next": self._next.view(),
            "print": self._print.view(),
            "head": self._head.view(),
            "counts": np.array(
                [self.identities, self.live_rows, self.dead_rows, self.max_rows_per_identity, self.dim],
                np.int64,
            ),
        }
        faiss_path = path.with_suffix(".faiss")
        if self._ivf is not None:
            import faiss

            faiss.write_index(self._ivf, str(faiss_path))
        else:
            assert self._vectors is not None
            arrays["vectors"] = self._vectors.view()
            faiss_path.unlink(missing_ok=True)
        with open(path, "wb") as fh:  # np.savez adds .npz to names lacking it
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: Path, *, nprobe: int = 16, train_at: int = 65536) -> LibraryIndex:
        """Read an index ``save`` wrote.

        Raises:
            ValueError: The file is not an index of this layout (a clear message).
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError) as exc:
            raise ValueError(f"{path}: not a saved gallery index ({exc})") from exc
        need = {"owner", "next", "print", "head", "counts"}
        if not need <= set(arrays):
            raise ValueError(f"{path}: not a saved gallery index (missing {sorted(need - set(arrays))})")
        identities, live, dead, max_rows, dim = (int(x) for x in arrays["counts"])
        faiss_path = path.with_suffix(".faiss")
        index = cls(dim, nprobe=1, train_at=train_at)
        for name, buffer in (("owner", index._owner), ("next", index._next), ("print", index._print)):
            buffer.data, buffer.size = arrays[name].copy(), len(arrays[name])
        index._head.data, index._head.size = arrays["head"].copy(), len(arrays["head"])
        index.identities, index.live_rows, index.dead_rows = identities, live, dead
        index.max_rows_per_identity = max_rows
        if "vectors" in arrays:
            vectors = index._vectors
            assert vectors is not None
            vectors.data, vectors.size = arrays["vectors"].astype(np.float32), len(arrays["vectors"])
            index.nprobe = nprobe
            return index
        import faiss

        try:
            ivf = faiss.read_index(str(faiss_path))
        except RuntimeError as exc:
            raise ValueError(f"{faiss_path}: unreadable IVF index ({str(exc).splitlines()[0]})") from exc
        if not isinstance(ivf, faiss.IndexIVFFlat):
            raise ValueError(f"{faiss_path}: not an IVF-Flat index ({type(ivf).__name__})")
        quantizer: Any = faiss.downcast_index(ivf.quantizer)  # owned by ivf: keep ivf itself alive
        index._ivf, index._quantizer = ivf, quantizer
        index.centroids = quantizer.reconstruct_n(0, quantizer.ntotal).astype(np.float32)
        index._centroids_t = np.ascontiguousarray(index.centroids.T)
        index.nlist = quantizer.ntotal
        index.nprobe = min(nprobe, index.nlist)
        index._ivf.nprobe = index.nprobe
        index._vectors = None
        return index


def _ptr(array: Any) -> Any:
    import faiss

    return faiss.swig_ptr(array)
