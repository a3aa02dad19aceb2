"""Video file and image folder sources: lossless reads and clear errors on bad input."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from streams import Capture, ImageFolderSource, SourceError, VideoFileSource
from streams.sources import as_bgr


def _read_all(source: VideoFileSource | ImageFolderSource) -> list[Capture]:
    source.open()
    try:
        out = []
        while (capture := source.read()) is not None:
            out.append(capture)
        return out
    finally:
        source.close()


def test_video_file_reads_every_frame(sample_clip: Path) -> None:
    source = VideoFileSource(sample_clip)
    captures = _read_all(source)
    assert len(captures) == 40
    assert source.frame_count == 40
    assert [c.timestamp for c in captures[:3]] == pytest.approx([0.0, 0.05, 0.1])
    assert captures[0].image.shape == (96, 160, 3)
    assert captures[0].image.dtype == np.uint8


def test_video_file_reopens_from_the_start(sample_clip: Path) -> None:
    source = VideoFileSource(sample_clip)
    assert len(_read_all(source)) == len(_read_all(source)) == 40


def test_a_looped_video_file_starts_again_with_time_going_on(sample_clip: Path) -> None:
    source = VideoFileSource(sample_clip, loop=True)
    source.open()
    try:
        captures = [source.read() for _ in range(100)]  # 2.5 times the clip
    finally:
        source.close()
    assert all(c is not None for c in captures)
    assert source.frame_count is None  # endless
    times = [c.timestamp for c in captures if c is not None]
    assert times == sorted(times)
    assert times[99] == pytest.approx(99 * 0.05)
    first, again = captures[0], captures[40]
    assert first is not None
    assert again is not None
    assert np.array_equal(first.image, again.image)  # frame 40 is the clip's first frame again


def test_native_pace_follows_the_clip_frame_rate(sample_clip: Path) -> None:
    started = time.monotonic()
    captures = _read_all(VideoFileSource(sample_clip, pace="native"))
    elapsed = time.monotonic() - started
    # 40 frames at 20 fps: the last frame is due 1.95 s after the first.
    assert elapsed >= captures[-1].timestamp * 0.95


def _truncated(sample_clip: Path, tmp_path: Path) -> Path:
    data = sample_clip.read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda clip, tmp: tmp / "missing.mp4", "no such file"),
        (lambda clip, tmp: tmp, "is a directory"),
        (lambda clip, tmp: (tmp / "zero.mp4", (tmp / "zero.mp4").write_bytes(b""))[0], "empty file"),
        (
            lambda clip, tmp: (tmp / "text.mp4", (tmp / "text.mp4").write_text("not a video\n" * 50))[0],
            "not a readable video",
        ),
        (_truncated, "not a readable video"),
    ],
    ids=["missing", "directory", "zero-bytes", "text-named-mp4", "truncated"],
)
def test_bad_video_files_raise_one_clear_error(make, message: str, sample_clip: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = make(sample_clip, tmp_path)
    with pytest.raises(SourceError, match=message) as info:
        VideoFileSource(path).open()
    assert not info.value.retryable
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_image_folder_reads_in_name_order_and_skips_corrupt_files(tmp_path: Path) -> None:
    colour = np.full((8, 12, 3), (10, 20, 30), np.uint8)
    cv2.imwrite(str(tmp_path / "b.png"), colour)
    cv2.imwrite(str(tmp_path / "a.png"), np.full((8, 12), 200, np.uint8))  # grayscale
    cv2.imwrite(str(tmp_path / "c.png"), np.zeros((8, 12, 4), np.uint8))  # with alpha
    (tmp_path / "d.jpg").write_bytes(b"\xff\xd8 broken jpeg")
    (tmp_path / "notes.txt").write_text("not an image")
    source = ImageFolderSource(tmp_path, fps=4.0)
    captures = _read_all(source)
    assert len(captures) == 3
    assert source.skipped_files == 1
    assert [c.image.shape for c in captures] == [(8, 12, 3)] * 3
    assert captures[0].image[0, 0].tolist() == [200, 200, 200]  # a.png first
    assert captures[1].image[0, 0].tolist() == [10, 20, 30]
    assert [c.timestamp for c in captures] == [0.0, 0.25, 0.5]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda tmp: tmp / "nowhere", "no such folder"),
        (lambda tmp: tmp, "no images"),
        (lambda tmp: (tmp / "f.png", (tmp / "f.png").write_bytes(b"x"))[0], "not a folder"),
    ],
    ids=["missing", "empty", "file-not-folder"],
)
def test_bad_image_folders_raise(setup, message: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SourceError, match=message):
        ImageFolderSource(setup(tmp_path)).open()


@pytest.mark.parametrize(
    ("image", "shape"),
    [
        (np.zeros((4, 5), np.uint8), (4, 5, 3)),
        (np.zeros((4, 5, 1), np.uint8), (4, 5, 3)),
        (np.zeros((4, 5, 3), np.uint8), (4, 5, 3)),
        (np.zeros((4, 5, 4), np.uint8), (4, 5, 3)),
    ],
)
def test_as_bgr_accepts_grey_bgr_bgra(image: np.ndarray, shape: tuple[int, ...]) -> None:
    assert as_bgr(image).shape == shape


@pytest.mark.parametrize(
    "image",
    [np.zeros((4, 5, 3), np.float32), np.zeros((4, 5, 2), np.uint8), np.zeros((0, 5, 3), np.uint8)],
    ids=["float", "two-channels", "empty"],
)
def test_as_bgr_rejects_unusable_images(image: np.ndarray) -> None:
    with pytest.raises(SourceError, match="image"):
        as_bgr(image)
