"""Licence plates of the synthetic world: text formats, legality rules and rendering.

Three families, each single- or double-line: ``eu`` (``AB-123-CD`` on white with a blue
band), ``us`` (``ABC 1234`` under a state banner) and ``cn`` (a province glyph, a letter and
five characters, ``皖A·Y339S``; blue for small vehicles, yellow for large ones). Plates are
rendered once per identity at a fixed scale (:data:`PX_PER_MM`) and warped into frames, so
their text stays sharp however near the camera the vehicle comes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

PlateFamily = Literal["eu", "us", "cn"]
FAMILIES: tuple[PlateFamily, ...] = ("eu", "us", "cn")
PX_PER_MM = 0.8
FONT_DIR = Path(__file__).parent / "fonts"

CN_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_LETTERS_NO_IO = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_EU_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"  # French SIV: no I, O, U
_DIGITS = "0123456789"

LEGAL_TEXT: dict[PlateFamily, re.Pattern[str]] = {
    "eu": re.compile(rf"[{_EU_LETTERS}]{{2}}[0-9]{{3}}[{_EU_LETTERS}]{{2}}"),
    "us": re.compile(r"[A-Z]{3}[0-9]{4}|[1-9][A-Z]{3}[0-9]{3}"),
    "cn": re.compile(rf"[{CN_PROVINCES}][{_LETTERS_NO_IO}][{_LETTERS_NO_IO}0-9]{{5}}"),
}
US_STATES = ("NORTH MESA", "LAKELAND", "GRANITE", "SUNCOAST", "PRAIRIE", "RIVERVALE")
EU_COUNTRIES = ("F", "D", "B", "NL", "I", "E")


@dataclass(frozen=True, slots=True)
class PlateStyle:
    """How one plate looks (fixed per identity).

    Attributes:
        family: Text format family.
        double_line: Two rows of characters (motorcycles, rear of CN large vehicles).
        background: BGR background colour.
        ink: BGR character colour.
        banner: Country code (eu) or state name (us); empty for cn.
    """

    family: PlateFamily
    double_line: bool
    background: tuple[int, int, int]
    ink: tuple[int, int, int]
    banner: str


def is_legal(family: PlateFamily, text: str) -> bool:
    """True when ``text`` (no separators) is a legal plate of ``family``."""
    return LEGAL_TEXT[family].fullmatch(text) is not None


def random_text(family: PlateFamily, rng: np.random.Generator) -> str:
    """A random legal plate text of ``family``."""

    def pick(alphabet: str, n: int) -> str:
        return "".join(alphabet[i] for i in rng.integers(0, len(alphabet), n))

    if family == "eu":
        return pick(_EU_LETTERS, 2) + pick(_DIGITS, 3) + pick(_EU_LETTERS, 2)
    if family == "us":
        if rng.random() < 0.3:
            return pick("123456789", 1) + pick(_LETTERS_NO_IO, 3) + pick(_DIGITS, 3)
        return pick(_LETTERS_NO_IO, 3) + pick(_DIGITS, 4)
    tail = pick(_LETTERS_NO_IO + _DIGITS * 3, 5)  # digits are more common than letters
    return pick(CN_PROVINCES, 1) + pick(_LETTERS_NO_IO, 1) + tail


def random_style(family: PlateFamily, rng: np.random.Generator, *, large: bool, double: bool) -> PlateStyle:
    """A plausible look for a plate of ``family`` on a large (truck/bus) or small vehicle."""
    if family == "eu":
        background = (40, 200, 250) if rng.random() < 0.15 else (245, 245, 245)  # some yellow rear plates
        banner = EU_COUNTRIES[int(rng.integers(len(EU_COUNTRIES)))]
        return PlateStyle(family, double, background, (20, 20, 20), banner)
    if family == "us":
        schemes = [
            ((245, 245, 245), (120, 40, 20)),
            ((90, 215, 245), (30, 30, 30)),
            ((245, 240, 230), (30, 30, 160)),
        ]
        background, ink = schemes[int(rng.integers(len(schemes)))]
        return PlateStyle(family, double, background, ink, US_STATES[int(rng.integers(len(US_STATES)))])
    if large:
        return PlateStyle(family, double, (20, 190, 245), (20, 20, 20), "")
    return PlateStyle(family, double, (170, 70, 20), (245, 245, 245), "")


def plate_size_mm(style: PlateStyle) -> tuple[float, float]:
    """Physical ``(width, height)`` in millimetres."""
    if style.family == "eu":
        return (280.0, 200.0) if style.double_line else (520.0, 110.0)
    if style.family == "us":
        return (180.0, 100.0) if style.double_line else (305.0, 152.0)
    return (440.0, 220.0) if style.double_line else (440.0, 140.0)


@cache
def _font(kind: str, size: int) -> ImageFont.FreeTypeFont:
    name = "plate-cjk.otf" if kind == "cjk" else "plate-latin.ttf"
    return ImageFont.truetype(str(FONT_DIR / name), size)


def _rows(style: PlateStyle, text: str) -> list[str]:
    """Characters per printed row, with the family's separators."""
    if style.family == "eu":
        return (
            [text[:2] + "-" + text[2:5], text[5:]]
            if style.double_line
            else [f"{text[:2]}-{text[2:5]}-{text[5:]}"]
        )
    if style.family == "us":
        cut = 3 if text[0].isalpha() else 4
        return [text[:cut], text[cut:]] if style.double_line else [text[:cut] + " " + text[cut:]]
    return [text[:2], text[2:]] if style.double_line else [text[:2] + "·" + text[2:]]


