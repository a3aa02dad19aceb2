"""The base of every config section, the cross-field error and config-relative paths.

Kept apart from :mod:`config.schema` so section modules (``config/plates.py`` ...) can build on
them while the schema assembles the tree from those modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo


class FieldError(ValueError):
    """A cross-field rule failed; ``path`` is relative to the model that raised it.

    Args:
        path: Field names (and list indices) below the raising model, e.g. ``("url",)``.
        message: What is wrong, for a person.
    """

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, instances are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Expand ``~`` and make relative paths relative to the config file's folder."""
    value = value.expanduser()
    base = (info.context or {}).get("base_dir")
    if base is not None and not value.is_absolute():
        value = Path(base) / value
    return value


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
