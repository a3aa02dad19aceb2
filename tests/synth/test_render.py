"""Rendering: identical bytes for a seed, and ground truth that agrees with itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synth.fleet import Identity, Marks
from synth.plates import PlateStyle, is_legal
from synth.render import CameraRenderer
from synth.scenario import load_scenario
from synth.sprites import View, render_sprite
from synth.truth import READABLE_PLATE_PX, FrameTruth
from synth.world import simulate


def _all_truth(path: Path, camera: str, seed: int = 0) -> list[tuple[np.ndarray, FrameTruth]]:
    renderer = CameraRenderer(simulate(load_scenario(path), seed), camera)
    return [renderer.render(i) for i in range(renderer.frame_count)]


@pytest.mark.parametrize("camera", ["entry", "gate", "exit"])
def test_same_seed_gives_identical_frames(tiny_scenario: Path, camera: str) -> None:
    a = _all_truth(tiny_scenario, camera)
    b = _all_truth(tiny_scenario, camera)
    assert all(np.array_equal(x[0], y[0]) and x[1] == y[1] for x, y in zip(a, b, strict=True))
    c = _all_truth(tiny_scenario, camera, seed=1)
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(a, c, strict=True))


@pytest.mark.parametrize("camera", ["entry", "gate", "exit"])
def test_truth_is_consistent(tiny_scenario: Path, camera: str) -> None:
    frames = _all_truth(tiny_scenario, camera)
    height, width = frames[0][0].shape[:2]
    vehicles = [v for _, t in frames for v in t.vehicles]
    assert vehicles, "no vehicle on this camera"
    for v in vehicles:
        x0, y0, x1, y1 = v.xyxy
        assert 0 <= x0 <= x1 <= width
        assert 0 <= y0 <= y1 <= height
        assert 0 <= v.visibility <= 1
        assert 0 <= v.occlusion <= 1
        if v.plate_xyxy is not None:
            px0, py0, px1, py1 = v.plate_xyxy
            assert x0 - 1e-3 <= px0 <= px1 <= x1 + 1e-3, "plate box outside its vehicle box"
            assert y0 - 1e-3 <= py0 <= py1 <= y1 + 1e-3, "plate box outside its vehicle box"
        if v.plate_text is not None:
            assert is_legal(v.plate_family, v.plate_text)  # type: ignore[arg-type]
            corners = np.array(v.plate_corners)
            assert corners.shape == (4, 2)
            assert corners[1, 0] > corners[0, 0]
            assert corners[3, 1] > corners[0, 1]
        if v.plate_readable:
            assert v.plate_visible
            assert v.plate_height_px >= READABLE_PLATE_PX


def test_frames_change_where_vehicles_are(tiny_scenario: Path) -> None:
    renderer = CameraRenderer(simulate(load_scenario(tiny_scenario), 0), "entry")
    index = next(i for i in range(renderer.frame_count) if renderer.render(i)[1].vehicles)
    image, truth = renderer.render(index)
    empty = renderer.background
    for v in truth.vehicles:
        if v.visibility > 0.5 and (v.xyxy[2] - v.xyxy[0]) * (v.xyxy[3] - v.xyxy[1]) > 50:
            x0, y0, x1, y1 = (round(c) for c in v.xyxy)
            diff = np.abs(image[y0:y1, x0:x1].astype(int) - empty[y0:y1, x0:x1].astype(int))
            assert diff.mean() > 8, "a vehicle box over unchanged background"


def test_toll_road_has_small_plates_in_part_of_the_path() -> None:
    spec = load_scenario("toll-road").model_copy(update={"duration_s": 20.0})
    renderer = CameraRenderer(simulate(spec, 0), "entry")
    heights = [
        v.plate_height_px
        for i in range(0, renderer.frame_count, 2)
        for v in renderer.render(i)[1].vehicles
        if v.plate_text and v.plate_visible
    ]
    assert min(heights) < 20 < max(heights)


def _motorcycle(shape: tuple[float, ...]) -> Identity:
    plate = PlateStyle(family="eu", double_line=True, background=(255, 255, 255), ink=(0, 0, 0), banner="D")
    return Identity(1, "motorcycle", "black", None, shape, Marks(), "AB123", plate, "clean")


@pytest.mark.parametrize("view", ["front", "rear"])
def test_motorcycles_of_one_colour_differ_by_rider_and_bike(view: View) -> None:
    plain = (0.05, 0.1, 0.1, 0.1, 0.1, 0.5)
    other_rider = (0.95, 0.9, 0.1, 0.1, 0.1, 0.5)  # clothes and helmet
    other_bike = (0.05, 0.1, 0.9, 0.9, 0.9, 0.5)  # fairing, lights, vest bands, top case
    images = [
        render_sprite(_motorcycle(s), view, 0.3, np.random.default_rng(0)).image
        for s in (plain, other_rider, other_bike)
    ]
    assert not np.array_equal(images[0], images[1])
    assert not np.array_equal(images[0], images[2])
    same = render_sprite(_motorcycle(plain), view, 0.3, np.random.default_rng(0)).image
    assert np.array_equal(images[0], same)
