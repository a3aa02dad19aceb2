"""Ground truth of rendered frames: the dataclasses exported as JSON beside every video."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Box = tuple[float, float, float, float]
Quad = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]
READABLE_PLATE_PX = 10.0  # plates lower than this are not counted as readable


@dataclass(frozen=True, slots=True)
class VehicleTruth:
    """One vehicle in one frame.

    Attributes:
        identity: Identity id.
        type: Vehicle type.
        colour: Colour category.
        xyxy: Tight box of the drawn vehicle, clipped to the frame (pixels).
        visibility: Fraction of the vehicle's full box that is in the frame and not covered
            by nearer vehicles (boxes approximate shapes).
        occlusion: Fraction of the in-frame box covered by nearer vehicles.
        distance_m: Distance along the road from the camera.
        plate_text: Printed text, None when the vehicle shows no plate on this side.
        plate_family: eu, us or cn (None without a plate).
        plate_corners: Plate corners TL, TR, BR, BL in pixels (may lie outside the frame).
        plate_xyxy: Plate box clipped to the frame, None when no plate pixel is in the frame.
        plate_height_px: Mean height of the plate's left and right edges, pixels.
        plate_visible: The whole plate is in the frame and not covered by another vehicle.
        plate_readable: Visible, clean or merely dirty, and at least
            :data:`READABLE_PLATE_PX` high.
    """

    identity: int
    type: str
    colour: str
    xyxy: Box
    visibility: float
    occlusion: float
    distance_m: float
    plate_text: str | None
    plate_family: str | None
    plate_corners: Quad | None
    plate_xyxy: Box | None
    plate_height_px: float
    plate_visible: bool
    plate_readable: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with rounded coordinates."""
        return {
            "identity": self.identity,
            "type": self.type,
            "colour": self.colour,
            "xyxy": [round(v, 2) for v in self.xyxy],
            "visibility": round(self.visibility, 3),
            "occlusion": round(self.occlusion, 3),
            "distance_m": round(self.distance_m, 2),
            "plate_text": self.plate_text,
            "plate_family": self.plate_family,
            "plate_corners": None
            if self.plate_corners is None
            else [[round(x, 2), round(y, 2)] for x, y in self.plate_corners],
            "plate_xyxy": None if self.plate_xyxy is None else [round(v, 2) for v in self.plate_xyxy],
            "plate_height_px": round(self.plate_height_px, 2),
            "plate_visible": self.plate_visible,
            "plate_readable": self.plate_readable,
        }


@dataclass(frozen=True, slots=True)
class FrameTruth:
    """Everything visible in one frame of one camera."""

    camera: str
    index: int
    time: float
    vehicles: tuple[VehicleTruth, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "camera": self.camera,
            "index": self.index,
            "time": round(self.time, 4),
            "vehicles": [v.to_dict() for v in self.vehicles],
        }
