"""Per-camera health, read by the pipeline, the CLI and (later) the API."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CameraState(enum.StrEnum):
    """Where a camera reader is in its life."""

    CONNECTING = "connecting"
    STREAMING = "streaming"
    BACKOFF = "backoff"
    ENDED = "ended"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CameraHealth:
    """A snapshot of one camera reader.

    Attributes:
        camera_id: Camera id.
        source: Human-readable source, credentials masked.
        state: Current state.
        fps: Frames per second read over the last few seconds.
        frames_read: Frames decoded from the source.
        frames_dropped: Frames discarded because the pipeline fell behind (live only).
        frames_skipped: Frames left out by the camera's ``fps_cap``.
        reconnects: Successful re-opens after the first.
        last_error: The most recent error, or None.
        seconds_since_frame: Age of the newest frame, None before the first.
    """

    camera_id: str
    source: str
    state: CameraState
    fps: float
    frames_read: int
    frames_dropped: int
    frames_skipped: int
    reconnects: int
    last_error: str | None
    seconds_since_frame: float | None

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "camera_id": self.camera_id,
            "source": self.source,
            "state": self.state.value,
            "fps": round(self.fps, 2),
            "frames_read": self.frames_read,
            "frames_dropped": self.frames_dropped,
            "frames_skipped": self.frames_skipped,
            "reconnects": self.reconnects,
            "last_error": self.last_error,
            "seconds_since_frame": None
            if self.seconds_since_frame is None
            else round(self.seconds_since_frame, 3),
        }
