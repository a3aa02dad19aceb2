"""Camera links with plate text: the identity rule of the recognition stage, on a real
embedded Redis gallery (the embedder is never called here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from config.schema import GalleryConfig
from gallery.store import Sighting
from roadwatch import app
from roadwatch.stages.recognise import Recogniser

D = 128


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def _pair(cosine: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors with the given cosine."""
    rng = np.random.default_rng(seed)
    a = _unit(rng.normal(size=D))
    b = rng.normal(size=D)
    b = _unit(b - a * float(a @ b))
    return a, _unit(cosine * a + np.sqrt(1 - cosine**2) * b)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Recogniser, object, np.ndarray, np.ndarray]:
    gallery = app.gallery(GalleryConfig(data_dir=tmp_path / "g"))
    seen, near = _pair(0.3, 0)  # the same vehicle at the exit looks little like its entry view
    gallery.match({"vehicle": seen}, Sighting("entry", 0.0, plate="AB123CD", plate_confidence=0.95))
    rec = Recogniser(
        None,  # type: ignore[arg-type]
        gallery,
        ("car",),
        links=[("entry", "exit", 5.0, 60.0)],
        linked_threshold=0.55,
        plate_text_confidence=0.8,
    )
    return rec, gallery, seen, near


def test_the_same_plate_text_links_a_dissimilar_candidate(setup: tuple) -> None:
    rec, _, _, near = setup
    assert rec._identify({"vehicle": near}, "exit", 20.0) is None  # cosine 0.3 < 0.55
    found = rec._identify({"vehicle": near}, "exit", 20.0, "AB123CD")
    assert found is not None
    assert (found.identity, found.library, found.new) == (1, "plate-text+link", False)


def test_the_plate_text_needs_the_link_window(setup: tuple) -> None:
    rec, _, _, near = setup
    assert rec._identify({"vehicle": near}, "exit", 90.0, "AB123CD") is None  # 90 s > 60 s
    assert rec._identify({"vehicle": near}, "gate", 20.0, "AB123CD") is None  # no link to the gate


def test_different_plate_text_rules_out_a_similar_candidate(setup: tuple) -> None:
    rec, _, seen, _ = setup
    _, similar = _pair(0.7, 1)
    similar = _unit(0.7 * seen + np.sqrt(1 - 0.49) * _unit(similar - seen * float(seen @ similar)))
    assert rec._identify({"vehicle": similar}, "exit", 20.0) is not None  # 0.7 > 0.55
    assert rec._identify({"vehicle": similar}, "exit", 20.0, "AB123CX") is not None  # one apart: kept
    assert rec._identify({"vehicle": similar}, "exit", 20.0, "XY999ZZ") is None


def test_an_identity_without_text_records_the_first_confident_one(setup: tuple) -> None:
    _, gallery, _, _ = setup
    other, _ = _pair(0.0, 5)
    found = gallery.match({"vehicle": other}, Sighting("entry", 1.0))
    assert gallery.store.record(found.identity).get("plate") is None
    assert gallery.note_plate(found.identity, "ZZ999AA", 0.9)
    assert not gallery.note_plate(found.identity, "QQ111QQ", 0.99)  # the first text stays
    assert gallery.store.record(found.identity)["plate"] == "ZZ999AA"
    assert not gallery.note_plate(999, "ZZ999AA", 0.9)  # unknown identity: nothing created
    assert gallery.store.record(999) == {}


def test_a_plate_text_read_anywhere_on_the_identity_links_it_beyond_the_nearest(setup: tuple) -> None:
    """The text index finds the identity even when it is not among the nearest candidates."""
    rec, gallery, seen, near = setup
    rec.candidates = 1
    other, _ = _pair(0.0, 9)
    other = _unit(other - near * float(near @ other) - seen * float(seen @ other))
    decoy = _unit(0.5 * near + np.sqrt(0.75) * other)  # nearer to `near` than identity 1, under 0.55
    gallery.match({"vehicle": decoy}, Sighting("entry", 1.0))
    found = rec._identify({"vehicle": near}, "exit", 20.0, "AB123CD")
    assert found is None  # the record's plate is not in the index until it is noted
    gallery.note_plate(1, "AB123CD", 0.95)
    found = rec._identify({"vehicle": near}, "exit", 20.0, "AB123CD")
    assert found is not None
    assert (found.identity, found.library) == (1, "plate-text+link")
    assert gallery.identity_of_plate("AB123CD") == 1
    assert gallery.identity_of_plate("NOPE") is None


def test_a_second_track_with_the_same_text_at_the_same_camera_joins_the_first(setup: tuple) -> None:
    rec, gallery, _, near = setup
    gallery.note_plate(1, "AB123CD", 0.95)
    found = rec._identify({"vehicle": near}, "entry", 3.0, "AB123CD")  # identity 1 seen at entry at 0 s
    assert found is not None
    assert found.identity == 1
    assert rec._identify({"vehicle": near}, "entry", 30.0, "AB123CD") is None  # a later pass: no link
