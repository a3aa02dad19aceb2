"""Scoring sightings against the synthetic world's ground truth (the demo's figures).

**Truth passes.** A vehicle's frames at one camera are split into passes where it is absent
for more than ``gap`` frames. A pass *counts* (``passes_truth``) when the vehicle is plainly
there: at least ``min_frames`` frames with visibility ≥ ``min_visibility`` and a box at least
``min_height`` pixels high. Glimpses (a vehicle clipped at the edge of the frame for a
moment) neither count nor are held against the pipeline.

**Assigning a sighting.** Each frame of a sighting's track votes for the truth vehicle its
box overlaps best (IoU ≥ ``min_iou``), weighted by that IoU times the vehicle's visibility (a
vehicle hidden behind another in the same place does not take the votes of the one in front);
the winner's pass is the sighting's. A sighting no truth vehicle overlaps is *false*.

**Re-identification.** A pair is two final sightings given one identity; it is true when both
were assigned the same truth vehicle. ``reid_precision`` = true pairs / pairs;
``reid_recall`` = true pairs / pairs of sightings assigned the same truth vehicle (sightings
of glimpses included, sightings without identity counted as unpaired).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from alerts.schema import Alert
from roadwatch.events import Sighting
from tracking.bytetrack import iou


@dataclass(frozen=True, slots=True)
class TruthPass:
    """One truth vehicle's pass at one camera."""

    camera: str
    identity: int
    first_frame: int
    last_frame: int
    counts: bool


@dataclass(frozen=True, slots=True)
class Truth:
    """Per camera: frame index → ``[(identity, box, visibility)]``, and the passes."""

    boxes: dict[str, dict[int, list[tuple[int, tuple[float, float, float, float], float]]]]
    passes: tuple[TruthPass, ...]
    vehicles: int


def load_truth(
    truth_dir: Path,
    *,
    gap: int = 10,
    min_frames: int = 3,
    min_visibility: float = 0.6,
    min_height: float = 40.0,
) -> Truth:
    """Read ``<camera>.json`` truth files (``synth.export``) and cut them into passes.

    Raises:
        OSError, ValueError: A file is missing or not truth JSON.
    """
    boxes: dict[str, dict[int, list[tuple[int, tuple[float, float, float, float], float]]]] = {}
    passes: list[TruthPass] = []
    vehicles: set[int] = set()
    for path in sorted(truth_dir.glob("*.json")):
        document = json.loads(path.read_text())
        camera = path.stem
        frames: dict[int, list[tuple[int, tuple[float, float, float, float], float]]] = {}
        seen: dict[int, list[tuple[int, bool]]] = defaultdict(list)
        for frame in document["frames"]:
            rows = []
            for v in frame["vehicles"]:
                x1, y1, x2, y2 = (float(c) for c in v["xyxy"])
                rows.append((int(v["identity"]), (x1, y1, x2, y2), float(v["visibility"])))
                plain = v["visibility"] >= min_visibility and y2 - y1 >= min_height
                seen[int(v["identity"])].append((int(frame["index"]), plain))
            frames[int(frame["index"])] = rows
        boxes[camera] = frames
        for identity, hits in seen.items():
            vehicles.add(identity)
            start = 0
            for k in range(1, len(hits) + 1):
                if k == len(hits) or hits[k][0] - hits[k - 1][0] > gap:
                    part = hits[start:k]
                    counts = sum(plain for _, plain in part) >= min_frames
                    passes.append(TruthPass(camera, identity, part[0][0], part[-1][0], counts))
                    start = k
    return Truth(boxes, tuple(passes), len(vehicles))


def assign(sighting: Sighting, truth: Truth, min_iou: float = 0.3) -> TruthPass | None:
    """The truth pass a sighting's track followed (module docstring), or None."""
    frames = truth.boxes.get(sighting.camera, {})
    votes: dict[int, float] = defaultdict(float)
    for index, box in sighting.path:
        rows = frames.get(index, [])
        if not rows:
            continue
        overlaps = iou(np.array([box]), np.array([b for _, b, _ in rows]))[0]
        weights = overlaps * np.array([max(v, 0.05) for _, _, v in rows])
        best = int(np.argmax(weights))
        if overlaps[best] >= min_iou:
            votes[rows[best][0]] += float(weights[best])
    if not votes:
        return None
    identity = max(votes, key=lambda i: votes[i])
    middle = (sighting.first_frame + sighting.last_frame) / 2
    candidates = [p for p in truth.passes if p.camera == sighting.camera and p.identity == identity]
    return min(candidates, key=lambda p: abs((p.first_frame + p.last_frame) / 2 - middle), default=None)


def covered(sighting: Sighting, truth: Truth, min_iou: float = 0.3) -> set[int]:
    """Every truth vehicle a sighting's track overlapped (IoU ≥ ``min_iou``) in some frame: where
    two vehicles drive through each other, one track may carry both."""
    frames = truth.boxes.get(sighting.camera, {})
    found: set[int] = set()
    for index, box in sighting.path:
        rows = frames.get(index, [])
        if rows:
            overlaps = iou(np.array([box]), np.array([b for _, b, _ in rows]))[0]
            found |= {rows[k][0] for k in np.flatnonzero(overlaps >= min_iou)}
    return found


