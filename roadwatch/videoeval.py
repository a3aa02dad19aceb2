"""Sightings of a real clip scored against hand-made labels (``roadwatch eval video``).

App layer: it reads the pipeline's sightings and a label file; it runs nothing itself.

**Labels** are a JSON object in the format of ``../shared/data/real-traffic/README.md``: a
``vehicles`` list whose entries carry ``id``, ``first_s`` and ``last_s`` (the first and last
moment any part is in view, seconds from the first frame), ``zone`` (``near`` or ``far``),
``sure`` and ``cross_y110_s`` (the moment the vehicle's front reaches image row 110, or
null), and optionally ``type``, ``lane`` and ``carriageway``; a ``static`` list of things that
never move. A **pass** is a near, sure vehicle that enters the clip before it ends.

**Matching.** A sighting may belong to a labelled vehicle when most of its track's time span
(``SPAN_SHARE``) lies within the vehicle's ``[first_s, last_s]`` widened by the labels'
±0.15 s; where both are known, the moment the track's box reaches the anchor row (its bottom
edge: traffic comes toward the camera) must be within ``ANCHOR_S`` of the label's. Pairs
are taken best first (nearest anchor, a pair without both anchors counting as the farthest
allowed, then most of the span inside), one sighting per vehicle; a further sighting of a
pass is a duplicate, one of an unsure or far vehicle is neutral, and a sighting no vehicle
fits is false.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from roadwatch.events import Sighting

LABEL_TOLERANCE_S = 0.15  # the labels' own precision (by eye)
SPAN_SHARE = 0.8  # of a sighting's span that must lie within the vehicle's
ANCHOR_ROW = 110  # image row of the labels' crossing times (cross_y110_s)
ANCHOR_S = 0.5  # vehicles of one lane cross the anchor row at least this far apart


class LabelError(ValueError):
    """A label file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class LabelledVehicle:
    """One labelled vehicle of a clip."""

    id: str
    first_s: float
    last_s: float
    near: bool
    sure: bool
    cross_s: float | None
    type: str = ""

    @property
    def counts(self) -> bool:
        """A pass the pipeline must report once."""
        return self.near and self.sure


@dataclass(frozen=True, slots=True)
class VideoLabels:
    """The labels of one clip; ``beyond_end`` names vehicles that enter after it ends."""

    vehicles: tuple[LabelledVehicle, ...]
    beyond_end: tuple[str, ...] = ()

    @property
    def passes(self) -> tuple[LabelledVehicle, ...]:
        """The passes to find (near, sure, inside the clip)."""
        return tuple(v for v in self.vehicles if v.counts and v.id not in self.beyond_end)


