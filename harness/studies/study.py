"""A study: a TOML file read with `tomllib` into frozen dataclasses, checked before anything runs.

    [study]
    name = "cartpole-v1"
    env_id = "CartPole-v1"      # or env_ids = ["CartPole-v1", "Acrobot-v1"] for a study across envs
    seeds = [0, 1, 2]
    total_timesteps = 50_000
    eval_freq = 2_500
    n_eval_episodes = 20

    [envs."Acrobot-v1"]         # a study across envs: what differs on one env (budget, evaluation,
    total_timesteps = 100_000   # its profile: success, return_range, threshold, max_episode_steps)

    [agents.tabular_q]          # the table key is the agent's label
    kind = "tabular_q"          # a built-in name or an import path ("my_agents.py:MyAgent")
    num_bins = [3, 3, 6, 6]     # every other key is a hyperparameter of that kind

    [agents.tabular_q.envs."Acrobot-v1"]    # hyperparameters that differ on one env
    num_bins = [6, 6, 6, 6, 6, 6]

Each env is measured by its profile (`harness.profiles`): what success means and the returns that
normalise to 0 and 1. The study may declare them (`success`, `return_range`, `threshold`,
`max_episode_steps`, in `[study]` for one env or in the env's `[envs."<id>"]` table); an env with
neither a profile nor a declaration is refused. The profile's values are written out in the
resolved study, so a run says how it was measured.

Checking happens in two steps, each raising `StudyError` with one line naming the file, the key
and what is allowed:

- `load_study` / `parse_study` read the file: unknown keys, bad types and values of `[study]` and
  `[envs]`, unknown env ids, envs without a profile, kinds that are neither a built-in name nor a
  well-formed import path (or name a missing file), labels used twice, `paired` labels that are
  not agents. This imports neither torch nor SB3, so `--help`, `status` and a bad study answer at
  once.
- `resolve_study` imports each agent's class (`harness.agents`), checks its hyperparameters
  against the class (its config dataclass, or its constructor's signature), fills in defaults and
  the presets of each env, and builds it once on each env (an algorithm whose spaces do not fit is
  refused there). `compare`, `train` and `check-agent` call it before anything runs.

A study across envs runs as one single-env study per env (`Study.split`); its runs live under
`runs/<study>/<env_id>/<label>/seed_<s>/`, a one-env study's under `runs/<study>/<label>/seed_<s>/`.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import pathlib
import re
import tomllib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from custom_agents.config import convert_value, describe
from harness.agents import allowed, check_kind, resolve_kind
from harness.conditions import (
    DECLARABLE,
    EVAL_SEED_BASE,
    EnvProfile,
    EpisodeRules,
    check_env_id,
    profile_for,
    time_limit,
)
from harness.errors import KindError, ProfileError, StudyError

EMBEDDED_STUDIES = ("cartpole", "quick", "classic-control")
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


@dataclass(frozen=True)
class AgentSpec:
    """One `[agents.<label>]` table: its kind (a built-in name or an import path) and its
    hyperparameters, as written until `resolve_study` resolves them (preset applied, defaults
    filled). `env_hyperparameters` holds the `[agents.<label>.envs."<id>"]` tables of a study
    across envs: values that differ on one env (in a resolved study across envs, every env's
    whole set)."""

    label: str
    kind: str
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    env_hyperparameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def on(self, env_id: str) -> AgentSpec:
        """The agent's hyperparameters on one env."""
        values = {**self.hyperparameters, **self.env_hyperparameters.get(env_id, {})}
        return AgentSpec(self.label, self.kind, values)


