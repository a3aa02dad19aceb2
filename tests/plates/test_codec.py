"""The recogniser's input layout and best-path decoding, on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from plates.codec import ALPHABET, INPUT_SIZE, greedy_decode, layout_rows, to_input


def test_a_wide_plate_keeps_its_one_row() -> None:
    plate = np.zeros((20, 100), np.uint8)
    assert layout_rows(plate) is plate


def test_a_narrow_plate_has_its_rows_side_by_side() -> None:
    plate = np.zeros((20, 30), np.uint8)
    plate[:10] = 100  # upper row
    plate[10:] = 200  # lower row
    row = layout_rows(plate)
    assert row.shape == (11, 60)  # 55 % of the height each, twice as wide
    assert row[0, 0] == 100
    assert row[-1, -1] == 200


def test_input_is_grey_in_minus_one_to_one() -> None:
    plates = [np.full((16, 64, 3), 255, np.uint8), np.zeros((40, 160), np.uint8)]
    x = to_input(plates)
    assert x.shape == (2, 1, *INPUT_SIZE)
    assert x.dtype == np.float32
    assert np.allclose(x[0], 1.0)
    assert np.allclose(x[1], -1.0)


def _probs(path: list[int], classes: int = len(ALPHABET) + 1, p: float = 0.8) -> np.ndarray:
    out = np.full((len(path), classes), (1 - p) / (classes - 1), np.float32)
    out[np.arange(len(path)), path] = p
    return out


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ([0, 0, 0], ""),
        ([11, 11, 0, 12], "AB"),  # repeats collapse, blank separates
        ([1, 0, 1], "00"),  # a blank between two equal characters keeps both
        ([1, 1, 1], "0"),
        ([37, 11], "京A"),
    ],
)
def test_best_path(path: list[int], text: str) -> None:
    [(got, chars)] = greedy_decode(_probs(path)[None])
    assert got == text
    assert len(chars) == len(text)
    assert all(c == pytest.approx(0.8) for c in chars)


def test_a_characters_confidence_is_its_best_column() -> None:
    probs = _probs([11, 11])
    probs[1, 11] = 0.95
    [(text, chars)] = greedy_decode(probs[None])
    assert (text, chars) == ("A", (pytest.approx(0.95),))
