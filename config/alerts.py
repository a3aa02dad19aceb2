"""The ``alerts`` section: watchlist entries, the toll/escape rule, and where alerts go."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from config.base import ConfigPath, FieldError, Section

Severity = Literal["info", "warning", "critical"]
_MATCH_FIELDS = ("plate", "plate_regex", "plate_fuzzy", "identity", "vehicle_type", "colour")


class WatchlistEntry(Section):
    """Something to alert on: exactly one of ``plate``, ``plate_regex``, ``plate_fuzzy``,
    ``identity``, ``vehicle_type`` or ``colour``."""

    id: str | None = Field(
        None, min_length=1, max_length=64, description="Stable id; None: derived from what is matched."
    )
    plate: str | None = Field(None, min_length=1, max_length=16, description="Plate (spaces ignored).")
    plate_regex: str | None = Field(
        None, min_length=1, max_length=200, description="Regular expression the whole plain plate must match."
    )
    plate_fuzzy: str | None = Field(
        None, min_length=1, max_length=16, description="Plate within max_distance (OCR confusions cost 0.5)."
    )
    max_distance: float = Field(1.0, ge=0, le=4, description="Largest edit distance of a plate_fuzzy match.")
    identity: int | None = Field(None, ge=1, description="Gallery identity id.")
    vehicle_type: str | None = Field(None, min_length=1, max_length=32, description="Class, e.g. truck.")
    colour: str | None = Field(None, min_length=1, max_length=32, description="Colour, e.g. red.")
    note: str = Field("", max_length=200, description="Shown with the alert.")
    severity: Severity = Field("warning", description="info, warning or critical.")

    @field_validator("plate_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> WatchlistEntry:
        given = [name for name in _MATCH_FIELDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(_MATCH_FIELDS)} (got {len(given)})")
        return self

    @property
    def match(self) -> tuple[str, str]:
        """(kind, value) of what this entry matches."""
        for name in _MATCH_FIELDS:
            value = getattr(self, name)
            if value is not None:
                return name, str(value)
        raise AssertionError("validated: one match field is set")


class WebhookConfig(Section):
    """An HTTP endpoint that receives alerts as JSON POSTs."""

    url: str = Field(description="http(s) URL.")
    secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key; the X-Roadwatch-Signature header carries sha256=<hex>."
    )
    timeout_s: float = Field(5.0, gt=0, le=60, description="Per-request timeout.")
    retries: int = Field(
        3, ge=0, le=20, description="Retries before the receiver counts as down (then alerts spool)."
    )
    queue_size: int = Field(1000, ge=1, le=1_000_000, description="Alerts held in memory before spooling.")

    @field_validator("url")
    @classmethod
    def _http_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value


class MqttConfig(Section):
    """An MQTT broker that receives alerts (Home Assistant, Node-RED ...)."""

    host: str = Field(min_length=1, description="Broker host.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    prefix: str = Field("roadwatch", min_length=1, max_length=64, description="Topic prefix.")
    client_id: str = Field("roadwatch", min_length=1, max_length=64, description="MQTT client id.")
    username: str | None = Field(None, description="User name, or None.")
    password: SecretStr | None = Field(None, description="Password, or None.")
    queue_size: int = Field(10_000, ge=1, le=1_000_000, description="Alerts held while the broker is away.")


class TollRuleConfig(Section):
    """Escape alert: a vehicle seen at an entry camera, then at an exit camera, with no toll-gate
    sighting in between."""

    entry_cameras: tuple[str, ...] = Field(min_length=1, description="Camera ids where trips start.")
    gate_cameras: tuple[str, ...] = Field(min_length=1, description="Camera ids of the toll gates.")
    exit_cameras: tuple[str, ...] = Field(min_length=1, description="Camera ids where trips end.")
    max_delay_s: float = Field(600.0, gt=0, le=86400, description="Longest entry-to-exit trip checked.")
    severity: Severity = Field("critical", description="Severity of escape alerts.")

    @model_validator(mode="after")
    def _gates_apart(self) -> TollRuleConfig:
        for name in ("entry_cameras", "exit_cameras"):
            for j, camera in enumerate(getattr(self, name)):
                if camera in self.gate_cameras:
                    raise FieldError((name, j), f"'{camera}' is also a gate camera")
        return self


class AlertsConfig(Section):
    """Alert rules and where alerts go (docs/ALERTS.md)."""

    enabled: bool = Field(True, description="Run the alert engine (needs outputs.events_stream).")
    watchlist: tuple[WatchlistEntry, ...] = Field(
        (), description="Entries added to the shared watchlist at start (roadwatch watchlist adds more)."
    )
    follow_identity: bool = Field(
        True, description="A plate match also alerts the identity's other sightings within lookback_s."
    )
    lookback_s: float = Field(600.0, ge=0, le=86400, description="Window of follow_identity.")
    partial_plates: bool = Field(
        True, description="A read missing characters at one end of a listed plate (5+ chars, 70 %) matches."
    )
    toll: TollRuleConfig | None = Field(None, description="Toll/escape rule; None: off.")
    webhooks: tuple[WebhookConfig, ...] = Field((), description="Endpoints receiving alerts.")
    mqtt: MqttConfig | None = Field(None, description="MQTT broker receiving alerts; None: off.")
    jsonl_path: ConfigPath | None = Field(
        Path("alerts.jsonl"), description="JSON-lines alert log (config-relative); None: not written."
    )
    spool_dir: ConfigPath = Field(
        Path("spool"), description="Where webhook alerts wait while a receiver is down (config-relative)."
    )
    keep_days: float = Field(30.0, gt=0, le=3650, description="Days an alert's record stays in Redis.")
    stream_max_len: int = Field(
        100_000, ge=100, le=100_000_000, description="Alerts the Redis stream <namespace>:alerts keeps."
    )