@dataclass(frozen=True)
class Study:
    """A checked study: one env (`settings.env_id`) or several (`settings.env_ids`, with the
    `[envs."<id>"]` values in `env_settings`)."""

    settings: StudySettings
    agents: tuple[AgentSpec, ...]
    source: str
    """Where it was read from."""
    resolved: bool = False
    """Whether `resolve_study` checked the agents' classes and resolved their hyperparameters."""
    env_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Env id -> the `[study]` values that differ on that env (a study across envs)."""

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def code_dir(self) -> pathlib.Path | None:
        """Where import-path kinds are resolved from (None: only built-ins and `sys.path`)."""
        return pathlib.Path(self.settings.code_dir) if self.settings.code_dir else None

    @property
    def across_envs(self) -> bool:
        """Whether the study spans envs (`env_ids`): its runs nest under `<env_id>/`. Also true of
        the single-env views `split` gives of such a study."""
        return self.settings.env_ids is not None

    @property
    def env_ids(self) -> tuple[str, ...]:
        """The envs this study (or this single-env view) runs on."""
        if self.settings.env_id is not None:
            return (self.settings.env_id,)
        return tuple(self.settings.env_ids or ())

    @property
    def env_id(self) -> str:
        """The env of a one-env study or view (`StudyError` for a study across envs: `split` it)."""
        if self.settings.env_id is None:
            raise StudyError(f"{self.source}: a study across envs has no one env; split it")
        return self.settings.env_id

    @property
    def profile(self) -> EnvProfile:
        """How the env of a one-env study or view is measured (its profile with the study's
        declarations)."""
        declared = {key: getattr(self.settings, key) for key in DECLARABLE}
        return profile_for(self.env_id, declared)

    @property
    def episode_rules(self) -> EpisodeRules:
        """The profile's success rule and time limit (what the env factory applies)."""
        return self.profile.episode_rules

    def for_env(self, env_id: str) -> Study:
        """The single-env view of one env: `[study]` with that env's values, each agent with its
        hyperparameters there. For a one-env study, the study itself."""
        if not self.across_envs:
            if env_id != self.settings.env_id:
                raise StudyError(f"{self.source}: the study has no env {env_id!r}")
            return self
        if env_id not in self.env_ids:
            raise StudyError(f"{self.source}: the study has no env {env_id!r}; envs: {', '.join(self.env_ids)}")
        settings = dataclasses.replace(self.settings, env_id=env_id, **self.env_settings.get(env_id, {}))
        return Study(settings, tuple(spec.on(env_id) for spec in self.agents), self.source, self.resolved)

    def split(self) -> tuple[Study, ...]:
        """One single-env view per env, in the study's order (the study itself for one env)."""
        if self.settings.env_id is not None:
            return (self,)
        return tuple(self.for_env(env_id) for env_id in self.env_ids)

    def agent(self, label: str) -> AgentSpec:
        """The agent with this label (`StudyError` if none)."""
        for spec in self.agents:
            if spec.label == label:
                return spec
        raise StudyError(f"{self.source}: no agent labelled {label!r}; labels: {', '.join(self.labels)}")

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(spec.label for spec in self.agents)

    def replace(self, **settings: Any) -> Study:
        """A copy with some `[study]` values changed (checked like the file's); one given here
        also replaces the envs' own values of it."""
        values = {**dataclasses.asdict(self.settings), **settings}
        env_settings = {
            env_id: {key: value for key, value in table.items() if key not in settings}
            for env_id, table in self.env_settings.items()
        }
        return self._with(_settings(values, self.source), self.agents, env_settings)

    def select(self, labels: Sequence[str] | None = None, seeds: Sequence[int] | None = None) -> Study:
        """A copy restricted to some agents and seeds (`StudyError` for unknown labels or empty lists)."""
        agents = self.agents
        if labels is not None:
            unknown = [label for label in labels if label not in self.labels]
            if unknown:
                raise StudyError(
                    f"agents: unknown label {unknown[0]!r}; labels in {self.source}: {', '.join(self.labels)}"
                )
            agents = tuple(spec for spec in self.agents if spec.label in labels)
        values = dataclasses.asdict(self.settings)
        kept = {spec.label for spec in agents}
        values["paired"] = [pair for pair in values["paired"] if set(pair) <= kept]
        if seeds is not None:
            values["seeds"] = list(seeds)
        return self._with(_settings(values, self.source), agents, self.env_settings)

    def _with(self, settings: StudySettings, agents: tuple[AgentSpec, ...], env_settings: Mapping) -> Study:
        study = Study(settings, agents, self.source, self.resolved, env_settings)
        for view in study.split():  # every env's merged values checked again
            _check_view(view.settings, self.source, view.env_id if study.across_envs else None)
        return study


def study_path(name_or_path: str) -> pathlib.Path | importlib.resources.abc.Traversable:
    """The file of an embedded study name (`cartpole`, `quick`, `classic-control`) or a path."""
    if name_or_path in EMBEDDED_STUDIES:
        return importlib.resources.files("harness") / "studies" / f"{name_or_path}.toml"
    return pathlib.Path(name_or_path)


