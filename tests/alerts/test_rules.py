"""The toll/escape rule and the watchlist rule, on sightings as the stream carries them."""

from __future__ import annotations

from typing import Any

from alerts.rules import TollOptions, TollRule, WatchRule
from alerts.watchlist import WatchEntry, Watchlist

OPTIONS = TollOptions(frozenset({"entry"}), frozenset({"gate"}), frozenset({"exit"}), max_delay_s=120.0)


def _s(sid: str, camera: str, t: float, identity: int | None, plate: str = "", **more: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "camera_id": camera,
        "first_time": t,
        "last_time": t + 2.0,
        "identity": identity,
        "plate_text": plate,
        "snapshots": {"vehicle": f"snap/{sid}.jpg"},
        "wall_time": 1000.0 + t,
        **more,
    }


def _run(rule: TollRule | WatchRule, sightings: list[dict[str, Any]]) -> list[Any]:
    return [alert for s in sightings for alert in rule.observe(s)]


def test_a_trip_that_skips_the_gate_is_an_escape() -> None:
    alerts = _run(TollRule(OPTIONS), [_s("a", "entry", 0, 7, "AB123CD"), _s("b", "exit", 40, 7)])
    (alert,) = alerts
    assert alert.kind == "escape"
    assert alert.severity == "critical"
    assert alert.sighting["id"] == "b"
    assert alert.rule["entry"]["id"] == "a"
    assert alert.rule["delay_s"] == 38.0
    assert alert.rule["raised_by"] == {"id": "b", "wall_time": 1040.0}
    assert alert.snapshots == {"vehicle": "snap/b.jpg"}
    assert "AB123CD" in alert.message


def test_paying_at_the_gate_is_no_escape() -> None:
    trip = [_s("a", "entry", 0, 7), _s("g", "gate", 20, 7), _s("b", "exit", 40, 7)]
    assert _run(TollRule(OPTIONS), trip) == []


def test_a_gate_sighting_with_the_trips_plate_counts_even_under_another_identity() -> None:
    trip = [_s("a", "entry", 0, 7, "AB123CD"), _s("g", "gate", 20, 99, "AB123CD"), _s("b", "exit", 40, 7)]
    assert _run(TollRule(OPTIONS), trip) == []
    short = [_s("a", "entry", 0, 7, "AB"), _s("g", "gate", 20, 99, "AB"), _s("b", "exit", 40, 7)]
    assert len(_run(TollRule(OPTIONS), short)) == 1  # two characters say nothing


def test_too_late_unknown_or_other_vehicles_raise_nothing() -> None:
    rule = TollRule(OPTIONS)
    assert _run(rule, [_s("a", "entry", 0, 7), _s("b", "exit", 200, 7)]) == []  # beyond max_delay_s
    assert _run(rule, [_s("c", "entry", 300, 8), _s("d", "exit", 320, 9)]) == []  # another vehicle
    assert _run(rule, [_s("e", "entry", 400, None), _s("f", "exit", 420, None)]) == []  # no identity
    assert _run(rule, [_s("h", "exit", 500, 10), _s("i", "entry", 510, 10)]) == []  # exit before entry


def test_one_escape_alert_per_trip_and_a_new_trip_alerts_again() -> None:
    rule = TollRule(OPTIONS)
    alerts = _run(
        rule,
        [
            _s("a", "entry", 0, 7),
            _s("b", "exit", 40, 7),
            _s("b2", "exit", 45, 7),
            _s("c", "entry", 300, 7),
            _s("d", "exit", 340, 7),
        ],
    )
    assert [a.sighting["id"] for a in alerts] == ["b", "d"]
    assert len({a.id for a in alerts}) == 2


def test_alert_ids_are_deterministic() -> None:
    trip = [_s("a", "entry", 0, 7), _s("b", "exit", 40, 7)]
    assert _run(TollRule(OPTIONS), trip)[0].id == _run(TollRule(OPTIONS), trip)[0].id


def test_state_is_trimmed_to_the_window() -> None:
    rule = TollRule(OPTIONS)
    _run(rule, [_s(f"e{i}", "entry", i * 10.0, i) for i in range(100)] + [_s("g", "gate", 990, 500)])
    assert len(rule._entries) <= 14
    assert len(rule._gates) == 1


def _watch(*entries: WatchEntry, follow: bool = True) -> WatchRule:
    return WatchRule(Watchlist(entries), follow_identity=follow, lookback_s=300.0)


