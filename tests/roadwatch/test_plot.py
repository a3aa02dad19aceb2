"""roadwatch.plot: PNG size, series colours, degenerate series, bad arguments, unwritable paths."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from roadwatch.plot import SERIES_COLORS, line_plot

NAN = float("nan")
INF = float("inf")
# A diagonal polyline across the plot area covers well over this many pixels of its colour; a
# legend swatch (24 x 2 pixels) alone stays far below it.
LINE_PIXELS = 300


def _plot(
    tmp_path: Path, series: Mapping[str, Sequence[tuple[float, float]]], **kwargs: Any
) -> npt.NDArray[np.uint8]:
    path = tmp_path / "plot.png"
    options: dict[str, Any] = {"title": "Losses", "x_label": "step", "y_label": "loss"}
    options.update(kwargs)
    line_plot(path, series, **options)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, "the PNG does not read back"
    return np.asarray(image, dtype=np.uint8)


def _color_pixels(image: npt.NDArray[np.uint8], color: tuple[int, int, int], tolerance: int = 8) -> int:
    """Pixels within ``tolerance`` of ``color`` (BGR) on every channel."""
    difference = np.abs(image.astype(np.int16) - np.array(color, dtype=np.int16))
    return int((difference.max(axis=2) <= tolerance).sum())


def _ramp(slope: float, offset: float, n: int = 50) -> list[tuple[float, float]]:
    return [(float(x), slope * x + offset) for x in range(n)]


@pytest.mark.parametrize("size", [(800, 500), (320, 240), (200, 150), (1000, 300)])
def test_writes_png_of_requested_size(tmp_path: Path, size: tuple[int, int]) -> None:
    image = _plot(tmp_path, {"triplet": _ramp(-0.1, 5.0)}, size=size)
    assert image.shape == (size[1], size[0], 3)
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_background_is_white_and_text_is_drawn(tmp_path: Path) -> None:
    image = _plot(tmp_path, {"a": _ramp(1.0, 0.0)})
    assert (image == 255).all(axis=2).mean() > 0.5
    assert (image.max(axis=2) < 100).sum() > 100  # dark pixels: frame, ticks, title, labels


def test_each_series_has_its_palette_colour(tmp_path: Path) -> None:
    series = {f"loss{i}": _ramp(0.5 * i - 1.0, float(i)) for i in range(4)}
    image = _plot(tmp_path, series)
    for color in SERIES_COLORS[:4]:
        assert _color_pixels(image, color) > LINE_PIXELS, color
    for color in SERIES_COLORS[4:9]:
        assert _color_pixels(image, color) == 0, color


def test_empty_series_is_skipped_but_keeps_colour_order(tmp_path: Path) -> None:
    image = _plot(tmp_path, {"a": _ramp(1.0, 0.0), "b": [], "c": _ramp(-1.0, 60.0)})
    assert _color_pixels(image, SERIES_COLORS[0]) > LINE_PIXELS
    assert _color_pixels(image, SERIES_COLORS[1]) == 0  # no line, no legend entry
    assert _color_pixels(image, SERIES_COLORS[2]) > LINE_PIXELS


def test_palette_has_at_least_eight_distinct_colours() -> None:
    assert len(set(SERIES_COLORS)) == len(SERIES_COLORS) >= 8


@pytest.mark.parametrize(
    "series",
    [
        pytest.param({}, id="no_series"),
        pytest.param({"a": [], "b": []}, id="all_empty"),
        pytest.param({"a": [(NAN, 1.0), (2.0, INF)]}, id="only_non_finite_points"),
    ],
)
def test_nothing_to_draw_still_writes_axes(
    tmp_path: Path, series: Mapping[str, Sequence[tuple[float, float]]]
) -> None:
    image = _plot(tmp_path, series)
    assert image.shape == (500, 800, 3)
    assert (image.max(axis=2) < 100).sum() > 100
    for color in SERIES_COLORS[:9]:
        assert _color_pixels(image, color) == 0, color


@pytest.mark.parametrize(
    ("series", "y_range"),
    [
        pytest.param({"a": [(3.0, 0.5)]}, None, id="single_point"),
        pytest.param({"a": [(3.0, 0.5)]}, (0.0, 1.0), id="single_point_fixed_range"),
        pytest.param({"a": [(NAN, 2.0), (3.0, 0.5), (4.0, NAN)]}, None, id="one_finite_point_left"),
        pytest.param({"a": [(0.0, 0.0)]}, None, id="single_point_at_zero"),
    ],
)
def test_single_point_is_drawn_as_a_dot(
    tmp_path: Path, series: Mapping[str, Sequence[tuple[float, float]]], y_range: tuple[float, float] | None
) -> None:
    with_dot = _color_pixels(_plot(tmp_path, series, y_range=y_range), SERIES_COLORS[0])
    # The legend swatch has the series colour too: measure it alone by plotting the point far
    # outside a fixed range, where the dot is clipped away.
    swatch_only = _color_pixels(_plot(tmp_path, {"a": [(3.0, 1e9)]}, y_range=(0.0, 1.0)), SERIES_COLORS[0])
    assert with_dot > swatch_only + 20


@pytest.mark.parametrize(
    ("series", "y_range"),
    [
        pytest.param({"flat": [(float(x), 3.0) for x in range(20)]}, None, id="constant_y"),
        pytest.param({"flat": [(float(x), 0.0) for x in range(20)]}, None, id="constant_zero"),
        pytest.param(
            {"gaps": [(0.0, 1.0), (1.0, NAN), (2.0, INF), (3.0, -INF), (4.0, 2.0), (5.0, 0.5)]},
            None,
            id="nan_inf",
        ),
        pytest.param(
            {"cmc": [(float(r), min(1.0, 0.5 + 0.05 * r)) for r in range(1, 21)]}, (0.0, 1.0), id="cmc"
        ),
        pytest.param({"big": [(0.0, 1e12), (1.0, -1e12), (2.0, 0.5)]}, (0.0, 1.0), id="far_outside_range"),
        pytest.param({"steps": [(s * 1000.0, 1.0 / (1 + s)) for s in range(100)]}, None, id="large_x"),
        pytest.param({"tiny": [(0.0, 1e-6), (1.0, 3e-6)]}, None, id="tiny_y"),
        pytest.param({"same_x": [(2.0, 0.0), (2.0, 1.0)]}, None, id="constant_x"),
    ],
)
def test_degenerate_data_draws_the_series(
    tmp_path: Path, series: Mapping[str, Sequence[tuple[float, float]]], y_range: tuple[float, float] | None
) -> None:
    image = _plot(tmp_path, series, y_range=y_range)
    assert _color_pixels(image, SERIES_COLORS[0]) > 60


def test_more_series_than_colours_cycles_the_palette(tmp_path: Path) -> None:
    series = {f"s{i}": _ramp(0.1 * i, float(i)) for i in range(len(SERIES_COLORS) + 3)}
    image = _plot(tmp_path, series)
    for color in SERIES_COLORS[:9]:
        assert _color_pixels(image, color) > LINE_PIXELS, color


def test_same_input_gives_identical_files(tmp_path: Path) -> None:
    series = {"a": _ramp(0.3, 1.0), "b": [(1.0, 2.0)]}
    first, second = tmp_path / "first.png", tmp_path / "second.png"
    for path in (first, second):
        line_plot(path, series, title="t", x_label="x", y_label="y")
    assert first.read_bytes() == second.read_bytes()


def test_empty_labels_are_allowed(tmp_path: Path) -> None:
    image = _plot(tmp_path, {"a": _ramp(1.0, 0.0)}, title="", x_label="", y_label="")
    assert _color_pixels(image, SERIES_COLORS[0]) > LINE_PIXELS


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"y_range": (1.0, 0.0)}, "low < high", id="inverted_range"),
        pytest.param({"y_range": (0.0, math.inf)}, "finite", id="infinite_range"),
        pytest.param({"y_range": (0.5, 0.5)}, "low < high", id="empty_range"),
        pytest.param({"size": (100, 500)}, "at least", id="too_narrow"),
        pytest.param({"size": (800, 50)}, "at least", id="too_short"),
        pytest.param({"series": {"bad": [(1.0, 2.0, 3.0)]}}, r"'bad'.*\(1, 3\)", id="triples"),
        pytest.param({"series": {"bad": [("a", "b")]}}, "'bad'.*number pairs", id="text_points"),
        pytest.param({"series": {"bad": [1.0, 2.0]}}, r"'bad'.*\(2,\)", id="flat_numbers"),
    ],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {
        "series": {"a": [(0.0, 1.0), (1.0, 2.0)]},
        "title": "t",
        "x_label": "x",
        "y_label": "y",
    }
    options.update(kwargs)
    series = options.pop("series")
    with pytest.raises(ValueError, match=message):
        line_plot(tmp_path / "plot.png", series, **options)
    assert not (tmp_path / "plot.png").exists()


@pytest.mark.parametrize(
    "where",
    [
        pytest.param(lambda tmp: tmp / "missing" / "plot.png", id="missing_folder"),
        pytest.param(lambda tmp: tmp, id="path_is_a_folder"),
    ],
)
def test_unwritable_path_raises_oserror_naming_it(tmp_path: Path, where: Any) -> None:
    path: Path = where(tmp_path)
    with pytest.raises(OSError, match="cannot write plot PNG") as raised:
        line_plot(path, {"a": [(0.0, 1.0), (1.0, 2.0)]}, title="t", x_label="x", y_label="y")
    assert str(path) in str(raised.value)
