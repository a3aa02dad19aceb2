"""Small line plots written as PNG with OpenCV only (loss curves, CMC curves).

roadwatch's reports need a handful of plain line charts; OpenCV is already a dependency, and
matplotlib would add a large one for that. The output is deliberately simple: white background,
framed axes with light grid lines at about five "nice" ticks per axis, one anti-aliased
polyline per series, a legend in the top-right corner, a title and axis labels.

Text is drawn with OpenCV's Hershey font, which has ASCII glyphs only: other characters show
as ``?``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

# Series colours, BGR: matplotlib's "tab10" palette, distinct and readable on white. Series i
# gets SERIES_COLORS[i % 10], i counting every series in the mapping (empty ones included), so a
# series keeps its colour across plots where another one happens to be empty.
SERIES_COLORS: tuple[tuple[int, int, int], ...] = (
    (180, 119, 31),  # blue    #1f77b4
    (14, 127, 255),  # orange  #ff7f0e
    (44, 160, 44),  # green   #2ca02c
    (40, 39, 214),  # red     #d62728
    (189, 103, 148),  # purple  #9467bd
    (75, 86, 140),  # brown   #8c564b
    (194, 119, 227),  # pink    #e377c2
    (34, 189, 188),  # olive   #bcbd22
    (207, 190, 23),  # cyan    #17becf
    (127, 127, 127),  # grey    #7f7f7f
)

MIN_SIZE = (200, 150)  # (width, height); below this the labels no longer fit around the axes

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TEXT_COLOR = (30, 30, 30)
_FRAME_COLOR = (90, 90, 90)
_GRID_COLOR = (232, 232, 232)
_TITLE_SCALE = 0.6
_LABEL_SCALE = 0.5
_TICK_SCALE = 0.42
_TICK_LENGTH = 5
_PAD = 8
_LINE_THICKNESS = 2
_DOT_RADIUS = 4
_SHIFT = 4  # fractional bits of polyline coordinates: sub-pixel placement of anti-aliased lines
# Pixel coordinates are clamped to this before the fixed-point conversion (int32 with 4
# fractional bits overflows past ~1.3e8); only points far outside a given y_range reach it.
_MAX_PIXEL = 1e6
_TARGET_TICKS = 5


@dataclass(frozen=True, slots=True)
class _Axis:
    """One axis: its value range and tick positions with their labels."""

    lo: float
    hi: float
    ticks: tuple[float, ...]
    labels: tuple[str, ...]


def line_plot(
    path: Path,
    series: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    y_range: tuple[float, float] | None = None,
    size: tuple[int, int] = (800, 500),
) -> None:
    """Write a line chart of one or more ``(x, y)`` series as a PNG.

    Points are joined in the order given. Points with a NaN or infinite coordinate are dropped
    (their neighbours are joined); a series left with one point is drawn as a dot, one left
    with none is skipped (absent from the legend too). With no points at all, the axes, title
    and labels are still drawn, over x and y in [0, 1] (or ``y_range``).

    Args:
        path: Output file; its folder must exist. Written as PNG whatever the suffix.
        series: Legend name -> ``(x, y)`` points, e.g. ``{"triplet": [(0, 1.2), (100, 0.8)]}``.
        title: Drawn centred above the plot; may be empty.
        x_label: Drawn under the x axis; may be empty.
        y_label: Drawn rotated left of the y axis; may be empty.
        y_range: Fixed ``(low, high)`` y range, e.g. ``(0, 1)`` for CMC curves; parts of a
            series outside it are clipped. ``None``: the data range padded by 5%.
        size: ``(width, height)`` in pixels, at least ``MIN_SIZE``.

    Raises:
        ValueError: A series is not a list of number pairs, ``y_range`` is not finite with
            ``low < high``, or ``size`` is too small.
        OSError: The PNG cannot be written; the message names ``path``.
    """
    width, height = _check_size(size)
    curves = [(str(name), _finite_points(str(name), points)) for name, points in series.items()]
    all_points = np.concatenate([points for _, points in curves] + [np.zeros((0, 2))])  # (P, 2)
    # Small plots get fewer ticks so that neighbouring labels do not run into each other.
    x_axis = _axis(*_data_range(all_points[:, 0], pad_fraction=0.0), max_ticks=max(2, width // 80))
    y_low, y_high = _check_y_range(y_range) if y_range else _data_range(all_points[:, 1], 0.05)
    y_axis = _axis(y_low, y_high, max_ticks=max(2, height // 40))

    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    left, top, right, bottom = _plot_rect(width, height, x_axis, y_axis, title, x_label, y_label)
    _draw_axes(canvas, (left, top, right, bottom), x_axis, y_axis)
    area = canvas[top : bottom + 1, left : right + 1]  # a view: drawing into it clips to the axes
    legend: list[tuple[str, tuple[int, int, int]]] = []
    for index, (name, points) in enumerate(curves):
        if len(points) == 0:
            continue
        color = SERIES_COLORS[index % len(SERIES_COLORS)]
        _draw_series(area, points, x_axis, y_axis, color)
        legend.append((name, color))
    _draw_legend(area, legend)
    _draw_labels(canvas, (left, top, right, bottom), title, x_label, y_label)
    _write_png(Path(path), canvas)


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    try:
        width, height = (int(value) for value in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (width, height) integers, got {size!r}") from None
    if width < MIN_SIZE[0] or height < MIN_SIZE[1]:
        raise ValueError(f"size must be at least {MIN_SIZE}, got {(width, height)}")
    return width, height


def _check_y_range(y_range: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = (float(value) for value in y_range)
    except (TypeError, ValueError):
        raise ValueError(f"y_range must be (low, high) numbers, got {y_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"y_range must be finite with low < high, got {y_range!r}")
    return low, high


def _finite_points(name: str, points: Sequence[tuple[float, float]]) -> npt.NDArray[np.float64]:
    """``(n, 2)`` float64 copy of one series with the non-finite points dropped."""
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"series {name!r} must be a sequence of (x, y) number pairs") from None
    if array.size == 0:
        return np.zeros((0, 2))
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"series {name!r} must be a sequence of (x, y) pairs, got shape {array.shape}")
    return array[np.isfinite(array).all(axis=1)]


def _data_range(values: npt.NDArray[np.float64], pad_fraction: float) -> tuple[float, float]:
    """``(low, high)`` covering ``values``, widened when they are (nearly) constant."""
    if values.size == 0:
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    # Spans below a billionth of the magnitude are rounding noise: ticks there would need
    # 15-digit labels.
    if high - low <= 1e-9 * max(abs(low), abs(high)):
        pad = abs(low) * 0.1 if low != 0 else 1.0
        return low - pad, high + pad
    pad = (high - low) * pad_fraction
    return low - pad, high + pad


def _axis(low: float, high: float, max_ticks: int) -> _Axis:
    """The tick step (1, 2, 2.5 or 5 times a power of ten) giving closest to five ticks.

    Steps giving more than ``max_ticks`` ticks are passed over while a coarser one exists.
    """
    raw = (high - low) / (_TARGET_TICKS - 1)
    decade = 10.0 ** math.floor(math.log10(raw))
    best: tuple[int, float, list[int]] | None = None
    for mantissa in (0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0):
        step = mantissa * decade
        indices = list(range(math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9) + 1))
        # Prefer the count nearest the target; on a tie the larger step (fewer, rounder labels).
        score = abs(len(indices) - _TARGET_TICKS) + (1000 if len(indices) > max_ticks else 0)
        if best is None or score <= best[0]:
            best = (score, step, indices)
    assert best is not None
    _, step, indices = best
    ticks = tuple(index * step for index in indices)  # from integers: no accumulated rounding
    return _Axis(low, high, ticks, _tick_labels(ticks, step))


def _tick_labels(ticks: tuple[float, ...], step: float) -> tuple[str, ...]:
    """Compact labels: ``0.25``, ``5``, ``7.5k``, ``2M``, ``3e-05``; trailing zeros dropped."""
    if not ticks:
        return ()
    biggest = max(abs(tick) for tick in ticks)
    if biggest < 1e-3:
        return tuple("0" if abs(tick) < step * 1e-6 else f"{tick:.2g}" for tick in ticks)
    scale, suffix = 1.0, ""
    for divisor, name in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if biggest >= 10 * divisor:
            scale, suffix = divisor, name
            break
    scaled_step = step / scale
    decimals = next(d for d in range(16) if abs(round(scaled_step, d) - scaled_step) < scaled_step * 1e-6)
    labels = []
    for tick in ticks:
        if abs(tick) < step * 1e-6:
            labels.append("0")
            continue
        text = f"{tick / scale:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        labels.append(text + suffix)
    return tuple(labels)


def _text_size(text: str, scale: float) -> tuple[int, int, int]:
    """``(width, height above baseline, depth below baseline)`` of one line of text."""
    (width, height), baseline = cv2.getTextSize(text, _FONT, scale, 1)
    return width, height, baseline


def _plot_rect(
    width: int, height: int, x_axis: _Axis, y_axis: _Axis, title: str, x_label: str, y_label: str
) -> tuple[int, int, int, int]:
    """``(left, top, right, bottom)`` pixel bounds of the plot area, inclusive."""
    tick_height = max((sum(_text_size(label, _TICK_SCALE)[1:]) for label in x_axis.labels), default=0)
    tick_width = max((_text_size(label, _TICK_SCALE)[0] for label in y_axis.labels), default=0)
    title_height = sum(_text_size(title, _TITLE_SCALE)[1:]) if title else 0
    x_label_height = sum(_text_size(x_label, _LABEL_SCALE)[1:]) if x_label else 0
    y_label_height = sum(_text_size(y_label, _LABEL_SCALE)[1:]) if y_label else 0
    last_x_tick = _text_size(x_axis.labels[-1], _TICK_SCALE)[0] if x_axis.labels else 0

    top = _PAD + title_height + _PAD
    bottom = height - 1 - (_TICK_LENGTH + 4 + tick_height + _PAD + x_label_height + _PAD)
    left = _PAD + y_label_height + _PAD + tick_width + 4 + _TICK_LENGTH
    right = width - 1 - max(2 * _PAD, last_x_tick // 2 + 4)
    return left, top, right, bottom


def _to_pixels(
    points: npt.NDArray[np.float64], x_axis: _Axis, y_axis: _Axis, area_width: int, area_height: int
) -> npt.NDArray[np.float64]:
    """``(n, 2)`` float pixel coordinates in the plot area; y grows downwards."""
    px = (points[:, 0] - x_axis.lo) / (x_axis.hi - x_axis.lo) * (area_width - 1)
    py = (y_axis.hi - points[:, 1]) / (y_axis.hi - y_axis.lo) * (area_height - 1)
    return np.clip(np.stack([px, py], axis=1), -_MAX_PIXEL, _MAX_PIXEL)


def _fixed_point(pixels: npt.NDArray[np.float64]) -> npt.NDArray[np.int32]:
    return np.round(pixels * (1 << _SHIFT)).astype(np.int32)


def _draw_axes(
    canvas: npt.NDArray[np.uint8], rect: tuple[int, int, int, int], x_axis: _Axis, y_axis: _Axis
) -> None:
    """Grid lines, frame, tick marks and tick labels."""
    left, top, right, bottom = rect
    for tick, label in zip(x_axis.ticks, x_axis.labels, strict=True):
        x = left + round((tick - x_axis.lo) / (x_axis.hi - x_axis.lo) * (right - left))
        cv2.line(canvas, (x, top), (x, bottom), _GRID_COLOR, 1)
        cv2.line(canvas, (x, bottom), (x, bottom + _TICK_LENGTH), _FRAME_COLOR, 1)
        text_width, text_height, _ = _text_size(label, _TICK_SCALE)
        origin = (x - text_width // 2, bottom + _TICK_LENGTH + 4 + text_height)
        cv2.putText(canvas, label, origin, _FONT, _TICK_SCALE, _TEXT_COLOR, 1, cv2.LINE_AA)
    for tick, label in zip(y_axis.ticks, y_axis.labels, strict=True):
        y = bottom - round((tick - y_axis.lo) / (y_axis.hi - y_axis.lo) * (bottom - top))
        cv2.line(canvas, (left, y), (right, y), _GRID_COLOR, 1)
        cv2.line(canvas, (left - _TICK_LENGTH, y), (left, y), _FRAME_COLOR, 1)
        text_width, text_height, _ = _text_size(label, _TICK_SCALE)
        origin = (left - _TICK_LENGTH - 4 - text_width, y + text_height // 2)
        cv2.putText(canvas, label, origin, _FONT, _TICK_SCALE, _TEXT_COLOR, 1, cv2.LINE_AA)
    cv2.rectangle(canvas, (left, top), (right, bottom), _FRAME_COLOR, 1)


def _draw_series(
    area: npt.NDArray[np.uint8],
    points: npt.NDArray[np.float64],
    x_axis: _Axis,
    y_axis: _Axis,
    color: tuple[int, int, int],
) -> None:
    """One series into the plot area (a view of the canvas): a polyline, or a dot if one point."""
    pixels = _fixed_point(_to_pixels(points, x_axis, y_axis, area.shape[1], area.shape[0]))  # (n, 2)
    if len(pixels) == 1:
        center = (int(pixels[0, 0]), int(pixels[0, 1]))
        cv2.circle(area, center, _DOT_RADIUS << _SHIFT, color, -1, cv2.LINE_AA, _SHIFT)
        return
    cv2.polylines(area, [pixels.reshape(-1, 1, 2)], False, color, _LINE_THICKNESS, cv2.LINE_AA, _SHIFT)


def _draw_legend(area: npt.NDArray[np.uint8], entries: list[tuple[str, tuple[int, int, int]]]) -> None:
    """A framed box in the top-right corner of the plot area: a colour swatch and name per row."""
    if not entries:
        return
    swatch = 24
    sizes = [_text_size(name, _TICK_SCALE) for name, _ in entries]
    row_height = max(height + depth for _, height, depth in sizes) + 6
    box_width = _PAD + swatch + 6 + max(width for width, _, _ in sizes) + _PAD
    box_height = 2 * _PAD - 6 + row_height * len(entries)
    right = area.shape[1] - 1 - _PAD
    left = max(right - box_width, 0)
    top = _PAD
    cv2.rectangle(area, (left, top), (right, top + box_height), (255, 255, 255), -1)
    cv2.rectangle(area, (left, top), (right, top + box_height), _FRAME_COLOR, 1)
    for row, ((name, color), (_, height, _)) in enumerate(zip(entries, sizes, strict=True)):
        baseline = top + _PAD - 3 + row * row_height + height + 3
        middle = baseline - height // 2
        cv2.line(area, (left + _PAD, middle), (left + _PAD + swatch, middle), color, _LINE_THICKNESS)
        origin = (left + _PAD + swatch + 6, baseline)
        cv2.putText(area, name, origin, _FONT, _TICK_SCALE, _TEXT_COLOR, 1, cv2.LINE_AA)


def _draw_labels(
    canvas: npt.NDArray[np.uint8], rect: tuple[int, int, int, int], title: str, x_label: str, y_label: str
) -> None:
    """Title above the plot area, x label under it, y label rotated to its left."""
    left, top, right, bottom = rect
    canvas_height, canvas_width = canvas.shape[:2]
    if title:
        width, height, _ = _text_size(title, _TITLE_SCALE)
        origin = ((canvas_width - width) // 2, _PAD + height)
        cv2.putText(canvas, title, origin, _FONT, _TITLE_SCALE, _TEXT_COLOR, 1, cv2.LINE_AA)
    if x_label:
        width, _, depth = _text_size(x_label, _LABEL_SCALE)
        origin = ((left + right - width) // 2, canvas_height - 1 - _PAD - depth)
        cv2.putText(canvas, x_label, origin, _FONT, _LABEL_SCALE, _TEXT_COLOR, 1, cv2.LINE_AA)
    if y_label:
        # OpenCV draws horizontal text only: draw it on a strip and rotate the strip.
        width, height, depth = _text_size(y_label, _LABEL_SCALE)
        strip = np.full((height + depth + 2, width + 2, 3), 255, dtype=np.uint8)
        cv2.putText(strip, y_label, (1, height + 1), _FONT, _LABEL_SCALE, _TEXT_COLOR, 1, cv2.LINE_AA)
        # (width + 2, height + depth + 2) after rotation
        rotated = np.asarray(cv2.rotate(strip, cv2.ROTATE_90_COUNTERCLOCKWISE), dtype=np.uint8)
        _paste(canvas, rotated, x=_PAD, y=(top + bottom - rotated.shape[0]) // 2)


def _paste(canvas: npt.NDArray[np.uint8], image: npt.NDArray[np.uint8], x: int, y: int) -> None:
    """Copy ``image`` onto ``canvas`` with its top-left corner at ``(x, y)``, clipped to the canvas."""
    x0, y0 = max(x, 0), max(y, 0)
    x1 = min(x + image.shape[1], canvas.shape[1])
    y1 = min(y + image.shape[0], canvas.shape[0])
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = image[y0 - y : y1 - y, x0 - x : x1 - x]


def _write_png(path: Path, image: npt.NDArray[np.uint8]) -> None:
    # Encoding in memory and writing with Python, rather than cv2.imwrite, gives a real OSError
    # (with errno and path) instead of a bare False, and does not depend on the file suffix.
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"cannot encode plot as PNG for {path}")
    try:
        path.write_bytes(encoded.tobytes())
    except OSError as error:
        raise OSError(error.errno, f"cannot write plot PNG: {error.strerror}", str(path)) from error
