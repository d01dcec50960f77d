"""Hyperparameters as frozen dataclasses: plain values (from Python or TOML) mapped onto typed fields.

`build_config(Config, values)` checks every key against the dataclass fields, converts lists to
tuples, accepts an int where a float is expected (never a bool where a number is), and lets the
dataclass's own `__post_init__` reject impossible values. Every error is a `ValueError` whose
message names the field.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import types
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

C = TypeVar("C")


def build_config(config_class: type[C], values: Mapping[str, Any]) -> C:
    """Return `config_class(**values)` with keys checked and values converted to the field types.

    Raises `ValueError` naming the first unknown key, mistyped value or impossible value.
    """
    fields = {f.name: f for f in dataclasses.fields(config_class) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter {unknown[0]!r} for {config_class.__name__}; allowed: {', '.join(sorted(fields))}"
        )
    hints = get_type_hints(config_class)
    converted = {name: convert_value(name, value, hints[name]) for name, value in values.items()}
    return config_class(**converted)


def convert_value(name: str, value: Any, annotation: Any) -> Any:
    """Convert `value` to `annotation` (int, float, bool, str, Literal, tuples, tables (`dict`),
    `X | None`; `Any` as given)."""
    if annotation is Any:
        return value
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        options = get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return convert_value(name, value, option)
            except ValueError as error:
                errors.append(error)
        raise (
            errors[0]
            if len(errors) == 1
            else ValueError(f"hyperparameter {name!r} must be {describe(annotation)}, got {value!r}")
        )
    if origin is Literal:
        allowed = get_args(annotation)
        if value not in allowed or isinstance(value, bool) != isinstance(allowed[0], bool):
            raise ValueError(f"hyperparameter {name!r} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"hyperparameter {name!r} must be {describe(annotation)}, got {value!r}")
        args = get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(convert_value(name, item, args[0]) for item in value)
        if len(value) != len(args):
            raise ValueError(f"hyperparameter {name!r} must be {describe(annotation)}, got {value!r}")
        return tuple(convert_value(name, item, arg) for item, arg in zip(value, args, strict=True))
    if origin is dict or annotation is dict:
        if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
            raise ValueError(f"hyperparameter {name!r} must be a table, got {value!r}")
        return dict(value)
    if annotation is bool:
        if not isinstance(value, bool):
            raise ValueError(f"hyperparameter {name!r} must be true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"hyperparameter {name!r} must be an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"hyperparameter {name!r} must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ValueError(f"hyperparameter {name!r} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {annotation!r} for hyperparameter {name!r}")


def describe(annotation: Any) -> str:
    """A short English name for a field type, for error messages."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in get_args(annotation) if a is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(map(repr, get_args(annotation)))
    if origin is dict or annotation is dict:
        return "a table"
    if origin is tuple:
        args = get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_plural(args[0])}"
        return f"a list of {len(args)} ({', '.join(describe(a) for a in args)})"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        annotation, str(annotation)
    )


def _plural(annotation: Any) -> str:
    if get_origin(annotation) is tuple:
        return "lists"
    return {int: "integers", float: "numbers", bool: "booleans", str: "strings"}.get(annotation, str(annotation))


def to_plain(config: Any) -> dict[str, Any]:
    """The config as plain JSON/TOML-ready values, in field order: tuples become lists, tables
    dicts, and a class or function (e.g. `policy_kwargs["optimizer_class"]`) its import path
    ("module:Name", which `import_object` reads back)."""
    return {f.name: plain_value(getattr(config, f.name)) for f in dataclasses.fields(config)}


def plain_value(value: Any) -> Any:
    """One value as `to_plain` writes it."""
    if isinstance(value, (tuple, list)):
        return [plain_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, type) or callable(value):
        return f"{value.__module__}:{value.__qualname__}"
    return value


def import_object(path: str) -> Any:
    """The object an import path names: "package.module:Name" or "package.module.Name"
    (`ValueError` when it names nothing importable)."""
    module, _, name = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        value: Any = importlib.import_module(module)
        for part in name.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError, ValueError):
        raise ValueError(f"{path!r} cannot be imported") from None
    return value


# -- small checks used by the configs' __post_init__ -------------------------------------------


def require(condition: bool, name: str, what: str, value: Any) -> None:
    """Raise `ValueError("hyperparameter NAME must be WHAT, got VALUE")` unless `condition`."""
    if not condition:
        raise ValueError(f"hyperparameter {name!r} must be {what}, got {value!r}")


def require_finite(name: str, value: float) -> None:
    """Refuse NaN and infinities."""
    require(math.isfinite(value), name, "a finite number", value)


__all__ = [
    "build_config",
    "convert_value",
    "describe",
    "import_object",
    "plain_value",
    "require",
    "require_finite",
    "to_plain",
]
