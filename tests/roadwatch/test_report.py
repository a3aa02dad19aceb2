"""roadwatch.report: charts of the requested size, degenerate series, bad arguments; the contact sheet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from roadwatch.events import Sighting
from roadwatch.report import identity_sheet, line_plot

NAN = float("nan")


def _read(path: Path) -> np.ndarray:  # type: ignore[type-arg]
    image = cv2.imread(str(path))
    assert image is not None, "the PNG does not read back"
    return image


@pytest.mark.parametrize("size", [(800, 500), (320, 200)])
def test_writes_png_of_requested_size(tmp_path: Path, size: tuple[int, int]) -> None:
    path = tmp_path / "p.png"
    line_plot(
        path,
        {"loss": [(0, 1.0), (1, 0.5), (2, 0.25)]},
        title="Verlust ÿ",
        x_label="step",
        y_label="loss",
        size=size,
    )
    assert _read(path).shape[:2] == (size[1], size[0])


@pytest.mark.parametrize(
    "series",
    [{}, {"a": []}, {"a": [(NAN, 1.0), (1.0, float("inf"))]}, {"a": [(1.0, 2.0)]}, {"a": [(0, 1), (1, 1)]}],
    ids=["no-series", "empty", "all-nan", "one-point", "flat"],
)
def test_degenerate_series_still_draw(tmp_path: Path, series: dict[str, list[tuple[float, float]]]) -> None:
    path = tmp_path / "p.png"
    line_plot(path, series, title="t", x_label="x", y_label="y")
    assert _read(path).size > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_range": (1.0, 0.0)}, "y_range"),
        ({"y_range": (0.0, NAN)}, "y_range"),
        ({"size": (10, 10)}, "size"),
        ({"series": {"a": [("x", "y")]}}, "number pairs"),
    ],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {
        "series": {"a": [(0, 1), (1, 2)]},
        "title": "t",
        "x_label": "x",
        "y_label": "y",
    }
    options.update(kwargs)
    with pytest.raises(ValueError, match=message):
        line_plot(tmp_path / "p.png", **options)


def test_unwritable_path_raises_oserror_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "p.png"
    with pytest.raises(OSError, match=r"p\.png"):
        line_plot(path, {"a": [(0, 1)]}, title="t", x_label="x", y_label="y")


def _sighting(identity: int | None, camera: str, crop: Path | None) -> Sighting:
    return Sighting(
        id=f"{camera}{identity}",
        status="final",
        camera=camera,
        track_id=1,
        first_time=1.0,
        last_time=2.0,
        first_frame=10,
        last_frame=20,
        identity=identity,
        new=False,
        library="fusion",
        score=0.9,
        vehicle_type="car",
        best_box=(0, 0, 10, 10),
        best_time=1.5,
        quality=0.5,
        snapshots={} if crop is None else {"vehicle": str(crop)},
    )


def test_identity_sheet_rows_are_identities(tmp_path: Path) -> None:
    crop = tmp_path / "c.jpg"
    cv2.imwrite(str(crop), np.full((40, 30, 3), 128, np.uint8))
    sightings = [_sighting(1, "entry", crop), _sighting(1, "gate", crop), _sighting(2, "exit", crop)]
    sightings.append(_sighting(None, "exit", crop))  # no identity: not on the sheet
    sheet = identity_sheet(tmp_path / "sheet.png", sightings)
    assert _read(sheet).shape[0] > 0


def test_identity_sheet_without_snapshots_says_so(tmp_path: Path) -> None:
    sheet = identity_sheet(tmp_path / "sheet.png", [_sighting(1, "gate", None)])
    assert _read(sheet).size > 0
