"""Fixtures for the format tests: tiny image files written with OpenCV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

ImageWriter = Callable[[Path, int, int], Path]


@pytest.fixture
def make_image() -> ImageWriter:
    """``make_image(path, width, height)`` writes a small grey image (creating folders), returns the path."""

    def write(path: Path, width: int, height: int) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, data = cv2.imencode(path.suffix, np.full((height, width, 3), 127, np.uint8))
        assert ok, path
        # tofile, not imwrite: imwrite fails on non-ASCII paths.
        data.tofile(path)
        return path

    return write
