"""Text-like things that are not plates: hard negatives for the plate detector.

On real vehicles and roads a plate detector meets lettering that is not a plate: a car's model
name on its boot, the maker's badge, an oval country sticker beside the plate, exhaust pipes
under the bumper, roadside signs with numbers and words, and the date and camera name a CCTV
camera burns into its picture. A world with ``decor: true`` draws them (never labelled as
plates), so the detector learns to leave them alone. So that what tells a plate apart is being
a plate, not the world's one way of drawing plates, decor also draws most plates as the plate
reader's generator does (:func:`plate_look`: many fonts, stretches and colours, with or without
a border, screws, stickers, shadows and glare), the identity's own text on them.

Everything here draws from its own random stream (the identity's id, or the camera's), so a
vehicle carries the same lettering at every camera and turning decor on changes nothing else
of a world.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from plates.synthetic import Layout, decorate, draw_groups
from synth.plates import PlateStyle

Image = npt.NDArray[np.uint8]
Colour = tuple[int, int, int]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
COUNTRY_CODES = (
    "D",
    "F",
    "I",
    "A",
    "CH",
    "NL",
    "B",
    "SK",
    "CZ",
    "PL",
    "HR",
    "GB",
    "S",
    "DK",
    "E",
    "H",
    "SLO",
)
FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN)
DECOR_STREAM = 104729  # seed key of every decor draw
READER_LOOK_P = 0.6  # share of plates a decor world draws as the plate reader's generator does
_ASPECT = {"eu": 4.7, "us": 2.0, "cn": 3.1}


def text_fit(
    image: Image,
    text: str,
    centre: tuple[float, float],
    height: float,
    colour: Colour,
    *,
    font: int = cv2.FONT_HERSHEY_SIMPLEX,
    thickness: float = 0.12,
    alpha: bool = True,
) -> tuple[int, int, int, int]:
    """Draw ``text`` centred at ``centre`` (pixels) with capitals ``height`` pixels high; returns
    its box. ``alpha``: the image is BGRA and the text is opaque."""
    scale = max(0.1, _scale(height, font))
    weight = max(1, round(height * thickness))
    (w, h), _ = cv2.getTextSize(text, font, scale, weight)
    x, y = round(centre[0] - w / 2), round(centre[1] + h / 2)
    fill = (*colour, 255) if alpha else colour
    cv2.putText(image, text, (x, y), font, scale, fill, weight, cv2.LINE_AA)
    return x, y - h, x + w, y


def _scale(height: float, font: int) -> float:
    """The ``putText`` scale at which capitals of ``font`` are ``height`` pixels high."""
    return height / cv2.getTextSize("H", font, 1.0, 1)[0][1]


def model_name(rng: np.random.Generator) -> str:
    """A model name as makers letter them: ``COROLLA``, ``XLI``, ``320D``, ``GTI`` ..."""
    kind = rng.integers(0, 3)
    if kind == 0:
        return "".join(rng.choice(list(LETTERS), int(rng.integers(4, 9))))
    if kind == 1:
        return "".join(rng.choice(list(LETTERS), int(rng.integers(2, 4))))
    return "".join(rng.choice(list(DIGITS), int(rng.integers(2, 4)))) + str(rng.choice(list("DIEX")))


def _oval(
    image: Image, centre: tuple[float, float], axes: tuple[float, float], colour: Colour, thickness: int = -1
) -> None:
    """An ellipse on a BGRA sprite, opaque (``thickness`` -1: filled)."""
    cx, cy = centre
    cv2.ellipse(
        image,
        (round(cx), round(cy)),
        (round(axes[0]), round(axes[1])),
        0,
        0,
        360,
        (*colour, 255),
        thickness,
        cv2.LINE_AA,
    )


def dress_vehicle(
    image: Image, body: tuple[int, int, int, int], view: str, kind: str, identity_id: int, body_bgr: Colour
) -> None:
    """Badges, lettering, a country sticker and exhausts on a vehicle sprite (BGRA, drawn in
    place). ``body`` is the body's box in the sprite's pixels (x0, y0, x1, y1)."""
    if kind == "motorcycle":
        return
    rng = np.random.default_rng([DECOR_STREAM, identity_id, view == "rear"])
    x0, y0, x1, y1 = body
    at = _Placer(x0, y0, x1 - x0, y1 - y0)
    chrome = (205, 205, 210) if rng.random() < 0.7 else (35, 35, 38)
    font = int(rng.choice(FONTS))
    rear = view == "rear"
    if kind in ("car", "suv", "van"):
        if rear and rng.random() < 0.85:  # model name on the boot, left or right
            side = rng.choice([0.22, 0.78])
            text_fit(image, model_name(rng), at(side, 0.64), 0.028 * at.h, chrome, font=font)
        if rng.random() < 0.8:  # the maker's badge, centred
            centre = at(0.5, 0.6 if rear else 0.62)
            r = max(2, round(0.035 * at.w))
            _oval(image, centre, (r, r * 0.7), chrome, max(1, r // 4))
            if rng.random() < 0.5:
                text_fit(image, str(rng.choice(list(LETTERS))), centre, r * 0.9, chrome, font=font)
    if rear and rng.random() < 0.3:  # oval country sticker beside the plate
        centre = at(rng.choice([0.2, 0.8]), 0.8)
        axes = (round(0.06 * at.w), round(0.035 * at.w))
        _oval(image, centre, axes, (242, 242, 242))
        _oval(image, centre, axes, (20, 20, 20), max(1, axes[1] // 8))
        code = str(rng.choice(COUNTRY_CODES))
        text_fit(image, code, centre, 0.9 * axes[1], (15, 15, 15), font=cv2.FONT_HERSHEY_DUPLEX)
    if rear and kind != "bus":  # exhausts: one or two, dark with a bright rim
        pipes = [rng.choice([0.2, 0.8])] if rng.random() < 0.6 else [0.2, 0.8]
        r = max(2, round(rng.uniform(0.02, 0.04) * at.w))
        for px in pipes:
            _oval(image, at(px, 0.93), (r, round(r * 0.6)), (18, 18, 18))
            _oval(image, at(px, 0.93), (r, round(r * 0.6)), (170, 170, 175), max(1, r // 4))
    rows = {"truck": (0.3, 0.6), "van": (0.5, 0.56), "bus": (0.4, 0.5)}  # body below or beside the glass
    if rear and kind in rows and rng.random() < 0.5:  # a company's name on the body
        words = "".join(rng.choice(list(LETTERS), int(rng.integers(4, 10))))
        colour = (20, 20, 20) if sum(body_bgr) > 380 else (235, 235, 235)
        text_fit(image, words, at(0.5, rng.uniform(*rows[kind])), 0.05 * at.h, colour, font=font)


@dataclass(frozen=True, slots=True)
class _Placer:
    """Body fractions to sprite pixels."""

    x0: float
    y0: float
    w: float
    h: float

    def __call__(self, fx: float, fy: float) -> tuple[float, float]:
        return self.x0 + fx * self.w, self.y0 + fy * self.h


def sign_text(rng: np.random.Generator) -> list[str]:
    """Lines of a roadside sign: a speed limit, a distance, a place name with its number."""
    kind = rng.integers(0, 3)
    if kind == 0:
        return [str(int(rng.choice([30, 50, 60, 70, 80, 90, 100, 120])))]
    if kind == 1:
        return [f"{rng.integers(1, 99)} km", "".join(rng.choice(list(LETTERS), int(rng.integers(4, 9))))]
    return ["".join(rng.choice(list(LETTERS), int(rng.integers(3, 8)))), f"A{rng.integers(1, 99)}"]


def osd_text(camera_id: str, t: float, start: float) -> tuple[str, str]:
    """The date, time and camera name a CCTV camera prints on its picture at time ``t``."""
    seconds = int(start + t)
    day = 1 + (seconds // 86400) % 28
    hh, mm, ss = (seconds // 3600) % 24, (seconds // 60) % 60, seconds % 60
    return f"2026-11-{day:02d} {hh:02d}:{mm:02d}:{ss:02d}", f"CAM {camera_id.upper()[:10]}"


class Osd:
    """A camera's burnt-in date, time and name, drawn on each frame (or nothing)."""

    def __init__(self, camera_id: str, camera_index: int, seed: int, size: tuple[int, int]) -> None:
        rng = np.random.default_rng([DECOR_STREAM, seed, camera_index])
        self.on = bool(rng.random() < 0.6)
        self.camera_id = camera_id
        self.start = float(rng.uniform(0, 86400 * 20))
        w, h = size
        self.height = max(7.0, h * rng.uniform(0.022, 0.035))
        top = bool(rng.random() < 0.7)
        self.left = bool(rng.random() < 0.6)
        self.rows = (
            (self.height * 1.6, self.height * 3.1) if top else (h - self.height * 2.2, h - self.height * 0.7)
        )
        self.width = w
        self.scale = _scale(self.height, cv2.FONT_HERSHEY_SIMPLEX)
        self.weight = max(1, round(self.height / 8))

    def draw(self, frame: Image, t: float) -> None:
        """Print the lines on ``frame`` (BGR) in place: white with a dark outline."""
        if not self.on:
            return
        scale, weight = self.scale, self.weight
        for line, row in zip(osd_text(self.camera_id, t, self.start), self.rows, strict=True):
            (tw, _), _ = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, weight)
            x = round(self.height * 0.6) if self.left else round(self.width - tw - self.height * 0.6)
            for colour, extra in (((0, 0, 0), 2), ((245, 245, 245), 0)):
                cv2.putText(
                    frame,
                    line,
                    (x, round(row)),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    scale,
                    colour,
                    weight + extra,
                    cv2.LINE_AA,
                )


