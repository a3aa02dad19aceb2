"""Scenario files: cameras, routes and fleet of a synthetic world (YAML, validated like the config)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from config.base import FieldError
from config.loader import ConfigError, describe_error
from synth.fleet import VehicleType
from synth.plates import PlateFamily

SCENARIO_DIR = Path(__file__).parent / "scenarios"
Lighting = Literal["day", "dusk", "night", "ir"]
Weather = Literal["clear", "rain", "fog"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraSpec(_Spec):
    """One camera of the world, looking along a straight road."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="Camera id.")
    role: Literal["entry", "gate", "exit", "junction"] = Field(description="What the camera watches.")
    view: Literal["front", "rear"] = Field("front", description="Sees vehicles coming (front) or going.")
    resolution: tuple[int, int] = Field((1280, 720), description="Width, height in pixels (max 1920x1080).")
    hfov_deg: float = Field(50.0, ge=5, le=120, description="Horizontal field of view (focal length).")
    height_m: float = Field(6.0, ge=1, le=30, description="Mounting height above the road.")
    pitch_deg: float = Field(12.0, ge=0, le=60, description="Downward tilt (elevation) of the camera.")
    yaw_deg: float = Field(0.0, ge=-40, le=40, description="Angle between the road and the optical axis.")
    offset_m: float = Field(
        0.0, ge=-15, le=15, description="Sideways offset of the camera from the road centre."
    )
    lanes: int = Field(2, ge=1, le=5, description="Lanes in the watched direction.")
    near_m: float = Field(7.0, ge=2, le=50, description="Closest distance a vehicle reaches.")
    far_m: float = Field(90.0, ge=10, le=400, description="Distance where vehicles appear.")
    lighting: Lighting = Field("day", description="day, dusk, night (headlights) or ir (grey, lit plates).")
    weather: Weather = Field("clear", description="clear, rain or fog.")
    noise: float = Field(3.0, ge=0, le=30, description="Sensor noise standard deviation (grey levels).")
    exposure: float = Field(
        0.01, ge=0, le=1, description="Shutter open fraction of a frame (motion blur); ALPR cameras: ~1 ms."
    )
    scenery: Literal["highway", "toll", "city"] = Field("highway", description="Background dressing.")

    @model_validator(mode="after")
    def _limits(self) -> CameraSpec:
        w, h = self.resolution
        if not (64 <= w <= 1920 and 64 <= h <= 1080):
            raise FieldError(("resolution",), "must be within 64x64 .. 1920x1080")
        if self.far_m <= self.near_m:
            raise FieldError(("far_m",), f"must be greater than near_m ({self.near_m})")
        return self


class RouteSpec(_Spec):
    """A path through cameras, with travel times between consecutive ones."""

    cameras: tuple[str, ...] = Field(min_length=1, description="Camera ids in the order passed.")
    weight: float = Field(1.0, gt=0, description="Relative share of vehicles taking this route.")
    travel_s: tuple[float, ...] = Field((), description="Mean seconds between consecutive cameras.")
    spread: float = Field(0.2, ge=0, le=1, description="Relative spread of travel times.")

    @model_validator(mode="after")
    def _travel_count(self) -> RouteSpec:
        if len(self.travel_s) != len(self.cameras) - 1:
            raise FieldError(("travel_s",), f"needs {len(self.cameras) - 1} values, one per hop")
        return self


class FleetSpec(_Spec):
    """How many vehicles, and what they look like."""

    vehicles: int = Field(120, ge=1, le=100000, description="Identities in the world.")
    arrivals_per_min: float = Field(30.0, gt=0, le=6000, description="Mean rate of trips starting.")
    types: dict[VehicleType, float] = Field(
        {"car": 0.55, "suv": 0.18, "van": 0.1, "truck": 0.08, "bus": 0.04, "motorcycle": 0.05},
        description="Share of each vehicle type.",
    )
    plate_families: dict[PlateFamily, float] = Field(
        {"eu": 0.4, "us": 0.3, "cn": 0.3}, description="Share of each plate format family."
    )
    lookalike_fraction: float = Field(
        0.12, ge=0, le=0.9, description="Same type+colour as another, new plate."
    )
    clone_fraction: float = Field(
        0.03, ge=0, le=0.5, description="Another vehicle's plate text (cloned plate)."
    )
    unreadable_fraction: float = Field(0.08, ge=0, le=1, description="Plate obscured or missing.")
    speed_kmh: tuple[float, float] = Field((40.0, 110.0), description="Range of speeds through a camera.")


class ScenarioSpec(_Spec):
    """A whole synthetic world."""

    name: str = Field(description="Scenario name.")
    duration_s: float = Field(60.0, gt=0, le=86400, description="Seconds of footage per camera.")
    fps: float = Field(10.0, gt=0, le=60, description="Frames per second of every camera.")
    cameras: tuple[CameraSpec, ...] = Field(min_length=1, description="Cameras.")
    routes: tuple[RouteSpec, ...] = Field(min_length=1, description="Routes vehicles take.")
    fleet: FleetSpec = Field(default_factory=FleetSpec, description="The vehicles.")
    decor: bool = Field(
        False,
        description="Text-like things that are not plates: vehicle lettering, badges, country stickers, "
        "exhausts, roadside signs, a camera's burnt-in date and name (hard negatives; synth/decor.py).",
    )
    toll_entry: tuple[str, ...] = Field((), description="Cameras where a toll trip starts (escape rule).")
    toll_gate: tuple[str, ...] = Field((), description="Toll gate cameras: a trip that misses them escapes.")

    @model_validator(mode="after")
    def _references(self) -> ScenarioSpec:
        ids = [c.id for c in self.cameras]
        for i, camera_id in enumerate(ids):
            if camera_id in ids[:i]:
                raise FieldError(("cameras", i, "id"), f"duplicate camera id '{camera_id}'")
        for i, route in enumerate(self.routes):
            for j, camera_id in enumerate(route.cameras):
                if camera_id not in ids:
                    raise FieldError(("routes", i, "cameras", j), f"unknown camera '{camera_id}'")
        for name in ("toll_entry", "toll_gate"):
            for j, camera_id in enumerate(getattr(self, name)):
                if camera_id not in ids:
                    raise FieldError((name, j), f"unknown camera '{camera_id}'")
        return self

    def camera(self, camera_id: str) -> CameraSpec:
        """The camera with this id.

        Raises:
            KeyError: No such camera (the message lists the known ids).
        """
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        known = ", ".join(c.id for c in self.cameras)
        raise KeyError(f"scenario '{self.name}' has no camera '{camera_id}' (has {known})")


def bundled_scenarios() -> list[str]:
    """Names of the scenarios shipped with roadwatch."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> ScenarioSpec:
    """Load a bundled scenario by name (``toll-road``) or a scenario YAML file.

    Raises:
        ConfigError: Unknown name, unreadable file, or invalid content (field paths named).
    """
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = SCENARIO_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ConfigError(
                str(name_or_path), [f"no such scenario (bundled: {', '.join(bundled_scenarios())})"]
            )
    if not path.is_file():
        raise ConfigError(str(path), ["no such file"])
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), [f"cannot read: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), ["top level must be a mapping"])
    try:
        return ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(path), [describe_error(err, data) for err in exc.errors()]) from None
