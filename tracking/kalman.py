"""A constant-velocity Kalman filter over boxes, as in SORT and ByteTrack.

State ``(cx, cy, a, h, vcx, vcy, va, vh)``: box centre, aspect ratio ``w / h``, height and
their velocities per frame. Noise scales with the box height, so a far (small) vehicle and a
near (large) one are followed with the same relative looseness. ``predict(steps)`` advances
several frames at once, which is how a gap of dropped frames is bridged.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
_POSITION_STD = 1.0 / 20  # of the box height, per frame (ByteTrack's values)
_VELOCITY_STD = 1.0 / 160


def xyxy_to_state(box: npt.ArrayLike) -> F64:
    """``x1, y1, x2, y2`` → ``cx, cy, a, h`` (a box of zero height gets height 1e-3)."""
    x1, y1, x2, y2 = np.asarray(box, np.float64).reshape(4)
    h = max(y2 - y1, 1e-3)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / h, h])


def state_to_xyxy(state: npt.ArrayLike) -> F64:
    """``cx, cy, a, h`` (the first four values of a state) → ``x1, y1, x2, y2``."""
    cx, cy, a, h = np.asarray(state, np.float64)[:4]
    w = max(a, 0.0) * h
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


class BoxKalman:
    """One track's filter. Starts at ``box`` with zero velocity and a wide velocity prior."""

    def __init__(self, box: npt.ArrayLike) -> None:
        measured = xyxy_to_state(box)
        self.mean: F64 = np.concatenate([measured, np.zeros(4)])
        h = measured[3]
        std = np.array([2 * _POSITION_STD * h, 2 * _POSITION_STD * h, 1e-2, 2 * _POSITION_STD * h])
        std = np.concatenate(
            [std, [10 * _VELOCITY_STD * h, 10 * _VELOCITY_STD * h, 1e-5, 10 * _VELOCITY_STD * h]]
        )
        self.covariance: F64 = np.diag(np.square(std))

    def predict(self, steps: int = 1) -> None:
        """Advance ``steps`` frames (≥ 1); the uncertainty grows with every step."""
        for _ in range(max(1, steps)):
            h = self.mean[3]
            std_pos = [_POSITION_STD * h, _POSITION_STD * h, 1e-2, _POSITION_STD * h]
            std_vel = [_VELOCITY_STD * h, _VELOCITY_STD * h, 1e-5, _VELOCITY_STD * h]
            motion = np.eye(8)
            motion[:4, 4:] = np.eye(4)
            self.mean = motion @ self.mean
            noise = np.diag(np.square(np.concatenate([std_pos, std_vel])))
            self.covariance = motion @ self.covariance @ motion.T + noise
            self.mean[3] = max(self.mean[3], 1e-3)

    def update(self, box: npt.ArrayLike) -> None:
        """Correct the state with a measured box."""
        measured = xyxy_to_state(box)
        h = self.mean[3]
        r = np.diag(np.square([_POSITION_STD * h, _POSITION_STD * h, 1e-1, _POSITION_STD * h]))
        project = np.eye(4, 8)
        s = project @ self.covariance @ project.T + r
        gain = np.linalg.solve(s, project @ self.covariance).T  # (8, 4) = P Hᵀ S⁻¹ (S symmetric)
        self.mean = self.mean + gain @ (measured - project @ self.mean)
        self.covariance = self.covariance - gain @ s @ gain.T
        self.mean[3] = max(self.mean[3], 1e-3)

    @property
    def box(self) -> F64:
        """The current estimate as ``x1, y1, x2, y2``."""
        return state_to_xyxy(self.mean)
