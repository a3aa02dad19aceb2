"""The in-process index: exact and IVF modes agree with a brute-force scan; updates, removal,
compaction and save/load keep them in agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gallery.index import LibraryIndex, fingerprints


def _units(rng: np.random.Generator, n: int, dim: int = 16) -> np.ndarray:
    x = rng.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _brute(rows: dict[int, np.ndarray], q: np.ndarray, k: int) -> list[int]:
    best = {identity: float((vectors @ q).max()) for identity, vectors in rows.items() if len(vectors)}
    return [i for i, _ in sorted(best.items(), key=lambda kv: -kv[1])[:k]]


def _filled(ivf: bool, rng: np.random.Generator) -> tuple[LibraryIndex, dict[int, np.ndarray]]:
    index = LibraryIndex(16, nlist=8, nprobe=2, train_at=10**9)
    truth = {identity: _units(rng, int(rng.integers(1, 4))) for identity in range(1, 301)}
    for identity, vectors in truth.items():
        index.set(identity, vectors)
    if ivf:
        index.use_centroids(index.train())
    return index, truth


@pytest.mark.parametrize("ivf", [False, True])
def test_search_equals_brute_force(ivf: bool) -> None:
    rng = np.random.default_rng(0)
    index, truth = _filled(ivf, rng)
    for q in _units(rng, 50):
        got = [i for i, _ in index.search(q, 5, exhaustive=True)]
        assert got == _brute(truth, q, 5)
    assert len(index) == 300


@pytest.mark.parametrize("ivf", [False, True])
def test_updates_and_removal_stay_exact(ivf: bool) -> None:
    rng = np.random.default_rng(1)
    index, truth = _filled(ivf, rng)
    for identity in range(1, 301, 3):  # keep the first exemplar, replace the rest
        truth[identity] = np.concatenate([truth[identity][:1], _units(rng, 2)])
        index.set(identity, truth[identity])
    for identity in range(2, 301, 7):
        truth[identity] = truth[identity][:0]
        index.remove(identity)
    index.compact()
    for q in _units(rng, 50):
        assert [i for i, _ in index.search(q, 4, exhaustive=True)] == _brute(truth, q, 4)
    assert len(index) == sum(1 for v in truth.values() if len(v))
    kept = index.rows_of(1)
    assert len(kept) == 3


def test_unchanged_exemplars_keep_their_rows() -> None:
    rng = np.random.default_rng(2)
    index = LibraryIndex(16, train_at=10**9)
    first = _units(rng, 2)
    index.set(7, first)
    rows = set(index.rows_of(7))
    index.set(7, np.concatenate([first, _units(rng, 1)]))
    assert rows < set(index.rows_of(7))
    assert index.dead_rows == 0


def test_fingerprints_tell_vectors_apart() -> None:
    rng = np.random.default_rng(3)
    x = _units(rng, 1000)
    assert len(set(fingerprints(x).tolist())) == 1000
    assert (fingerprints(x) == fingerprints(x.copy())).all()


@pytest.mark.parametrize("ivf", [False, True])
def test_save_and_load_round_trip(ivf: bool, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    index, _ = _filled(ivf, rng)
    index.save(tmp_path / "i.npz")
    loaded = LibraryIndex.load(tmp_path / "i.npz", nprobe=2)
    assert loaded.trained == ivf
    for q in _units(rng, 20):
        assert loaded.search(q, 3) == index.search(q, 3)
    loaded.set(5000, _units(rng, 1))  # the loaded index takes new rows
    assert len(loaded) == 301


def test_a_corrupt_saved_index_is_refused(tmp_path: Path) -> None:
    (tmp_path / "i.npz").write_bytes(b"not an index")
    with pytest.raises(ValueError, match="not a saved gallery index"):
        LibraryIndex.load(tmp_path / "i.npz")


def test_empty_index_and_bad_arguments() -> None:
    index = LibraryIndex(16)
    assert index.search(np.ones(16, np.float32) / 4, 3) == []
    with pytest.raises(ValueError, match="nprobe"):
        LibraryIndex(16, nlist=4, nprobe=5)
    with pytest.raises(ValueError, match="identities for"):
        index.add([1, 2], np.zeros((1, 16), np.float32))
