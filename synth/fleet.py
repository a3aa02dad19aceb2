"""Vehicle identities with persistent attributes, including deliberate look-alikes and clones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from synth.plates import FAMILIES, PlateFamily, PlateStyle, random_style, random_text

VehicleType = Literal["car", "suv", "van", "truck", "bus", "motorcycle"]
VEHICLE_TYPES: tuple[VehicleType, ...] = ("car", "suv", "van", "truck", "bus", "motorcycle")
PlateState = Literal["clean", "dirty", "obscured", "missing"]

# Real sizes in metres: (width, height, length)
DIMENSIONS: dict[VehicleType, tuple[float, float, float]] = {
    "car": (1.80, 1.45, 4.4),
    "suv": (1.90, 1.75, 4.7),
    "van": (2.00, 2.30, 5.4),
    "truck": (2.50, 3.60, 9.0),
    "bus": (2.55, 3.20, 12.0),
    "motorcycle": (0.80, 1.50, 2.1),
}
# Named paint colours (BGR); the names are the colour categories used by search.
COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (235, 235, 232),
    "black": (28, 28, 30),
    "silver": (185, 182, 178),
    "grey": (110, 110, 112),
    "red": (30, 30, 190),
    "blue": (150, 70, 25),
    "green": (60, 110, 40),
    "yellow": (40, 200, 235),
    "orange": (20, 110, 230),
    "brown": (40, 70, 110),
}
_COLOUR_WEIGHTS = {
    "white": 0.24,
    "black": 0.2,
    "silver": 0.15,
    "grey": 0.13,
    "red": 0.08,
    "blue": 0.08,
    "green": 0.03,
    "yellow": 0.03,
    "orange": 0.02,
    "brown": 0.04,
}


@dataclass(frozen=True, slots=True)
class Marks:
    """Distinguishing marks (all optional), in fractions of the vehicle face."""

    sticker: tuple[float, float, tuple[int, int, int]] | None = None  # x, y, BGR on the windscreen
    roof_rack: bool = False
    dents: tuple[tuple[float, float, float], ...] = ()  # x, y, radius on the lower body
    stripe: tuple[int, int, int] | None = None  # BGR centre stripe


@dataclass(frozen=True, slots=True)
class Identity:
    """One vehicle of the world.

    Attributes:
        id: 1-based identity number (stable for a seed).
        type: Vehicle type.
        colour: Colour category name (key of :data:`COLOURS`).
        second_colour: Roof/upper colour of a two-tone paint job, or None.
        shape: Body shape parameters in [0, 1]: roof height, light style, grille style,
            bumper darkness, cabin taper, window tint.
        marks: Distinguishing marks.
        plate_text: Printed plate text (no separators).
        plate_style: How the plate looks.
        plate_state: clean, dirty (still readable), obscured (unreadable) or missing.
        clone_of: Identity whose plate this one copies (cloned plate), or None.
        lookalike_of: Identity this one was modelled on (same type and colour), or None.
    """

    id: int
    type: VehicleType
    colour: str
    second_colour: str | None
    shape: tuple[float, ...]
    marks: Marks
    plate_text: str
    plate_style: PlateStyle
    plate_state: PlateState
    clone_of: int | None = None
    lookalike_of: int | None = None

    @property
    def bgr(self) -> tuple[int, int, int]:
        """Main paint colour."""
        return COLOURS[self.colour]

    @property
    def has_readable_plate(self) -> bool:
        """A plate a reader could read when it is large enough."""
        return self.plate_state in ("clean", "dirty")


@dataclass(frozen=True, slots=True)
class FleetMix:
    """Proportions used to draw a fleet."""

    types: dict[VehicleType, float]
    plate_families: dict[PlateFamily, float]
    lookalike_fraction: float
    clone_fraction: float
    unreadable_fraction: float
    two_tone_fraction: float = 0.08


def _choice(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], np.float64)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _marks(rng: np.random.Generator, kind: VehicleType) -> Marks:
    sticker = None
    if rng.random() < 0.25:
        colour = tuple(int(c) for c in rng.integers(40, 255, 3))
        sticker = (float(rng.choice([0.2, 0.8])), float(rng.uniform(0.15, 0.8)), colour)
    dents = tuple(
        (float(rng.uniform(0.15, 0.85)), float(rng.uniform(0.1, 0.8)), float(rng.uniform(0.04, 0.09)))
        for _ in range(int(rng.random() < 0.15) * int(rng.integers(1, 3)))
    )
    stripe = (235, 235, 235) if rng.random() < 0.05 else None
    rack = kind in ("car", "suv", "van") and rng.random() < 0.12
    return Marks(sticker=sticker, roof_rack=rack, dents=dents, stripe=stripe)  # type: ignore[arg-type]


def _plate(rng: np.random.Generator, kind: VehicleType, family: PlateFamily) -> tuple[str, PlateStyle]:
    large = kind in ("truck", "bus")
    double = kind == "motorcycle" or (family == "cn" and large and rng.random() < 0.5)
    return random_text(family, rng), random_style(family, rng, large=large, double=double)


def _unreadable_state(rng: np.random.Generator) -> PlateState:
    return "missing" if rng.random() < 0.3 else "obscured"


def make_fleet(count: int, mix: FleetMix, rng: np.random.Generator) -> list[Identity]:
    """Draw ``count`` identities; some are look-alikes or carry cloned plates on purpose.

    A look-alike copies an earlier identity's type, colour and shape but has its own plate;
    a clone copies an earlier identity's plate text and style onto a different vehicle.
    """
    fleet: list[Identity] = []
    for i in range(1, count + 1):
        roll = rng.random()
        if fleet and roll < mix.lookalike_fraction:
            model = fleet[int(rng.integers(len(fleet)))]
            text, style = _plate(rng, model.type, model.plate_style.family)
            fleet.append(
                replace(
                    model,
                    id=i,
                    marks=_marks(rng, model.type),
                    plate_text=text,
                    plate_style=style,
                    plate_state="clean",
                    clone_of=None,
                    lookalike_of=model.id,
                )
            )
            continue
        kind: VehicleType = _choice(rng, mix.types)  # type: ignore[arg-type, assignment]
        colour = _choice(rng, _COLOUR_WEIGHTS)
        second = _choice(rng, _COLOUR_WEIGHTS) if rng.random() < mix.two_tone_fraction else None
        family: PlateFamily = _choice(rng, mix.plate_families)  # type: ignore[arg-type, assignment]
        text, style = _plate(rng, kind, family)
        state: PlateState = "dirty" if rng.random() < 0.1 else "clean"
        if rng.random() < mix.unreadable_fraction:
            state = _unreadable_state(rng)
        clone_of = None
        if fleet and roll < mix.lookalike_fraction + mix.clone_fraction:
            source = fleet[int(rng.integers(len(fleet)))]
            text, style, clone_of = source.plate_text, replace(source.plate_style), source.id
            state = "clean"
        shape = tuple(float(v) for v in rng.random(6))
        fleet.append(
            Identity(
                i,
                kind,
                colour,
                second if second != colour else None,
                shape,
                _marks(rng, kind),
                text,
                style,
                state,
                clone_of,
            )
        )
    return fleet


__all__ = [
    "COLOURS",
    "DIMENSIONS",
    "FAMILIES",
    "VEHICLE_TYPES",
    "FleetMix",
    "Identity",
    "Marks",
    "make_fleet",
]
