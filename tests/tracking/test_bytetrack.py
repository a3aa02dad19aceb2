"""ByteTrack association on hand-made box sequences."""

from __future__ import annotations

import numpy as np
import pytest

from tracking import ByteTracker, TrackerOptions, Tracks, TrackState


def box(cx: float, cy: float, w: float = 60, h: float = 40) -> list[float]:
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def step(
    tracker: ByteTracker, boxes: list[list[float]], frame: int, scores: list[float] | None = None
) -> Tracks:
    scores = scores if scores is not None else [0.9] * len(boxes)
    return tracker.update(np.array(boxes, np.float64).reshape(-1, 4), scores, [0] * len(boxes), frame)


def ids_by_detection(tracks: Tracks) -> dict[int, int]:
    """Detection index → track id, for the tracks matched this frame."""
    return {int(d): int(t) for t, d in zip(tracks.track_id, tracks.detection, strict=True) if d >= 0}


def test_birth_after_min_hits_then_confirmed() -> None:
    tracker = ByteTracker(TrackerOptions(min_hits=3))
    states = []
    for f in range(4):
        tracks = step(tracker, [box(100 + 5 * f, 100)], f)
        states.append(int(tracks.state[0]))
    assert states == [TrackState.TENTATIVE, TrackState.TENTATIVE, TrackState.CONFIRMED, TrackState.CONFIRMED]
    assert tracks.track_id.tolist() == [1]
    assert tracks.hits.tolist() == [4]


def test_one_off_detection_never_becomes_a_track() -> None:
    tracker = ByteTracker(TrackerOptions(min_hits=3))
    step(tracker, [box(100, 100)], 0)
    tracks = step(tracker, [], 1)
    assert len(tracks) == 0
    assert tracks.ended == ()  # a tentative track ends silently: it never was a vehicle


def test_empty_frames_give_empty_tracks() -> None:
    tracker = ByteTracker()
    for f in range(3):
        tracks = tracker.update(np.zeros((0, 4)), np.zeros(0), np.zeros(0), f)
        assert len(tracks) == 0
        assert tracks.xyxy.shape == (0, 4)


def test_crossing_vehicles_keep_their_ids() -> None:
    """Two cars cross paths (one left to right, one right to left, same row): ids do not swap."""
    tracker = ByteTracker(TrackerOptions(min_hits=2))
    first: dict[int, int] = {}
    for f in range(21):
        a = box(100 + 20 * f, 200)  # → 500
        b = box(500 - 20 * f, 210)  # → 100
        tracks = step(tracker, [a, b], f)
        by_det = ids_by_detection(tracks)
        if f == 2:
            first = by_det
    assert first[0] != first[1]
    assert by_det == first  # after crossing, detection 0 (the left-to-right car) has the same id


def test_occlusion_bridged_by_prediction() -> None:
    """A car hidden for 5 frames behind a truck comes back with its id (motion predicted)."""
    tracker = ByteTracker(TrackerOptions(min_hits=2, max_lost=10))
    for f in range(6):
        tracks = step(tracker, [box(100 + 10 * f, 100)], f)
    car = int(tracks.track_id[0])
    for f in range(6, 11):
        tracks = step(tracker, [], f)
        assert int(tracks.state[0]) == TrackState.LOST
        assert tracks.confidence[0] == 0
    tracks = step(tracker, [box(100 + 10 * 11, 100)], 11)
    assert tracks.track_id.tolist() == [car]
    assert int(tracks.state[0]) == TrackState.CONFIRMED


def test_death_after_max_lost() -> None:
    tracker = ByteTracker(TrackerOptions(min_hits=1, max_lost=3))
    step(tracker, [box(100, 100)], 0)
    ended: list[int] = []
    for f in range(1, 6):
        ended += step(tracker, [], f).ended
    assert ended == [1]


def test_fast_motion_keeps_one_track() -> None:
    """50 px per frame for a 60 px wide car: consecutive boxes barely overlap; the velocity learnt
    by the filter carries the track."""
    tracker = ByteTracker(TrackerOptions(min_hits=2))
    seen = set()
    for f in range(12):
        tracks = step(tracker, [box(50 + 45 * f, 300)], f)
        seen.update(int(t) for t in tracks.track_id)
    assert seen == {1}


