"""A vehicle's colour name from its crop: the paint's hue and lightness, by vote.

The middle of the crop (where the body is, away from road and sky) is sorted pixel by pixel
into the names people use for cars: ``white``, ``silver``, ``grey``, ``black`` for unsaturated
paint by lightness, ``red``, ``orange``, ``yellow``, ``green``, ``blue``, ``purple`` by hue, and
``brown`` for dark orange and red. The most common name wins. A crop with no colour at all (an
infrared camera's grey picture: every pixel has R = G = B) says nothing: ``""``.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

COLOURS = ("white", "silver", "grey", "black", "red", "orange", "yellow", "green", "blue", "purple", "brown")
_MIN_SATURATION = 60  # of 255: below it a pixel is white, silver, grey or black
_GREY_SCENE = 12  # mean saturation of a picture below which it is taken for infrared
_HUES = (  # OpenCV hue (0-180) upper bounds
    (8, "red"),
    (20, "orange"),
    (34, "yellow"),
    (85, "green"),
    (130, "blue"),
    (160, "purple"),
    (181, "red"),
)


def vehicle_colour(crop: npt.NDArray[np.uint8], frame: npt.NDArray[np.uint8] | None = None) -> str:
    """The colour name of a BGR vehicle crop, or ``""`` when it cannot be told (an infrared
    camera's grey picture, an empty crop). With the whole ``frame``, the crop's colours are
    first balanced by the frame's average (grey-world: dusk's orange light does not make a
    silver car brown), and a frame with almost no colour anywhere counts as infrared."""
    h, w = crop.shape[:2]
    if h < 4 or w < 4 or crop.ndim != 3:
        return ""
    body = crop[int(h * 0.5) : int(h * 0.8), int(w * 0.15) : int(w * 0.85)].astype(np.float32)
    scene = frame if frame is not None else crop
    small = cv2.resize(scene, (64, 36), interpolation=cv2.INTER_AREA)
    if float(cv2.cvtColor(small, cv2.COLOR_BGR2HSV)[..., 1].mean()) < _GREY_SCENE:
        return ""  # a grey (infrared) picture: no colour to tell
    if frame is not None:
        means = small.reshape(-1, 3).astype(np.float32).mean(0) + 1.0
        body = body * (means.mean() / means)
    body = np.clip(body, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(np.ascontiguousarray(body), cv2.COLOR_BGR2HSV).reshape(-1, 3)
    hue, sat, val = hsv[:, 0].astype(int), hsv[:, 1].astype(int), hsv[:, 2].astype(int)
    names = np.empty(len(hsv), dtype=object)
    plain = sat < _MIN_SATURATION
    names[plain & (val >= 190)] = "white"
    names[plain & (val >= 130) & (val < 190)] = "silver"
    names[plain & (val >= 65) & (val < 130)] = "grey"
    names[plain & (val < 65)] = "black"
    lower = 0
    for upper, name in _HUES:
        names[~plain & (hue >= lower) & (hue < upper)] = name
        lower = upper
    dark_warm = ~plain & (val < 120) & np.isin(names, ["orange", "red"]) & (hue < 20)
    names[dark_warm] = "brown"
    names[~plain & (val < 45)] = "black"  # too dark for its hue to mean anything
    votes = names.astype(str)
    paint = votes[votes != "black"]  # tyres, glass and shadows: black only when most of it is
    if len(paint) >= 0.4 * len(votes):
        votes = paint
    values, counts = np.unique(votes, return_counts=True)
    return str(values[int(np.argmax(counts))])
