"""Synthetic plates for training the reader: wide variation in layout, font and condition.

Every sample is a plate drawn from scratch (no photo): a region's text format and layout (EU
countries with their band, UK, US states with banners, Brazil's Mercosul, China; one or two
rows; random strings for formats not listed), one of the fonts found on the machine with its
own stretch, weight and spacing, then what cameras do to plates: frames and screws, stickers,
dirt, shadows, glare, blur, low resolution, noise and JPEG, and a rectification from corners
that are a little off (the corner finder's error), as :mod:`detectors.corners` gives at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from synth.plates import CN_PROVINCES

Bgr = npt.NDArray[np.uint8]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
# Upright sans and mono faces plates resemble (DIN 1451, FE-Schrift, Charles Wright are not
# free); each used where the machine has it. DejaVu ships with matplotlib, so one always exists.
FONT_NAMES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSansCondensed-Bold.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "NimbusSans-Regular.otf",
    "NimbusSans-Bold.otf",
    "NimbusSansNarrow-Regular.otf",
    "NimbusSansNarrow-Bold.otf",
    "NimbusMonoPS-Bold.otf",
    "LiberationSans-Regular.ttf",
    "LiberationSans-Bold.ttf",
    "LiberationMono-Bold.ttf",
    "FreeSans.ttf",
    "FreeSansBold.ttf",
    "RobotoCondensed-Bold.ttf",
    "RobotoCondensed-Medium.ttf",
    "OpenSans-CondBold.ttf",
    "OpenSans-Semibold.ttf",
    "B612-Regular.otf",
    "B612Mono-Bold.otf",
)
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
CJK_FONT = Path(__file__).resolve().parent.parent / "synth" / "fonts" / "plate-cjk.otf"


@cache
def latin_fonts() -> tuple[Path, ...]:
    """Font files of :data:`FONT_NAMES` found here (the system's font folders, then matplotlib's)."""
    import matplotlib

    found: dict[str, Path] = {}
    roots = [*FONT_DIRS, Path(matplotlib.get_data_path()) / "fonts" / "ttf"]
    for root in roots:
        if root.is_dir():
            for path in root.rglob("*"):
                if path.name in FONT_NAMES and path.name not in found:
                    found[path.name] = path
    return tuple(found[name] for name in FONT_NAMES if name in found)


@cache
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


@dataclass(frozen=True, slots=True)
class Layout:
    """How a region prints its plates.

    Attributes:
        region: Region code the text format belongs to.
        groups: Character groups of one plate; ``L`` letter, ``D`` digit, ``A`` either, ``P`` a
            Chinese province; a group is printed as one run, groups apart.
        aspect: Width / height of a one-row plate.
        band: ``eu`` (blue band on the left), ``br`` (blue band on top), ``us`` (state banner),
            or '' (none).
    """

    region: str
    groups: tuple[str, ...]
    aspect: float
    band: str = ""


LAYOUTS: tuple[Layout, ...] = (
    Layout("fr", ("LL", "DDD", "LL"), 4.7, "eu"),
    Layout("it", ("LL", "DDD", "LL"), 4.7, "eu"),
    Layout("hr", ("LL", "DDD", "LL"), 4.7, "eu"),
    Layout("hr", ("LL", "DDDD", "L"), 4.7, "eu"),
    Layout("de", ("LL", "LL", "DDD"), 4.7, "eu"),
    Layout("de", ("L", "L", "DDDD"), 4.7, "eu"),
    Layout("de", ("LLL", "L", "DD"), 4.7, "eu"),
    Layout("es", ("DDDD", "LLL"), 4.7, "eu"),
    Layout("nl", ("LL", "DDD", "L"), 4.7, "eu"),
    Layout("nl", ("D", "LLL", "DD"), 4.7, "eu"),
    Layout("be", ("D", "LLL", "DDD"), 4.7, "eu"),
    Layout("pl", ("LL", "DDDDD"), 4.7, "eu"),
    Layout("pl", ("LLL", "DDLL"), 4.7, "eu"),
    Layout("cz", ("DLD", "DDDD"), 4.7, "eu"),
    Layout("at", ("L", "DDDLL"), 4.7, "eu"),
    Layout("gb", ("LLDD", "LLL"), 4.7, ""),
    Layout("us", ("LLL", "DDDD"), 2.0, "us"),
    Layout("us", ("D", "LLL", "DDD"), 2.0, "us"),
    Layout("us", ("AAAAAA",), 2.0, "us"),
    Layout("br", ("LLL", "DLDD"), 3.1, "br"),
    Layout("br", ("LLL", "DDDD"), 3.1, ""),
    Layout("cn", ("PL", "AAAAA"), 3.1, ""),
    Layout("", ("AAAA",), 3.5, ""),
    Layout("", ("AAA", "AAAA"), 4.2, ""),
    Layout("", ("AAAAAAAA",), 4.7, ""),
)


@dataclass(frozen=True, slots=True)
class PlateSample:
    """One rendered plate, rectified as printed (two rows stay stacked).

    Attributes:
        image: BGR crop from the (slightly wrong) corners; its size follows the plate's aspect.
        text: The characters printed, without separators.
        rows: 1 or 2.
        region: The layout's region ('' for random strings).
    """

    image: Bgr
    text: str
    rows: int
    region: str


def _text(groups: tuple[str, ...], rng: np.random.Generator) -> list[str]:
    pools = {"L": LETTERS, "D": DIGITS, "A": LETTERS + DIGITS, "P": CN_PROVINCES}
    return ["".join(pools[c][int(rng.integers(len(pools[c])))] for c in group) for group in groups]


def _colours(rng: np.random.Generator) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(background, ink) in RGB: mostly dark on light, sometimes light on dark."""
    light = [(245, 245, 245), (250, 215, 40), (235, 235, 220), (255, 255, 255), (200, 225, 245)]
    dark = [(15, 15, 15), (30, 40, 110), (120, 20, 20), (20, 70, 30), (40, 40, 40)]
    bg, ink = light[int(rng.integers(len(light)))], dark[int(rng.integers(len(dark)))]
    if rng.random() < 0.12:
        bg, ink = ink, bg
    return bg, ink