def load_labels(path: Path, duration_s: float | None = None) -> VideoLabels:
    """Read a label file; vehicles that appear after ``duration_s`` are set aside.

    Raises:
        LabelError: Missing or unreadable file, not JSON, or a field missing or of the wrong
            kind (named with its path, e.g. ``vehicles[3].first_s``).
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LabelError(f"{path}: no such label file") from None
    except OSError as exc:
        raise LabelError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise LabelError(f"{path}: not a text file") from None
    except json.JSONDecodeError as exc:
        raise LabelError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("vehicles"), list):
        raise LabelError(f"{path}: vehicles: missing (a list of labelled vehicles is required)")
    vehicles = []
    seen: set[str] = set()
    for i, entry in enumerate(data["vehicles"]):
        vehicle = _vehicle(path, f"vehicles[{i}]", entry)
        if vehicle.id in seen:
            raise LabelError(f"{path}: vehicles[{i}].id: {vehicle.id!r} is used twice")
        seen.add(vehicle.id)
        vehicles.append(vehicle)
    beyond = tuple(
        v.id for v in vehicles if duration_s is not None and v.first_s > duration_s + LABEL_TOLERANCE_S
    )
    return VideoLabels(tuple(vehicles), beyond)


def _vehicle(path: Path, where: str, entry: object) -> LabelledVehicle:
    if not isinstance(entry, dict):
        raise LabelError(f"{path}: {where}: expected an object, got {type(entry).__name__}")

    def field(name: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
        if name not in entry:
            if optional:
                return None
            raise LabelError(f"{path}: {where}.{name}: missing")
        value = entry[name]
        if value is None and optional:
            return None
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise LabelError(f"{path}: {where}.{name}: expected {_kind_name(kind)}, got {value!r}")
        return value

    first, last = float(field("first_s", (int, float))), float(field("last_s", (int, float)))
    if not 0 <= first <= last:
        raise LabelError(
            f"{path}: {where}: first_s {first} and last_s {last} must satisfy 0 <= first <= last"
        )
    zone = field("zone", str)
    if zone not in ("near", "far"):
        raise LabelError(f"{path}: {where}.zone: expected 'near' or 'far', got {zone!r}")
    cross = field("cross_y110_s", (int, float), optional=True)
    return LabelledVehicle(
        id=str(field("id", str)),
        first_s=first,
        last_s=last,
        near=zone == "near",
        sure=bool(field("sure", bool)),
        cross_s=None if cross is None else float(cross),
        type=field("type", str, optional=True) or "",
    )


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "a number", float: "a number", str: "a string", bool: "true or false"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


@dataclass(frozen=True, slots=True)
class Match:
    """What one final sighting was taken for: ``pass``, ``duplicate``, ``neutral`` or ``false``."""

    sighting: Sighting
    label: str | None
    kind: str


def anchor_time(sighting: Sighting, fps: float, row: float = ANCHOR_ROW) -> float | None:
    """When the track's box first reaches ``row`` with its bottom edge (None when it starts
    there already or never does): frame index over ``fps``."""
    if not sighting.path or sighting.path[0][1][3] >= row:
        return None
    for frame, box in sighting.path:
        if box[3] >= row:
            return frame / fps
    return None


def match_sightings(sightings: Sequence[Sighting], labels: VideoLabels, fps: float) -> list[Match]:
    """Each final sighting matched to a labelled vehicle or found false (module docstring)."""
    finals = [s for s in sightings if s.status == "final"]
    vehicles = [v for v in labels.vehicles if v.id not in labels.beyond_end]
    pairs: list[tuple[float, float, int, int]] = []  # (anchor gap, 1 - share inside, sighting, vehicle)
    for i, s in enumerate(finals):
        anchor = anchor_time(s, fps)
        span = max(s.last_time - s.first_time, 1.0 / fps)
        for j, v in enumerate(vehicles):
            inside = min(s.last_time, v.last_s + LABEL_TOLERANCE_S) - max(
                s.first_time, v.first_s - LABEL_TOLERANCE_S
            )
            share = max(0.0, inside) / span if s.last_time > s.first_time else float(inside >= 0)
            if share < SPAN_SHARE:
                continue
            gap = ANCHOR_S  # without both anchors a pair ranks after every anchored one
            if anchor is not None and v.cross_s is not None:
                gap = abs(anchor - v.cross_s)
                if gap > ANCHOR_S:
                    continue
            pairs.append((gap, 1.0 - share, i, j))
    pairs.sort()
    taken_by: dict[int, int] = {}  # sighting -> vehicle it counts for
    best_for: dict[int, int] = {}  # sighting -> its best-fitting vehicle
    claimed: set[int] = set()
    for _, _, i, j in pairs:
        best_for.setdefault(i, j)
        if i in taken_by or j in claimed:
            continue
        taken_by[i] = j
        claimed.add(j)
    out = []
    for i, s in enumerate(finals):
        if i in taken_by:
            v = vehicles[taken_by[i]]
            out.append(Match(s, v.id, "pass" if v.counts else "neutral"))
        elif i in best_for:
            v = vehicles[best_for[i]]
            out.append(Match(s, v.id, "duplicate" if v.counts else "neutral"))
        else:
            out.append(Match(s, None, "false"))
    return out


def score_video(matches: Sequence[Match], labels: VideoLabels) -> dict[str, Any]:
    """The figures of ``roadwatch eval video`` (keys are stable)."""
    passes = {v.id for v in labels.passes}
    found = {m.label for m in matches if m.kind == "pass" and m.label in passes}
    duplicates = sum(m.kind == "duplicate" for m in matches)
    counted = sum(m.kind != "neutral" for m in matches)  # neutral sightings neither help nor hurt
    return {
        "passes_truth": len(passes),
        "sightings": len(matches),
        "passes_found": len(found),
        "recall": round(len(found) / len(passes), 4) if passes else None,
        "false_sightings": sum(m.kind == "false" for m in matches),
        "duplicate_sightings": duplicates,
        "neutral_sightings": sum(m.kind == "neutral" for m in matches),
        "events_per_pass": round(counted / len(passes), 4) if passes else None,
        "missed": sorted(passes - found),
        "labels_beyond_end": list(labels.beyond_end),
    }


SHEET_TILE = 112
_COLOURS = {
    "pass": (60, 170, 60),
    "duplicate": (0, 160, 255),
    "neutral": (160, 160, 160),
    "false": (40, 40, 220),
}


def sighting_sheet(
    path: Path, matches: Sequence[Match], crops: dict[str, npt.NDArray[np.uint8]], columns: int = 8
) -> Path:
    """A PNG with every sighting's best crop in time order, captioned with its time, its
    label and what it was taken for (green pass, orange duplicate, grey neutral, red false),
    so that a person can check the figures by eye. Returns ``path``.

    Raises:
        OSError: The sheet cannot be written.
    """
    import cv2

    order = sorted(matches, key=lambda m: m.sighting.first_time)
    rows = max(1, -(-len(order) // columns))
    caption = 30
    sheet = np.full((rows * (SHEET_TILE + caption), columns * SHEET_TILE, 3), 255, np.uint8)
    for k, m in enumerate(order):
        r, c = divmod(k, columns)
        y0, x0 = r * (SHEET_TILE + caption), c * SHEET_TILE
        crop = crops.get(m.sighting.id)
        if crop is not None and crop.size:
            scale = (SHEET_TILE - 4) / max(crop.shape[:2])
            tile = cv2.resize(
                crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
            )
            h, w = tile.shape[:2]
            sheet[y0 + 2 : y0 + 2 + h, x0 + 2 : x0 + 2 + w] = tile
        colour = _COLOURS[m.kind]
        cv2.rectangle(
            sheet, (x0 + 1, y0 + 1), (x0 + SHEET_TILE - 2, y0 + SHEET_TILE + caption - 2), colour, 2
        )
        s = m.sighting
        cv2.putText(
            sheet,
            f"{s.first_time:.1f}-{s.last_time:.1f}s",
            (x0 + 5, y0 + SHEET_TILE + 10),
            0,
            0.35,
            (0, 0, 0),
            1,
        )
        what = f"{m.kind} {m.label or ''}".strip()
        cv2.putText(sheet, what, (x0 + 5, y0 + SHEET_TILE + 24), 0, 0.38, colour, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet):
        raise OSError(f"{path}: cannot write the contact sheet")
    return path


def snapshot_crops(sightings: Sequence[Sighting]) -> dict[str, npt.NDArray[np.uint8]]:
    """Each sighting's best vehicle crop, as the run saved it (``snapshots["vehicle"]``);
    sightings without one are left out."""
    import cv2

    crops: dict[str, npt.NDArray[np.uint8]] = {}
    for s in sightings:
        path = s.snapshots.get("vehicle")
        crop = cv2.imread(path) if path else None
        if crop is not None:
            crops[s.id] = np.asarray(crop, np.uint8)
    return crops
