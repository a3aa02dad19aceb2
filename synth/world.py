"""The simulated world: who drives where and when, and the ground truth of every trip.

Deterministic for a seed: trips are Poisson arrivals; each trip takes a route (a camera
sequence) with noisy travel times; at each camera the vehicle crosses the view from far to
near (front view) or near to far (rear view) at its own speed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from synth.fleet import DIMENSIONS, FleetMix, Identity, make_fleet
from synth.scenario import CameraSpec, ScenarioSpec

Split = Literal["train", "val", "test"]
SPLIT_FRACTIONS: tuple[tuple[Split, float], ...] = (("train", 0.7), ("val", 0.1), ("test", 0.2))
LANE_WIDTH_M = 3.5


@dataclass(frozen=True, slots=True)
class Pass:
    """One vehicle crossing one camera's view.

    Attributes:
        identity: Identity id.
        camera: Camera id.
        t_near: Time (s) the vehicle is nearest to the camera (``near_m``).
        speed: Speed in m/s.
        lane: Lane index (0 = nearest the road centre).
        wobble: Lateral offset within the lane, metres.
        trip: Index of the trip this pass belongs to.
    """

    identity: int
    camera: str
    t_near: float
    speed: float
    lane: int
    wobble: float
    trip: int

    def distance(self, t: float, camera: CameraSpec) -> float:
        """Distance (m) along the road from the camera at time ``t``."""
        if camera.view == "front":
            return camera.near_m + (self.t_near - t) * self.speed
        return camera.near_m + (t - self.t_near) * self.speed

    def lateral(self, camera: CameraSpec) -> float:
        """Sideways position (m) of the vehicle centre, road centre = 0."""
        half = camera.lanes * LANE_WIDTH_M / 2
        return -half + (self.lane + 0.5) * LANE_WIDTH_M + self.wobble


@dataclass(frozen=True, slots=True)
class Sighting:
    """A vehicle seen by a camera (at its nearest point) within the footage."""

    identity: int
    camera: str
    time: float
    trip: int


@dataclass(frozen=True, slots=True)
class Escape:
    """A trip that passed a toll entry camera and never a toll gate."""

    identity: int
    entry_camera: str
    time: float
    trip: int


@dataclass(frozen=True, slots=True)
class World:
    """Everything that happens in a scenario run."""

    spec: ScenarioSpec
    seed: int
    fleet: tuple[Identity, ...]
    passes: tuple[Pass, ...]
    sightings: tuple[Sighting, ...]
    escapes: tuple[Escape, ...]
    splits: dict[int, Split]

    def identity(self, identity_id: int) -> Identity:
        """The identity with this id."""
        return self.fleet[identity_id - 1]

    def passes_at(self, camera_id: str) -> list[Pass]:
        """Passes of one camera, ordered by time."""
        return sorted((p for p in self.passes if p.camera == camera_id), key=lambda p: p.t_near)


def _visible_window(p: Pass, camera: CameraSpec) -> tuple[float, float]:
    """Time span during which the vehicle is between ``near_m / 2`` and ``far_m``."""
    travel = (camera.far_m - camera.near_m * 0.5) / p.speed
    lead = (camera.far_m - camera.near_m) / p.speed
    if camera.view == "front":
        return p.t_near - lead, p.t_near - lead + travel
    return p.t_near - (camera.near_m * 0.5) / p.speed, p.t_near + lead


def simulate(spec: ScenarioSpec, seed: int) -> World:
    """Run the scenario's traffic for ``spec.duration_s`` seconds."""
    rng = np.random.default_rng(seed)
    f = spec.fleet
    mix = FleetMix(
        dict(f.types), dict(f.plate_families), f.lookalike_fraction, f.clone_fraction, f.unreadable_fraction
    )
    fleet = make_fleet(f.vehicles, mix, rng)
    cameras = {c.id: c for c in spec.cameras}
    longest = max(sum(r.travel_s) for r in spec.routes)
    start, end = -longest, spec.duration_s
    count = int(rng.poisson(f.arrivals_per_min / 60.0 * (end - start)))
    starts = np.sort(rng.uniform(start, end, count))
    order = rng.permutation(len(fleet))
    weights = np.array([r.weight for r in spec.routes], np.float64)
    passes: list[Pass] = []
    sightings: list[Sighting] = []
    escapes: list[Escape] = []
    in_lane: dict[tuple[str, int], list[tuple[Pass, float]]] = defaultdict(list)
    for trip, t0 in enumerate(starts):
        identity = fleet[int(order[trip % len(fleet)])]
        route = spec.routes[int(rng.choice(len(spec.routes), p=weights / weights.sum()))]
        speed = float(rng.uniform(*f.speed_kmh)) / 3.6
        if identity.type in ("truck", "bus"):
            speed = min(speed, 90 / 3.6)
        t = float(t0)
        for k, camera_id in enumerate(route.cameras):
            if k:
                mean = route.travel_s[k - 1]
                t += max(0.3 * mean, mean * (1 + route.spread * float(rng.standard_normal())))
            camera = cameras[camera_id]
            lane = int(rng.integers(camera.lanes))
            p = Pass(identity.id, camera_id, t, speed, lane, float(rng.uniform(-0.4, 0.4)), trip)
            first, last = _visible_window(p, camera)
            if last < 0 or first > spec.duration_s:
                continue
            length = DIMENSIONS[identity.type][2]
            p = _clear_lane(p, length, camera, in_lane)
            t = p.t_near  # held up behind slower traffic: later at the next cameras too
            in_lane[(camera_id, p.lane)].append((p, length))
            passes.append(p)
            if 0 <= t <= spec.duration_s:
                sightings.append(Sighting(identity.id, camera_id, t, trip))
        escapes.extend(_escape(spec, route.cameras, [s for s in sightings if s.trip == trip]))
    splits = _split_by_first_sighting(sightings, fleet)
    return World(
        spec,
        seed,
        tuple(fleet),
        tuple(passes),
        tuple(sorted(sightings, key=lambda s: s.time)),
        tuple(escapes),
        splits,
    )


