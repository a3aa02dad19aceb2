"""Tracking stage: a frame's detections → its vehicle tracks, each with the plate seen on it.

One :class:`~tracking.ByteTracker` per camera follows vehicles; plates are not tracked on
their own but attached to the track of the vehicle the detector found them on (``parent``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from detectors.base import Detections
from streams.frame import Frame
from tracking import ByteTracker, TrackerOptions, Tracks


@dataclass(frozen=True, slots=True)
class TrackedFrame:
    """One frame after tracking.

    Attributes:
        frame: The frame.
        detections: Its detections (vehicles and plates).
        tracks: Live vehicle tracks; ``tracks.detection`` indexes ``detections``.
        plate: ``(len(tracks),)`` int32 index into ``detections`` of the track's plate in this
            frame (the most confident one on its vehicle), -1 if none.
    """

    frame: Frame
    detections: Detections
    tracks: Tracks
    plate: npt.NDArray[np.int32]

    def __post_init__(self) -> None:
        if self.plate.shape != (len(self.tracks),):
            raise ValueError(f"plate must have shape ({len(self.tracks)},), got {self.plate.shape}")


class TrackStage:
    """Per-camera trackers (created on a camera's first frame).

    Args:
        options: ByteTrack settings shared by every camera.
        plate_class: Class id of plates in the detections.
    """

    def __init__(self, options: TrackerOptions, plate_class: int) -> None:
        self.options = options
        self.plate_class = plate_class
        self._trackers: dict[str, ByteTracker] = {}

    def update(self, frame: Frame, detections: Detections) -> TrackedFrame:
        """Track the vehicles of one frame and attach their plates."""
        tracker = self._trackers.setdefault(frame.camera_id, ByteTracker(self.options))
        vehicles = np.flatnonzero(detections.class_id != self.plate_class)
        tracks = tracker.update(
            detections.xyxy[vehicles],
            detections.confidence[vehicles],
            detections.class_id[vehicles],
            frame.index,
        )
        matched = np.full(len(tracks), -1, np.int32)
        hit = tracks.detection >= 0
        matched[hit] = vehicles[tracks.detection[hit]]
        tracks = _with_detection(tracks, matched)
        return TrackedFrame(frame, detections, tracks, _plates_of(detections, matched, self.plate_class))

    def busy(self, frame: Frame) -> bool:
        """Whether the frame's camera has live tracks (tentative or lost ones too) still in
        the picture."""
        tracker = self._trackers.get(frame.camera_id)
        return tracker is not None and tracker.in_view(frame.width, frame.height) > 0

    def finish(self, camera_id: str) -> tuple[int, ...]:
        """End a camera's live tracks (its stream ended); returns the ended track ids."""
        tracker = self._trackers.pop(camera_id, None)
        return tracker.finish() if tracker is not None else ()

    @property
    def cameras(self) -> tuple[str, ...]:
        """Cameras with a tracker."""
        return tuple(self._trackers)


def _with_detection(tracks: Tracks, detection: npt.NDArray[np.int32]) -> Tracks:
    return Tracks(
        tracks.track_id,
        tracks.xyxy,
        tracks.class_id,
        tracks.confidence,
        tracks.state,
        tracks.age,
        tracks.hits,
        detection,
        tracks.ended,
    )


def _plates_of(
    detections: Detections, vehicle: npt.NDArray[np.int32], plate_class: int
) -> npt.NDArray[np.int32]:
    """For each track's vehicle detection, its most confident plate detection (or -1)."""
    best: dict[int, int] = {}
    for j in np.flatnonzero(detections.class_id == plate_class):
        parent = int(detections.parent[j])
        if parent >= 0 and (
            parent not in best or detections.confidence[j] > detections.confidence[best[parent]]
        ):
            best[parent] = int(j)
    return np.array([best.get(int(v), -1) if v >= 0 else -1 for v in vehicle], np.int32)
