"""The `[study]` table and the `[envs."<id>"]` tables of a study file, as frozen dataclasses,
checked: unknown keys, bad types and values, unknown env ids, envs without a profile. Each error
is a `StudyError` with one line naming the file and the key.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from custom_agents.config import convert_value, describe
from harness.conditions import DECLARABLE, EVAL_SEED_BASE, check_env_id, profile_for, time_limit
from harness.errors import ProfileError, StudyError

DEFAULT_ENV_ID = "CartPole-v1"
PER_ENV_KEYS = ("total_timesteps", "eval_freq", "n_eval_episodes", *DECLARABLE)
"""The `[study]` keys an `[envs."<id>"]` table may set for one env of a study across envs."""


@dataclass(frozen=True)
class StudySettings:
    """The `[study]` table: what every agent of the study shares (and, in the single-env view of a
    study across envs, one env's values)."""

    name: str
    """Folder name under the runs and reports folders (letters, digits, '.', '_', '-')."""
    seeds: tuple[int, ...]
    """Training seeds; every agent runs once per seed (on each env)."""
    total_timesteps: int
    """The budget of every run, in env steps."""
    eval_freq: int
    """Env steps between evaluations (plus one before training and one at the end)."""
    env_id: str | None = None
    """A gymnasium env id (`"module:EnvId"` imports its module first); CartPole-v1 when neither it
    nor `env_ids` is given."""
    env_ids: tuple[str, ...] | None = None
    """Several env ids: a study across envs (its runs nest under `<env_id>/`)."""
    n_eval_episodes: int = 20
    """Evaluation episodes at each evaluation point, deterministic policy."""
    eval_seed: int = EVAL_SEED_BASE
    """Evaluation episode i starts from `reset(seed=eval_seed + i)`, for every agent and point."""
    description: str = ""
    """One line shown in the report."""
    paired: tuple[tuple[str, str], ...] = ()
    """Pairs of agent labels compared episode by episode on the same final evaluation episodes,
    e.g. `[["custom_dqn", "sb3_dqn"]]`."""
    code_dir: str | None = None
    """The folder import-path kinds are resolved from: relative file paths and modules found
    there (default: the study file's folder; absolute in the resolved study of a runs folder)."""
    success: str | None = None
    """When an episode succeeds: "truncated", "terminated" or "return >= X" (default: the env
    profile's)."""
    return_range: tuple[float, float] | None = None
    """[lo, hi]: returns normalised to 0 and 1 (default: the env profile's)."""
    threshold: float | None = None
    """The 'solved' level of a mean evaluation return (default: the env profile's)."""
    max_episode_steps: int | None = None
    """A time limit for an env registered without one (default: the env profile's, if any)."""
    run_timeout: float = 3_600.0
    """Seconds a run may take, wall clock; one that goes on past it is stopped and fails (an agent
    whose loop never ends). Not part of a pair's identity: it decides whether a run ends, not what
    it learns."""


NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def check_settings(values: Mapping[str, Any], source: str, base_dir: pathlib.Path | None = None) -> StudySettings:
    fields = {f.name: f for f in dataclasses.fields(StudySettings)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise StudyError(f"{source}: study.{unknown[0]}: unknown key; allowed: {', '.join(fields)}")
    missing = [name for name, f in fields.items() if f.default is dataclasses.MISSING and name not in values]
    if missing:
        raise StudyError(f"{source}: study.{missing[0]}: missing; it is required")
    converted = {key: _convert(f"study.{key}", key, value, source) for key, value in values.items()}
    code_dir = converted.get("code_dir")
    if code_dir is not None:
        folder = pathlib.Path(code_dir).expanduser()
        if not folder.is_absolute():
            if base_dir is None:
                raise StudyError(f"{source}: study.code_dir: must be an absolute path in an embedded study")
            folder = base_dir / folder
        if not folder.is_dir():
            raise StudyError(f"{source}: study.code_dir: {folder} is not a folder")
        converted["code_dir"] = str(folder.resolve())
    elif base_dir is not None:
        converted["code_dir"] = str(base_dir.resolve())
    if converted.get("env_ids") is not None:
        if converted.get("env_id") is not None:
            raise StudyError(f"{source}: study.env_ids: give env_id (one env) or env_ids (several), not both")
        env_ids = converted["env_ids"]
        if not env_ids or len(set(env_ids)) != len(env_ids):
            raise StudyError(f"{source}: study.env_ids: must be distinct env ids, at least one, got {list(env_ids)}")
        for key in DECLARABLE:
            if converted.get(key) is not None:
                raise StudyError(
                    f'{source}: study.{key}: a study across envs declares it per env, in [envs."<env id>"]'
                )
    elif converted.get("env_id") is None:
        converted["env_id"] = DEFAULT_ENV_ID
    settings = StudySettings(**converted)
    if not NAME.match(settings.name):
        raise StudyError(f"{source}: study.name: must be letters, digits, '.', '_' or '-', got {settings.name!r}")
    if not settings.seeds:
        raise StudyError(f"{source}: study.seeds: empty; give at least one seed, e.g. [0, 1, 2]")
    if any(s < 0 for s in settings.seeds) or len(set(settings.seeds)) != len(settings.seeds):
        raise StudyError(f"{source}: study.seeds: must be distinct integers >= 0, got {list(settings.seeds)}")
    if settings.eval_seed < 0:
        raise StudyError(f"{source}: study.eval_seed: must be >= 0, got {settings.eval_seed}")
    if not settings.run_timeout > 0:
        raise StudyError(f"{source}: study.run_timeout: must be > 0 seconds, got {settings.run_timeout}")
    for env_id in settings.env_ids or (settings.env_id,):
        try:
            check_env_id(env_id, pathlib.Path(settings.code_dir) if settings.code_dir else None)
        except ValueError as error:
            key = "env_ids" if settings.env_ids else "env_id"
            raise StudyError(f"{source}: study.{key}: {error}") from None
    check_view(settings, source, None)
    return settings


def check_view(settings: StudySettings, source: str, env_id: str | None) -> None:
    """The per-env values, checked where they apply (`env_id`: the env table they came from)."""
    where = f'envs."{env_id}"' if env_id is not None else "study"
    for key in ("total_timesteps", "eval_freq", "n_eval_episodes"):
        if getattr(settings, key) <= 0:
            raise StudyError(f"{source}: {where}.{key}: must be > 0, got {getattr(settings, key)}")
    if settings.max_episode_steps is not None and settings.max_episode_steps <= 0:
        raise StudyError(f"{source}: {where}.max_episode_steps: must be > 0, got {settings.max_episode_steps}")


def _convert(where: str, key: str, value: Any, source: str) -> Any:
    hint = typing.get_type_hints(StudySettings)[key]
    try:
        return convert_value(key, value, hint)
    except ValueError:
        raise StudyError(f"{source}: {where}: must be {describe(hint)}, got {value!r}") from None


def env_tables(tables: Any, settings: StudySettings, source: str) -> dict[str, dict[str, Any]]:
    """The `[envs."<id>"]` tables of a study across envs, checked and converted."""
    if tables is None:
        return {}
    if settings.env_ids is None:
        raise StudyError(
            f'{source}: envs: [envs."<env id>"] tables are for a study across envs (env_ids); '
            "a one-env study sets these keys in [study]"
        )
    if not isinstance(tables, dict):
        raise StudyError(f'{source}: envs: must be tables [envs."<env id>"], got {tables!r}')
    result: dict[str, dict[str, Any]] = {}
    for env_id, table in tables.items():
        if env_id not in settings.env_ids:
            raise StudyError(f'{source}: envs."{env_id}": not one of study.env_ids ({", ".join(settings.env_ids)})')
        if not isinstance(table, dict):
            raise StudyError(f'{source}: envs."{env_id}": must be a table of {", ".join(PER_ENV_KEYS)}')
        unknown = sorted(set(table) - set(PER_ENV_KEYS))
        if unknown:
            raise StudyError(f'{source}: envs."{env_id}".{unknown[0]}: unknown key; allowed: {", ".join(PER_ENV_KEYS)}')
        result[env_id] = {key: _convert(f'envs."{env_id}".{key}', key, value, source) for key, value in table.items()}
        check_view(dataclasses.replace(settings, env_id=env_id, **result[env_id]), source, env_id)
    return result


def with_profiles(
    settings: StudySettings, env_settings: dict[str, dict[str, Any]], source: str
) -> tuple[StudySettings, dict[str, dict[str, Any]]]:
    """Each env's profile, written out (the profile's values, the study's declarations over them):
    `ProfileError` as a `StudyError` for an env with neither a profile nor a declaration, or
    without a time limit."""

    def written(env_id: str, declared: Mapping[str, Any], where: str) -> dict[str, Any]:
        try:
            profile = profile_for(env_id.rsplit(":", 1)[-1], declared)
        except ProfileError as error:
            raise StudyError(f"{source}: {where}: {error}") from None
        if time_limit(env_id, profile.episode_rules) is None:
            raise StudyError(
                f"{source}: {where}: {env_id} has no time limit, so an episode might never end; "
                "declare max_episode_steps"
            )
        values = {
            "success": profile.success,
            "return_range": profile.return_range,
            "threshold": profile.threshold,
            "max_episode_steps": profile.max_episode_steps,
        }
        return {key: value for key, value in values.items() if value is not None}

    if settings.env_ids is None:
        declared = {key: getattr(settings, key) for key in DECLARABLE}
        return dataclasses.replace(settings, **written(settings.env_id, declared, "study")), env_settings
    filled = {}
    for env_id in settings.env_ids:
        table = env_settings.get(env_id, {})
        declared = {key: table.get(key) for key in DECLARABLE}
        filled[env_id] = {**table, **written(env_id, declared, f'envs."{env_id}"')}
    return settings, filled


def check_pair(pair: Sequence[str], labels: Sequence[str], where: str) -> None:
    """`StudyError` unless `pair` names two different agents of the study (`where`: the file and key)."""
    unknown = [label for label in pair if label not in labels]
    if unknown:
        raise StudyError(f"{where}: {unknown[0]!r} is not an agent label; labels: {', '.join(labels)}")
    if pair[0] == pair[1]:
        raise StudyError(f"{where}: {list(pair)} pairs an agent with itself; name two labels")