def _draw_row(
    draw: ImageDraw.ImageDraw,
    groups: list[str],
    box: tuple[float, float, float, float],
    ink: tuple[int, int, int],
    rng: np.random.Generator,
) -> None:
    """Draw groups of characters into ``box`` with one font, stretch and spacing."""
    x0, y0, x1, y1 = box
    height = y1 - y0
    fonts = latin_fonts()
    face = fonts[int(rng.integers(len(fonts)))]
    size = max(6, int(height * rng.uniform(1.05, 1.3)))
    stretch = rng.uniform(0.7, 1.25)
    gap = rng.uniform(0.2, 0.9)  # between groups, in character widths
    spacing = rng.uniform(0.02, 0.25)
    glyphs: list[tuple[Image.Image | None, float]] = []
    for g, group in enumerate(groups):
        for char in group:
            font = _font(CJK_FONT if ord(char) > 127 else face, size)
            left, top, right, bottom = font.getbbox(char)
            glyph = Image.new("L", (max(1, int(right - left)), max(1, int(bottom - top))), 0)
            ImageDraw.Draw(glyph).text((-left, -top), char, font=font, fill=255)
            w = max(1, int(glyph.width * stretch))
            glyphs.append((glyph.resize((w, max(1, int(height * rng.uniform(0.78, 0.92))))), 0.0))
        if g + 1 < len(groups):
            glyphs.append((None, gap))
    widths = [gl.width if gl is not None else 0 for gl, _ in glyphs]
    unit = float(np.mean([w for w in widths if w])) if any(widths) else 1.0
    total = sum(w + unit * spacing for w in widths) + sum(extra * unit for _, extra in glyphs)
    scale = min(1.0, (x1 - x0) / max(total, 1.0))
    x = x0 + ((x1 - x0) - total * scale) / 2
    for (maybe, extra), w in zip(glyphs, widths, strict=True):
        if maybe is None:
            if rng.random() < 0.3:  # a dash or a dot between groups
                cy, r = y0 + height / 2, max(1.0, height * 0.05)
                draw.rectangle(
                    (x + unit * extra * scale * 0.25, cy - r, x + unit * extra * scale * 0.75, cy + r),
                    fill=ink,
                )
            x += unit * extra * scale
            continue
        glyph = maybe.resize((max(1, int(w * scale)), maybe.height))
        top = y0 + (height - glyph.height) / 2 + rng.uniform(-0.03, 0.03) * height
        draw.bitmap((int(x), int(top)), glyph, fill=ink)
        x += (w + unit * spacing) * scale


def draw_plate(layout: Layout, rows: int, rng: np.random.Generator) -> tuple[Bgr, str]:
    """A flat, clean plate of ``layout`` (BGR, 64 px per row plus margins) and its text."""
    groups = _text(layout.groups, rng)
    return draw_groups(layout, groups, rows, rng), "".join(groups)


