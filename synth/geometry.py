"""Pinhole camera over a flat road: world metres to image pixels.

World axes: X to the right across the road (road centre at 0), Y up (road surface at 0),
Z along the road away from the camera. The camera stands at ``(offset_m, height_m, 0)``,
turned by ``yaw_deg`` about Y and tilted down by ``pitch_deg``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from synth.scenario import CameraSpec


class PinholeCamera:
    """Projects world points of one :class:`CameraSpec`."""

    def __init__(self, spec: CameraSpec) -> None:
        self.width, self.height = spec.resolution
        self.f = (self.width / 2) / math.tan(math.radians(spec.hfov_deg) / 2)
        self.cx, self.cy = self.width / 2, self.height / 2
        self._pos = np.array([spec.offset_m, spec.height_m, 0.0])
        yaw, pitch = math.radians(spec.yaw_deg), math.radians(spec.pitch_deg)
        # rows: camera right, down, forward, expressed in world axes
        forward = np.array(
            [math.sin(yaw) * math.cos(pitch), -math.sin(pitch), math.cos(yaw) * math.cos(pitch)]
        )
        right = np.array([math.cos(yaw), 0.0, -math.sin(yaw)])
        down = np.cross(right, forward)
        self._rot = np.stack([right, down, forward])

    def project(self, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``(N, 3)`` world points -> ``(N, 2)`` pixels (points behind the camera give NaN)."""
        cam = (points - self._pos) @ self._rot.T
        z = cam[:, 2:3]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = self.f * cam[:, :2] / z + np.array([self.cx, self.cy])
        uv[(z[:, 0] <= 0.05)] = np.nan
        return np.asarray(uv, np.float64)

    def depth(self, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Distance along the optical axis of ``(N, 3)`` world points."""
        depth: npt.NDArray[np.float64] = ((points - self._pos) @ self._rot.T)[:, 2]
        return depth

    def horizon_row(self) -> float:
        """Image row of the horizon (may lie outside the image)."""
        far = self.project(np.array([[0.0, 0.0, 1e6]]))
        return float(far[0, 1])
