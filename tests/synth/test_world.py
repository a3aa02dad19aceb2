"""Simulation: determinism, escapes, identity splits, fleet look-alikes and clones."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError
from synth.scenario import bundled_scenarios, load_scenario
from synth.world import simulate


def test_same_seed_same_world(tiny_scenario: Path) -> None:
    spec = load_scenario(tiny_scenario)
    a, b, c = simulate(spec, 3), simulate(spec, 3), simulate(spec, 4)
    assert a.passes == b.passes
    assert a.sightings == b.sightings
    assert a.fleet == b.fleet
    assert a.passes != c.passes


def test_escapes_are_exactly_entry_sightings_on_routes_without_the_gate(tiny_scenario: Path) -> None:
    world = simulate(load_scenario(tiny_scenario), 0)
    by_trip: dict[int, set[str]] = {}
    for p in world.passes:
        by_trip.setdefault(p.trip, set()).add(p.camera)
    entry_trips = {s.trip for s in world.sightings if s.camera == "entry"}
    expected = {t for t in entry_trips if "gate" not in by_trip[t]}
    assert {e.trip for e in world.escapes} == expected
    assert expected, "the tiny scenario should contain escapes"
    assert all(e.entry_camera == "entry" for e in world.escapes)


def test_splits_are_disjoint_and_held_out_identities_come_last(tiny_scenario: Path) -> None:
    world = simulate(load_scenario(tiny_scenario), 0)
    seen = {s.identity for s in world.sightings}
    first = {i: min(s.time for s in world.sightings if s.identity == i) for i in seen}
    train = {i for i in seen if world.splits[i] == "train"}
    test = {i for i in seen if world.splits[i] == "test"}
    assert train
    assert test
    assert not train & test
    assert max(first[i] for i in train) <= min(first[i] for i in test)


def test_fleet_has_lookalikes_and_clones(tiny_scenario: Path) -> None:
    world = simulate(load_scenario(tiny_scenario), 0)
    lookalikes = [i for i in world.fleet if i.lookalike_of is not None]
    clones = [i for i in world.fleet if i.clone_of is not None]
    assert lookalikes
    assert clones
    for i in lookalikes:
        model = world.identity(i.lookalike_of)  # type: ignore[arg-type]
        assert (i.type, i.colour) == (model.type, model.colour)
        assert i.plate_text != model.plate_text
    for i in clones:
        assert i.plate_text == world.identity(i.clone_of).plate_text  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "cameras"), [("toll-road", 3), ("city", 4)])
def test_bundled_scenarios_load(name: str, cameras: int) -> None:
    assert name in bundled_scenarios()
    spec = load_scenario(name)
    assert len(spec.cameras) == cameras
    assert max(c.resolution[0] for c in spec.cameras) <= 1920


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("name: x\ncameras: []\nroutes: []\n", "cameras: needs at least 1 item(s), got 0"),
        (
            "name: x\ncameras: [{id: a, role: entry}]\nroutes: [{cameras: [a, b], travel_s: [3]}]\n",
            "routes[0].cameras[1]: unknown camera 'b'",
        ),
        (
            "name: x\ncameras: [{id: a, role: entry, resolution: [4000, 3000]}]\nroutes: [{cameras: [a]}]\n",
            "cameras[0].resolution: must be within 64x64 .. 1920x1080",
        ),
        (
            "name: x\ncameras: [{id: a, role: entry}]\nroutes: [{cameras: [a, a]}]\n",
            "routes[0].travel_s: needs 1 values, one per hop",
        ),
        ("name: x\ncameras: [{id: a, role: tower}]\nroutes: [{cameras: [a]}]\n", "cameras[0].role"),
        ("name: x\ncamera: []\n", "camera: unknown key"),
    ],
)
def test_bad_scenarios_name_the_field(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert any(message in p for p in info.value.problems), info.value.problems


def test_unknown_scenario_name_lists_bundled_ones() -> None:
    with pytest.raises(ConfigError, match="bundled: city, reid-fleet, toll-road"):
        load_scenario("motorway")


def test_no_vehicle_drives_through_another_in_its_lane() -> None:
    from synth.fleet import DIMENSIONS
    from synth.world import _too_close

    spec = load_scenario("toll-road").model_copy(update={"duration_s": 60})
    world = simulate(spec, 11)
    cameras = {c.id: c for c in spec.cameras}
    passes = list(world.passes)
    length = {i.id: DIMENSIONS[i.type][2] for i in world.fleet}
    close = [
        (a, b)
        for k, a in enumerate(passes)
        for b in passes[k + 1 :]
        if a.camera == b.camera
        and a.lane == b.lane
        and _too_close(a, length[a.identity], b, length[b.identity], cameras[a.camera])
    ]
    assert close == []
    assert len({p.lane for p in passes if p.camera == "gate"}) == 3  # lanes still shared out
