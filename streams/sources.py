"""Frame sources: live streams (RTSP/HTTP), video files, folders of images.

Every source converts its library's output to :class:`Capture` at this edge and reports
problems as :class:`SourceError` with a one-line message (credentials masked) and whether
trying again can help. Sources are used by one reader thread each; they are not shared.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import cv2
import numpy as np
import numpy.typing as npt

from config.redact import redact_url

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
# FFmpeg's RTSP demuxer retries a timed-out socket read about three times before giving up
# (measured: a 2 s OpenCV read timeout noticed a frozen server after ~6 s), so each attempt
# gets a third of the configured budget.
_FFMPEG_READ_ATTEMPTS = 3


class SourceError(Exception):
    """A source cannot deliver frames.

    Args:
        message: One line for a person; never holds credentials.
        retryable: True when trying again later can help (network), False when it cannot
            (missing file, not a video).
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True, slots=True)
class Capture:
    """One decoded image as a source hands it to its reader (see ``Frame.timestamp``)."""

    timestamp: float
    image: npt.NDArray[np.uint8]


class FrameSource(Protocol):
    """What a camera reader needs from a source."""

    @property
    def live(self) -> bool:
        """True: real-time source (drop oldest when behind, reconnect on failure)."""
        ...

    @property
    def description(self) -> str:
        """Where frames come from, safe to log."""
        ...

    @property
    def frame_count(self) -> int | None:
        """Frames in a recording, when known."""
        ...

    def open(self) -> None:
        """Connect or open; raises SourceError."""
        ...

    def read(self) -> Capture | None:
        """Next image, None at the end of a recording; raises SourceError."""
        ...

    def close(self) -> None:
        """Release resources; safe to call twice."""
        ...


def quiet_opencv() -> None:
    """Keep OpenCV's and FFmpeg's own log lines (which may echo URLs) off stderr.

    Users can still turn them on by setting ``OPENCV_LOG_LEVEL``/``OPENCV_FFMPEG_LOGLEVEL``.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    if "OPENCV_LOG_LEVEL" not in os.environ:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def as_bgr(image: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """Convert a decoded image to 3-channel uint8 BGR (grey and BGRA inputs are accepted).

    Raises:
        SourceError: The array is not an 8-bit image with 1, 3 or 4 channels.
    """
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
        raise SourceError(f"decoder gave an unusable image: {image.dtype} {image.shape}", retryable=False)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR).astype(np.uint8, copy=False)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR).astype(np.uint8, copy=False)
    if image.shape[2] != 3:
        raise SourceError(f"decoder gave an image with {image.shape[2]} channels", retryable=False)
    return image.astype(np.uint8, copy=False)


class _Pacer:
    """Sleeps so that media time advances no faster than wall time (``pace: native``)."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._start: float | None = None

    def wait(self, media_time: float) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if self._start is None:
            self._start = now - media_time
        delay = self._start + media_time - now
        if delay > 0:
            time.sleep(delay)


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise SourceError(f"{path}: no such {what}", retryable=False)
    if what == "file" and not path.is_file():
        raise SourceError(f"{path}: is a directory, not a video file", retryable=False)
    if what == "folder" and not path.is_dir():
        raise SourceError(f"{path}: not a folder of images", retryable=False)
    if not os.access(path, os.R_OK):
        raise SourceError(f"{path}: permission denied", retryable=False)
    if what == "file" and path.stat().st_size == 0:
        raise SourceError(f"{path}: empty file (0 bytes)", retryable=False)


