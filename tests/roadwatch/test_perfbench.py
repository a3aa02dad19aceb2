"""The pipeline benchmark's parts: the plain pipeline's frames spread over the footage."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import pytest

from roadwatch.perfbench import BurstySource, _spread, misbehaving
from tests.clips import write_sample_video


def test_plain_frames_are_spread_over_the_whole_footage(tmp_path: Path) -> None:
    a = write_sample_video(tmp_path / "a.mp4", frames=30, size=(64, 48), fps=5.0, seed=1)
    b = write_sample_video(tmp_path / "b.mp4", frames=30, size=(64, 48), fps=5.0, seed=2)
    taken = list(_spread([a, b], 6))
    assert len(taken) == 6
    assert [f.camera_id for f, _ in taken] == ["cam1", "cam2"] * 3
    # every 10th frame of each video, not the first six
    assert [f.index for f, _ in taken] == [0, 0, 10, 10, 20, 20]
    assert all(seconds >= 0 for _, seconds in taken)


def test_asking_for_more_frames_than_there_are_gives_them_all(tmp_path: Path) -> None:
    a = write_sample_video(tmp_path / "a.mp4", frames=8, size=(64, 48), fps=5.0, seed=1)
    assert [f.index for f, _ in _spread([a], 100)] == list(range(8))


def test_a_bursty_camera_delivers_each_interval_at_once(tmp_path: Path) -> None:
    video = write_sample_video(tmp_path / "v.mp4", frames=20, size=(64, 48), fps=10.0, seed=1)
    source = BurstySource(video, burst_s=1.0)
    source.open()
    arrivals, stamps = [], []
    while (capture := source.read()) is not None:
        arrivals.append(time.monotonic())
        stamps.append(capture.timestamp)
    source.close()
    assert stamps == sorted(stamps)
    assert len(stamps) == 20
    # two clumps of ten: a second's frames within a blink of each other, a second apart
    first, second = arrivals[:10], arrivals[10:]
    assert first[-1] - first[0] < 0.5
    assert second[-1] - second[0] < 0.5
    assert second[0] - first[-1] > 0.5


def test_misbehaving_recordings(tmp_path: Path) -> None:
    video = write_sample_video(tmp_path / "v.mp4", frames=6, size=(64, 48), fps=5.0, seed=1)
    fast = cv2.VideoCapture(str(misbehaving(video, "fast")))
    assert fast.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    assert int(fast.get(cv2.CAP_PROP_FRAME_COUNT)) == 12  # the same duration, twice the frames
    fast.release()
    big = cv2.VideoCapture(str(misbehaving(video, "4k")))
    ok, image = big.read()
    assert ok
    assert image.shape == (2160, 3840, 3)
    big.release()
    assert misbehaving(video, "4k").stat().st_mtime_ns == (tmp_path / "v-4k.mp4").stat().st_mtime_ns  # kept
