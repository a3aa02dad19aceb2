"""Best-shot stage: each track keeps its best crop and asks for recognition only when it pays.

A track keeps two views: its best vehicle view (:func:`view_quality`: detection score, size
up to the re-id input, a penalty for a box cut by the frame edge, sharpness) and its best
plate view (:func:`plate_quality`: score and height). They may come from different frames: a
vehicle approaching a front camera shows its plate largest just as its box is cut by the
bottom of the frame, and the plate network needs pixels (on the demo a plate 7 px high
matched its own vehicle's near view at cosine 0.13). A shot joins the two; its quality
(:func:`shot_quality`) is the view's, halved without a plate. A track asks for recognition:

- ``first``: once confirmed and its best shot reaches ``min_quality``;
- ``better``: again when its best shot has grown ``rematch_gain`` times better than the one
  last used;
- ``plate``: again when a plate appears on a track last recognised without one;
- ``end``: when it ends, with its best shot: this request decides the identity (a track with
  no usable view at all gets none and its sighting says so).

The first three only look the vehicle up (a provisional identity, for fast alerts); the gallery
is written once per pass, at the end, with the best views. Never per frame: a track asks at
most once per doubling of its quality, plus once for a plate, plus once at its end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from detectors.corners import rectified_plate
from roadwatch.stages.track import TrackedFrame
from streams.frame import Frame
from tracking import TrackState

Box = tuple[float, float, float, float]
Reason = Literal["first", "better", "plate", "end"]
_EDGE_PX = 2.0
_MIN_SIDE_PX = 8  # a crop thinner than this carries nothing to embed
_MARGIN = 0.05  # synth.export cuts re-id training crops with 5 % of the box around it
PLATE_FULL_PX = 24.0  # a plate this high has the pixels the plate network trained on


@dataclass(frozen=True, slots=True)
class Shot:
    """The best view of one track so far.

    Attributes:
        camera: Camera id.
        track_id: The track (per camera).
        frame_index: Index of the frame the shot is from.
        timestamp: That frame's time.
        box: Vehicle box in the frame, pixels.
        class_id: The track's class at the time.
        plate_box: Plate box in its frame (the best plate view may come from another frame), or None.
        plate_confidence: Plate detection score (0 without a plate).
        quality: :func:`shot_quality` of the shot.
        frame: The whole frame (for the snapshot), not copied.
        vehicle_views: The track's best vehicle crops (``(h, w, 3)`` uint8 BGR copies), best first;
            at least one.
        plate_views: Its best rectified plates (``(H, W, 3)`` uint8 at the plate network's input
            size), best first; none without a plate.
        plate_heights: Height in pixels of each of those plates in its frame.
    """

    camera: str
    track_id: int
    frame_index: int
    timestamp: float
    box: Box
    class_id: int
    plate_box: Box | None
    plate_confidence: float
    quality: float
    frame: Frame = field(repr=False)
    vehicle_views: tuple[npt.NDArray[np.uint8], ...] = field(repr=False)
    plate_views: tuple[npt.NDArray[np.uint8], ...] = field(default=(), repr=False)
    plate_heights: tuple[float, ...] = ()

    @property
    def vehicle_crop(self) -> npt.NDArray[np.uint8]:
        """The best vehicle crop."""
        return self.vehicle_views[0]

    @property
    def plate_crop(self) -> npt.NDArray[np.uint8] | None:
        """The best rectified plate, or None."""
        return self.plate_views[0] if self.plate_views else None


@dataclass(frozen=True, slots=True)
class ShotRequest:
    """A shot to recognise, and why."""

    shot: Shot
    reason: Reason


@dataclass(frozen=True, slots=True)
class ShotOptions:
    """When a track asks for recognition (module docstring)."""

    min_quality: float = 0.25
    rematch_gain: float = 2.0
    views: int = 5
    min_plate_px: float = 0.0
    plate_size: tuple[int, int] = (32, 128)
    two_line_aspect: float = 0.0


def sharpness(crop: npt.NDArray[np.uint8]) -> float:
    """Variance of the Laplacian of the crop scaled to 64 px high (grey): higher is sharper."""
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    h, w = grey.shape[:2]
    scale = 64.0 / max(h, 1)
    small = cv2.resize(grey, (max(1, round(w * scale)), 64), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(small, cv2.CV_32F).var())


@dataclass(frozen=True, slots=True)
class _View:
    quality: float
    frame: Frame
    box: Box
    confidence: float
    crop: npt.NDArray[np.uint8]


def _keep(kept: list[_View], quality: float, limit: int, make: Callable[[], _View]) -> bool:
    """Insert a view into ``kept`` (best first, at most ``limit``) if it ranks; True if it did."""
    if len(kept) >= limit and quality <= kept[-1].quality:
        return False
    kept.append(make())
    kept.sort(key=lambda v: -v.quality)
    del kept[limit:]
    return True


def view_quality(box: Box, frame_size: tuple[int, int], confidence: float, sharp: float) -> float:
    """Quality in [0, 1] of a vehicle view: detection score × size (up to the re-id input) ×
    0.4 if the box is cut by the frame edge × a sharpness term in [0.5, 1].

    Args:
        box: Vehicle box, pixels.
        frame_size: (height, width) of the frame.
        confidence: Detection score.
        sharp: :func:`sharpness` of the crop.
    """
    x1, y1, x2, y2 = box
    h, w = frame_size
    size = min(1.0, float(np.sqrt(max(0.0, (x2 - x1) * (y2 - y1)))) / 128.0)
    cut = x1 <= _EDGE_PX or y1 <= _EDGE_PX or x2 >= w - _EDGE_PX or y2 >= h - _EDGE_PX
    return float(confidence * size * (0.4 if cut else 1.0) * (0.5 + 0.5 * sharp / (sharp + 100.0)))


def plate_quality(height: float, confidence: float) -> float:
    """Quality in [0, 1] of a plate view: detection score × height up to ``PLATE_FULL_PX``."""
    return float(confidence * min(1.0, height / PLATE_FULL_PX))


def shot_quality(view: float, plate: float) -> float:
    """A shot's quality: its vehicle view's, halved without a plate (``0.5 + 0.5 × plate``)."""
    return float(view * (0.5 + 0.5 * plate))


@dataclass(slots=True)
class _Book:
    views: list[_View] = field(default_factory=list)  # best first
    plates: list[_View] = field(default_factory=list)
    best: Shot | None = None
    asked_quality: float = 0.0
    asked_plate: bool = False
    asked: bool = False


class BestShots:
    """Best shots of every live track of every camera."""

    def __init__(self, options: ShotOptions) -> None:
        self.options = options
        self._books: dict[tuple[str, int], _Book] = {}

    def update(self, tracked: TrackedFrame) -> list[ShotRequest]:
        """Take this frame's views of its tracks; return the recognitions now due."""
        frame, tracks = tracked.frame, tracked.tracks
        size = (frame.height, frame.width)
        due: list[ShotRequest] = []
        for n, track_id in enumerate(tracks.track_id.tolist()):
            d = int(tracks.detection[n])
            book = self._books.setdefault((frame.camera_id, track_id), _Book())
            if d >= 0:
                shot = self._shot(tracked, n, d, size, book)
                if shot is not None:  # a better view never lowers the best views' quality
                    book.best = shot
            if tracks.state[n] == TrackState.TENTATIVE or book.best is None:
                continue
            request = self._due(book)
            if request is not None:
                due.append(request)
        return due

    def _shot(self, tracked: TrackedFrame, n: int, d: int, size: tuple[int, int], book: _Book) -> Shot | None:
        """A new best shot of track row ``n`` if its vehicle or its plate view improved."""
        frame, det = tracked.frame, tracked.detections
        x1, y1, x2, y2 = (float(v) for v in det.xyxy[d])
        mx, my = (x2 - x1) * _MARGIN, (y2 - y1) * _MARGIN  # the context the re-id crops trained with
        ix1, iy1 = max(0, int(np.floor(x1 - mx))), max(0, int(np.floor(y1 - my)))
        ix2, iy2 = min(size[1], int(np.ceil(x2 + mx))), min(size[0], int(np.ceil(y2 + my)))
        if ix2 - ix1 < _MIN_SIDE_PX or iy2 - iy1 < _MIN_SIDE_PX:
            return None
        o = self.options
        crop = frame.image[iy1:iy2, ix1:ix2]
        quality = view_quality((x1, y1, x2, y2), size, float(det.confidence[d]), sharpness(crop))
        improved = _keep(
            book.views,
            quality,
            o.views,
            lambda: _View(quality, frame, (x1, y1, x2, y2), float(det.confidence[d]), crop.copy()),
        )
        p = int(tracked.plate[n])
        if p >= 0:
            px1, py1, px2, py2 = (float(v) for v in det.xyxy[p])
            plate = plate_quality(py2 - py1, float(det.confidence[p]))
            if py2 - py1 >= max(2.0, o.min_plate_px) and px2 - px1 >= 2:
                improved |= _keep(
                    book.plates,
                    plate,
                    o.views,
                    lambda: _View(
                        plate,
                        frame,
                        (px1, py1, px2, py2),
                        float(det.confidence[p]),
                        rectified_plate(frame.image, det.xyxy[p], o.plate_size, o.two_line_aspect),
                    ),
                )
        if not improved or not book.views:
            return None
        view, plate_view = book.views[0], (book.plates[0] if book.plates else None)
        return Shot(
            view.frame.camera_id,
            int(tracked.tracks.track_id[n]),
            view.frame.index,
            view.frame.timestamp,
            view.box,
            int(tracked.tracks.class_id[n]),
            None if plate_view is None else plate_view.box,
            0.0 if plate_view is None else plate_view.confidence,
            shot_quality(view.quality, 0.0 if plate_view is None else plate_view.quality),
            view.frame,
            tuple(v.crop for v in book.views),
            tuple(v.crop for v in book.plates),
            tuple(v.box[3] - v.box[1] for v in book.plates),
        )

    def _due(self, book: _Book) -> ShotRequest | None:
        best = book.best
        assert best is not None
        o = self.options
        if not book.asked:
            if best.quality < o.min_quality:
                return None
            reason: Reason = "first"
        elif best.plate_crop is not None and not book.asked_plate:
            reason = "plate"
        elif best.quality >= o.rematch_gain * book.asked_quality:
            reason = "better"
        else:
            return None
        book.asked, book.asked_quality, book.asked_plate = True, best.quality, best.plate_crop is not None
        return ShotRequest(best, reason)

    def end(self, camera: str, track_id: int) -> ShotRequest | None:
        """A track ended: the request that decides its identity, with its best shot (None when
        the track never had a usable view)."""
        book = self._books.pop((camera, track_id), None)
        if book is None or book.best is None:
            return None
        return ShotRequest(book.best, "end")