def test_dropped_frames_gap_is_predicted_over() -> None:
    """Frames 6 to 9 never arrive (a live camera dropped them): index 10 continues the track."""
    tracker = ByteTracker(TrackerOptions(min_hits=2, max_lost=2))
    for f in range(6):
        step(tracker, [box(100 + 25 * f, 100)], f)
    tracks = step(tracker, [box(100 + 25 * 10, 100)], 10)
    assert tracks.track_id.tolist() == [1]
    assert tracks.ended == ()


def test_low_score_detection_continues_but_never_starts_a_track() -> None:
    tracker = ByteTracker(TrackerOptions(min_hits=2, high_score=0.5, low_score=0.1))
    for f in range(3):
        step(tracker, [box(100 + 5 * f, 100)], f)
    tracks = step(tracker, [box(115, 100), box(400, 300)], 3, scores=[0.3, 0.3])
    assert tracks.track_id.tolist() == [1]
    assert tracks.detection.tolist() == [0]
    assert int(tracks.state[0]) == TrackState.CONFIRMED


def test_backwards_frame_index_counts_as_next_frame() -> None:
    tracker = ByteTracker(TrackerOptions(min_hits=2))
    step(tracker, [box(100, 100)], 5)
    tracks = step(tracker, [box(102, 100)], 3)
    assert int(tracks.state[0]) == TrackState.CONFIRMED


def test_class_is_the_confidence_weighted_vote() -> None:
    tracker = ByteTracker(TrackerOptions(min_hits=1))
    tracker.update([box(100, 100)], [0.9], [2], 0)
    tracker.update([box(101, 100)], [0.6], [1], 1)
    tracks = tracker.update([box(102, 100)], [0.7], [2], 2)
    assert tracks.class_id.tolist() == [2]


def test_finish_ends_confirmed_tracks_only() -> None:
    tracker = ByteTracker(TrackerOptions(min_hits=2))
    for f in range(3):
        step(tracker, [box(100, 100)], f)
    step(tracker, [box(100, 100), box(400, 400)], 3)
    assert tracker.finish() == (1,)


@pytest.mark.parametrize(
    ("boxes", "scores", "classes", "message"),
    [
        ([[0, 0, 1, 1]], [0.5, 0.5], [0], "1 boxes, 2 scores"),
        ([[0, 0, float("nan"), 1]], [0.5], [0], "NaN"),
    ],
)
def test_malformed_input_is_refused(
    boxes: list[list[float]], scores: list[float], classes: list[int], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ByteTracker().update(boxes, scores, classes, 0)


def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="low_score"):
        TrackerOptions(low_score=0.6, high_score=0.5)


def test_partial_box_inside_a_stronger_one_is_set_aside() -> None:
    """A windscreen box inside a car's box: one track, following the whole car."""
    tracker = ByteTracker(TrackerOptions(min_hits=1))
    for f in range(4):
        car = box(200 + 30 * f, 200, 120, 100)
        part = box(200 + 30 * f, 190, 60, 30)
        tracks = step(tracker, [part, car], f, scores=[0.7, 0.9])
        assert tracks.track_id.tolist() == [1]
        assert tracks.detection.tolist() == [1]


def test_young_track_keeps_its_vehicle_when_the_one_ahead_is_hidden() -> None:
    """A truck drives away up the frame; a van closes in behind it and is two frames old when the
    truck goes unseen for a frame. The van's box overlaps where the truck's track predicts the
    truck, but it belongs to the van's young track: the truck's track is lost for that frame,
    it does not go on as the van (one track, two vehicles)."""
    tracker = ByteTracker(TrackerOptions(min_hits=3))
    for f in range(4):
        step(tracker, [[0, 0, 300, 300 - 10 * f]], f, [0.95])
    truck = 1
    step(tracker, [[0, 0, 300, 260], [0, 120, 300, 520]], 4, [0.95, 0.9])
    tracks = step(tracker, [[0, 0, 300, 250], [0, 90, 300, 500]], 5, [0.95, 0.9])
    van = ids_by_detection(tracks)[1]
    assert van != truck
    tracks = step(tracker, [[0, 60, 300, 480]], 6, [0.9])  # the truck unseen this frame
    assert ids_by_detection(tracks) == {0: van}
    states = dict(zip(tracks.track_id.tolist(), tracks.state.tolist(), strict=True))
    assert states[truck] == TrackState.LOST