def _sign_panel(lines: list[str], aspect: float, rng: np.random.Generator) -> Image:
    """A sign's face, 120 px high: a speed limit (one line: a red ring around a number) or a
    blue or green direction sign with white lines."""
    panel = np.full((120, max(60, round(120 * aspect)), 3), (90, 90, 90), np.uint8)
    ph, pw = panel.shape[:2]
    ink: Colour = (240, 240, 240)
    if len(lines) == 1:
        cv2.circle(panel, (pw // 2, ph // 2), ph // 2 - 2, (40, 40, 200), -1, cv2.LINE_AA)
        cv2.circle(panel, (pw // 2, ph // 2), ph // 2 - 14, (245, 245, 245), -1, cv2.LINE_AA)
        ink = (20, 20, 20)
    else:
        panel[:] = (40, 120, 30) if rng.random() < 0.5 else (150, 90, 20)
    for k, line in enumerate(lines):
        centre = (pw / 2, ph * (k + 1) / (len(lines) + 1))
        text_fit(panel, line, centre, ph / (2.2 * len(lines) + 0.5), ink, alpha=False, thickness=0.14)
    return panel


def dress_roadside(
    image: Image,
    project: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]],
    half: float,
    lighting: str,
    rng: np.random.Generator,
) -> None:
    """Signs on posts beside the road, with numbers and words, back to front (``project``: the
    camera's world-to-pixel function)."""
    h, w = image.shape[:2]
    signs = sorted(
        ((float(rng.uniform(12, 160)), int(rng.choice([-1, 1]))) for _ in range(int(rng.integers(2, 6)))),
        reverse=True,
    )
    dim = {"day": 1.0, "dusk": 0.6, "night": 0.3, "ir": 0.9}.get(lighting, 1.0)
    for z, side in signs:
        width, height = float(rng.uniform(0.7, 2.4)), float(rng.uniform(0.6, 1.4))
        bottom = float(rng.uniform(1.2, 2.2))
        x = side * (half + float(rng.uniform(1.5, 4.0)))
        corners = np.array(
            [
                [x - width / 2, bottom + height, z],
                [x + width / 2, bottom + height, z],
                [x + width / 2, bottom, z],
                [x - width / 2, bottom, z],
            ],
            np.float64,
        )
        uv = project(corners)
        if np.isnan(uv).any():
            continue
        px0, py0 = np.floor(uv.min(0)).astype(int)
        px1, py1 = np.ceil(uv.max(0)).astype(int)
        if px1 - px0 < 4 or py1 - py0 < 3 or px1 <= 0 or py1 <= 0 or px0 >= w or py0 >= h:
            continue
        post = project(np.array([[x, 0.0, z], [x, bottom, z]], np.float64))
        if not np.isnan(post).any():
            cv2.line(
                image,
                tuple(np.round(post[0]).astype(int)),
                tuple(np.round(post[1]).astype(int)),
                (110, 110, 112),
                max(1, (px1 - px0) // 20),
            )
        panel = _sign_panel(sign_text(rng), width / height, rng)
        target = panel.astype(np.float32) * dim
        tile = cv2.resize(target, (px1 - px0, py1 - py0), interpolation=cv2.INTER_AREA)
        cx0, cy0, cx1, cy1 = max(0, px0), max(0, py0), min(w, px1), min(h, py1)
        image[cy0:cy1, cx0:cx1] = np.clip(tile[cy0 - py0 : cy1 - py0, cx0 - px0 : cx1 - px0], 0, 255).astype(
            np.uint8
        )


def plate_groups(family: str, text: str) -> list[str]:
    """A plate text (no separators) in the groups it is printed in: ``AB 123 CD``, ``ABC 1234``."""
    if family == "eu":
        return [text[:2], text[2:5], text[5:]]
    if family == "us":
        cut = 3 if text[0].isalpha() else 4
        return [text[:cut], text[cut:]]
    return [text[:2], text[2:]]


def plate_look(text: str, style: PlateStyle, world_seed: int, identity_id: int) -> Image | None:
    """The identity's plate drawn by the plate reader's generator (BGR), or None (for
    1 − :data:`READER_LOOK_P` of identities) to keep the world's own drawing."""
    rng = np.random.default_rng([DECOR_STREAM, world_seed, identity_id, 1])
    if rng.random() >= READER_LOOK_P:
        return None
    band = {"eu": "eu", "us": "us"}.get(style.family, "")
    layout = Layout(style.banner.lower(), (), _ASPECT[style.family], band)
    plate = draw_groups(layout, plate_groups(style.family, text), 2 if style.double_line else 1, rng)
    return decorate(plate, rng)
