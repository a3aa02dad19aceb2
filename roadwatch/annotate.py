"""Drawing a replay: every processed frame with its tracks, their ids and identities, as a video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from roadwatch.events import Sighting
from roadwatch.stages.track import TrackedFrame
from streams.frame import Frame
from tracking import TrackState

_COLOURS = [(80, 200, 80), (60, 160, 255), (255, 140, 60), (200, 80, 200), (60, 220, 220), (160, 160, 255)]


class Annotator:
    """Writes one camera's processed frames to an mp4 with boxes, track ids and identities.

    An identity appears on a track from its provisional sighting on (green labels: known
    identity; orange: new). Plates the detector found are outlined in red.

    Args:
        path: The video to write (``.mp4``).
        fps: Frame rate of the written video.

    Raises:
        OSError: The video cannot be written there.
    """

    def __init__(self, path: Path, fps: float) -> None:
        self.path = Path(path)
        self.fps = fps if fps > 0 else 10.0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)  # fail before the run, not at its first frame
        except OSError as exc:
            raise OSError(f"{self.path}: cannot write the annotated video: {exc.strerror or exc}") from None
        self._writer: cv2.VideoWriter | None = None
        self._identity: dict[tuple[str, int], tuple[int, bool]] = {}
        self.frames = 0

    def sighting(self, sighting: Sighting) -> None:
        """Remember the identity a sighting gave its track."""
        if sighting.identity is not None:
            self._identity[(sighting.camera, sighting.track_id)] = (sighting.identity, sighting.new)

    def frame(self, frame: Frame, tracked: TrackedFrame | None) -> None:
        """Draw and write one frame (with nothing on it when detection is off)."""
        canvas = frame.image.copy()
        if tracked is not None:
            self._draw(canvas, tracked)
        if self._writer is None:
            size = (canvas.shape[1], canvas.shape[0])
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter.fourcc(*"mp4v"), self.fps, size)
            if not self._writer.isOpened():
                raise OSError(f"{self.path}: cannot write a video here (use .mp4)")
        self._writer.write(canvas)
        self.frames += 1

    def _draw(self, canvas: npt.NDArray[np.uint8], tracked: TrackedFrame) -> None:
        det, tracks = tracked.detections, tracked.tracks
        scale = max(0.4, canvas.shape[0] / 1000)
        for n, track_id in enumerate(tracks.track_id.tolist()):
            if tracks.state[n] == TrackState.TENTATIVE:
                continue
            x1, y1, x2, y2 = (round(float(v)) for v in tracks.xyxy[n])
            colour = _COLOURS[track_id % len(_COLOURS)]
            lost = tracks.state[n] == TrackState.LOST
            cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 1 if lost else 2)
            label = f"#{track_id}"
            known = self._identity.get((tracked.frame.camera_id, track_id))
            if known is not None:
                label += f" id {known[0]}" + (" new" if known[1] else "")
            cv2.putText(canvas, label, (x1, max(12, y1 - 5)), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 2)
            p = int(tracked.plate[n])
            if p >= 0:
                px1, py1, px2, py2 = (round(float(v)) for v in det.xyxy[p])
                cv2.rectangle(canvas, (px1, py1), (px2, py2), (0, 0, 255), 1)

    def close(self) -> None:
        """Finish the video."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