def _draw_row(
    draw: ImageDraw.ImageDraw, row: str, box: tuple[int, int, int, int], ink: tuple[int, int, int]
) -> None:
    """Draw ``row`` with even character pitch, stretched to fill ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    height = y1 - y0
    cells = [0.45 if c in "-· " else 1.0 for c in row]
    pitch = min((x1 - x0) / sum(cells), height * 0.75)  # short rows keep a plate-like aspect
    x = x0 + ((x1 - x0) - pitch * sum(cells)) / 2
    rgb = (ink[2], ink[1], ink[0])
    for char, cell in zip(row, cells, strict=True):
        width = pitch * cell
        if char == "-":
            cy, half = y0 + height // 2, max(1, int(height * 0.05))
            draw.rectangle((int(x + width * 0.15), cy - half, int(x + width * 0.85), cy + half), fill=rgb)
        elif char == "·":
            r = max(2, int(height * 0.06))
            cx, cy = int(x + width / 2), y0 + height // 2
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=rgb)
        elif char != " ":
            font = _font("cjk" if ord(char) > 127 else "latin", max(8, int(height * 1.25)))
            left, top, right, bottom = font.getbbox(char)
            glyph = Image.new("L", (int(right - left) + 2, int(bottom - top) + 2), 0)
            ImageDraw.Draw(glyph).text((-left + 1, -top + 1), char, font=font, fill=255)
            target = (max(1, int(width * 0.86)), max(1, height))
            glyph = glyph.resize(target, Image.Resampling.LANCZOS)
            draw.bitmap((int(x + (width - target[0]) / 2), y0), glyph, fill=rgb)
        x += width


def render_plate(text: str, style: PlateStyle) -> npt.NDArray[np.uint8]:
    """Render a plate as a BGR image at :data:`PX_PER_MM`.

    Raises:
        ValueError: ``text`` is not legal for the style's family.
    """
    if not is_legal(style.family, text):
        raise ValueError(f"'{text}' is not a legal {style.family} plate")
    w_mm, h_mm = plate_size_mm(style)
    width, height = round(w_mm * PX_PER_MM * 2), round(h_mm * PX_PER_MM * 2)  # 2x, then downsampled
    bg = (style.background[2], style.background[1], style.background[0])
    image = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(image)
    ink = (style.ink[2], style.ink[1], style.ink[0])
    border = max(2, height // 30)
    draw.rounded_rectangle((1, 1, width - 2, height - 2), radius=height // 10, outline=ink, width=border)
    left, top, right, bottom = border * 3, border * 3, width - border * 3, height - border * 3
    if style.family == "eu":
        band = int(width * (0.09 if not style.double_line else 0.14))
        draw.rectangle((border, border, band, height - border), fill=(30, 60, 170))
        font = _font("latin", max(8, height // (6 if not style.double_line else 9)))
        draw.text((band / 2, height - border * 4), style.banner, font=font, fill=(245, 245, 245), anchor="md")
        left = band + border * 2
    elif style.family == "us":
        font = _font("latin", max(8, height // 7))
        draw.text((width / 2, border * 2), style.banner, font=font, fill=ink, anchor="mt")
        top = int(height * 0.26)
        bottom = int(height * 0.86)
    rows = _rows(style, text)
    row_h = (bottom - top) / len(rows)
    for i, row in enumerate(rows):
        pad = row_h * 0.08
        _draw_row(
            draw, row, (left, int(top + i * row_h + pad), right, int(top + (i + 1) * row_h - pad)), style.ink
        )
    array = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
    return np.asarray(cv2.resize(array, (width // 2, height // 2), interpolation=cv2.INTER_AREA), np.uint8)


def soil(plate: npt.NDArray[np.uint8], amount: float, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """Dirt blotches over ``amount`` (0..1) of a plate; high amounts make it unreadable."""
    out = plate.astype(np.float32)
    h, w = plate.shape[:2]
    mask = np.zeros((h, w), np.float32)
    for _ in range(int(3 + amount * 25)):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(2, max(3, w // 4))), int(rng.integers(2, max(3, h // 2))))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.3, 1.0)), -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, h / 12)) * min(1.0, amount * 1.6)
    mud = np.array([40, 60, 80], np.float32)
    out = out * (1 - mask[..., None]) + mud * mask[..., None]
    result: npt.NDArray[np.uint8] = np.clip(out, 0, 255).astype(np.uint8)
    return result
