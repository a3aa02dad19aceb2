"""Skipping detection where nothing moves, and what it must never skip."""

from __future__ import annotations

import numpy as np

from roadwatch.stages.still import StillFrames
from streams.frame import Frame
from tracking import ByteTracker


def _road(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.full((720, 1280, 3), 90, np.uint8)
    image += rng.integers(0, 12, image.shape, dtype=np.uint8)  # sensor grain
    return image


def _frame(image: np.ndarray, t: float, camera: str = "gate") -> Frame:
    return Frame(camera, int(t * 10), t, image)


def _with_car(image: np.ndarray, x: int) -> np.ndarray:
    out = image.copy()
    out[400:520, x : x + 160] = (30, 30, 200)
    return out


def test_still_frames_are_skipped_until_something_moves() -> None:
    still = StillFrames(max_skip_s=10)
    assert not still.skip(_frame(_road(0), 0.0), busy=False)  # the first frame is always looked at
    assert still.skip(_frame(_road(1), 0.1), busy=False)  # new grain, same scene
    assert still.skip(_frame(_road(2), 0.2), busy=False)
    assert not still.skip(_frame(_with_car(_road(3), 600), 0.3), busy=False)  # a car came in
    assert (still.skipped, still.looked) == (2, 2)


def test_a_camera_with_tracks_in_view_is_always_looked_at() -> None:
    still = StillFrames(max_skip_s=10)
    still.skip(_frame(_road(0), 0.0), busy=False)
    assert not still.skip(_frame(_road(0), 0.1), busy=True)  # a car standing still is still followed


def test_detection_runs_at_least_every_max_skip_seconds() -> None:
    still = StillFrames(max_skip_s=1.0)
    image = _road(0)
    looked = [not still.skip(_frame(image, t / 10), busy=False) for t in range(31)]
    assert [t for t, was in enumerate(looked) if was] == [0, 10, 20, 30]


def test_motion_outside_the_roi_does_not_count() -> None:
    still = StillFrames(max_skip_s=10, roi={"gate": [(0.0, 0.0), (0.4, 0.0), (0.4, 1.0), (0.0, 1.0)]})
    still.skip(_frame(_road(0), 0.0), busy=False)
    assert still.skip(_frame(_with_car(_road(1), 1000), 0.1), busy=False)  # right of the roi
    assert not still.skip(_frame(_with_car(_road(2), 100), 0.2), busy=False)  # inside it


def test_cameras_are_judged_apart() -> None:
    still = StillFrames(max_skip_s=10)
    still.skip(_frame(_road(0), 0.0, "a"), busy=False)
    assert not still.skip(_frame(_with_car(_road(0), 300), 0.0, "b"), busy=False)  # b's first frame
    assert still.skip(_frame(_road(1), 0.1, "a"), busy=False)


def test_tracks_that_left_the_picture_are_not_in_view() -> None:
    tracker = ByteTracker()
    for f in range(4):
        tracker.update([[500, 300 + 100 * f, 700, 450 + 100 * f]], [0.9], [0], f)
    assert tracker.in_view(1280, 720) == 1
    for f in range(4, 14):  # the car drove on down and out of the frame, unseen
        tracker.update(np.zeros((0, 4)), [], [], f)
    assert tracker.live == 1  # still a lost track ...
    assert tracker.in_view(1280, 720) == 0  # ... but predicted out of the picture
