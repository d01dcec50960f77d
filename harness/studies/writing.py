"""A study back to TOML text (`to_toml`), readable by `parse_study`: how a runs folder records
the resolved study it ran."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from harness.studies.study import Study


def to_toml(study: Study) -> str:
    """The study as TOML text (values resolved), readable back by `parse_study`."""
    lines = ["[study]"]
    settings = dataclasses.asdict(study.settings)
    lines += [f"{key} = {_toml_value(value)}" for key, value in settings.items() if value is not None]
    for env_id, table in study.env_settings.items():
        lines += ["", f"[envs.{_toml_key(env_id)}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items() if value is not None]
    if study.decide is not None:
        lines += ["", "[decide]"] + [f"{key} = {_toml_value(value)}" for key, value in study.decide.to_table().items()]
    if study.tune is not None:
        lines += ["", "[tune]"] + [f"{key} = {_toml_value(value)}" for key, value in study.tune.to_table().items()]
    for spec in study.agents:
        lines += ["", f"[agents.{spec.label}]", f"kind = {_toml_value(spec.kind)}"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in spec.hyperparameters.items() if value is not None]
        for env_id, values in spec.env_hyperparameters.items():
            if not values:
                continue
            lines += ["", f"[agents.{spec.label}.envs.{_toml_key(env_id)}]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in values.items() if value is not None]
        if spec.search is not None:
            lines += ["", f"[agents.{spec.label}.search]"]
            lines += [f"{_toml_key(d.key)} = {_toml_value(d.to_table())}" for d in spec.search]
    for spec in study.agents:
        if spec.tuned is not None:
            lines += ["", f"[tuned.{spec.label}]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in spec.tuned.items() if value is not None]
    return "\n".join(lines) + "\n"


def _toml_key(key: str) -> str:
    return key if re.match(r"^[A-Za-z0-9_-]+$", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string (escapes included)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise TypeError(f"cannot write {value!r} as TOML")
