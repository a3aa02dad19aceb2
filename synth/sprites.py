"""Procedural front and rear views of vehicles, drawn with OpenCV as BGRA sprites.

A sprite is the vehicle's face (the plane the camera sees) at :data:`PX_PER_M`, with the
ground at its bottom row. The plate is not painted into the sprite: the sprite returns the
plate's quad so the renderer can warp the sharp plate image straight into the frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from synth.decor import dress_vehicle
from synth.fleet import COLOURS, DIMENSIONS, Identity
from synth.plates import plate_size_mm

View = Literal["front", "rear"]
PX_PER_M = 160.0
_SS = 2  # supersampling factor for smooth edges
_MARGIN_X = 0.06  # mirrors stick out beyond the body, fraction of body width
_MARGIN_TOP = 0.08  # room for a roof rack, fraction of body height

Colour = tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Sprite:
    """A rendered vehicle face.

    Attributes:
        image: ``(H, W, 4)`` uint8 BGRA, alpha 0 outside the vehicle.
        plate_quad: ``(4, 2)`` float32 plate corners (TL, TR, BR, BL) in sprite pixels, or
            None when this face carries no plate.
        lights: ``(K, 3)`` float32 light centres and radii ``x, y, r`` in sprite pixels.
        body_height_px: Pixel row of the ground, i.e. the vehicle's height in sprite pixels.
        width_m: Physical width the sprite spans (including mirrors).
        height_m: Physical height the sprite spans (including roof rack room).
    """

    image: npt.NDArray[np.uint8]
    plate_quad: npt.NDArray[np.float32] | None
    lights: npt.NDArray[np.float32]
    body_height_px: int
    width_m: float
    height_m: float


class _Canvas:
    """Draws in body fractions: x 0..1 across the body, y 0..1 from roof to ground."""

    def __init__(self, width_m: float, height_m: float) -> None:
        self.bw = width_m * PX_PER_M * _SS
        self.bh = height_m * PX_PER_M * _SS
        self.ox = self.bw * _MARGIN_X
        self.oy = self.bh * _MARGIN_TOP
        w = round(self.bw * (1 + 2 * _MARGIN_X))
        h = round(self.bh * (1 + _MARGIN_TOP))
        self.image = np.zeros((h, w, 4), np.uint8)

    def pt(self, x: float, y: float) -> tuple[int, int]:
        return round(self.ox + x * self.bw), round(self.oy + y * self.bh)

    def poly(self, points: list[tuple[float, float]], colour: Colour) -> None:
        pts = np.array([self.pt(x, y) for x, y in points], np.int32)
        cv2.fillPoly(self.image, [pts], (*colour, 255), cv2.LINE_AA)

    def rect(self, x0: float, y0: float, x1: float, y1: float, colour: Colour) -> None:
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], colour)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, colour: Colour) -> None:
        centre = self.pt(cx, cy)
        axes = (max(1, int(rx * self.bw)), max(1, int(ry * self.bh)))
        cv2.ellipse(self.image, centre, axes, 0, 0, 360, (*colour, 255), -1, cv2.LINE_AA)

    def line(self, x0: float, y0: float, x1: float, y1: float, colour: Colour, width: float) -> None:
        thickness = max(1, int(width * self.bh))
        cv2.line(self.image, self.pt(x0, y0), self.pt(x1, y1), (*colour, 255), thickness, cv2.LINE_AA)


# A rider's clothes and helmet, BGR: what tells two motorcycles of one paint colour apart.
_RIDER_CLOTHES: tuple[Colour, ...] = (
    (28, 28, 30),  # black leather
    (80, 50, 30),  # navy
    (40, 40, 140),  # dark red
    (100, 100, 102),  # grey
    (55, 85, 65),  # olive
    (45, 65, 100),  # brown
    (215, 215, 210),  # white
    (40, 210, 200),  # high-visibility yellow
)
_HELMETS: tuple[Colour, ...] = ((235, 235, 232), (28, 28, 30), (185, 182, 178), (30, 30, 190), (150, 70, 25))


def _pick(palette: tuple[Colour, ...], u: float) -> Colour:
    """The entry of ``palette`` that a number ``u`` in [0, 1] falls on (equal shares)."""
    return palette[min(int(u * len(palette)), len(palette) - 1)]


def _shade(colour: Colour, factor: float) -> Colour:
    return (
        min(255, int(colour[0] * factor)),
        min(255, int(colour[1] * factor)),
        min(255, int(colour[2] * factor)),
    )


class _Painter:
    """Draws one identity's face; each method adds a part in body fractions."""

    def __init__(self, identity: Identity, view: View, elevation: float) -> None:
        self.id = identity
        self.view = view
        self.elev = elevation  # 0 (level camera) .. 1 (steep, roof well visible)
        width, height, _ = DIMENSIONS[identity.type]
        self.c = _Canvas(width, height)
        self.body = identity.bgr
        self.upper = COLOURS[identity.second_colour] if identity.second_colour else self.body
        self.glass = _shade((60, 52, 45), 0.6 + 0.6 * identity.shape[5])
        self.lights: list[tuple[float, float, float]] = []
        self.plate_centre: tuple[float, float] | None = None

    def light(self, cx: float, cy: float, rx: float, ry: float, colour: Colour) -> None:
        self.c.ellipse(cx, cy, rx, ry, colour)
        x, y = self.c.pt(cx, cy)
        self.lights.append((x / _SS, y / _SS, max(rx * self.c.bw, ry * self.c.bh) / _SS))

    def _light_at(self, x: float, y: float, radius: float) -> None:
        px, py = self.c.pt(x, y)
        self.lights.append((px / _SS, py / _SS, radius))

    def wheels(self, inset: float = 0.06, width: float = 0.15) -> None:
        for x in (inset, 1 - inset - width):
            self.c.rect(x, 0.86, x + width, 1.0, (22, 22, 24))

    def car_like(self, roof: float, glass_bottom: float, taper: float) -> None:
        s = self.id.shape
        c = self.c
        self.wheels()
        c.poly(
            [
                (0.02, glass_bottom),
                (0.98, glass_bottom),
                (1.0, glass_bottom + 0.1),
                (1.0, 0.9),
                (0.0, 0.9),
                (0.0, glass_bottom + 0.1),
            ],
            self.body,
        )
        top_l, top_r = 0.5 - taper / 2, 0.5 + taper / 2
        c.poly(
            [(top_l, roof), (top_r, roof), (0.94, glass_bottom + 0.01), (0.06, glass_bottom + 0.01)],
            self.upper,
        )
        gtop = roof + 0.03 + 0.1 * self.elev
        inset = 0.035
        window = [
            (top_l + inset, gtop),
            (top_r - inset, gtop),
            (0.9, glass_bottom - 0.02),
            (0.1, glass_bottom - 0.02),
        ]
        if self.view == "rear":
            window = [(x * 0.9 + 0.05, y + (0.05 if i < 2 else -0.04)) for i, (x, y) in enumerate(window)]
        c.poly(window, self.glass)
        # sky reflection: a lighter diagonal band across the glass
        (x0, y0), (_x1, _), (_x2, y2), _ = window
        c.poly([(x0 + 0.1, y0), (x0 + 0.22, y0), (x0 + 0.12, y2), (x0, y2)], _shade(self.glass, 1.5))
        for side in (-1, 1):  # mirrors
            x = 0.0 if side < 0 else 1.0
            c.rect(
                x - 0.05 * (side < 0), glass_bottom - 0.07, x + 0.05 * (side > 0), glass_bottom, self.upper
            )
        if self.id.marks.stripe:
            c.rect(0.45, roof, 0.55, 0.75, self.id.marks.stripe)
        if self.id.marks.sticker:
            sx, sy, colour = self.id.marks.sticker
            y = gtop + sy * (glass_bottom - gtop) * 0.7
            c.rect(sx - 0.05, y, sx + 0.05, y + 0.06, colour)
        if self.id.marks.roof_rack:
            c.rect(top_l, roof - 0.05, top_r, roof - 0.03, (30, 30, 30))
            for x in (top_l + 0.05, top_r - 0.05):
                c.rect(x - 0.01, roof - 0.05, x + 0.01, roof, (30, 30, 30))
        bumper = (28, 28, 30) if s[3] > 0.6 else _shade(self.body, 0.85)
        c.rect(0.0, 0.76, 1.0, 0.9, bumper)
        if self.view == "front":
            self.front_lights(glass_bottom)
            self.plate_centre = (0.5, 0.83)
        else:
            self.rear_lights(glass_bottom)
            self.plate_centre = (0.5, 0.68 if s[0] > 0.5 else 0.83)
        for dx, dy, r in self.id.marks.dents:
            c.ellipse(
                dx,
                glass_bottom + 0.05 + dy * (0.85 - glass_bottom) * 0.8,
                r,
                r * 0.6,
                _shade(self.body, 0.72),
            )

    def front_lights(self, top: float) -> None:
        s, c = self.id.shape, self.c
        y = top + 0.1
        colour = (225, 228, 230)
        for left in (True, False):
            x0 = 0.05 if left else 0.73
            if s[1] < 0.33:
                c.poly(
                    [
                        (x0, y),
                        (x0 + 0.22, y + (0.03 if left else -0.0)),
                        (x0 + 0.22, y + 0.08),
                        (x0, y + 0.09),
                    ],
                    colour,
                )
                self._light_at(x0 + 0.11, y + 0.045, 0.05 * c.bw / _SS)
            elif s[1] < 0.66:
                self.light(x0 + 0.11, y + 0.05, 0.09, 0.045, colour)
            else:
                c.rect(x0, y + 0.02, x0 + 0.22, y + 0.05, colour)
                self._light_at(x0 + 0.11, y + 0.035, 0.04 * c.bw / _SS)
        dark = (32, 32, 34)
        c.rect(0.33, y + 0.02, 0.67, y + 0.15, dark)
        bars = 2 + int(s[2] * 4)
        for k in range(bars):
            yy = y + 0.03 + k * 0.12 / bars
            c.line(0.34, yy, 0.66, yy, (90, 90, 92), 0.008)

    def rear_lights(self, top: float) -> None:
        s, c = self.id.shape, self.c
        y = top + 0.06
        red = (40, 40, 190)
        for left in (True, False):
            x0 = 0.02 if left else 0.76
            if s[1] < 0.5:
                c.rect(x0, y, x0 + 0.22, y + 0.09, red)
                self._light_at(x0 + 0.11, y + 0.045, 0.06 * c.bw / _SS)
            else:
                self.light(x0 + 0.11, y + 0.05, 0.1, 0.04, red)
        c.ellipse(0.8, 0.92, 0.04, 0.02, (20, 20, 20))  # exhaust

    def truck(self) -> None:
        c = self.c
        self.wheels(0.03, 0.14)
        if self.view == "front":
            c.rect(0.0, 0.05, 1.0, 0.92, self.body)
            c.rect(0.0, 0.0, 1.0, 0.08, self.upper)  # spoiler
            c.rect(0.05, 0.2 + 0.05 * self.elev, 0.95, 0.5, self.glass)
            c.rect(0.22, 0.58, 0.78, 0.78, (40, 40, 42))
            for k in range(5):
                c.line(0.23, 0.6 + k * 0.035, 0.77, 0.6 + k * 0.035, (110, 110, 112), 0.006)
            for x in (0.1, 0.9):
                self.light(x, 0.8, 0.07, 0.035, (225, 228, 230))
            c.rect(0.0, 0.86, 1.0, 0.93, (30, 30, 30))
            self.plate_centre = (0.5, 0.885)
        else:
            box = (235, 235, 235) if self.id.shape[4] < 0.5 else self.upper
            c.rect(0.0, 0.0, 1.0, 0.86, box)
            c.line(0.5, 0.02, 0.5, 0.84, _shade(box, 0.6), 0.006)
            for y in (0.25, 0.6):
                c.line(0.02, y, 0.98, y, _shade(box, 0.75), 0.004)
            c.rect(0.0, 0.86, 1.0, 0.93, (30, 30, 30))
            for x in (0.08, 0.92):
                self.light(x, 0.895, 0.05, 0.025, (40, 40, 190))
            self.plate_centre = (0.5, 0.895)

    def bus(self) -> None:
        c = self.c
        self.wheels(0.05, 0.13)
        c.rect(0.0, 0.0, 1.0, 0.92, self.body)
        if self.view == "front":
            c.rect(0.04, 0.03, 0.96, 0.1, (20, 20, 20))
            c.rect(0.3, 0.05, 0.7, 0.08, (20, 140, 230))  # destination display
            c.rect(0.03, 0.13 + 0.05 * self.elev, 0.97, 0.6, self.glass)
            for x in (0.1, 0.9):
                self.light(x, 0.8, 0.06, 0.03, (225, 228, 230))
            self.plate_centre = (0.5, 0.86)
        else:
            c.rect(0.1, 0.08, 0.9, 0.32, self.glass)
            c.rect(0.15, 0.55, 0.85, 0.75, _shade(self.body, 0.6))
            for x in (0.07, 0.93):
                self.light(x, 0.7, 0.04, 0.06, (40, 40, 190))
            self.plate_centre = (0.5, 0.84)
        if self.id.marks.stripe:
            c.rect(0.0, 0.65, 1.0, 0.7, self.id.marks.stripe)

    def motorcycle(self) -> None:
        """Rider and bike; the identity's shape picks the rider's clothes, the helmet, the fairing,
        the headlight and a top case, as riders and bikes of one paint colour differ on the road."""
        s, c = self.id.shape, self.c
        c.ellipse(0.5, 0.85, 0.09, 0.15, (22, 22, 24))
        jacket = _pick(_RIDER_CLOTHES, s[0])
        c.poly([(0.25, 0.22), (0.75, 0.22), (0.85, 0.62), (0.15, 0.62)], jacket)  # rider torso
        if s[3] > 0.7:  # reflective bands of a rider's vest
            for y in (0.36, 0.48):
                c.line(0.2, y, 0.8, y, (205, 215, 210), 0.012)
        helmet = self.body if s[1] < 0.5 else _pick(_HELMETS, (s[1] - 0.5) * 2)
        c.ellipse(0.5, 0.1, 0.16, 0.1, helmet)
        c.rect(0.38, 0.6, 0.62, 0.75, self.body)
        if self.view == "front":
            c.ellipse(0.5, 0.1, 0.12, 0.04, self.glass)  # visor
            half = 0.12 + 0.18 * s[4]  # fairing half-width: naked bike .. tourer
            c.poly(
                [(0.5 - half, 0.4), (0.5 + half, 0.4), (0.5 + half * 0.7, 0.62), (0.5 - half * 0.7, 0.62)],
                self.upper,
            )
            c.line(0.05, 0.42, 0.95, 0.42, (30, 30, 30), 0.02)
            if s[2] < 0.5:
                self.light(0.5, 0.5, 0.12, 0.06, (225, 228, 230))
            else:  # twin headlights
                for x in (0.42, 0.58):
                    self.light(x, 0.5, 0.06, 0.04, (225, 228, 230))
        else:
            top_case = s[4] > 0.55  # behind the rider; the tail light sits below it
            if top_case:
                c.rect(0.3, 0.5, 0.7, 0.63, (30, 30, 32) if s[2] < 0.5 else self.upper)
            self.light(0.5, 0.6 + 0.05 * top_case, 0.1, 0.03, (40, 40, 190))
            self.plate_centre = (0.5, 0.7)

    def paint(self) -> None:
        kind = self.id.type
        s = self.id.shape
        if kind == "truck":
            self.truck()
        elif kind == "bus":
            self.bus()
        elif kind == "motorcycle":
            self.motorcycle()
        elif kind == "van":
            self.car_like(roof=0.0, glass_bottom=0.42, taper=0.86 + 0.06 * s[4])
        elif kind == "suv":
            self.car_like(roof=0.0, glass_bottom=0.45, taper=0.74 + 0.1 * s[4])
        else:
            self.car_like(roof=0.0, glass_bottom=0.5, taper=0.6 + 0.15 * s[4])


