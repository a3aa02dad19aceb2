"""ByteTrack association per camera (Zhang et al., 2022), on scipy's ``linear_sum_assignment``.

Each frame (:meth:`ByteTracker.update`):

0. A detection lying mostly (``contained`` of its area) inside a higher-scoring one is set
   aside: detectors add partial boxes (a windscreen, a grille) on large near vehicles, and
   the assignment would otherwise let a track latch onto the part while the whole starts a
   second track (measured on the demo: one vehicle, two sightings).
1. Every live track's Kalman filter predicts its box, by as many steps as frames passed (a gap
   of dropped frames is one longer step, not a lost track).
2. **High-score pass**: detections scoring ≥ ``high_score`` are assigned to confirmed, lost
   *and tentative* tracks together by IoU with the predicted boxes times the detection score
   (ByteTrack's fused score; Hungarian assignment; a pair needs at least ``match_iou``), so of
   two overlapping boxes the confident whole wins over a doubtful part. The paper gives
   tentative tracks only what confirmed ones left; then a confirmed track whose own vehicle
   went unseen for a frame takes the box of a young track's vehicle right behind it, and one
   track carries two vehicles (measured on the demo, seed 9: a truck's track went on as the van
   behind it, both vehicles' sightings lost).
3. **Low-score pass**: detections between ``low_score`` and ``high_score`` (a vehicle half
   hidden behind another, a blurred one) may only continue confirmed tracks still unmatched,
   at a stricter plain IoU (``low_match_iou``); they never start a track.
4. **Buffered pass**: tentative tracks (no velocity learnt yet) and confirmed tracks still
   unmatched take the remaining high-score detections by *buffered* IoU (each box widened by
   ``buffer`` of its size on every side, C-BIoU, Yang et al. 2023), so a fast vehicle whose
   boxes of two frames barely overlap keeps one track.
5. A remaining detection scoring ≥ ``new_track_score`` starts a tentative track, unless it lies
   mostly (``birth_overlap`` of its area) inside a box already followed this frame: a detector
   often adds a partial box on a large near vehicle, and that is no new vehicle. A tentative track becomes
   confirmed after ``min_hits`` hits in a row and is dropped at its first miss. A confirmed
   track missed for more than ``max_lost`` frames ends.

The tracker sees frame indices, not wall time, so timestamps that go backwards do not
disturb it. Track ids count up from 1 per tracker: replaying the same footage gives the same
ids. Boxes in, :class:`Tracks` out; the caller decides what a box is (vehicles only here).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from tracking.kalman import BoxKalman

F32 = npt.NDArray[np.float32]
I32 = npt.NDArray[np.int32]


class TrackState(enum.IntEnum):
    """Where a track is in its life."""

    TENTATIVE = 0  # seen, not yet min_hits times in a row
    CONFIRMED = 1  # matched this frame
    LOST = 2  # confirmed earlier, missed this frame (box predicted)


@dataclass(frozen=True, slots=True)
class Tracks:
    """The tracks of one frame, one array per field, all of length N (N may be 0).

    Attributes:
        track_id: ``(N,)`` int32 ids, unique per tracker.
        xyxy: ``(N, 4)`` float32 boxes: the matched detection's box, or the prediction for a lost track.
        class_id: ``(N,)`` int32 class: the confidence-weighted vote over the track's detections.
        confidence: ``(N,)`` float32 score of this frame's detection (0 for a lost track).
        state: ``(N,)`` int32 :class:`TrackState` values.
        age: ``(N,)`` int32 frames since the track started.
        hits: ``(N,)`` int32 frames in which a detection was matched.
        detection: ``(N,)`` int32 index of the matched detection in this frame's input, -1 if none.
        ended: ids of the tracks that ended at this frame (missed too long), not in the arrays.
    """

    track_id: I32
    xyxy: F32
    class_id: I32
    confidence: F32
    state: I32
    age: I32
    hits: I32
    detection: I32
    ended: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.track_id)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must have shape ({n}, 4), got {self.xyxy.shape}")
        for name in ("class_id", "confidence", "state", "age", "hits", "detection"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {getattr(self, name).shape}")

    def __len__(self) -> int:
        return len(self.track_id)

    @classmethod
    def empty(cls, ended: tuple[int, ...] = ()) -> Tracks:
        """No live tracks."""
        z = np.zeros(0, np.int32)
        return cls(z, np.zeros((0, 4), np.float32), z, np.zeros(0, np.float32), z, z, z, z, ended)


@dataclass(frozen=True, slots=True)
class TrackerOptions:
    """ByteTrack's knobs (defaults: the paper's, with birth after 3 hits for a 10 fps camera)."""

    high_score: float = 0.5
    low_score: float = 0.1
    new_track_score: float = 0.6
    match_iou: float = 0.2
    low_match_iou: float = 0.5
    buffer: float = 0.3
    birth_overlap: float = 0.6
    contained: float = 0.7
    min_hits: int = 3
    max_lost: int = 30

    def __post_init__(self) -> None:
        if not 0 <= self.low_score <= self.high_score <= 1:
            raise ValueError("scores must satisfy 0 <= low_score <= high_score <= 1")
        if self.min_hits < 1 or self.max_lost < 0:
            raise ValueError("min_hits must be >= 1 and max_lost >= 0")


@dataclass(slots=True)
class _Track:
    track_id: int
    kalman: BoxKalman
    votes: dict[int, float]
    start: int
    last_seen: int
    hits: int = 1
    streak: int = 1
    confirmed: bool = False
    score: float = 0.0
    detection: int = -1
    last_box: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(4))


def iou(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``(N, M)`` IoU of ``x1, y1, x2, y2`` boxes; 0 where a union is empty."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod((rb - lt).clip(0), axis=2)
    area_a = np.prod((a[:, 2:] - a[:, :2]).clip(0), axis=1)
    area_b = np.prod((b[:, 2:] - b[:, :2]).clip(0), axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def widen(boxes: npt.NDArray[np.float64], buffer: float) -> npt.NDArray[np.float64]:
    """Boxes grown by ``buffer`` × their width (height) on the left and right (top and bottom)."""
    if buffer == 0:
        return boxes
    size = boxes[:, 2:] - boxes[:, :2]
    return np.concatenate([boxes[:, :2] - buffer * size, boxes[:, 2:] + buffer * size], axis=1)


def inside(box: npt.NDArray[np.float64], others: list[npt.NDArray[np.float64]], share: float) -> bool:
    """Whether at least ``share`` of ``box``'s area lies inside one of ``others``."""
    if not others:
        return False
    o = np.asarray(others, np.float64).reshape(-1, 4)
    lt = np.maximum(o[:, :2], box[:2])
    rb = np.minimum(o[:, 2:], box[2:])
    inter = np.prod((rb - lt).clip(0), axis=1)
    area = max(float(np.prod((box[2:] - box[:2]).clip(0))), 1e-9)
    return bool((inter / area >= share).any())


