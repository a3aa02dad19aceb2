"""Typed configuration of roadwatch: one pydantic tree loaded from YAML."""

from config.alerts import AlertsConfig
from config.api import ApiConfig
from config.loader import ConfigError, format_path, load_config, validate_config
from config.redact import redact_url
from config.schema import (
    BackoffConfig,
    CameraConfig,
    DetectorsConfig,
    GalleryConfig,
    OutputsConfig,
    ReidConfig,
    RoadwatchConfig,
    StreamsConfig,
)

__all__ = [
    "AlertsConfig",
    "ApiConfig",
    "BackoffConfig",
    "CameraConfig",
    "ConfigError",
    "DetectorsConfig",
    "GalleryConfig",
    "OutputsConfig",
    "ReidConfig",
    "RoadwatchConfig",
    "StreamsConfig",
    "format_path",
    "load_config",
    "redact_url",
    "validate_config",
]