def _finish(image: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """Vertical shading, fine paint noise; downsample the supersampled drawing."""
    h = image.shape[0]
    gradient = np.linspace(1.12, 0.82, h, dtype=np.float32)[:, None, None]
    bgr = image[..., :3].astype(np.float32) * gradient
    bgr += rng.normal(0, 4.0, bgr.shape).astype(np.float32)
    out = np.dstack([np.clip(bgr, 0, 255).astype(np.uint8), image[..., 3]])
    small = cv2.resize(out, (image.shape[1] // _SS, image.shape[0] // _SS), interpolation=cv2.INTER_AREA)
    return np.asarray(small, np.uint8)


def render_sprite(
    identity: Identity, view: View, elevation: float, rng: np.random.Generator, *, decor: bool = False
) -> Sprite:
    """Draw ``identity`` seen from the ``front`` or ``rear`` at a camera ``elevation`` (0..1);
    ``decor`` adds its lettering, badge, stickers and exhausts (:mod:`synth.decor`)."""
    painter = _Painter(identity, view, elevation)
    painter.paint()
    if decor:
        c = painter.c
        body = (round(c.ox), round(c.oy), round(c.ox + c.bw), round(c.oy + c.bh))
        dress_vehicle(c.image, body, view, identity.type, identity.id, identity.bgr)
    image = _finish(painter.c.image, rng)
    quad = None
    has_plate = identity.plate_state != "missing" and painter.plate_centre is not None
    if has_plate and painter.plate_centre is not None:
        w_mm, h_mm = plate_size_mm(identity.plate_style)
        pw, ph = w_mm / 1000 * PX_PER_M, h_mm / 1000 * PX_PER_M
        cx, cy = (v / _SS for v in painter.c.pt(*painter.plate_centre))
        quad = np.array(
            [
                [cx - pw / 2, cy - ph / 2],
                [cx + pw / 2, cy - ph / 2],
                [cx + pw / 2, cy + ph / 2],
                [cx - pw / 2, cy + ph / 2],
            ],
            np.float32,
        )
    width, height, _ = DIMENSIONS[identity.type]
    return Sprite(
        image=image,
        plate_quad=quad,
        lights=np.array(painter.lights, np.float32).reshape(-1, 3),
        body_height_px=image.shape[0],
        width_m=width * (1 + 2 * _MARGIN_X),
        height_m=height * (1 + _MARGIN_TOP),
    )
