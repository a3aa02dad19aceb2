"""The stages one by one on hand-made frames: tracking with plates, best shots, sightings."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.base import Detections
from gallery.gallery import Match
from roadwatch.events import Sighting
from roadwatch.stages.recognise import Recognition
from roadwatch.stages.shots import (
    BestShots,
    Shot,
    ShotOptions,
    ShotRequest,
    plate_quality,
    shot_quality,
    view_quality,
)
from roadwatch.stages.sightings import SightingBook
from roadwatch.stages.track import TrackedFrame, TrackStage
from streams import Frame
from tracking import TrackerOptions, Tracks, TrackState

PLATE = 6
CLASSES = ("car", "suv", "van", "truck", "bus", "motorcycle", "plate")


def _frame(index: int, time: float | None = None, camera: str = "cam") -> Frame:
    rng = np.random.default_rng(index)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)  # texture: sharpness is not zero
    return Frame(camera, index, index / 10 if time is None else time, image)


def _car(x: float, plate: bool = True, score: float = 0.9) -> Detections:
    boxes = [[x, 60, x + 100, 140]]
    scores, classes, parents = [score], [0], [-1]
    if plate:
        boxes.append([x + 35, 120, x + 65, 132])
        scores.append(0.8)
        classes.append(PLATE)
        parents.append(0)
    return Detections(
        np.array(boxes, np.float32),
        np.array(scores, np.float32),
        np.array(classes, np.int32),
        np.array(parents, np.int32),
    )


def test_track_stage_attaches_each_vehicles_plate() -> None:
    stage = TrackStage(TrackerOptions(min_hits=1), PLATE)
    tracked = stage.update(_frame(0), _car(50))
    assert tracked.tracks.track_id.tolist() == [1]
    assert tracked.tracks.detection.tolist() == [0]  # index into the frame's detections
    assert tracked.plate.tolist() == [1]
    bare = stage.update(_frame(1), _car(52, plate=False))
    assert bare.plate.tolist() == [-1]


def test_track_stage_keeps_cameras_apart() -> None:
    stage = TrackStage(TrackerOptions(min_hits=1), PLATE)
    a = stage.update(_frame(0, camera="a"), _car(50))
    b = stage.update(_frame(0, camera="b"), _car(50))
    assert a.tracks.track_id.tolist() == b.tracks.track_id.tolist() == [1]
    assert set(stage.cameras) == {"a", "b"}
    assert stage.finish("a") == (1,)


def test_track_stage_with_no_detections() -> None:
    stage = TrackStage(TrackerOptions(), PLATE)
    tracked = stage.update(_frame(0), Detections.empty())
    assert len(tracked.tracks) == 0
    assert tracked.plate.shape == (0,)


@pytest.mark.parametrize(
    ("box", "expected_cut"),
    [((10, 10, 138, 138), False), ((0, 10, 128, 138), True), ((10, 10, 320, 138), True)],
)
def test_view_quality_penalises_boxes_cut_by_the_frame(box: tuple[float, ...], expected_cut: bool) -> None:
    q = view_quality(box, (240, 320), 1.0, sharp=1e9)  # type: ignore[arg-type]
    assert q == pytest.approx(0.4 if expected_cut else 1.0, rel=1e-3)


def test_quality_grows_with_size_score_and_plate() -> None:
    small = view_quality((10, 10, 42, 42), (240, 320), 0.9, 100.0)
    large = view_quality((10, 10, 138, 138), (240, 320), 0.9, 100.0)
    assert 0 < small < large
    assert view_quality((10, 10, 138, 138), (240, 320), 0.5, 100.0) < large
    assert plate_quality(8, 0.9) < plate_quality(24, 0.9) == pytest.approx(0.9)
    assert shot_quality(0.8, 0.0) == pytest.approx(0.4)
    assert shot_quality(0.8, 1.0) == pytest.approx(0.8)


def _tracked(stage: TrackStage, index: int, x: float, plate: bool = True) -> object:
    return stage.update(_frame(index), _car(x, plate=plate))


def test_best_shots_ask_once_then_only_for_a_plate_or_a_marked_gain() -> None:
    stage = TrackStage(TrackerOptions(min_hits=2), PLATE)
    shots = BestShots(ShotOptions(min_quality=0.1, rematch_gain=2.0, views=3))
    reasons = []
    for i in range(10):
        tracked = stage.update(_frame(i), _car(40 + 2 * i, plate=i >= 5))
        reasons += [r.reason for r in shots.update(tracked)]
    assert reasons == ["first", "plate"]  # not per frame: the view barely changes
    final = shots.end("cam", 1)
    assert final is not None
    assert final.reason == "end"
    assert final.shot.plate_crop is not None
    assert final.shot.plate_crop.shape == (32, 128, 3)
    assert 1 <= len(final.shot.vehicle_views) <= 3
    assert shots.end("cam", 1) is None  # forgotten once ended


def test_a_tentative_track_asks_nothing() -> None:
    stage = TrackStage(TrackerOptions(min_hits=3), PLATE)
    shots = BestShots(ShotOptions(min_quality=0.0))
    assert shots.update(stage.update(_frame(0), _car(40))) == []


def test_sightings_never_end_before_they_begin_when_time_goes_backwards() -> None:
    stage = TrackStage(TrackerOptions(min_hits=1), PLATE)
    book = SightingBook(CLASSES)
    times = [5.0, 5.1, 4.0, 3.0, 5.2]  # a recording whose timestamps jump back
    for i, t in enumerate(times):
        book.observe(stage.update(_frame(i, time=t), _car(40 + 2 * i)))
    assert book.end("cam", 1, None) == []  # held a while, in case a second track of it ends
    out = book.release_all()
    assert len(out) == 1
    assert out[0].first_time == 5.0
    assert out[0].last_time >= out[0].first_time
    assert out[0].identity is None
    assert out[0].error


def test_provisional_then_final_with_the_same_id() -> None:
    stage = TrackStage(TrackerOptions(min_hits=1), PLATE)
    shots = BestShots(ShotOptions(min_quality=0.0))
    book = SightingBook(CLASSES)
    tracked = stage.update(_frame(0), _car(40))
    book.observe(tracked)
    (first,) = shots.update(tracked)
    book.asked("cam", 1)
    out = book.recognised(Recognition(first, Match(7, "fusion", 0.95, new=False), None))
    assert [s.status for s in out] == ["provisional"]
    final = shots.end("cam", 1)
    assert final is not None
    book.asked("cam", 1)
    assert book.end("cam", 1, final.shot) == []  # waits for the deciding answer
    assert book.recognised(Recognition(final, Match(7, "fusion", 0.97, new=False), None, final=True)) == []
    done = book.release_all()  # held for merge_gap_s of camera time, or to the end of the run
    assert [s.status for s in done] == ["final"]
    assert done[0].id == out[0].id
    assert done[0].identity == 7
    assert done[0].path[0][0] == 0


def _pass_of(
    book: SightingBook, stage: TrackStage, shots: BestShots, frames: range, x0: float
) -> list[Sighting]:
    released = []
    for i in frames:
        tracked = stage.update(_frame(i), _car(x0 + 2 * i))
        released += book.observe(tracked)
        shots.update(tracked)
    return released


def test_two_passes_of_one_identity_at_one_camera_merge_into_one_sighting() -> None:
    stage = TrackStage(TrackerOptions(min_hits=1), PLATE)
    shots = BestShots(ShotOptions(min_quality=0.0))
    book = SightingBook(CLASSES, merge_gap_s=2.0)
    out = []
    for frames in (range(0, 5), range(8, 12)):  # a second track 0.3 s later: the same car cut in two
        out += _pass_of(book, stage, shots, frames, 40)
        request = shots.end("cam", 1)
        assert stage.finish("cam") == (1,)
        assert request is not None
        book.asked("cam", 1)
        out += book.end("cam", 1, request.shot)
        out += book.recognised(Recognition(request, Match(4, "vehicle", 0.95, new=False), None, final=True))
    assert out == []
    (merged,) = book.release_all()
    assert (merged.first_frame, merged.last_frame) == (0, 11)
    assert merged.identity == 4
    assert book.merged == 1


def test_passes_far_apart_stay_two_sightings() -> None:
    stage = TrackStage(TrackerOptions(min_hits=1), PLATE)
    shots = BestShots(ShotOptions(min_quality=0.0))
    book = SightingBook(CLASSES, merge_gap_s=2.0)
    released = []
    for frames in (range(0, 5), range(60, 65)):  # the same car back 5.5 s later
        released += _pass_of(book, stage, shots, frames, 40)
        request = shots.end("cam", 1)
        stage.finish("cam")
        assert request is not None
        book.asked("cam", 1)
        released += book.end("cam", 1, request.shot)
        released += book.recognised(
            Recognition(request, Match(4, "vehicle", 0.95, new=False), None, final=True)
        )
    released += book.release_all()
    assert len(released) == 2


def _two_tracks(index: int, boxes: list[list[float]]) -> TrackedFrame:
    """A frame whose tracker followed ``boxes`` as tracks 1, 2, ... (all confirmed)."""
    n = len(boxes)
    ids = np.arange(1, n + 1, dtype=np.int32)
    xyxy = np.array(boxes, np.float32).reshape(-1, 4)
    detections = Detections(xyxy, np.full(n, 0.9, np.float32), np.zeros(n, np.int32))
    tracks = Tracks(
        ids,
        xyxy,
        np.zeros(n, np.int32),
        np.full(n, 0.9, np.float32),
        np.full(n, TrackState.CONFIRMED, np.int32),
        np.ones(n, np.int32),
        np.ones(n, np.int32),
        np.arange(n, dtype=np.int32),
    )
    return TrackedFrame(_frame(index), detections, tracks, np.full(n, -1, np.int32))


def test_a_second_track_inside_the_first_stays_apart_without_a_shared_identity() -> None:
    book = SightingBook(CLASSES)
    for i in range(6):  # the whole car, and from frame 2 a second track on its front half
        whole = [40 + 2 * i, 60, 140 + 2 * i, 140]
        book.observe(_two_tracks(i, [whole, [42 + 2 * i, 62, 90 + 2 * i, 138]] if i >= 2 else [whole]))
    assert book.end("cam", 2, None) == []
    assert book.end("cam", 1, None) == []
    assert len(book.release_all()) == 2  # nested boxes alone are not enough (a far car behind a near one)
    assert book.merged == 0


def test_side_by_side_vehicles_stay_apart() -> None:
    book = SightingBook(CLASSES)
    for i in range(6):
        book.observe(_two_tracks(i, [[40, 60, 140, 140], [150, 60, 250, 140]]))
    book.end("cam", 1, None)
    book.end("cam", 2, None)
    assert len(book.release_all()) == 2


def _path_of(book: SightingBook, boxes: list[list[float]], start: int = 0) -> list[Sighting]:
    """Track 1 through ``boxes`` (one a frame, 10 fps), recognised as identity 5, then ended."""
    out = []
    for i, box in enumerate(boxes, start):
        out += book.observe(_two_tracks(i, [box]))
        if i == start:
            out += _recognise(book, final=False)
    book.asked("cam", 1)
    out += book.end("cam", 1, None)
    out += _recognise(book, final=True)
    return out + book.release_all()


def _recognise(book: SightingBook, *, final: bool) -> list[Sighting]:
    shot = Shot(
        "cam", 1, 0, 0.0, (0, 0, 8, 8), 0, None, 0.0, 0.5, _frame(0), (np.zeros((8, 8, 3), np.uint8),)
    )
    request = ShotRequest(shot, "end" if final else "first")
    if not final:
        book.asked("cam", 1)  # the final one was asked before the track ended
    return book.recognised(Recognition(request, Match(5, "vehicle", 0.95, new=final), None, final=final))


def _rules() -> SightingBook:
    return SightingBook(CLASSES, min_pass_px=32, min_pass_s=0.3, min_move=0.5, stationary_s=2.0)


def test_a_track_that_never_moves_gives_no_sighting_and_is_marked_stationary() -> None:
    book = _rules()
    parked = [[100.0, 100.0, 180.0, 160.0]] * 30  # 3 s, not a pixel of travel
    for i, box in enumerate(parked[:25]):
        assert book.observe(_two_tracks(i, [box])) == []
        if i == 0:
            assert _recognise(book, final=False) == []  # identity known, but no provisional yet
    assert book.stationary("cam") == [1]
    assert _path_of(book, parked[25:], start=25) == []
    assert book.still_tracks == 1


def test_a_parked_vehicle_that_drives_off_is_one_pass() -> None:
    book = _rules()
    boxes = [[100.0, 100.0, 180.0, 160.0]] * 30 + [
        [100.0 + 6 * k, 100.0, 180.0 + 6 * k, 160.0] for k in range(1, 15)
    ]
    out = _path_of(book, boxes)
    assert [s.status for s in out] == ["provisional", "final"]
    assert out[1].first_frame == 0


def test_a_vehicle_that_drives_in_and_waits_in_a_queue_is_one_pass() -> None:
    book = _rules()
    arriving = [[20.0 + 8 * k, 100.0, 100.0 + 8 * k, 160.0] for k in range(10)]
    waiting = [arriving[-1]] * 60  # 6 s at a red light, longer than stationary_s
    leaving = [[92.0 + 8 * k, 100.0, 172.0 + 8 * k, 160.0] for k in range(1, 10)]
    out = _path_of(book, arriving + waiting + leaving)
    assert [s.status for s in out] == ["provisional", "final"]
    assert book.stationary() == []


def test_a_shaking_camera_does_not_make_a_sign_move() -> None:
    book = _rules()
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-4, 4, (40, 2))
    sign = [[200.0 + dx, 50.0 + dy, 240.0 + dx, 90.0 + dy] for dx, dy in jitter]  # 40 px high, ±4 px shake
    assert _path_of(book, sign) == []
    assert book.still_tracks == 1


@pytest.mark.parametrize(
    ("boxes", "why"),
    [
        ([[10.0 + 10 * k, 100.0, 40.0 + 10 * k, 120.0] for k in range(20)], "never 32 px high"),
        ([[10.0 + 30 * k, 100.0, 90.0 + 30 * k, 160.0] for k in range(3)], "0.2 s long"),
    ],
)
def test_glimpses_give_no_sighting(boxes: list[list[float]], why: str) -> None:
    book = _rules()
    assert _path_of(book, boxes) == [], why
    assert book.glimpses == 1
