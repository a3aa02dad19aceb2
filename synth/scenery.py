"""Static backgrounds (sky, road, markings, gantries, buildings) and lighting/weather looks."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from synth.geometry import PinholeCamera
from synth.scenario import CameraSpec, Lighting
from synth.world import LANE_WIDTH_M

Image = npt.NDArray[np.uint8]
# Per-channel (BGR) gain of each lighting on sunlit colours.
LIGHT_GAIN: dict[Lighting, tuple[float, float, float]] = {
    "day": (1.0, 1.0, 1.0),
    "dusk": (0.48, 0.55, 0.72),
    "night": (0.16, 0.16, 0.18),
    "ir": (1.0, 1.0, 1.0),
}
FOG_BGR = np.array([200, 200, 196], np.float32)


def _sky(spec: CameraSpec, rows: int, width: int) -> Image:
    top, bottom = {
        "day": ((215, 170, 120), (245, 230, 215)),
        "dusk": ((120, 70, 60), (90, 150, 235)),
        "night": ((25, 15, 12), (45, 35, 30)),
        "ir": ((90, 90, 90), (140, 140, 140)),
    }[spec.lighting]
    t = np.linspace(0, 1, max(rows, 1), dtype=np.float32)[:, None]
    column = np.array(top, np.float32) * (1 - t) + np.array(bottom, np.float32) * t
    return np.repeat(column[:, None, :], width, axis=1).astype(np.uint8)


def _quad(cam: PinholeCamera, corners: list[tuple[float, float, float]]) -> npt.NDArray[np.int32] | None:
    uv = cam.project(np.array(corners, np.float64))
    if np.isnan(uv).any():
        return None
    return np.round(uv * 4).astype(np.int32)  # 2 fractional bits for cv2 shift=2


def _ground_quad(
    cam: PinholeCamera, x0: float, x1: float, z0: float, z1: float
) -> npt.NDArray[np.int32] | None:
    return _quad(cam, [(x0, 0, z0), (x1, 0, z0), (x1, 0, z1), (x0, 0, z1)])


def _fill(image: Image, quad: npt.NDArray[np.int32] | None, colour: tuple[int, int, int]) -> None:
    if quad is not None:
        cv2.fillPoly(image, [quad], colour, cv2.LINE_AA, shift=2)


def build_background(spec: CameraSpec, cam: PinholeCamera, rng: np.random.Generator) -> Image:
    """The empty scene of one camera, with its lighting and weather applied."""
    w, h = cam.width, cam.height
    horizon = int(np.clip(cam.horizon_row(), 0, h))
    image = np.empty((h, w, 3), np.uint8)
    image[:horizon] = _sky(spec, horizon, w)
    verge = (70, 115, 85) if spec.scenery != "city" else (120, 122, 125)
    image[horizon:] = verge
    half = spec.lanes * LANE_WIDTH_M / 2
    z_near, z_far = 0.5, 2000.0
    if spec.scenery == "city":
        for side in (-1, 1):
            _fill(image, _ground_quad(cam, side * half, side * (half + 4), z_near, z_far), (150, 152, 155))
    _fill(image, _ground_quad(cam, -half - 1.0, half + 1.0, z_near, z_far), (88, 90, 92))  # asphalt
    _fill(image, _ground_quad(cam, -half - 1.0, -half - 0.2, z_near, z_far), (70, 72, 74))  # hard shoulder
    texture = rng.normal(0, 7, (h, w, 1)).astype(np.float32)
    road_mask = (image[..., 0] == 88) | (image[..., 0] == 70)
    for x in (-half, half):
        _fill(image, _ground_quad(cam, x - 0.08, x + 0.08, z_near, z_far), (225, 225, 225))
    for lane in range(1, spec.lanes):
        x = -half + lane * LANE_WIDTH_M
        for z in np.arange(1.0, 400.0, 12.0):
            _fill(image, _ground_quad(cam, x - 0.07, x + 0.07, z, z + 3.0), (225, 225, 225))
    _dress(image, spec, cam, half, rng)
    out = image.astype(np.float32)
    out[road_mask] += texture[road_mask]
    return finish_look(out, spec, cam, horizon)


def _box(
    image: Image,
    cam: PinholeCamera,
    x: tuple[float, float],
    y: tuple[float, float],
    z: float,
    colour: tuple[int, int, int],
) -> None:
    _fill(image, _quad(cam, [(x[0], y[1], z), (x[1], y[1], z), (x[1], y[0], z), (x[0], y[0], z)]), colour)


def _dress(image: Image, spec: CameraSpec, cam: PinholeCamera, half: float, rng: np.random.Generator) -> None:
    """Poles, trees, a toll gantry or buildings, back to front."""
    if spec.scenery == "city":
        for side in (-1, 1):
            for z in np.arange(300.0, 5.0, -14.0):
                depth = float(rng.uniform(8, 14))
                height = float(rng.uniform(8, 30))
                b, g, r = (int(v) for v in rng.integers(90, 200, 3))
                base = (b, g, r)
                x0 = side * (half + 5)
                _fill(
                    image,
                    _quad(cam, [(x0, 0, z), (x0, height, z), (x0, height, z + depth), (x0, 0, z + depth)]),
                    base,
                )
                for floor in np.arange(2.0, height - 1, 3.0):
                    for zz in np.arange(z + 1, z + depth - 1, 2.5):
                        lit = (
                            (60, 200, 240)
                            if spec.lighting == "night" and rng.random() < 0.4
                            else (60, 55, 50)
                        )
                        _fill(
                            image,
                            _quad(
                                cam,
                                [
                                    (x0, floor, zz),
                                    (x0, floor + 1.4, zz),
                                    (x0, floor + 1.4, zz + 1.2),
                                    (x0, floor, zz + 1.2),
                                ],
                            ),
                            lit,
                        )
        return
    for z in np.arange(400.0, 2.0, -35.0):  # lamp posts and trees on both sides
        for side in (-1, 1):
            x = side * (half + 2.5)
            _box(image, cam, (x - 0.1, x + 0.1), (0, 8), z, (120, 120, 118))
            tree_x = side * (half + float(rng.uniform(7, 16)))
            _fill(
                image,
                _quad(
                    cam,
                    [
                        (tree_x - 2, 1.5, z + 5),
                        (tree_x + 2, 1.5, z + 5),
                        (tree_x + 1.5, 7, z + 5),
                        (tree_x - 1.5, 7, z + 5),
                    ],
                ),
                (50, 95, 55),
            )
    if spec.scenery == "toll":
        z = spec.near_m + 12.0
        _box(image, cam, (-half - 1.5, half + 1.5), (5.5, 6.6), z, (150, 150, 155))  # gantry beam
        for x in (-half - 1.5, half + 1.0):
            _box(image, cam, (x, x + 0.5), (0, 6.6), z, (135, 135, 140))
        for k in range(spec.lanes):  # lane signs on the beam
            x = -half + (k + 0.5) * LANE_WIDTH_M
            _box(image, cam, (x - 0.8, x + 0.8), (5.7, 6.4), z - 0.01, (40, 140, 40))


def finish_look(image: npt.NDArray[np.float32], spec: CameraSpec, cam: PinholeCamera, horizon: int) -> Image:
    """Apply the camera's lighting and weather to a float BGR background."""
    if spec.lighting == "ir":
        grey = image @ np.array([0.2, 0.45, 0.35], np.float32)
        image = np.repeat(grey[..., None], 3, axis=2)
    elif spec.lighting != "day":
        below = np.arange(image.shape[0]) >= horizon
        image[below] *= np.array(LIGHT_GAIN[spec.lighting], np.float32)
    if spec.weather == "fog":
        rows = np.arange(image.shape[0], dtype=np.float32)
        closeness = np.clip((rows - horizon) / max(1.0, cam.height - horizon), 0, 1)
        fog = (0.85 * (1 - closeness) ** 2)[:, None, None]
        image = image * (1 - fog) + FOG_BGR * fog
    if spec.weather == "rain":
        image *= 0.82
    result: Image = np.clip(image, 0, 255).astype(np.uint8)
    return result
