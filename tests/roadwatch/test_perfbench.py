"""The pipeline benchmark's parts: the plain pipeline's frames spread over the footage."""

from __future__ import annotations

from pathlib import Path

from roadwatch.perfbench import _spread
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