def _contained(
    xyxy: npt.NDArray[np.float64], score: npt.NDArray[np.float64], share: float
) -> npt.NDArray[np.bool_]:
    """Which boxes have at least ``share`` of their area inside a box that scores higher."""
    n = len(xyxy)
    if n < 2 or share > 1:
        return np.zeros(n, np.bool_)
    lt = np.maximum(xyxy[:, None, :2], xyxy[None, :, :2])
    rb = np.minimum(xyxy[:, None, 2:], xyxy[None, :, 2:])
    inter = np.prod((rb - lt).clip(0), axis=2)  # (N, N)
    area = np.maximum(np.prod((xyxy[:, 2:] - xyxy[:, :2]).clip(0), axis=1), 1e-9)
    inside = inter / area[:, None] >= share  # row i mostly inside column j
    higher = score[None, :] > score[:, None]
    np.fill_diagonal(inside, False)
    result: npt.NDArray[np.bool_] = (inside & higher).any(axis=1)
    return result


def assign(similarity: npt.NDArray[np.float64], minimum: float) -> list[tuple[int, int]]:
    """Hungarian assignment maximising total similarity; pairs below ``minimum`` are refused."""
    if similarity.size == 0:
        return []
    rows, cols = linear_sum_assignment(-similarity)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if similarity[r, c] >= minimum]


