"""Per-camera multi-object tracking: ByteTrack association over a constant-velocity Kalman filter."""

from tracking.bytetrack import ByteTracker, TrackerOptions, Tracks, TrackState

__all__ = ["ByteTracker", "TrackState", "TrackerOptions", "Tracks"]