def draw_groups(layout: Layout, groups: list[str], rows: int, rng: np.random.Generator) -> Bgr:
    """A flat, clean plate of ``layout`` printing ``groups`` (BGR, 64 px per row plus margins)."""
    row_h = 44
    # Two-row plates are 1.2–1.8 wide per unit of height (EU 280×200 mm, US 180×100 mm): under
    # the 1.9 the reader takes for two rows.
    aspect = layout.aspect if rows == 1 else rng.uniform(1.2, 1.8)
    height = int(row_h * (1.45 if rows == 1 else 2.5))
    width = int(height * aspect)
    bg, ink = _colours(rng)
    image = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.8:
        draw.rounded_rectangle(
            (1, 1, width - 2, height - 2), radius=height // 10, outline=ink, width=max(2, height // 30)
        )
    left, top, right, bottom = 0.05 * width, 0.16 * height, 0.95 * width, 0.86 * height
    if layout.band == "eu" and rng.random() < 0.85:
        band = int(width * (0.085 if rows == 1 else 0.14))
        draw.rectangle((2, 2, band, height - 2), fill=(30, 60, 170))
        code = (
            layout.region.upper()
            if rng.random() < 0.7
            else "".join(_text(("LL",), rng))[: int(rng.integers(1, 3))]
        )
        font = _font(latin_fonts()[0], max(8, height // 6 if rows == 1 else height // 10))
        draw.text((band / 2, height * 0.9), code, font=font, fill=(245, 245, 245), anchor="md")
        left = band + 0.03 * width
    elif layout.band == "br":
        draw.rectangle((2, 2, width - 2, int(height * 0.2)), fill=(30, 60, 170))
        top = 0.26 * height
    elif layout.band == "us":
        font = _font(latin_fonts()[int(rng.integers(len(latin_fonts())))], max(8, height // 7))
        draw.text(
            (width / 2, height * 0.03), "".join(_text(("LLLLLLL",), rng)), font=font, fill=ink, anchor="mt"
        )
        top, bottom = 0.24 * height, 0.84 * height
    if rows == 1:
        _draw_row(draw, groups, (left, top, right, bottom), ink, rng)
    else:
        if len(groups) == 1:  # one run of characters: half on each row
            half = (len(groups[0]) + 1) // 2
            upper, lower = [groups[0][:half]], [groups[0][half:]]
        else:
            upper, lower = groups[: len(groups) // 2], groups[len(groups) // 2 :]
        mid = (top + bottom) / 2
        _draw_row(draw, upper, (left, top, right, mid - 0.03 * height), ink, rng)
        _draw_row(draw, lower, (left, mid + 0.03 * height, right, bottom), ink, rng)
    bgr = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
    return np.ascontiguousarray(bgr, np.uint8)


def decorate(plate: Bgr, rng: np.random.Generator) -> Bgr:
    """Screws, a sticker, dirt, a shadow and glare on the flat plate."""
    out = plate.astype(np.float32)
    h, w = plate.shape[:2]
    if rng.random() < 0.4:  # screws near the top or in the character row
        y = int(h * rng.choice([0.12, 0.5]))
        for x in (int(w * 0.2), int(w * 0.8)):
            cv2.circle(out, (x, y), max(2, h // 14), tuple(float(v) for v in rng.uniform(60, 200, 3)), -1)
    if rng.random() < 0.25:  # an inspection sticker
        cx, cy = int(rng.uniform(0.1, 0.9) * w), int(rng.uniform(0.3, 0.7) * h)
        cv2.circle(out, (cx, cy), max(3, h // 8), tuple(float(v) for v in rng.uniform(0, 255, 3)), -1)
    if rng.random() < 0.3:  # dirt
        blob = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(3, 15))):
            centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            axes = (int(rng.integers(2, max(3, w // 6))), int(rng.integers(2, max(3, h // 3))))
            cv2.ellipse(
                blob, centre, axes, float(rng.uniform(0, 180)), 0, 360, float(rng.uniform(0.1, 0.5)), -1
            )
        blob = np.minimum(cv2.GaussianBlur(blob, (0, 0), max(1.0, h / 15)), 0.7)[..., None]
        out = out * (1 - blob) + np.array([50, 70, 90], np.float32) * blob
    if rng.random() < 0.4:  # a shadow edge across the plate
        xs = np.linspace(-1, 1, w)[None, :] * rng.uniform(-1, 1) + np.linspace(-1, 1, h)[
            :, None
        ] * rng.uniform(-1, 1)
        shade = np.where(xs > rng.uniform(-0.5, 0.5), rng.uniform(0.35, 0.8), 1.0).astype(np.float32)
        out *= cv2.GaussianBlur(shade, (0, 0), max(1.0, h / 20))[..., None]
    if rng.random() < 0.25:  # glare
        glow = np.zeros((h, w), np.float32)
        cv2.ellipse(
            glow, (int(rng.integers(0, w)), int(rng.integers(0, h))), (w // 5, h // 2), 0, 0, 360, 1.0, -1
        )
        out += cv2.GaussianBlur(glow, (0, 0), h / 4)[..., None] * rng.uniform(60, 200)
    return np.clip(out, 0, 255).astype(np.uint8)


def _camera(canvas: Bgr, plate_height: float, rng: np.random.Generator) -> tuple[Bgr, float]:
    """Blur, shrink to ``plate_height`` px, noise, JPEG, grey or IR: what the frame holds."""
    h = canvas.shape[0]
    sigma = rng.uniform(0, 1.5)
    if sigma > 0.3:
        canvas = np.asarray(cv2.GaussianBlur(canvas, (0, 0), sigma), np.uint8)
    if rng.random() < 0.2:  # horizontal motion blur
        k = int(rng.integers(3, 9))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1 / k
        canvas = np.asarray(cv2.filter2D(canvas, -1, kernel), np.uint8)
    scale = plate_height / h * 1.6  # the canvas is 1.6 plate heights tall
    small = cv2.resize(canvas, None, fx=min(1.0, scale), fy=min(1.0, scale), interpolation=cv2.INTER_AREA)
    gain, bias = rng.uniform(0.5, 1.3), rng.uniform(-50, 40)
    small = np.clip(
        small.astype(np.float32) * gain + bias + rng.normal(0, rng.uniform(0, 10), small.shape), 0, 255
    )
    out = small.astype(np.uint8)
    if rng.random() < 0.25:
        out = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    ok, jpeg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 96))])
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR) if ok else out
    return np.asarray(decoded, np.uint8), min(1.0, scale)


def render_sample(rng: np.random.Generator, layouts: tuple[Layout, ...] = LAYOUTS) -> PlateSample:
    """One training plate: drawn, decorated, placed on a car body, filmed and rectified."""
    layout = layouts[int(rng.integers(len(layouts)))]
    rows = 2 if rng.random() < 0.15 else 1
    plate, text = draw_plate(layout, rows, rng)
    plate = decorate(plate, rng)
    ph, pw = plate.shape[:2]
    margin_y, margin_x = int(ph * 0.3), int(pw * 0.15)
    body = np.full((ph + 2 * margin_y, pw + 2 * margin_x, 3), rng.integers(0, 256, 3), np.uint8)
    grain = rng.integers(-12, 13, body.shape, dtype=np.int16)
    body = np.clip(body + grain, 0, 255).astype(np.uint8)
    body[margin_y : margin_y + ph, margin_x : margin_x + pw] = plate
    angle = rng.normal(0, 3)
    centre = (body.shape[1] / 2, body.shape[0] / 2)
    turn = cv2.getRotationMatrix2D(centre, angle, 1.0)
    body = np.asarray(
        cv2.warpAffine(body, turn, (body.shape[1], body.shape[0]), borderMode=cv2.BORDER_REPLICATE), np.uint8
    )
    corners = np.array(
        [
            [margin_x, margin_y],
            [margin_x + pw, margin_y],
            [margin_x + pw, margin_y + ph],
            [margin_x, margin_y + ph],
        ],
        np.float32,
    )
    corners = cv2.transform(corners[None], turn)[0]
    corners += rng.normal(0, 0.04, (4, 2)).astype(np.float32) * np.array([ph, ph], np.float32)
    height_px = float(np.exp(rng.uniform(np.log(10), np.log(60))))  # plate height in the frame
    filmed, scale = _camera(body, height_px, rng)
    corners *= scale
    out_h = max(8, round(height_px))
    out_w = max(8, round(out_h * pw / ph))
    target = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], np.float32)
    matrix = cv2.getPerspectiveTransform(corners, target)
    image = cv2.warpPerspective(
        filmed, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return PlateSample(np.asarray(image, np.uint8), text, rows, layout.region)


def sample_stream(seed: int) -> Callable[[], PlateSample]:
    """A function that renders the next sample of the stream ``seed`` (same seed, same samples)."""
    rng = np.random.default_rng(seed)
    return lambda: render_sample(rng)