class VideoFileSource:
    """A recorded video, replayed losslessly, as fast as possible or at its native fps; or
    played like a live camera (``pace="live"``: native fps, frames dropped when the pipeline
    falls behind, as a camera's would be).

    Args:
        path: The video file.
        pace: ``"fast"``, ``"native"`` or ``"live"``.
        loop: Start again from the first frame at the end, for ever (a recording standing in
            for a live camera); the timestamps keep counting up.
    """

    live = False

    def __init__(self, path: Path, *, pace: str = "fast", loop: bool = False) -> None:
        self._path = Path(path)
        self._pace = pace
        self._loop = loop
        self.drops_when_behind = pace == "live"
        self._cap: cv2.VideoCapture | None = None
        self._fps = 25.0
        self._count: int | None = None
        self._pending: npt.NDArray[np.uint8] | None = None
        self._decoded = 0
        self._pacer = _Pacer(pace != "fast")

    @property
    def description(self) -> str:
        return str(self._path)

    @property
    def frame_count(self) -> int | None:
        return None if self._loop else self._count

    def open(self) -> None:
        _check_file(self._path, "file")
        quiet_opencv()
        cap = cv2.VideoCapture(str(self._path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise SourceError(
                f"{self._path}: not a readable video (unknown format, or truncated before its index)",
                retryable=False,
            )
        ok, image = cap.read()
        if not ok or image is None:
            cap.release()
            raise SourceError(f"{self._path}: no decodable video frames", retryable=False)
        fps = cap.get(cv2.CAP_PROP_FPS)
        self._fps = fps if np.isfinite(fps) and 0 < fps <= 1000 else 25.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._count = count if count > 0 else None
        self._cap, self._pending, self._decoded = cap, as_bgr(image), 0
        self._pacer = _Pacer(self._pace != "fast")

    def read(self) -> Capture | None:
        if self._cap is None:
            raise SourceError(f"{self._path}: read before open", retryable=False)
        if self._pending is not None:
            image, self._pending = self._pending, None
        else:
            ok, raw = self._cap.read()
            if (not ok or raw is None) and self._loop and self._decoded > 0:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, raw = self._cap.read()
            if not ok or raw is None:
                self._warn_if_short()
                return None
            image = as_bgr(raw)
        timestamp = self._decoded / self._fps
        self._decoded += 1
        self._pacer.wait(timestamp)
        return Capture(timestamp=timestamp, image=image)

    def _warn_if_short(self) -> None:
        if self._count is not None and self._decoded < self._count:
            log.warning(
                "%s: ended after %d of %d frames (file truncated or damaged)",
                self._path,
                self._decoded,
                self._count,
            )

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class ImageFolderSource:
    """The images of one folder in name order, as a recording at ``fps``.

    Unreadable images are skipped with a warning (counted in ``skipped_files``).

    Args:
        path: The folder.
        fps: Frame rate used for timestamps and ``pace: native``.
        pace: ``"fast"`` or ``"native"``.
    """

    live = False

    def __init__(self, path: Path, *, fps: float = 10.0, pace: str = "fast") -> None:
        self._path = Path(path)
        self._fps = fps
        self._pace = pace
        self._files: list[Path] = []
        self._next = 0
        self._pacer = _Pacer(pace == "native")
        self.skipped_files = 0

    @property
    def description(self) -> str:
        return str(self._path)

    @property
    def frame_count(self) -> int | None:
        return len(self._files) or None

    def open(self) -> None:
        _check_file(self._path, "folder")
        self._files = sorted(
            p for p in self._path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not self._files:
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            raise SourceError(f"{self._path}: no images ({suffixes})", retryable=False)
        self._next = 0
        self._pacer = _Pacer(self._pace == "native")

    def read(self) -> Capture | None:
        while self._next < len(self._files):
            path = self._files[self._next]
            timestamp = self._next / self._fps
            self._next += 1
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None or image.size == 0:
                self.skipped_files += 1
                log.warning("%s: not a readable image, skipped", path)
                continue
            self._pacer.wait(timestamp)
            return Capture(timestamp=timestamp, image=as_bgr(image))
        return None

    def close(self) -> None:
        self._files = []


class StreamSource:
    """A live RTSP or HTTP stream read through OpenCV's FFmpeg backend.

    Opening and reading are bounded by timeouts so a dead or frozen camera costs its own
    reader thread at most a few seconds per attempt and never blocks other cameras.

    Args:
        url: ``rtsp://``, ``rtsps://``, ``http://`` or ``https://`` URL (may hold credentials).
        open_timeout_s: Limit for connecting.
        read_timeout_s: Limit for a frame to arrive before the stream counts as stalled.
        transport: RTSP transport, ``"tcp"`` or ``"udp"``.
    """

    live = True
    frame_count = None

    def __init__(self, url: str, *, open_timeout_s: float, read_timeout_s: float, transport: str) -> None:
        self._url = url
        self._open_ms = int(open_timeout_s * 1000)
        self._read_ms = max(200, int(read_timeout_s * 1000 / _FFMPEG_READ_ATTEMPTS))
        self._transport = transport
        self._cap: cv2.VideoCapture | None = None

    @property
    def description(self) -> str:
        return redact_url(self._url)

    def open(self) -> None:
        self._check_host()
        quiet_opencv()
        # OpenCV reads FFmpeg options from this one process-wide variable at each open; every
        # stream shares the same transport (StreamsConfig), so concurrent opens agree on it.
        os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = f"rtsp_transport;{self._transport}"
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            self._open_ms,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            self._read_ms,
        ]
        cap = cv2.VideoCapture(self._url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise SourceError(
                f"{self.description}: cannot open (refused, no answer within "
                f"{self._open_ms / 1000:g} s, wrong path, or bad credentials)",
                retryable=True,
            )
        self._cap = cap

    def _check_host(self) -> None:
        """Name an unknown host plainly (FFmpeg only says the open failed); DNS may recover."""
        host = urlsplit(self._url).hostname or ""
        try:
            socket.getaddrinfo(host, None)
        except (socket.gaierror, UnicodeError):
            raise SourceError(f"{self.description}: unknown host '{host}'", retryable=True) from None

    def read(self) -> Capture | None:
        if self._cap is None:
            raise SourceError(f"{self.description}: read before open", retryable=True)
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceError(f"{self.description}: stream stalled or closed", retryable=True)
        return Capture(timestamp=time.time(), image=as_bgr(image))

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
