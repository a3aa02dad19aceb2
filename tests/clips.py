"""A small generated traffic clip for stream and replay tests (fast to write, exact frame count).

Cars are coloured boxes with a dark windscreen and a white plate with characters, driving
along a three-lane road; deterministic for a given seed.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class _Car:
    lane: int
    start_frame: int
    speed: float  # pixels per frame
    width: int
    height: int
    colour: tuple[int, int, int]
    plate: str


def _cars(rng: np.random.Generator, frames: int, count: int) -> list[_Car]:
    letters = string.ascii_uppercase
    cars = []
    for _ in range(count):
        width = int(rng.integers(70, 110))
        plate = "".join(rng.choice(list(letters), 2)) + "-" + "".join(rng.choice(list("0123456789"), 4))
        cars.append(
            _Car(
                lane=int(rng.integers(0, 3)),
                start_frame=int(rng.integers(0, max(1, frames - 40))),
                speed=float(rng.uniform(4, 9)),
                width=width,
                height=int(width * rng.uniform(0.5, 0.65)),
                colour=tuple(int(c) for c in rng.integers(30, 230, 3)),  # type: ignore[arg-type]
                plate=plate,
            )
        )
    return cars


def render_frame(
    index: int, cars: list[_Car], size: tuple[int, int], rng: np.random.Generator
) -> npt.NDArray[np.uint8]:
    """Draw frame ``index`` of the clip."""
    width, height = size
    image = np.empty((height, width, 3), np.uint8)
    image[:] = (70, 110, 60)  # verge
    top, bottom = int(height * 0.25), int(height * 0.9)
    cv2.rectangle(image, (0, top), (width, bottom), (85, 85, 85), -1)
    lane_h = (bottom - top) / 3
    for k in (1, 2):
        y = int(top + k * lane_h)
        for x in range(-(index * 6) % 60, width, 60):
            cv2.line(image, (x, y), (x + 30, y), (230, 230, 230), 2)
    for car in cars:
        x = int((index - car.start_frame) * car.speed) - car.width
        if x + car.width < 0 or x > width:
            continue
        y = int(top + (car.lane + 0.5) * lane_h - car.height / 2)
        cv2.rectangle(image, (x, y), (x + car.width, y + car.height), car.colour, -1)
        cv2.rectangle(
            image, (x + car.width // 2, y + 4), (x + car.width - 6, y + car.height - 4), (40, 40, 40), -1
        )
        px, py = x + 4, y + car.height // 2 - 7
        cv2.rectangle(image, (px, py), (px + 44, py + 14), (245, 245, 245), -1)
        cv2.putText(
            image, car.plate, (px + 2, py + 11), cv2.FONT_HERSHEY_PLAIN, 0.65, (0, 0, 0), 1, cv2.LINE_AA
        )
    noise = rng.integers(-6, 7, image.shape, dtype=np.int16)
    noisy: npt.NDArray[np.uint8] = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return noisy


def write_sample_video(
    path: Path, *, frames: int = 250, size: tuple[int, int] = (640, 360), fps: float = 25.0, seed: int = 0
) -> Path:
    """Write the sample clip as MPEG-4 (mp4v) and return its path.

    Args:
        path: Output ``.mp4`` file; its folder is created.
        frames: Number of frames.
        size: ``(width, height)``.
        fps: Frame rate stored in the file.
        seed: Random seed (same seed, same pixels).

    Raises:
        OSError: The video cannot be written.
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cars = _cars(rng, frames, count=max(3, frames // 20))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise OSError(f"{path}: cannot write video (mp4v encoder unavailable?)")
    try:
        for index in range(frames):
            writer.write(render_frame(index, cars, size, rng))
    finally:
        writer.release()
    return path
