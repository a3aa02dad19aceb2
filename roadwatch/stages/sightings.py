"""Sightings stage: one event per vehicle pass per camera.

A pass is a confirmed track. Its sighting is written twice at most: ``provisional`` as soon as
its identity is first known (alerts can act at once) and ``final`` when the track ends, with
the identity it ended with. A track that ends while its recognition is still out (the gallery
is unreachable) waits, and is written when the answer comes; :meth:`SightingBook.flush`
writes whatever still waits when the run ends, with ``error`` saying why it has no identity.

Times are the frames' own; a recording whose timestamps go backwards cannot make a pass end
before it began (each camera's clock is held monotonic here).

**One vehicle, one pass.** A final sighting is held until its camera has shown
``hold_frames`` more frames (a track ends only ``tracking.max_lost`` frames after its last
detection, so the hold must outlast that). A second pass at the same camera that overlaps
it or starts within ``merge_gap_s`` of its end is the same vehicle tracked twice (a track cut
in two, or a second track on a part of it) when the two share an identity. It is merged in
and one final sighting is written: the earlier track's id, the union of times and frames, the
better shot.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from gallery.gallery import Match
from plates.vote import PlateVote
from roadwatch.events import Box, Sighting, sighting_id
from roadwatch.stages.recognise import Recognition
from roadwatch.stages.shots import Shot
from roadwatch.stages.track import TrackedFrame
from tracking import TrackState

log = logging.getLogger(__name__)

MIN_MOVE_PX = 8.0  # boxes lower than this must still travel min_move of it (camera shake)


@dataclass(slots=True)
class _Pass:
    camera: str
    track_id: int
    first_frame: int
    first_time: float
    last_frame: int
    last_time: float
    class_id: int = -1
    confirmed: bool = False
    match: Match | None = None
    provisional_sent: bool = False
    ended: bool = False
    waiting: int = 0  # recognitions still out
    best: Shot | None = None
    error: str = ""
    path: list[tuple[int, Box]] = field(default_factory=list)
    plate: PlateVote | None = None
    max_height: float = 0.0
    moved: bool = False
    provisional_due: bool = False  # identity known, but not yet a pass

    def observe(self, frame: int, box: Box, min_move: float) -> None:
        """Grow the pass by one detected box (path, height, movement from the first box: its
        centre has travelled ``min_move`` of the box's height)."""
        self.path.append((frame, box))
        height = box[3] - box[1]
        self.max_height = max(self.max_height, height)
        if not self.moved:
            first = self.path[0][1]
            dx = (box[0] + box[2] - first[0] - first[2]) / 2
            dy = (box[1] + box[3] - first[1] - first[3]) / 2
            self.moved = (dx * dx + dy * dy) ** 0.5 >= min_move * max(
                height, first[3] - first[1], MIN_MOVE_PX
            )


def _merge(into: _Pass, other: _Pass) -> None:
    """Fold ``other`` (a second track of the same vehicle at the same camera) into ``into``."""
    if other.first_time < into.first_time or (
        other.first_time == into.first_time and other.first_frame < into.first_frame
    ):
        into.first_time, into.first_frame = other.first_time, other.first_frame
        into.track_id = other.track_id  # the id is the earliest track's
    if other.last_time > into.last_time:
        into.last_time, into.last_frame = other.last_time, other.last_frame
    if other.best is not None and (into.best is None or other.best.quality > into.best.quality):
        into.best = other.best
    if len(other.path) > len(into.path):
        into.class_id = other.class_id
    into.path = sorted(into.path + other.path, key=lambda step: step[0])
    into.moved = into.moved or other.moved
    into.max_height = max(into.max_height, other.max_height)
    if other.plate is not None and (into.plate is None or other.plate.reads > into.plate.reads):
        into.plate = other.plate
    if into.match is None:
        into.match, into.error = other.match, other.error
    elif other.match is not None and other.match.identity == into.match.identity and other.match.new:
        into.match = other.match  # whichever enrolled the identity, the merged pass did


@dataclass(frozen=True, slots=True)
class SnapshotJob:
    """Images of a final sighting to write (by the snapshot writer, off the pipeline thread)."""

    paths: dict[str, Path]
    shot: Shot


class SightingBook:
    """Passes of every camera, from first frame to final event.

    Args:
        class_names: Names of the tracks' class ids.
        snapshots_dir: Where best shots are saved (``<camera>/<id>-frame.jpg`` etc.); None: not saved.
        colour_of: Names a best shot's colour from its vehicle crop and frame (the gate's
            colour head, ``detectors.gate.ColourNamer``); None: sightings carry no colour.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        snapshots_dir: Path | None = None,
        *,
        merge_gap_s: float = 2.0,
        hold_frames: int = 60,
        min_pass_px: float = 0.0,
        min_pass_s: float = 0.0,
        min_move: float = 0.0,
        stationary_s: float = 10.0,
        colour_of: Callable[[npt.NDArray[np.uint8], npt.NDArray[np.uint8]], str] | None = None,
    ) -> None:
        self.class_names = tuple(class_names)
        self.colour_of = colour_of
        self.snapshots_dir = snapshots_dir
        self.merge_gap_s = merge_gap_s
        self.hold_frames = hold_frames
        self.min_pass_px = min_pass_px
        self.min_pass_s = min_pass_s
        self.min_move = min_move
        self.stationary_s = stationary_s
        self.merged = 0
        self.glimpses = 0  # tracks that ended too small or too short to be a pass
        self.still_tracks = 0  # tracks that ended without ever moving
        self._passes: dict[tuple[str, int], _Pass] = {}
        self._held: list[_Pass] = []
        self._clock: dict[str, float] = {}
        self.snapshot_jobs: list[SnapshotJob] = []

    def observe(self, tracked: TrackedFrame) -> list[Sighting]:
        """Extend the passes of one frame's tracks; forget tentative tracks that vanished; return
        the held final sightings this camera's clock has now passed."""
        frame, tracks = tracked.frame, tracked.tracks
        t = max(frame.timestamp, self._clock.get(frame.camera_id, frame.timestamp))
        self._clock[frame.camera_id] = t
        live = set(tracks.track_id.tolist())
        for n, track_id in enumerate(tracks.track_id.tolist()):
            key = (frame.camera_id, track_id)
            p = self._passes.get(key)
            if p is None:
                p = self._passes[key] = _Pass(frame.camera_id, track_id, frame.index, t, frame.index, t)
            if tracks.detection[n] >= 0:
                p.last_frame, p.last_time = frame.index, t
                box = tracks.xyxy[n]
                p.observe(
                    frame.index, (float(box[0]), float(box[1]), float(box[2]), float(box[3])), self.min_move
                )
            p.class_id = int(tracks.class_id[n])
            p.confirmed = p.confirmed or tracks.state[n] != TrackState.TENTATIVE
        out = []
        for key in [k for k, p in self._passes.items() if k[0] == frame.camera_id and not p.ended]:
            p = self._passes[key]
            if key[1] not in live and not p.confirmed:
                del self._passes[key]
            elif p.provisional_due and self._is_pass(p):
                p.provisional_due, p.provisional_sent = False, True
                out.append(self._sighting(p, "provisional"))
        return out + self._release(
            lambda h: h.camera == frame.camera_id and frame.index > h.last_frame + self.hold_frames
        )

    def _is_pass(self, p: _Pass) -> bool:
        """A vehicle going by: moved, high enough, long enough (module docstring)."""
        return p.moved and p.max_height >= self.min_pass_px and p.last_time - p.first_time >= self.min_pass_s

    def stationary(self, camera: str | None = None) -> list[int]:
        """Track ids (of ``camera``, or every camera) still from their birth for ``stationary_s``."""
        return [
            p.track_id
            for p in self._passes.values()
            if not p.moved
            and not p.ended
            and (camera is None or p.camera == camera)
            and p.last_time - p.first_time >= self.stationary_s
        ]

    def asked(self, camera: str, track_id: int) -> None:
        """A recognition of this track was sent."""
        p = self._passes.get((camera, track_id))
        if p is not None:
            p.waiting += 1

    def recognised(self, recognition: Recognition) -> list[Sighting]:
        """Take a recognition's outcome; returns the sightings it lets out."""
        shot = recognition.request.shot
        p = self._passes.get((shot.camera, shot.track_id))
        if p is None:
            return []
        p.waiting = max(0, p.waiting - 1)
        if not p.ended and (p.best is None or shot.quality > p.best.quality):
            p.best = shot
        out = []
        vote = recognition.plate
        if vote is not None and vote.read.readable and (recognition.final or p.plate is None):
            p.plate = vote
        if recognition.final:
            p.match, p.error = recognition.match, recognition.error
        elif recognition.match is not None and not p.provisional_sent and not p.ended:
            p.match = recognition.match
            if self._is_pass(p):
                p.provisional_sent = True
                out.append(self._sighting(p, "provisional"))
            else:
                p.provisional_due = True
        if p.ended and p.waiting == 0:
            out += self._final(p)
        return out

    def end(self, camera: str, track_id: int, best: Shot | None) -> list[Sighting]:
        """A track ended; its final sighting now, or once its recognitions are back."""
        p = self._passes.get((camera, track_id))
        if p is None or not p.confirmed:
            self._passes.pop((camera, track_id), None)
            return []
        p.ended, p.best = True, best or p.best
        if best is None and p.match is None:
            p.error = p.error or "no usable view of the vehicle"
        return self._final(p) if p.waiting == 0 else []

    def flush(self, reason: str) -> list[Sighting]:
        """Final sightings of every ended pass still waiting for its identity (the run is over)."""
        out = []
        for p in list(self._passes.values()):
            if p.ended:
                p.error = p.error or reason if p.match is None else p.error
                out += self._final(p)
        return out

    def release_all(self) -> list[Sighting]:
        """Every held final sighting (the run is over)."""
        return self._release(lambda _: True)

    def _final(self, p: _Pass) -> list[Sighting]:
        del self._passes[(p.camera, p.track_id)]
        for h in self._held:
            if h.camera == p.camera and self._same_vehicle(h, p):
                _merge(h, p)
                self.merged += 1
                return []
        if not self._is_pass(p):
            if p.moved:
                self.glimpses += 1
            else:
                self.still_tracks += 1
            return []
        self._held.append(p)
        return []

    def _same_vehicle(self, a: _Pass, b: _Pass) -> bool:
        """Two passes at one camera are one vehicle when they share an identity and overlap or
        nearly touch in time. (Merging also passes whose boxes nest, whatever their identities,
        lost more passes of distinct vehicles than it saved: docs/research/pipeline-reid.md.)"""
        gap = self.merge_gap_s
        near = b.first_time <= a.last_time + gap and a.first_time <= b.last_time + gap
        same = a.match is not None and b.match is not None and a.match.identity == b.match.identity
        return near and same

    def _release(self, due: Callable[[_Pass], bool]) -> list[Sighting]:
        ready = [h for h in self._held if due(h)]
        if not ready:
            return []
        self._held = [h for h in self._held if not due(h)]
        return [self._sighting(h, "final") for h in ready]

    def _sighting(self, p: _Pass, status: str) -> Sighting:
        ident = sighting_id(p.camera, p.track_id, p.first_frame)
        best = p.best
        snapshots: dict[str, str] = {}
        if status == "final" and best is not None and self.snapshots_dir is not None:
            folder = self.snapshots_dir / p.camera
            paths = {"frame": folder / f"{ident}-frame.jpg", "vehicle": folder / f"{ident}-vehicle.jpg"}
            if best.plate_crop is not None:
                paths["plate"] = folder / f"{ident}-plate.jpg"
            self.snapshot_jobs.append(SnapshotJob(paths, best))
            snapshots = {k: str(v) for k, v in paths.items()}
        m = p.match
        return Sighting(
            id=ident,
            status=status,
            camera=p.camera,
            track_id=p.track_id,
            first_time=p.first_time,
            last_time=p.last_time,
            first_frame=p.first_frame,
            last_frame=p.last_frame,
            identity=None if m is None else m.identity,
            new=False if m is None else m.new,
            library="" if m is None else m.library,
            score=0.0 if m is None else m.score,
            vehicle_type=self.class_names[p.class_id] if 0 <= p.class_id < len(self.class_names) else "",
            colour=self._colour(best, status),
            best_box=None if best is None else best.box,
            best_time=None if best is None else best.timestamp,
            quality=0.0 if best is None else best.quality,
            snapshots=snapshots,
            error="" if m is not None else p.error,
            path=tuple(p.path),
            **_plate_fields(p.plate),
        )

    def _colour(self, best: Shot | None, status: str) -> str:
        """The best shot's colour name, once the pass is final ('' before, or without a namer)."""
        if best is None or self.colour_of is None or status != "final":
            return ""
        try:
            return self.colour_of(best.vehicle_crop, np.asarray(best.frame.image, np.uint8))
        except (ValueError, RuntimeError) as exc:
            log.warning("colour not named: %s", exc)
            return ""


def _plate_fields(vote: PlateVote | None) -> dict[str, Any]:
    """The sighting's plate fields from its track's vote (empty without a readable plate)."""
    if vote is None or not vote.read.readable:
        return {}
    return {
        "plate_text": vote.read.text,
        "plate_confidence": round(vote.read.confidence, 4),
        "plate_region": vote.read.region,
        "plate_reads": vote.reads,
    }