def test_a_listed_plate_alerts_and_its_identity_is_followed_both_ways() -> None:
    rule = _watch(WatchEntry.make("plate", "AB123CD", note="stolen", severity="critical"))
    alerts = _run(
        rule,
        [
            _s("early", "entry", 0, 7, ""),  # plate not read yet
            _s("other", "entry", 5, 8, "ZZ999ZZ"),
            _s("read", "gate", 20, 7, "AB-123-CD"),
            _s("late", "exit", 40, 7, ""),
        ],
    )
    assert [(a.sighting["id"], a.rule["how"]) for a in alerts] == [
        ("read", "plate"),
        ("early", "identity"),
        ("late", "identity"),
    ]
    assert all(a.severity == "critical" for a in alerts)
    assert alerts[1].rule["raised_by"]["id"] == "read"  # its latency runs from the plate read
    assert "stolen" in alerts[0].message


def test_without_following_only_plate_reads_alert() -> None:
    rule = _watch(WatchEntry.make("plate", "AB123CD"), follow=False)
    alerts = _run(
        rule, [_s("early", "entry", 0, 7), _s("read", "gate", 20, 7, "AB123CD"), _s("late", "exit", 40, 7)]
    )
    assert [a.sighting["id"] for a in alerts] == ["read"]


def test_each_sighting_alerts_once_per_entry() -> None:
    rule = _watch(WatchEntry.make("plate", "AB123CD"), WatchEntry.make("plate_fuzzy", "AB123C0"))
    alerts = _run(rule, [_s("read", "gate", 20, 7, "AB123CD"), _s("again", "exit", 40, 7, "AB123CD")])
    assert sorted((a.sighting["id"], a.rule["entry"]["match"]) for a in alerts) == [
        ("again", "plate"),
        ("again", "plate_fuzzy"),
        ("read", "plate"),
        ("read", "plate_fuzzy"),
    ]


def test_a_removed_entry_stops_alerting() -> None:
    entry = WatchEntry.make("plate", "AB123CD")
    rule = _watch(entry)
    assert len(rule.observe(_s("read", "gate", 20, 7, "AB123CD"))) == 1
    rule.replace(Watchlist([]))
    assert rule.observe(_s("late", "exit", 40, 7, "")) == []
    assert rule.observe(_s("again", "exit", 50, 7, "AB123CD")) == []


def test_an_exit_the_gallery_did_not_link_is_tied_to_its_trip_by_the_plate() -> None:
    rule = TollRule(OPTIONS)
    trip = [
        _s("a", "entry", 0, 7, "GQ34FW"),
        _s("o", "entry", 5, 8, "ZZ999ZZ"),
        _s("b", "exit", 40, 41, "GQ-34FW"),
    ]
    (alert,) = _run(rule, trip)
    assert alert.rule["entry"]["id"] == "a"
    assert alert.rule["matched_by"] == "plate"
    paid = [
        _s("a", "entry", 0, 7, "GQ34FW"),
        _s("g", "gate", 20, 55, "GQ34FW"),
        _s("b", "exit", 40, 41, "GQ34FW"),
    ]
    assert _run(TollRule(OPTIONS), paid) == []
    unread = [_s("a", "entry", 0, 7, ""), _s("b", "exit", 40, 41, "")]
    assert _run(TollRule(OPTIONS), unread) == []


def test_sightings_without_identity_never_pay_for_each_other() -> None:
    trip = [_s("a", "entry", 0, 7, "GQ34FW"), _s("g", "gate", 20, None), _s("b", "exit", 40, None, "GQ34FW")]
    (alert,) = _run(TollRule(OPTIONS), trip)
    assert alert.rule["matched_by"] == "plate"


def test_a_cloned_plate_on_another_kind_of_vehicle_or_too_soon_is_not_the_trip() -> None:
    timed = TollOptions(
        frozenset({"entry"}),
        frozenset({"gate"}),
        frozenset({"exit"}),
        max_delay_s=120.0,
        travel={("entry", "exit"): (10.0, 80.0)},
    )

    def trip(entry_type: str, exit_type: str, exit_at: float) -> list[dict[str, Any]]:
        entry = {**_s("a", "entry", 0, 7, "4LYN869"), "vehicle_type": entry_type}
        return [entry, {**_s("b", "exit", exit_at, 41, "4LYN869"), "vehicle_type": exit_type}]

    assert _run(TollRule(timed), trip("van", "suv", 40)) == []  # a clone on an SUV
    assert _run(TollRule(timed), trip("van", "van", 8)) == []  # faster than the road allows
    assert _run(TollRule(timed), trip("van", "van", 90)) == []  # slower than the road allows
    assert len(_run(TollRule(timed), trip("bus", "truck", 40))) == 1  # classes a detector mixes
    assert len(_run(TollRule(timed), trip("car", "suv", 40))) == 1
    assert len(_run(TollRule(OPTIONS), trip("van", "van", 8))) == 1  # no link: not bounded
