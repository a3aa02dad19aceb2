"""Render one camera of a world, frame by frame, with exact ground truth.

Per frame: copy the prepared background, draw the vehicles far to near (each a sprite
warped onto its face plane, with motion blur and fog), warp each sharp plate image onto its
quad, add headlight glow, rain and sensor noise. Sprites and plates are made once per
identity and camera and dropped when the vehicle has left.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from synth.decor import DECOR_STREAM, Osd, dress_roadside, plate_look
from synth.fleet import DIMENSIONS, Identity
from synth.geometry import PinholeCamera
from synth.plates import render_plate, soil
from synth.scenario import Lighting
from synth.scenery import FOG_BGR, LIGHT_GAIN, build_background
from synth.sprites import Sprite, render_sprite
from synth.truth import READABLE_PLATE_PX, FrameTruth, VehicleTruth
from synth.world import LANE_WIDTH_M, Pass, World

Image = npt.NDArray[np.uint8]
_NOISE_FRAMES = 4
_RAIN_FRAMES = 6


class _Look:
    """A vehicle's sprite and plate as this camera shows them (lighting applied)."""

    def __init__(self, identity: Identity, renderer: CameraRenderer) -> None:
        spec = renderer.spec
        rng = np.random.default_rng([renderer.world.seed, identity.id, renderer.camera_index])
        self.sprite: Sprite = render_sprite(
            identity, spec.view, renderer.elevation, rng, decor=renderer.world.spec.decor
        )
        image = self.sprite.image.copy()
        image[..., :3] = _light(image[..., :3], spec.lighting, rng)
        if spec.lighting in ("night", "dusk", "ir"):
            lamp = (235, 240, 245) if spec.view == "front" else (60, 60, 250)
            if spec.lighting == "ir":
                lamp = (250, 250, 250)
            for x, y, r in self.sprite.lights:
                cv2.circle(image, (int(x), int(y)), max(1, int(r * 0.8)), (*lamp, 255), -1, cv2.LINE_AA)
        self.image = image
        alpha = np.argwhere(image[..., 3] > 8)
        (y0, x0), (y1, x1) = alpha.min(0), alpha.max(0) + 1
        self.tight = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)
        self.plate: Image | None = None
        if self.sprite.plate_quad is not None:
            plate = None
            if renderer.world.spec.decor:
                seed = renderer.world.seed
                plate = plate_look(identity.plate_text, identity.plate_style, seed, identity.id)
            if plate is None:
                plate = render_plate(identity.plate_text, identity.plate_style)
            if identity.plate_state in ("dirty", "obscured"):
                plate = soil(plate, 0.3 if identity.plate_state == "dirty" else 1.0, rng)
            self.plate = _light_plate(plate, spec.lighting, spec.view)


def _light(bgr: Image, lighting: Lighting, rng: np.random.Generator) -> Image:
    """Paint under the camera's light; IR turns colours into a random-ish grey reflectance."""
    f = bgr.astype(np.float32)
    if lighting == "ir":
        grey = f @ np.array([0.2, 0.45, 0.35], np.float32) * float(rng.uniform(0.8, 1.25)) + 25
        f = np.repeat(grey[..., None], 3, axis=2)
    else:
        f *= np.array(LIGHT_GAIN[lighting], np.float32) * float(rng.uniform(0.9, 1.1))
    out: Image = np.clip(f, 0, 255).astype(np.uint8)
    return out


def _light_plate(plate: Image, lighting: str, view: str) -> Image:
    """Retro-reflective plates glow under IR; at night only rear plates have a lamp."""
    f = plate.astype(np.float32)
    if lighting == "ir":
        grey = f @ np.array([0.2, 0.45, 0.35], np.float32)
        background = float(np.median(grey))
        ink = np.clip(np.abs(grey - background) / 90.0, 0, 1)
        f = np.repeat((235 - 205 * ink)[..., None], 3, axis=2)
    elif lighting == "night":
        f *= 0.85 if view == "rear" else 0.3
    elif lighting == "dusk":
        f *= np.array(LIGHT_GAIN["dusk"], np.float32) * 1.2
    out: Image = np.clip(f, 0, 255).astype(np.uint8)
    return out


def _shrink(image: Image, scale: float) -> tuple[Image, float]:
    """Area-downsample before a strong minifying warp (avoids aliasing); returns the factor used."""
    if scale >= 0.7:
        return image, 1.0
    factor = max(scale * 1.2, 2.0 / max(image.shape[:2]))
    size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8), factor