def load_study(name_or_path: str) -> Study:
    """Read and check a study file (a path or an embedded name); `StudyError` on any problem.
    Import-path kinds of a study file are resolved from its folder unless it sets `code_dir`."""
    path = study_path(name_or_path)
    embedded = name_or_path in EMBEDDED_STUDIES
    source = f"{name_or_path} ({path})" if embedded else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyError(
            f"{name_or_path}: no such study file; give a path or one of {', '.join(EMBEDDED_STUDIES)}"
        ) from None
    except OSError as error:
        raise StudyError(f"{name_or_path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise StudyError(f"{name_or_path}: not a UTF-8 text file") from None
    base_dir = None if embedded else pathlib.Path(path).resolve().parent
    return parse_study(text, source, base_dir)


def parse_study(text: str, source: str, base_dir: pathlib.Path | None = None, check_files: bool = True) -> Study:
    """Check a study's TOML text; `source` names it in messages; `base_dir` is the folder of its
    file (the default `code_dir`, and what a relative `code_dir` is relative to). `check_files`:
    refuse kinds naming a file that does not exist (off for a study read back from a runs folder,
    whose report needs the run files, not the code)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise StudyError(f"{source}: not valid TOML: {error}") from None
    unknown = sorted(set(data) - {"study", "agents", "envs"})
    if unknown:
        raise StudyError(
            f'{source}: unknown table {unknown[0]!r}; allowed: [study], [envs."<env id>"], [agents.<label>]'
        )
    if not isinstance(data.get("study"), dict):
        raise StudyError(f"{source}: study: missing [study] table")
    settings = _settings(data["study"], source, base_dir)
    env_settings = _env_tables(data.get("envs"), settings, source)
    settings, env_settings = _with_profiles(settings, env_settings, source)
    agents_table = data.get("agents")
    if agents_table is not None and not isinstance(agents_table, dict):
        raise StudyError(f"{source}: agents: must be tables [agents.<label>], got {agents_table!r}")
    if not agents_table:
        raise StudyError(f"{source}: agents: no agents; add at least one [agents.<label>] table with a kind")
    code_dir = pathlib.Path(settings.code_dir) if settings.code_dir else None
    agents = tuple(
        _agent(label, table, source, code_dir, check_files, settings.env_ids) for label, table in agents_table.items()
    )
    labels = [spec.label for spec in agents]
    lowered = [label.lower() for label in labels]
    for label in labels:
        if lowered.count(label.lower()) > 1:
            raise StudyError(f"{source}: agents.{label}: label used twice (labels are folder names and must differ)")
    for pair in settings.paired:
        unknown = [label for label in pair if label not in labels]
        if unknown:
            raise StudyError(
                f"{source}: study.paired: {unknown[0]!r} is not an agent label; labels: {', '.join(labels)}"
            )
        if pair[0] == pair[1]:
            raise StudyError(f"{source}: study.paired: {list(pair)} pairs an agent with itself; name two labels")
    return Study(settings, agents, source, env_settings=env_settings)


def resolve_study(study: Study) -> Study:
    """The study with every agent's class imported in this process and checked, on each env:
    hyperparameters against the class (the env's preset applied, defaults filled), and one build
    on the env. `StudyError` (one line naming the file, the agent's key and the fix) on any problem.

    In a resolved study across envs, each agent's `env_hyperparameters` holds its whole resolved
    set on every env."""
    if study.resolved:
        return study
    resolved: dict[str, dict[str, dict[str, Any]]] = {spec.label: {} for spec in study.agents}
    for view in study.split():
        where = f" on {view.env_id}" if study.across_envs else ""
        for spec in view.agents:
            try:
                kind = resolve_kind(spec.kind, study.code_dir)
            except KindError as error:
                raise StudyError(f"{study.source}: agents.{spec.label}.kind: {error}") from None
            try:
                values = kind.resolve(spec.hyperparameters, view.env_id)
                kind.check_on_env(view.env_id, values, view.episode_rules)
            except ValueError as error:
                key = getattr(error, "key", None) or _named_key(str(error))
                at = f"agents.{spec.label}.{key}" if key else f"agents.{spec.label}"
                raise StudyError(f"{study.source}: {at}{where}: {error}") from None
            resolved[spec.label][view.env_id] = values
    if study.across_envs:
        agents = tuple(AgentSpec(spec.label, spec.kind, {}, resolved[spec.label]) for spec in study.agents)
    else:
        agents = tuple(AgentSpec(spec.label, spec.kind, resolved[spec.label][study.env_id]) for spec in study.agents)
    return Study(study.settings, agents, study.source, True, study.env_settings)


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _settings(values: Mapping[str, Any], source: str, base_dir: pathlib.Path | None = None) -> StudySettings:
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
    if not _NAME.match(settings.name):
        raise StudyError(f"{source}: study.name: must be letters, digits, '.', '_' or '-', got {settings.name!r}")
    if not settings.seeds:
        raise StudyError(f"{source}: study.seeds: empty; give at least one seed, e.g. [0, 1, 2]")
    if any(s < 0 for s in settings.seeds) or len(set(settings.seeds)) != len(settings.seeds):
        raise StudyError(f"{source}: study.seeds: must be distinct integers >= 0, got {list(settings.seeds)}")
    if settings.eval_seed < 0:
        raise StudyError(f"{source}: study.eval_seed: must be >= 0, got {settings.eval_seed}")
    for env_id in settings.env_ids or (settings.env_id,):
        try:
            check_env_id(env_id, pathlib.Path(settings.code_dir) if settings.code_dir else None)
        except ValueError as error:
            key = "env_ids" if settings.env_ids else "env_id"
            raise StudyError(f"{source}: study.{key}: {error}") from None
    _check_view(settings, source, None)
    return settings


def _check_view(settings: StudySettings, source: str, env_id: str | None) -> None:
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


def _env_tables(tables: Any, settings: StudySettings, source: str) -> dict[str, dict[str, Any]]:
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
        _check_view(dataclasses.replace(settings, env_id=env_id, **result[env_id]), source, env_id)
    return result


def _with_profiles(
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


def _agent(
    label: str,
    table: Any,
    source: str,
    code_dir: pathlib.Path | None,
    check_files: bool,
    env_ids: tuple[str, ...] | None,
) -> AgentSpec:
    if not _NAME.match(label):
        raise StudyError(f"{source}: agents.{label}: a label must be letters, digits, '.', '_' or '-'")
    if not isinstance(table, dict):
        raise StudyError(f"{source}: agents.{label}: must be a table with a kind")
    kind = table.get("kind")
    if kind is None:
        raise StudyError(f"{source}: agents.{label}.kind: missing; allowed: {allowed()}")
    try:
        check_kind(kind, code_dir, check_files)
    except KindError as error:
        raise StudyError(f"{source}: agents.{label}.kind: {error}") from None
    per_env = table.get("envs") if env_ids is not None else None
    if per_env is not None:
        if not isinstance(per_env, dict) or not all(isinstance(v, dict) for v in per_env.values()):
            raise StudyError(f'{source}: agents.{label}.envs: must be tables [agents.{label}.envs."<env id>"]')
        for env_id in per_env:
            if env_id not in env_ids:
                raise StudyError(
                    f'{source}: agents.{label}.envs."{env_id}": not one of study.env_ids ({", ".join(env_ids)})'
                )
    hyperparameters = {key: value for key, value in table.items() if key != "kind" and (key != "envs" or not env_ids)}
    return AgentSpec(label, kind, hyperparameters, per_env or {})


def _named_key(message: str) -> str | None:
    """The hyperparameter a config dataclass's `ValueError` names ("hyperparameter 'x' ...")."""
    match = re.search(r"hyperparameter '([^']+)'", message)
    return match.group(1) if match else None


def to_toml(study: Study) -> str:
    """The study as TOML text (values resolved), readable back by `parse_study`."""
    lines = ["[study]"]
    settings = dataclasses.asdict(study.settings)
    lines += [f"{key} = {_toml_value(value)}" for key, value in settings.items() if value is not None]
    for env_id, table in study.env_settings.items():
        lines += ["", f"[envs.{_toml_key(env_id)}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items() if value is not None]
    for spec in study.agents:
        lines += ["", f"[agents.{spec.label}]", f"kind = {_toml_value(spec.kind)}"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in spec.hyperparameters.items() if value is not None]
        for env_id, values in spec.env_hyperparameters.items():
            if not values:
                continue
            lines += ["", f"[agents.{spec.label}.envs.{_toml_key(env_id)}]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in values.items() if value is not None]
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