def score(sightings: Iterable[Sighting], truth: Truth) -> dict[str, Any]:
    """The demo's figures for the final sightings of a run (module docstring)."""
    finals = [s for s in sightings if s.status == "final"]
    assigned = [(s, assign(s, truth)) for s in finals]
    counted = [p for p in truth.passes if p.counts]
    found = {p for _, p in assigned if p is not None and p.counts}
    per_pass = Counter(p for _, p in assigned if p is not None)
    pairs = true_pairs = truth_pairs = found_pairs = 0
    for i in range(len(assigned)):
        for j in range(i + 1, len(assigned)):
            (a, pa), (b, pb) = assigned[i], assigned[j]
            same_truth = pa is not None and pb is not None and pa.identity == pb.identity
            same_id = a.identity is not None and a.identity == b.identity
            pairs += same_id
            true_pairs += same_id and same_truth
            truth_pairs += same_truth
            found_pairs += same_truth and same_id
    identities = {s.identity for s in finals if s.identity is not None}
    return {
        "vehicles_truth": truth.vehicles,
        "passes_truth": len(counted),
        "events": len(finals),
        "passes_found": len(found),
        "duplicate_events": sum(n - 1 for p, n in per_pass.items() if p.counts and n > 1),
        "false_events": sum(p is None for _, p in assigned),
        "glimpse_events": sum(p is not None and not p.counts for _, p in assigned),
        "no_identity_events": sum(s.identity is None for s in finals),
        "identities": len(identities),
        "identities_truth": len({p.identity for p in counted}),
        "reid_pairs": pairs,
        "reid_precision": round(true_pairs / pairs, 4) if pairs else 1.0,
        "reid_recall": round(found_pairs / truth_pairs, 4) if truth_pairs else 1.0,
        "events_per_pass": round(len(finals) / len(counted), 4) if counted else 0.0,
    }


def describe(sightings: Sequence[Sighting], truth: Truth) -> list[str]:
    """One line per final sighting with its truth assignment (for debugging a run)."""
    lines = []
    for s in sightings:
        if s.status != "final":
            continue
        p = assign(s, truth)
        where = "false" if p is None else f"truth {p.identity} {'pass' if p.counts else 'glimpse'}"
        lines.append(
            f"{s.camera} track {s.track_id} t {s.first_time:.1f}-{s.last_time:.1f} id {s.identity} "
            f"{'new' if s.new else s.library} {s.score:.2f} ({where})"
        )
    return lines


def score_alerts(
    alerts: Sequence[Alert],
    sightings: Mapping[str, Sighting],
    truth: Truth,
    world: Mapping[str, Any],
    *,
    exit_cameras: frozenset[str],
    watched: int | None,
) -> dict[str, Any]:
    """The demo's alert figures against the world's truth.

    ``escapes_truth``: the world's escapes whose vehicle passed plainly (a counted pass, not a
    glimpse behind another vehicle) both its entry camera and an exit camera within the
    footage. An escape alert is correct when its entry sighting was assigned an escaping vehicle
    that its exit sighting's track covered (:func:`covered`; ``escape_alerts_correct`` counts the escapes of
    ``escapes_truth`` so caught, each once; an alert on an escape seen only in glimpses is
    right, not counted). ``watchlist_truth``: the counted
    passes of the ``watched`` vehicle; a watchlist alert is correct when its sighting was
    assigned one of them (each pass counted once). ``*_false``: alerts of another vehicle (an
    escape alert also when its vehicle did not escape).
    """
    plain = {(p.camera, p.identity) for p in truth.passes if p.counts}
    trips_out = {
        (s["identity"], s["trip"], s["camera"]) for s in world["sightings"] if s["camera"] in exit_cameras
    }
    out = [
        (e, [c for i, t, c in trips_out if (i, t) == (e["identity"], e["trip"])]) for e in world["escapes"]
    ]
    escaped_any = {e["identity"] for e, exits in out if exits}
    escaped = {
        e["identity"]
        for e, exits in out
        if (e["entry_camera"], e["identity"]) in plain and any((c, e["identity"]) in plain for c in exits)
    }

    def vehicle(sighting_id: Any) -> int | None:
        sighting = sightings.get(str(sighting_id))
        found = assign(sighting, truth) if sighting is not None else None
        return found.identity if found is not None else None

    escapes = [a for a in alerts if a.kind == "escape"]
    caught = set()
    wrong_escapes = 0
    for alert in escapes:
        who = vehicle(alert.rule["entry"]["id"])
        exit_sighting = sightings.get(str(alert.sighting["id"]))
        seen_at_exit = covered(exit_sighting, truth) if exit_sighting is not None else set()
        if who in escaped_any and who in seen_at_exit:
            caught.add(who)
        else:
            wrong_escapes += 1
    watched_passes = {p for p in truth.passes if p.counts and p.identity == watched}
    listed = [a for a in alerts if a.kind == "watchlist"]
    hit_passes = set()
    wrong_listed = 0
    for alert in listed:
        sighting = sightings.get(str(alert.sighting["id"]))
        found = assign(sighting, truth) if sighting is not None else None
        if found is not None and found.identity == watched:
            hit_passes.add(found)
        else:
            wrong_listed += 1
    return {
        "escapes_truth": len(escaped),
        "escape_alerts": len(escapes),
        "escape_alerts_correct": len(caught & escaped),
        "escape_alerts_false": wrong_escapes,
        "watchlist_truth": len(watched_passes),
        "watchlist_alerts": len(listed),
        "watchlist_alerts_correct": len(hit_passes & watched_passes),
        "watchlist_alerts_false": wrong_listed,
    }
