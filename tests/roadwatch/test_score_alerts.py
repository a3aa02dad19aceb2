"""The demo's alert figures: escapes and watchlist passes against the world's truth."""

from __future__ import annotations

from typing import Any

from alerts.schema import Alert
from roadwatch.events import Sighting
from roadwatch.score import Truth, TruthPass, score_alerts

BOX = (0.0, 0.0, 100.0, 100.0)
OTHER = (300.0, 300.0, 400.0, 400.0)


def _truth() -> Truth:
    boxes: dict[str, dict[int, list[tuple[int, tuple[float, float, float, float], float]]]] = {
        cam: {f: [(1, BOX, 1.0), (2, OTHER, 1.0)] for f in range(10)} for cam in ("entry", "gate", "exit")
    }
    passes = tuple(
        TruthPass(cam, vehicle, 0, 9, counts=True) for cam in ("entry", "gate", "exit") for vehicle in (1, 2)
    )
    return Truth(boxes, passes, 2)


WORLD = {
    "sightings": [
        {"identity": 1, "camera": "entry", "trip": 1},
        {"identity": 1, "camera": "exit", "trip": 1},
        {"identity": 2, "camera": "entry", "trip": 2},
        {"identity": 2, "camera": "gate", "trip": 2},
        {"identity": 2, "camera": "exit", "trip": 2},
    ],
    "escapes": [{"identity": 1, "entry_camera": "entry", "time": 1.0, "trip": 1}],
}


def _sighting(sid: str, camera: str, box: tuple[float, float, float, float]) -> Sighting:
    return Sighting(
        id=sid,
        status="final",
        camera=camera,
        track_id=1,
        first_time=0.0,
        last_time=1.0,
        first_frame=0,
        last_frame=9,
        identity=5,
        new=False,
        library="fusion",
        score=0.9,
        vehicle_type="car",
        best_box=box,
        best_time=0.5,
        quality=0.5,
        path=tuple((f, box) for f in range(10)),
    )


def _alert(kind: str, sid: str, rule: dict[str, Any]) -> Alert:
    return Alert(f"{kind}-{sid}", kind, "warning", "exit", 0.0, 5, "", {"id": sid}, rule)


SIGHTINGS = {
    s.id: s
    for s in (
        _sighting("e1", "entry", BOX),
        _sighting("x1", "exit", BOX),
        _sighting("e2", "entry", OTHER),
        _sighting("g2", "gate", OTHER),
        _sighting("x2", "exit", OTHER),
    )
}


def test_a_true_escape_and_a_watched_vehicle_are_scored() -> None:
    alerts = [
        _alert("escape", "x1", {"entry": {"id": "e1"}}),
        _alert("watchlist", "e2", {}),
        _alert("watchlist", "g2", {}),
    ]
    figures = score_alerts(alerts, SIGHTINGS, _truth(), WORLD, exit_cameras=frozenset({"exit"}), watched=2)
    assert figures == {
        "escapes_truth": 1,
        "escape_alerts": 1,
        "escape_alerts_correct": 1,
        "escape_alerts_false": 0,
        "watchlist_truth": 3,
        "watchlist_alerts": 2,
        "watchlist_alerts_correct": 2,
        "watchlist_alerts_false": 0,
    }


def test_wrong_vehicles_count_as_false() -> None:
    alerts = [
        _alert("escape", "x2", {"entry": {"id": "e2"}}),  # vehicle 2 paid
        _alert("escape", "x1", {"entry": {"id": "e2"}}),  # right exit, wrong entry
        _alert("watchlist", "x1", {}),  # vehicle 1 is not watched
    ]
    figures = score_alerts(alerts, SIGHTINGS, _truth(), WORLD, exit_cameras=frozenset({"exit"}), watched=2)
    assert figures["escape_alerts_correct"] == 0
    assert figures["escape_alerts_false"] == 2
    assert figures["watchlist_alerts_false"] == 1