class ByteTracker:
    """Tracks of one camera. Feed every processed frame in order (see the module docstring)."""

    def __init__(self, options: TrackerOptions | None = None) -> None:
        self.options = options or TrackerOptions()
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._frame: int | None = None
        self._previous: int | None = None

    def update(
        self, boxes: npt.ArrayLike, scores: npt.ArrayLike, class_ids: npt.ArrayLike, frame: int
    ) -> Tracks:
        """Associate one frame's detections with the tracks.

        Args:
            boxes: ``(N, 4)`` ``x1, y1, x2, y2`` pixels (N may be 0).
            scores: ``(N,)`` detection scores in [0, 1].
            class_ids: ``(N,)`` class ids.
            frame: The frame's index; a jump of k frames predicts k steps. An index at or
                before the last one counts as the next frame.

        Raises:
            ValueError: Shapes disagree or a box is not finite.
        """
        xyxy = np.asarray(boxes, np.float64).reshape(-1, 4)
        score = np.asarray(scores, np.float64).reshape(-1)
        classes = np.asarray(class_ids, np.int64).reshape(-1)
        if not len(xyxy) == len(score) == len(classes):
            raise ValueError(f"{len(xyxy)} boxes, {len(score)} scores and {len(classes)} classes")
        if not np.isfinite(xyxy).all():
            raise ValueError("boxes hold NaN or infinite coordinates")
        score = np.where(_contained(xyxy, score, self.options.contained), -1.0, score)  # never matched
        previous = self._frame
        steps = 1 if previous is None or frame <= previous else frame - previous
        now = frame if previous is None or frame > previous else previous + 1
        self._frame, self._previous = now, previous
        for track in self._tracks:
            track.kalman.predict(steps)
            track.detection = -1
        o = self.options
        high = np.flatnonzero(score >= o.high_score)
        low = np.flatnonzero((score >= o.low_score) & (score < o.high_score))
        established = [t for t in self._tracks if t.confirmed]
        tentative = [t for t in self._tracks if not t.confirmed]
        left_high, left_tracks = self._match(
            established + tentative, high, xyxy, o.match_iou, now, score, classes
        )
        tentative = [t for t in left_tracks if not t.confirmed]
        left_tracks = [t for t in left_tracks if t.confirmed]
        tracked = [t for t in left_tracks if t.last_seen == previous]  # not lost: seen last frame
        _, unmatched = self._match(tracked, low, xyxy, o.low_match_iou, now, score, classes, fuse=False)
        unmatched += [t for t in left_tracks if t.last_seen != previous]
        left_high, _ = self._match(
            tentative + unmatched, left_high, xyxy, o.match_iou, now, score, classes, buffer=o.buffer
        )
        for d in sorted(left_high, key=lambda d: -score[d]):
            followed = [t.last_box for t in self._tracks if t.last_seen == now]
            if score[d] >= o.new_track_score and not inside(xyxy[d], followed, o.birth_overlap):
                self._start(xyxy[d], float(score[d]), int(classes[d]), int(d), now)
        return self._emit(now)

    def _match(
        self,
        tracks: list[_Track],
        detections: npt.NDArray[np.int64],
        xyxy: npt.NDArray[np.float64],
        minimum: float,
        now: int,
        score: npt.NDArray[np.float64],
        classes: npt.NDArray[np.int64],
        buffer: float = 0.0,
        fuse: bool = True,
    ) -> tuple[npt.NDArray[np.int64], list[_Track]]:
        """Assign ``detections`` to ``tracks``; return the detections and tracks left over."""
        tracks = [t for t in tracks if t.last_seen != now]
        if not tracks or not len(detections):
            return detections, tracks
        predicted = np.stack([t.kalman.box for t in tracks])
        overlap = iou(widen(predicted, buffer), widen(xyxy[detections], buffer))
        if fuse:
            overlap = overlap * score[detections][None, :]  # ByteTrack's fused score
        pairs = assign(overlap, minimum)
        for r, c in pairs:
            d = int(detections[c])
            track = tracks[r]
            track.kalman.update(xyxy[d])
            track.streak = track.streak + 1 if track.last_seen == self._previous else 1
            track.last_seen, track.hits, track.score, track.detection = (
                now,
                track.hits + 1,
                float(score[d]),
                d,
            )
            track.votes[int(classes[d])] = track.votes.get(int(classes[d]), 0.0) + float(score[d])
            track.last_box = xyxy[d].copy()
            if track.streak >= self.options.min_hits:
                track.confirmed = True
        used_d = {c for _, c in pairs}
        used_t = {r for r, _ in pairs}
        rest = np.array([d for k, d in enumerate(detections) if k not in used_d], np.int64)
        return rest, [t for k, t in enumerate(tracks) if k not in used_t]

    def _start(
        self, box: npt.NDArray[np.float64], score: float, class_id: int, detection: int, now: int
    ) -> None:
        track = _Track(
            self._next_id, BoxKalman(box), {class_id: score}, now, now, score=score, detection=detection
        )
        track.last_box = box.copy()
        track.confirmed = self.options.min_hits <= 1
        self._next_id += 1
        self._tracks.append(track)

    def _emit(self, now: int) -> Tracks:
        ended: list[int] = []
        live: list[_Track] = []
        for t in self._tracks:
            missed = now - t.last_seen
            if (not t.confirmed and missed > 0) or missed > self.options.max_lost:
                if t.confirmed:
                    ended.append(t.track_id)
                continue
            live.append(t)
        self._tracks = live
        if not live:
            return Tracks.empty(tuple(ended))
        boxes = np.stack([t.last_box if t.last_seen == now else t.kalman.box for t in live]).astype(
            np.float32
        )
        state = [
            TrackState.TENTATIVE
            if not t.confirmed
            else TrackState.CONFIRMED
            if t.last_seen == now
            else TrackState.LOST
            for t in live
        ]
        return Tracks(
            track_id=np.array([t.track_id for t in live], np.int32),
            xyxy=boxes,
            class_id=np.array([max(t.votes, key=lambda c: t.votes[c]) for t in live], np.int32),
            confidence=np.array([t.score if t.last_seen == now else 0.0 for t in live], np.float32),
            state=np.array(state, np.int32),
            age=np.array([now - t.start + 1 for t in live], np.int32),
            hits=np.array([t.hits for t in live], np.int32),
            detection=np.array([t.detection for t in live], np.int32),
            ended=tuple(ended),
        )

    @property
    def live(self) -> int:
        """Tracks alive now (tentative, confirmed or lost)."""
        return len(self._tracks)

    def in_view(self, width: int, height: int, share: float = 0.2) -> int:
        """Live tracks whose box (predicted, for a lost one) still has ``share`` of its area in
        a ``width`` × ``height`` frame: those a detector could find again. A lost track that
        drove out of the picture is not one of them."""
        count = 0
        for t in self._tracks:
            box = t.last_box if t.last_seen == self._frame else t.kalman.box
            x1, y1, x2, y2 = (float(v) for v in box)
            area = max(x2 - x1, 0.0) * max(y2 - y1, 0.0)
            inside = max(min(x2, width) - max(x1, 0.0), 0.0) * max(min(y2, height) - max(y1, 0.0), 0.0)
            count += area > 0 and inside >= share * area
        return count

    def finish(self) -> tuple[int, ...]:
        """End every live track (the stream is over); returns the confirmed ones' ids."""
        ended = tuple(t.track_id for t in self._tracks if t.confirmed)
        self._tracks = []
        return ended