def _warp(image: Image, homography: npt.NDArray[np.float64], box: tuple[int, int, int, int]) -> Image:
    """Warp ``image`` by ``homography`` into the frame region ``box`` (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    warped = cv2.warpPerspective(
        image, shift @ homography, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    return np.asarray(warped, np.uint8)


def _composite(frame: Image, layer: Image, box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    alpha = layer[..., 3:4].astype(np.float32) * (1.0 / 255)
    roi = frame[y0:y1, x0:x1]
    roi[:] = (roi * (1 - alpha) + layer[..., :3] * alpha).astype(np.uint8)


def _bounds(points: npt.NDArray[np.float32], width: int, height: int) -> tuple[int, int, int, int] | None:
    x0, y0 = np.floor(points.min(0)).astype(int)
    x1, y1 = np.ceil(points.max(0)).astype(int)
    box = (max(0, int(x0)), max(0, int(y0)), min(width, int(x1)), min(height, int(y1)))
    return box if box[2] > box[0] and box[3] > box[1] else None


def _motion_blur(layer: Image, dx: float, dy: float) -> Image:
    length = math.hypot(dx, dy)
    if length < 2:
        return layer
    size = min(31, int(length) | 1)
    kernel = np.zeros((size, size), np.float32)
    c = size // 2
    ux, uy = dx / length, dy / length
    cv2.line(kernel, (int(c - ux * c), int(c - uy * c)), (int(c + ux * c), int(c + uy * c)), 1.0, 1)
    return np.asarray(cv2.filter2D(layer, -1, kernel / kernel.sum()), np.uint8)


class CameraRenderer:
    """Renders frames of one camera of a :class:`World`.

    Args:
        world: The simulated world.
        camera_id: Which camera.
    """

    def __init__(self, world: World, camera_id: str) -> None:
        self.world = world
        self.spec = world.spec.camera(camera_id)
        self.camera_index = [c.id for c in world.spec.cameras].index(camera_id)
        self.cam = PinholeCamera(self.spec)
        self.fps = world.spec.fps
        self.frame_count = round(world.spec.duration_s * self.fps)
        self.elevation = float(np.clip(self.spec.pitch_deg / 30.0, 0, 1))
        rng = np.random.default_rng([world.seed, 7919, self.camera_index])
        self.background = build_background(self.spec, self.cam, rng)
        self._osd: Osd | None = None
        if world.spec.decor:
            dress_roadside(
                self.background,
                self.cam.project,
                self.spec.lanes * LANE_WIDTH_M / 2,
                self.spec.lighting,
                np.random.default_rng([DECOR_STREAM, world.seed, self.camera_index]),
            )
            w, h = self.spec.resolution
            self._osd = Osd(camera_id, self.camera_index, world.seed, (w, h))
        self._passes = world.passes_at(camera_id)
        self._looks: dict[int, _Look] = {}
        h, w = self.background.shape[:2]
        sigma = self.spec.noise
        noise = [rng.normal(0, sigma, (h, w, 1)) for _ in range(_NOISE_FRAMES)] if sigma > 0 else []
        self._noise = [
            (np.clip(n, 0, 255).astype(np.uint8), np.clip(-n, 0, 255).astype(np.uint8)) for n in noise
        ]
        self._rain = (
            [self._rain_layer(rng) for _ in range(_RAIN_FRAMES)] if self.spec.weather == "rain" else []
        )
        glow = cv2.getGaussianKernel(65, 14)
        self._glow = (glow @ glow.T / (glow @ glow.T).max()).astype(np.float32)

    def _rain_layer(self, rng: np.random.Generator) -> Image:
        h, w = self.background.shape[:2]
        layer = np.zeros((h, w, 3), np.uint8)
        for _ in range(int(w * h / 2500)):
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            length = int(rng.integers(8, 25))
            cv2.line(layer, (x, y), (x + length // 5, y + length), (70, 70, 70), 1, cv2.LINE_AA)
        return layer

    def render(self, index: int) -> tuple[Image, FrameTruth]:
        """Frame ``index`` (time ``index / fps``) and its ground truth."""
        t = index / self.fps
        spec = self.spec
        active = [(p, p.distance(t, spec)) for p in self._passes]
        active = [(p, z) for p, z in active if spec.near_m * 0.5 <= z <= spec.far_m]
        active.sort(key=lambda pz: -pz[1])
        showing = {p.identity for p, _ in active}
        for gone in [i for i in self._looks if i not in showing]:
            del self._looks[gone]
        frame = self.background.copy()
        drawn = [d for p, z in active if (d := self._draw(frame, p, z)) is not None]
        truths = _occlusion([d[0] for d in drawn], [d[1] for d in drawn], frame.shape[1], frame.shape[0])
        if self._rain:
            cv2.add(frame, self._rain[index % len(self._rain)], dst=frame)
        if self._noise:
            plus, minus = self._noise[index % len(self._noise)]
            cv2.add(frame, np.repeat(plus, 3, axis=2), dst=frame)
            cv2.subtract(frame, np.repeat(minus, 3, axis=2), dst=frame)
        if self._osd is not None:
            self._osd.draw(frame, t)
        return frame, FrameTruth(spec.id, index, t, tuple(truths))

    def _draw(
        self, frame: Image, p: Pass, z: float
    ) -> tuple[dict[str, object], tuple[float, float, float, float]] | None:
        identity = self.world.identity(p.identity)
        look = self._looks.get(p.identity)
        if look is None:
            look = self._looks[p.identity] = _Look(identity, self)
        sprite = look.sprite
        x = p.lateral(self.spec)
        face = np.array(
            [
                [x - sprite.width_m / 2, sprite.height_m, z],
                [x + sprite.width_m / 2, sprite.height_m, z],
                [x + sprite.width_m / 2, 0, z],
                [x - sprite.width_m / 2, 0, z],
            ],
            np.float64,
        )
        quad = self.cam.project(face).astype(np.float32)
        if np.isnan(quad).any():
            return None
        h, w = frame.shape[:2]
        box = _bounds(quad, w, h)
        if box is None:
            return None
        self._shadow(frame, x, sprite.width_m * 0.85, z, identity)
        sh, sw = look.image.shape[:2]
        src = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32)
        homography = cv2.getPerspectiveTransform(src, quad).astype(np.float64)
        scale = float(np.linalg.norm(quad[1] - quad[0]) / sw)
        image, factor = _shrink(look.image, scale)
        layer = _warp(image, homography @ np.diag([1 / factor, 1 / factor, 1.0]), box)
        step = p.speed * self.spec.exposure / self.fps * (1 if self.spec.view == "front" else -1)
        before = self.cam.project(np.array([[x, sprite.height_m / 2, z + step]]))[0]
        now = self.cam.project(np.array([[x, sprite.height_m / 2, z]]))[0]
        motion = now - before
        layer = _motion_blur(layer, *motion)
        if self.spec.weather == "fog":
            fog = 0.85 * (1 - math.exp(-z / 60.0))
            layer[..., :3] = (layer[..., :3] * (1 - fog) + FOG_BGR * fog).astype(np.uint8)
        _composite(frame, layer, box)
        tight = cv2.perspectiveTransform(look.tight[None], homography)[0]
        vehicle = {"identity": identity, "distance": z, "full": _xyxy(tight)}
        if look.plate is not None and sprite.plate_quad is not None:
            vehicle["plate"] = self._draw_plate(frame, look.plate, sprite.plate_quad, homography, motion)
        if self.spec.lighting in ("night", "dusk", "ir") and len(sprite.lights):
            self._glow_lights(frame, sprite.lights, homography, scale)
        return vehicle, _xyxy(tight)

    def _shadow(self, frame: Image, x: float, width: float, z: float, identity: Identity) -> None:
        """Darken the road under the vehicle's footprint (its contact shadow)."""
        # the face the camera sees is the nearest; the body always extends away from the camera
        z0, z1 = z - 0.3, z + DIMENSIONS[identity.type][2]
        footprint = np.array(
            [[x - width / 2, 0, z0], [x + width / 2, 0, z0], [x + width / 2, 0, z1], [x - width / 2, 0, z1]],
            np.float64,
        )
        quad = self.cam.project(footprint).astype(np.float32)
        h, w = frame.shape[:2]
        box = None if np.isnan(quad).any() else _bounds(quad, w, h)
        if box is None:
            return
        x0, y0, x1, y1 = box
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((quad - [x0, y0]) * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
        mask = np.asarray(cv2.blur(mask, (5, 5)), np.uint8)
        roi = frame[y0:y1, x0:x1]
        roi[:] = (roi * (1 - mask[..., None] * (0.45 / 255))).astype(np.uint8)

    def _draw_plate(
        self,
        frame: Image,
        plate: Image,
        sprite_quad: npt.NDArray[np.float32],
        homography: npt.NDArray[np.float64],
        motion: npt.NDArray[np.float64],
    ) -> npt.NDArray[np.float32]:
        quad = cv2.perspectiveTransform(sprite_quad[None], homography)[0]
        h, w = frame.shape[:2]
        box = _bounds(quad, w, h)
        if box is not None:
            ph, pw = plate.shape[:2]
            src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
            plate_h = cv2.getPerspectiveTransform(src, quad.astype(np.float32)).astype(np.float64)
            rgba = np.dstack([plate, np.full(plate.shape[:2], 255, np.uint8)])
            small, factor = _shrink(rgba, float(np.linalg.norm(quad[1] - quad[0]) / pw))
            layer = _warp(small, plate_h @ np.diag([1 / factor, 1 / factor, 1.0]), box)
            _composite(frame, _motion_blur(layer, *motion), box)
        return np.asarray(quad, np.float32)

    def _glow_lights(
        self, frame: Image, lights: npt.NDArray[np.float32], homography: npt.NDArray[np.float64], scale: float
    ) -> None:
        centres = cv2.perspectiveTransform(lights[None, :, :2], homography)[0]
        h, w = frame.shape[:2]
        strength = {"night": 1.0, "dusk": 0.45, "ir": 0.6}[self.spec.lighting]
        tint = np.array([1.0, 1.0, 1.0] if self.spec.view == "front" else [0.35, 0.35, 1.0], np.float32)
        for (cx, cy), r in zip(centres, lights[:, 2], strict=True):
            radius = max(2, int(r * scale * 3))
            box = _bounds(
                np.array([[cx - radius, cy - radius], [cx + radius, cy + radius]], np.float32), w, h
            )
            if box is None:
                continue
            x0, y0, x1, y1 = box
            glow = cv2.resize(self._glow, (2 * radius, 2 * radius))
            gx0, gy0 = int(x0 - (cx - radius)), int(y0 - (cy - radius))
            patch = glow[gy0 : gy0 + y1 - y0, gx0 : gx0 + x1 - x0]
            if patch.shape[:2] != (y1 - y0, x1 - x0):
                continue
            roi = frame[y0:y1, x0:x1].astype(np.float32) + patch[..., None] * tint * 200 * strength
            frame[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)


def _xyxy(points: npt.NDArray[np.float32]) -> tuple[float, float, float, float]:
    return (
        float(points[:, 0].min()),
        float(points[:, 1].min()),
        float(points[:, 0].max()),
        float(points[:, 1].max()),
    )


def _clip(
    box: tuple[float, float, float, float], width: int, height: int
) -> tuple[float, float, float, float]:
    x0, x1 = (min(max(0.0, v), float(width)) for v in (box[0], box[2]))
    y0, y1 = (min(max(0.0, v), float(height)) for v in (box[1], box[3]))
    return (x0, y0, x1, y1)


def _area(box: tuple[float, float, float, float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _covered(
    box: tuple[float, float, float, float], covers: list[tuple[float, float, float, float]]
) -> float:
    """Fraction of ``box`` under the union of ``covers`` (on a coarse grid)."""
    if _area(box) <= 0 or not covers:
        return 0.0
    xs = np.linspace(box[0], box[2], 24)
    ys = np.linspace(box[1], box[3], 24)
    gx, gy = np.meshgrid(xs, ys)
    hit = np.zeros(gx.shape, bool)
    for c in covers:
        hit |= (gx >= c[0]) & (gx <= c[2]) & (gy >= c[1]) & (gy <= c[3])
    return float(hit.mean())


def _occlusion(
    vehicles: list[dict[str, object]], boxes: list[tuple[float, float, float, float]], width: int, height: int
) -> list[VehicleTruth]:
    """Truth per drawn vehicle; later entries are nearer and cover earlier ones."""
    out = []
    for i, v in enumerate(vehicles):
        identity = v["identity"]
        assert isinstance(identity, Identity)
        full = boxes[i]
        clipped = _clip(full, width, height)
        if _area(clipped) <= 0:
            continue  # only its transparent margin reached the frame
        nearer = [_clip(b, width, height) for b in boxes[i + 1 :]]
        occlusion = _covered(clipped, nearer)
        in_frame = _area(clipped) / _area(full) if _area(full) > 0 else 0.0
        plate = v.get("plate")
        text = family = corners = plate_box = None
        plate_h, plate_visible = 0.0, False
        if isinstance(plate, np.ndarray):
            text, family = identity.plate_text, identity.plate_style.family
            corners = tuple((float(x), float(y)) for x, y in plate)
            pbox = _clip(_xyxy(plate), width, height)
            plate_box = pbox if _area(pbox) > 0 else None
            plate_h = float((np.linalg.norm(plate[3] - plate[0]) + np.linalg.norm(plate[2] - plate[1])) / 2)
            inside = bool(
                (plate[:, 0] >= 0).all()
                and (plate[:, 0] <= width).all()
                and (plate[:, 1] >= 0).all()
                and (plate[:, 1] <= height).all()
            )
            plate_visible = inside and _covered(_xyxy(plate), nearer) < 0.05
        distance = v["distance"]
        assert isinstance(distance, float)
        out.append(
            VehicleTruth(
                identity=identity.id,
                type=identity.type,
                colour=identity.colour,
                xyxy=clipped,
                visibility=in_frame * (1 - occlusion),
                occlusion=occlusion,
                distance_m=distance,
                plate_text=text,
                plate_family=family,
                plate_corners=corners,  # type: ignore[arg-type]
                plate_xyxy=plate_box,
                plate_height_px=plate_h,
                plate_visible=plate_visible,
                plate_readable=plate_visible and identity.has_readable_plate and plate_h >= READABLE_PLATE_PX,
            )
        )
    return out
