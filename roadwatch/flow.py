"""The stages in order, for a batch of frames from any cameras (the pipeline thread's work).

detect (per frame) → track (per camera) → best shots → re-id and plate reading (one batch
each for every shot due, across tracks and cameras) → gallery → sightings. :class:`Flow` owns
the stages' state; the :class:`~roadwatch.pipeline.Pipeline` feeds it frames and writes what it
returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from detectors.base import Detections, Detector
from plates.vote import PlateVote
from reid.fusion import Features
from roadwatch.events import Sighting
from roadwatch.snapshots import SnapshotWriter
from roadwatch.stages.plates import PlateStage
from roadwatch.stages.recognise import Recogniser, Recognition
from roadwatch.stages.shots import BestShots, ShotRequest
from roadwatch.stages.sightings import SightingBook
from roadwatch.stages.still import StillFrames
from roadwatch.stages.track import TrackedFrame, TrackStage
from streams.frame import Frame

STAGES = ("detect", "track", "shots", "embed", "read", "match", "sightings")


@dataclass(frozen=True, slots=True)
class Stages:
    """Everything a :class:`Flow` runs, built by :func:`roadwatch.app.build_stages`."""

    detector: Detector
    tracks: TrackStage
    shots: BestShots
    recogniser: Recogniser
    sightings: SightingBook
    snapshots: SnapshotWriter | None = None
    plates: PlateStage | None = None
    still: StillFrames | None = None


class Flow:
    """Runs :class:`Stages` over batches of frames; ``seconds`` holds each stage's total time,
    and ``on_stage`` (when set) hears each stage's time as it ends (the metrics' histograms)."""

    def __init__(self, stages: Stages, *, finish_wait_s: float = 30.0) -> None:
        self.stages = stages
        self.finish_wait_s = finish_wait_s
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.frames = 0
        self.last_tracked: TrackedFrame | None = None
        self._pending: list[Recognition] = []
        self.on_stage: Callable[[str, float], None] | None = None

    @contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            took = time.perf_counter() - started
            self.seconds[stage] += took
            if self.on_stage is not None:
                self.on_stage(stage, took)

    def process(self, frames: Sequence[Frame]) -> tuple[list[Sighting], list[TrackedFrame]]:
        """One batch of frames through every stage; returns the sightings let out and each
        frame's tracks (for drawing)."""
        s = self.stages
        requests: list[ShotRequest] = []
        endings: list[tuple[str, int]] = []
        tracked_frames = []
        released: list[Sighting] = []
        with self._timed("detect"):
            found = self._detect(frames)
        for frame, detections in zip(frames, found, strict=True):
            with self._timed("track"):
                tracked = s.tracks.update(frame, detections)
            with self._timed("sightings"):
                released += s.sightings.observe(tracked)
            with self._timed("shots"):
                requests += s.shots.update(tracked)
            endings += [(frame.camera_id, track_id) for track_id in tracked.tracks.ended]
            tracked_frames.append(tracked)
            self.frames += 1
        return released + self._recognise(requests, endings), tracked_frames

    def _detect(self, frames: Sequence[Frame]) -> list[Detections]:
        """Each frame's detections: empty where nothing moved on a camera with no track in
        view (:class:`StillFrames`, judged on the tracks as the batch starts), the others in
        one batch."""
        s = self.stages
        still = s.still
        todo = [
            i
            for i, frame in enumerate(frames)
            if still is None or not still.skip(frame, s.tracks.busy(frame))
        ]
        out = [Detections.empty()] * len(frames)
        # DetectionStage batches; a Detector that only knows single frames is asked one by one
        detect_many = getattr(s.detector, "detect_many", None)
        picked = [frames[i] for i in todo]
        found = detect_many(picked) if detect_many is not None else [s.detector.detect(f) for f in picked]
        for i, detections in zip(todo, found, strict=True):
            out[i] = detections
        return out

    @property
    def owed(self) -> int:
        """Recognitions waiting for the gallery to come back."""
        return len(self._pending)

    def retry(self) -> list[Sighting]:
        """Send again the recognitions that found the gallery unreachable (call when idle)."""
        return self._recognise([], []) if self._pending else []

    def finish(self) -> list[Sighting]:
        """End every track (the sources are done), recognise what is due and write the rest.

        Recognitions still failing are retried for ``finish_wait_s``; then their sightings are
        written without an identity, ``error`` saying why.
        """
        s = self.stages
        endings = [(camera, track_id) for camera in s.tracks.cameras for track_id in s.tracks.finish(camera)]
        out = self._recognise([], endings)
        deadline = time.monotonic() + self.finish_wait_s
        while self._pending and time.monotonic() < deadline:
            time.sleep(0.2)
            out += self._recognise([], [])
        if self._pending:
            error = self._pending[0].error
            self._pending = []
            out += s.sightings.flush(error)
        out += s.sightings.release_all()
        self._submit_snapshots()
        return out

    def _recognise(self, requests: list[ShotRequest], endings: list[tuple[str, int]]) -> list[Sighting]:
        s = self.stages
        out: list[Sighting] = []
        with self._timed("shots"):
            finals: list[ShotRequest | None] = [s.shots.end(camera, track_id) for camera, track_id in endings]
            requests += [r for r in finals if r is not None]
        with self._timed("sightings"):
            for request in requests:
                s.sightings.asked(request.shot.camera, request.shot.track_id)
            for (camera, track_id), final in zip(endings, finals, strict=True):
                out += s.sightings.end(camera, track_id, None if final is None else final.shot)
        features: list[Features | None] = []
        plates: list[PlateVote | None] = [None] * len(requests)
        if requests and s.plates is not None:
            with self._timed("read"):
                plates = s.plates.read(requests)
        if requests:
            with self._timed("embed"):
                batch = s.recogniser.embed(requests)
            features = (
                [None] * len(requests)
                if isinstance(batch, str)
                else [batch.take([i]) for i in range(len(requests))]
            )
        retried, self._pending = self._pending, []
        with self._timed("match"):
            recognitions = s.recogniser.match(
                [*requests, *(r.request for r in retried)],
                [*features, *(r.features for r in retried)],
                [*plates, *(r.plate for r in retried)],
            )
        with self._timed("sightings"):
            for recognition in recognitions:
                if recognition.retry:
                    self._pending.append(recognition)
                    continue
                out += s.sightings.recognised(recognition)
        self._submit_snapshots()
        return out

    def _submit_snapshots(self) -> None:
        """Hand the snapshots of the final sightings let out so far to the writer."""
        s = self.stages
        jobs, s.sightings.snapshot_jobs = s.sightings.snapshot_jobs, []
        if s.snapshots is not None:
            for job in jobs:
                s.snapshots.submit(job)

    def close(self) -> None:
        """Write the snapshots still queued and stop the writer."""
        if self.stages.snapshots is not None:
            self.stages.snapshots.close()

    def stage_ms(self) -> dict[str, float]:
        """Mean milliseconds per processed frame spent in each stage."""
        return {k: round(1000 * v / max(1, self.frames), 3) for k, v in self.seconds.items()}

    def detection_counts(self) -> dict[str, int]:
        """Frames detection ran on, and frames it skipped because nothing moved."""
        skipped = self.stages.still.skipped if self.stages.still is not None else 0
        return {"detected": self.frames - skipped, "skipped_still": skipped}

    def track_counts(self) -> dict[str, int]:
        """Tracks that gave no sighting of their own: merged into another pass, glimpses, never
        moved (``docs/REAL-FOOTAGE.md``), and those stationary now."""
        book = self.stages.sightings
        return {
            "merged": book.merged,
            "glimpses": book.glimpses,
            "still": book.still_tracks,
            "stationary_now": len(book.stationary()),
        }
