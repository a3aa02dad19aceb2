"""A constant-velocity Kalman filter over boxes (the ``x, y, w, h`` form of BoT-SORT).

State ``(cx, cy, w, h, vcx, vcy, vw, vh)``: box centre, width and height and their velocities
per frame. Horizontal noise scales with the width and vertical noise with the height, so a
far (small) vehicle and a near (large) one are followed with the same relative looseness.
ByteTrack's original state holds the aspect ratio with almost no noise; boxes clipped by the
frame edge change their aspect by several times within a few frames, and the filter could not
follow them (measured on the demo: tracks cut in two where vehicles leave the frame).
``predict(steps)`` advances several frames at once, which is how a gap of dropped frames is
bridged.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
_POSITION_STD = 1.0 / 20  # of the box size, per frame (ByteTrack's and BoT-SORT's values)
_VELOCITY_STD = 1.0 / 160
_MOTION = np.eye(8)
_MOTION[:4, 4:] = np.eye(4)
_PROJECT = np.eye(4, 8)


def xyxy_to_state(box: npt.ArrayLike) -> F64:
    """``x1, y1, x2, y2`` → ``cx, cy, w, h`` (sides under 1e-3 become 1e-3)."""
    x1, y1, x2, y2 = np.asarray(box, np.float64).reshape(4)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)])


def state_to_xyxy(state: npt.ArrayLike) -> F64:
    """``cx, cy, w, h`` (the first four values of a state) → ``x1, y1, x2, y2``."""
    cx, cy, w, h = np.asarray(state, np.float64)[:4]
    w, h = max(w, 0.0), max(h, 0.0)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def _scaled(state: F64, std: float) -> F64:
    w, h = state[2], state[3]
    return np.array([std * w, std * h, std * w, std * h])


class BoxKalman:
    """One track's filter. Starts at ``box`` with zero velocity and a wide velocity prior."""

    def __init__(self, box: npt.ArrayLike) -> None:
        measured = xyxy_to_state(box)
        self.mean: F64 = np.concatenate([measured, np.zeros(4)])
        std = np.concatenate([_scaled(measured, 2 * _POSITION_STD), _scaled(measured, 10 * _VELOCITY_STD)])
        self.covariance: F64 = np.diag(np.square(std))

    def predict(self, steps: int = 1) -> None:
        """Advance ``steps`` frames (≥ 1); the uncertainty grows with every step."""
        for _ in range(max(1, steps)):
            noise = np.concatenate([_scaled(self.mean, _POSITION_STD), _scaled(self.mean, _VELOCITY_STD)])
            self.mean = _MOTION @ self.mean
            self.covariance = _MOTION @ self.covariance @ _MOTION.T + np.diag(np.square(noise))
            self.mean[2:4] = np.maximum(self.mean[2:4], 1e-3)

    def update(self, box: npt.ArrayLike) -> None:
        """Correct the state with a measured box."""
        measured = xyxy_to_state(box)
        r = np.diag(np.square(_scaled(self.mean, _POSITION_STD)))
        s = _PROJECT @ self.covariance @ _PROJECT.T + r
        gain = np.linalg.solve(s, _PROJECT @ self.covariance).T  # (8, 4) = P Hᵀ S⁻¹ (S symmetric)
        self.mean = self.mean + gain @ (measured - _PROJECT @ self.mean)
        self.covariance = self.covariance - gain @ s @ gain.T
        self.mean[2:4] = np.maximum(self.mean[2:4], 1e-3)

    @property
    def box(self) -> F64:
        """The current estimate as ``x1, y1, x2, y2``."""
        return state_to_xyxy(self.mean)
