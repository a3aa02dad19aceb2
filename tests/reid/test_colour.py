"""Colour names from vehicle crops: paint by hue and lightness, balanced by the scene, none
from an infrared picture."""

from __future__ import annotations

import numpy as np
import pytest

from reid.colour import vehicle_colour
from synth.fleet import COLOURS


def _car(
    paint: tuple[int, int, int], *, tint: tuple[float, float, float] = (1, 1, 1)
) -> tuple[np.ndarray, np.ndarray]:
    """A crop: sky-ish top, a dark window band, painted body below, and a scene around it."""
    crop = np.zeros((100, 160, 3), np.float32)
    crop[:] = paint
    crop[20:45] = (30, 30, 30)  # glass
    crop[85:] = (20, 20, 20)  # tyres and shadow
    scene = np.full((360, 640, 3), 110, np.float32)
    scene[::7] = (90, 130, 150)  # some colour in the scene
    scene[100:200, 200:360] = crop
    scale = np.array(tint, np.float32)
    return (np.clip(crop * scale, 0, 255).astype(np.uint8), np.clip(scene * scale, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("name", ["white", "black", "red", "blue", "green", "yellow", "orange", "grey"])
def test_paint_colours_of_the_synthetic_fleet_are_named(name: str) -> None:
    crop, scene = _car(COLOURS[name])
    assert vehicle_colour(crop, scene) == name


def test_an_orange_light_does_not_make_a_white_car_orange() -> None:
    crop, scene = _car(COLOURS["white"], tint=(0.75, 0.9, 1.15))  # BGR: warm dusk light
    assert vehicle_colour(crop) != "white"  # alone, the tint fools it
    assert vehicle_colour(crop, scene) == "white"


def test_an_infrared_picture_has_no_colour() -> None:
    _, scene = _car(COLOURS["red"])
    grey = scene.mean(axis=2, keepdims=True).repeat(3, axis=2).astype(np.uint8)
    assert vehicle_colour(grey[100:200, 200:360], grey) == ""


def test_tiny_or_odd_crops_say_nothing() -> None:
    assert vehicle_colour(np.zeros((2, 2, 3), np.uint8)) == ""
    assert vehicle_colour(np.zeros((40, 40), np.uint8)) == ""