GAP_M = 2.0  # the least bumper-to-bumper gap between two vehicles in one lane
MAX_HOLD_S = 10.0  # the longest a vehicle is held up behind others at one camera


def _clear_lane(
    p: Pass, length: float, camera: CameraSpec, in_lane: dict[tuple[str, int], list[tuple[Pass, float]]]
) -> Pass:
    """``p`` in its drawn lane if no vehicle already there comes within a car's gap of it while in
    view, else in the nearest lane that is clear, else the same a little later (held up behind
    slower traffic, up to :data:`MAX_HOLD_S`). Vehicles keep their own speeds, so without this a
    fast one would drive through a slow one ahead of it (one box, two vehicles, one vehicle's
    plate on the other's pass)."""
    order = sorted(range(camera.lanes), key=lambda lane: (abs(lane - p.lane), lane))
    for hold in np.arange(0.0, MAX_HOLD_S + 1e-9, 0.5):
        for lane in order:
            moved = replace(p, lane=lane, t_near=p.t_near + float(hold))
            if not any(_too_close(moved, length, q, ql, camera) for q, ql in in_lane[(p.camera, lane)]):
                return moved
    return p


def _too_close(a: Pass, a_length: float, b: Pass, b_length: float, camera: CameraSpec) -> bool:
    """Whether two vehicles in one lane come closer than :data:`GAP_M` while both are in view."""
    a_first, a_last = _visible_window(a, camera)
    b_first, b_last = _visible_window(b, camera)
    start, end = max(a_first, b_first), min(a_last, b_last)
    if start > end:
        return False
    times = np.linspace(start, end, max(2, int((end - start) / 0.1) + 1))
    apart = np.abs(
        np.array([a.distance(t, camera) for t in times]) - np.array([b.distance(t, camera) for t in times])
    )
    return bool((apart < (a_length + b_length) / 2 + GAP_M).any())


def _escape(spec: ScenarioSpec, route: tuple[str, ...], seen: list[Sighting]) -> list[Escape]:
    """An escape: the trip's route has a toll entry camera (seen on footage) and no gate after it."""
    for sighting in seen:
        if sighting.camera in spec.toll_entry:
            after = route[route.index(sighting.camera) + 1 :]
            if not any(c in spec.toll_gate for c in after):
                return [Escape(sighting.identity, sighting.camera, sighting.time, sighting.trip)]
    return []


def _split_by_first_sighting(sightings: list[Sighting], fleet: list[Identity]) -> dict[int, Split]:
    """Train/val/test by the time an identity is first seen: held-out identities come last."""
    first: dict[int, float] = defaultdict(lambda: float("inf"))
    for s in sightings:
        first[s.identity] = min(first[s.identity], s.time)
    ordered = sorted((i.id for i in fleet), key=lambda i: (first[i], i))
    splits: dict[int, Split] = {}
    seen = [i for i in ordered if first[i] != float("inf")]
    bounds = np.cumsum([frac for _, frac in SPLIT_FRACTIONS]) * len(seen)
    for rank, identity in enumerate(seen):
        splits[identity] = SPLIT_FRACTIONS[int(np.searchsorted(bounds, rank, side="right"))][0]
    for identity in ordered[len(seen) :]:
        splits[identity] = "train"  # never on footage: harmless either way
    return splits
