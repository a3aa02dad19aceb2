"""Camera streams: sources, one reader thread per camera, bounded queues, health."""

from streams.backoff import Backoff
from streams.build import SourceUnavailableError, build_readers, build_source
from streams.bus import FrameBus
from streams.frame import Frame
from streams.health import CameraHealth, CameraState
from streams.reader import CameraReader
from streams.sources import (
    Capture,
    FrameSource,
    ImageFolderSource,
    SourceError,
    StreamSource,
    VideoFileSource,
)

__all__ = [
    "Backoff",
    "CameraHealth",
    "CameraReader",
    "CameraState",
    "Capture",
    "Frame",
    "FrameBus",
    "FrameSource",
    "ImageFolderSource",
    "SourceError",
    "SourceUnavailableError",
    "StreamSource",
    "VideoFileSource",
    "build_readers",
    "build_source",
]
