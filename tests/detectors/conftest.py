"""Fixtures of the detector tests: a tiny YOLO set written on disk."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from formats import DetectionSample, write_yolo


@pytest.fixture(scope="module")
def yolo_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 images 160×96 with one bright box each (one also a small second box), one empty image."""
    root = tmp_path_factory.mktemp("yolo")
    folder = root / "images" / "train"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    samples = []
    for i in range(6):
        image = rng.integers(0, 60, (96, 160, 3), dtype=np.uint8)
        x, y = 20 + 10 * i, 20 + 4 * i
        image[y : y + 40, x : x + 50] = 220
        path = folder / f"f{i}.jpg"
        cv2.imwrite(str(path), image)
        boxes = [[x, y, x + 50, y + 40]]
        classes = [0]
        if i == 5:
            boxes.append([150, 10, 158, 20])  # fully inside: kept
        samples.append(
            DetectionSample(path, 160, 96, np.array(boxes, np.float32), np.array(classes + [1] * (i == 5)))
        )
    empty = folder / "empty.jpg"
    cv2.imwrite(str(empty), np.zeros((96, 160, 3), np.uint8))
    samples.append(DetectionSample(empty, 160, 96, np.zeros((0, 4), np.float32), np.zeros(0, np.int32)))
    write_yolo(root, samples, ["car", "plate"], split="train")
    return root
