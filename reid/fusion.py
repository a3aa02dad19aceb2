"""The re-id → gallery contract: one vehicle's features and the one fusion rule.

Method 1 (seed 004) fuses by concatenation: ``f = [v, p] / ‖[v, p]‖`` with unit ``v`` and
``p``, so ``f = [v, p] / √2`` and the cosine of two fused features is the mean of their vehicle
and plate cosines. :func:`fuse` is that rule; :class:`Features` carries the per-library vectors
the gallery matches (``fusion`` and ``plate`` only when a plate was embedded) and is what the
pipeline, search by image and ``roadwatch eval reid`` hand to the gallery.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


def fuse(vehicle: npt.ArrayLike, plate: npt.ArrayLike) -> F32:
    """Row-wise ``[v, p] / ‖[v, p]‖`` of ``(N, D)`` vehicle and plate rows (``(N, 2D)``)."""
    v = np.atleast_2d(np.asarray(vehicle, np.float32))
    p = np.atleast_2d(np.asarray(plate, np.float32))
    if v.shape != p.shape:
        raise ValueError(f"vehicle {v.shape} and plate {p.shape} features differ in shape")
    joined = np.concatenate([v, p], axis=1)
    norms = np.linalg.norm(joined, axis=1, keepdims=True)
    fused: F32 = (joined / np.maximum(norms, 1e-12)).astype(np.float32)
    return fused


@dataclass(frozen=True, slots=True)
class Features:
    """The features of N vehicles, one row each (N may be 0).

    Attributes:
        vehicle: ``(N, D)`` unit rows of the vehicle network.
        plate: ``(N, D)`` unit rows of the plate network; zero rows where ``has_plate`` is False.
        has_plate: ``(N,)`` whether a plate was embedded for the vehicle.
    """

    vehicle: F32
    plate: F32
    has_plate: npt.NDArray[np.bool_]

    def __post_init__(self) -> None:
        n = len(self.vehicle)
        if self.vehicle.ndim != 2 or self.plate.shape != self.vehicle.shape or self.has_plate.shape != (n,):
            raise ValueError(
                f"vehicle {self.vehicle.shape}, plate {self.plate.shape} and has_plate "
                f"{self.has_plate.shape} must be (N, D), (N, D) and (N,)"
            )

    def __len__(self) -> int:
        return len(self.vehicle)

    def for_gallery(self, i: int) -> dict[str, F32]:
        """Row ``i`` as the gallery's libraries want it: vehicle always; plate and fusion with a plate."""
        out = {"vehicle": self.vehicle[i]}
        if self.has_plate[i]:
            out["plate"] = self.plate[i]
            out["fusion"] = fuse(self.vehicle[i], self.plate[i])[0]
        return out

    def take(self, rows: list[int]) -> Features:
        """The features of some rows, in that order."""
        index = np.asarray(rows, np.int64)
        return Features(self.vehicle[index], self.plate[index], self.has_plate[index])
