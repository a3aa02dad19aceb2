"""Load the config tree from YAML and turn validation errors into one line per problem."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from config.base import FieldError
from config.redact import MASK, redact_url
from config.schema import RoadwatchConfig

_SECRET_KEYS = frozenset({"password", "token"})


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that rejects a key given twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__("\n".join(f"{source}: {p}" for p in self.problems))


def load_config(path: Path | str) -> RoadwatchConfig:
    """Read, validate and freeze a YAML config file.

    Relative paths inside the file are taken relative to the file's folder.

    Args:
        path: The YAML file.

    Returns:
        The validated config.

    Raises:
        ConfigError: The file is missing, unreadable, not YAML, or fails validation.
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise ConfigError(source, ["no such file"])
    if not path.is_file():
        raise ConfigError(source, ["not a file"])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [f"cannot read: {exc}"]) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [f"not valid YAML: {where}{problem}"]) from None
    return validate_config(data if data is not None else {}, source=source, base_dir=path.parent)


def validate_config(data: Any, *, source: str = "<config>", base_dir: Path | None = None) -> RoadwatchConfig:
    """Validate an already parsed config mapping.

    Args:
        data: The parsed YAML (must be a mapping).
        source: Name used in error lines.
        base_dir: Folder that relative paths are resolved against; None keeps them relative.

    Returns:
        The validated config.

    Raises:
        ConfigError: With one line per problem, each naming the field path and bad value.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(source, [f"top level must be a mapping of sections, got {type(data).__name__}"])
    context = {"base_dir": base_dir} if base_dir is not None else {}
    try:
        return RoadwatchConfig.model_validate(_with_sections(RoadwatchConfig, data), context=context)
    except ValidationError as exc:
        raise ConfigError(source, [describe_error(err, data) for err in exc.errors()]) from None


def _with_sections(model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]:
    """Add ``{}`` for every omitted section so its defaults are validated with the context too.

    A section built by its ``default_factory`` skips validation context, which would leave its
    default paths relative to the working directory instead of the config file.
    """
    out = dict(data)
    for name, field in model.model_fields.items():
        factory = field.default_factory
        if name not in out and _is_model(factory):
            out[name] = {}
        inner = _inner_model(field.annotation)
        if inner is not None and isinstance(out.get(name), Mapping):
            out[name] = _with_sections(inner, out[name])
    return out


def format_path(loc: Sequence[str | int]) -> str:
    """``("cameras", 2, "url")`` -> ``cameras[2].url``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def describe_error(err: Mapping[str, Any], data: Any) -> str:
    loc = [p for p in err["loc"] if isinstance(p, (str, int))]
    error = (err.get("ctx") or {}).get("error")
    if isinstance(error, FieldError):
        loc = loc + list(error.path)
        value = _lookup(data, loc)
        shown = "" if value is None else f" (got {_show(loc, value)})"
        return f"{format_path(loc)}: {error.message}{shown}"
    if err["type"] == "extra_forbidden":
        return f"{format_path(loc)}: unknown key{_suggest(loc)}"
    if err["type"] == "missing":
        return f"{format_path(loc)}: required field is missing"
    if err["type"] == "too_short":
        ctx = err.get("ctx") or {}
        least, got = ctx.get("min_length"), ctx.get("actual_length")
        return f"{format_path(loc)}: needs at least {least} item(s), got {got}"
    if err["type"] in ("tuple_type", "list_type"):
        return f"{format_path(loc)}: should be a list (got {_show(loc, err.get('input'))})"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{format_path(loc)}: {message} (got {_show(loc, err.get('input'))})"


def _lookup(data: Any, loc: Sequence[str | int]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _show(loc: Sequence[str | int], value: Any) -> str:
    if loc and loc[-1] in _SECRET_KEYS:
        return MASK
    if isinstance(value, str):
        return repr(redact_url(value))
    if isinstance(value, (Mapping, list, tuple)):
        return f"a {type(value).__name__}"
    return repr(value)


def _suggest(loc: Sequence[str | int]) -> str:
    """Name the closest known field of the model at ``loc[:-1]`` for a misspelt key."""
    model: Any = RoadwatchConfig
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part) if _is_model(model) else None
        model = _inner_model(field.annotation) if field is not None else None
        if model is None:
            return ""
    if not _is_model(model):
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f" (did you mean '{close[0]}'?)" if close else f" (known: {', '.join(model.model_fields)})"


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def _inner_model(annotation: Any) -> Any:
    """Find the model class inside ``X``, ``X | None`` or ``tuple[X, ...]``."""
    if _is_model(annotation):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, tuple):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None
