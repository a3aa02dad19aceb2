"""Formats and the confidence floor applied to an engine's raw reads (the engine is a stand-in)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from plates.formats import formats_for
from plates.read import Image, PlateRead
from plates.reader import FormattedReader


class Scripted:
    """An engine that answers with given raw reads, one per crop."""

    def __init__(self, reads: Sequence[PlateRead]) -> None:
        self.reads = list(reads)

    def read(self, crops: Sequence[Image]) -> list[PlateRead]:
        return self.reads[: len(crops)]


def _read(text: str, *confidences: float) -> PlateRead:
    chars = confidences if confidences else (0.9,) * len(text)
    return PlateRead(text, tuple(chars))


CROP = np.zeros((16, 64, 3), np.uint8)


@pytest.mark.parametrize(
    ("raw", "text", "region", "readable", "reason"),
    [
        pytest.param(_read("AB123CD"), "AB123CD", "it", True, "", id="fits"),
        pytest.param(
            _read("RK0S5AN", 0.9, 0.9, 0.9, 0.6, 0.9, 0.9, 0.9), "RK055AN", "it", True, "", id="corrected"
        ),
        pytest.param(_read("QQQQ"), "QQQQ", "", False, "no region's format", id="no-format"),
        pytest.param(
            _read("AB123CD", 0.9, 0.9, 0.3, 0.9, 0.9, 0.9, 0.9),
            "AB123CD",
            "it",
            False,
            "low confidence",
            id="weak",
        ),
        pytest.param(PlateRead.unreadable("empty crop"), "", "", False, "empty crop", id="engine-refused"),
    ],
)
def test_formats_and_floor(raw: PlateRead, text: str, region: str, readable: bool, reason: str) -> None:
    reader = FormattedReader(Scripted([raw]), formats_for(["it", "us"]), min_confidence=0.5)
    [read] = reader.read([CROP])
    assert (read.text, read.region, read.readable, read.reason) == (text, region, readable, reason)


def test_a_read_outside_every_format_is_kept_when_formats_are_optional() -> None:
    reader = FormattedReader(Scripted([_read("QQQQ")]), formats_for(["it"]), require_format=False)
    [read] = reader.read([CROP])
    assert (read.text, read.region, read.readable) == ("QQQQ", "", True)


def test_no_crops_no_reads() -> None:
    assert FormattedReader(Scripted([]), formats_for(["it"])).read([]) == []
