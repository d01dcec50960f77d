"""A study: a TOML file read with `tomllib` into frozen dataclasses, checked before anything runs.

    [study]
    name = "cartpole-v1"
    env_id = "CartPole-v1"
    seeds = [0, 1, 2]
    total_timesteps = 50_000
    eval_freq = 2_500
    n_eval_episodes = 20

    [agents.tabular_q]          # the table key is the agent's label
    kind = "tabular_q"          # a built-in name or an import path ("my_agents.py:MyAgent")
    num_bins = [3, 3, 6, 6]     # every other key is a hyperparameter of that kind

Checking happens in two steps, each raising `StudyError` with one line naming the file, the key
and what is allowed:

- `load_study` / `parse_study` read the file: unknown keys, bad types and values of `[study]`,
  unknown env ids, kinds that are neither a built-in name nor a well-formed import path (or name a
  missing file), labels used twice, `paired` labels that are not agents. This imports neither
  torch nor SB3, so `--help`, `status` and a bad study answer at once.
- `resolve_study` imports each agent's class (`harness.registry`), checks its hyperparameters
  against the class (its config dataclass, or its constructor's signature), fills in defaults and
  presets, and builds it once on the env (an algorithm whose spaces do not fit is refused there).
  `compare`, `train` and `check-agent` call it before anything runs.
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
from harness import registry
from harness.envs import check_env_id
from harness.seeding import EVAL_SEED_BASE

EMBEDDED_STUDIES = ("cartpole", "quick")


class StudyError(ValueError):
    """A study that cannot run; the message is one line naming the file and the key."""


@dataclass(frozen=True)
class StudySettings:
    """The `[study]` table: what every agent of the study shares."""

    name: str
    """Folder name under the runs and reports folders (letters, digits, '.', '_', '-')."""
    seeds: tuple[int, ...]
    """Training seeds; every agent runs once per seed."""
    total_timesteps: int
    """The budget of every run, in env steps."""
    eval_freq: int
    """Env steps between evaluations (plus one before training and one at the end)."""
    env_id: str = "CartPole-v1"
    """A gymnasium env id."""
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


@dataclass(frozen=True)
class AgentSpec:
    """One `[agents.<label>]` table: its kind (a built-in name or an import path) and its
    hyperparameters, as written until `resolve_study` resolves them (preset applied, defaults
    filled)."""

    label: str
    kind: str
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Study:
    """A checked study."""

    settings: StudySettings
    agents: tuple[AgentSpec, ...]
    source: str
    """Where it was read from."""
    resolved: bool = False
    """Whether `resolve_study` checked the agents' classes and resolved their hyperparameters."""

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def code_dir(self) -> pathlib.Path | None:
        """Where import-path kinds are resolved from (None: only built-ins and `sys.path`)."""
        return pathlib.Path(self.settings.code_dir) if self.settings.code_dir else None

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
        """A copy with some `[study]` values changed (checked like the file's)."""
        values = {**dataclasses.asdict(self.settings), **settings}
        return Study(_settings(values, self.source), self.agents, self.source, self.resolved)

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
        return Study(_settings(values, self.source), agents, self.source, self.resolved)


def study_path(name_or_path: str) -> pathlib.Path | importlib.resources.abc.Traversable:
    """The file of an embedded study name (`cartpole`, `quick`) or a path."""
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
    unknown = sorted(set(data) - {"study", "agents"})
    if unknown:
        raise StudyError(f"{source}: unknown table {unknown[0]!r}; allowed: [study], [agents.<label>]")
    if not isinstance(data.get("study"), dict):
        raise StudyError(f"{source}: study: missing [study] table")
    settings = _settings(data["study"], source, base_dir)
    agents_table = data.get("agents")
    if agents_table is not None and not isinstance(agents_table, dict):
        raise StudyError(f"{source}: agents: must be tables [agents.<label>], got {agents_table!r}")
    if not agents_table:
        raise StudyError(f"{source}: agents: no agents; add at least one [agents.<label>] table with a kind")
    code_dir = pathlib.Path(settings.code_dir) if settings.code_dir else None
    agents = tuple(_agent(label, table, source, code_dir, check_files) for label, table in agents_table.items())
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
    return Study(settings, agents, source)


def resolve_study(study: Study) -> Study:
    """The study with every agent's class imported in this process and checked: hyperparameters
    against the class (preset applied, defaults filled), and one build on the study's env.
    `StudyError` (one line naming the file, the agent's key and the fix) on any problem."""
    if study.resolved:
        return study
    agents = []
    for spec in study.agents:
        try:
            kind = registry.resolve_kind(spec.kind, study.code_dir)
        except registry.KindError as error:
            raise StudyError(f"{study.source}: agents.{spec.label}.kind: {error}") from None
        try:
            resolved = kind.resolve(spec.hyperparameters)
            kind.check_on_env(study.settings.env_id, resolved)
        except ValueError as error:
            key = getattr(error, "key", None) or _named_key(str(error))
            where = f"agents.{spec.label}.{key}" if key else f"agents.{spec.label}"
            raise StudyError(f"{study.source}: {where}: {error}") from None
        agents.append(AgentSpec(spec.label, spec.kind, resolved))
    return Study(study.settings, tuple(agents), study.source, resolved=True)


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _settings(values: Mapping[str, Any], source: str, base_dir: pathlib.Path | None = None) -> StudySettings:
    fields = {f.name: f for f in dataclasses.fields(StudySettings)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise StudyError(f"{source}: study.{unknown[0]}: unknown key; allowed: {', '.join(fields)}")
    missing = [name for name, f in fields.items() if f.default is dataclasses.MISSING and name not in values]
    if missing:
        raise StudyError(f"{source}: study.{missing[0]}: missing; it is required")
    hints = typing.get_type_hints(StudySettings)
    converted = {}
    for key, value in values.items():
        try:
            converted[key] = convert_value(key, value, hints[key])
        except ValueError:
            raise StudyError(f"{source}: study.{key}: must be {describe(hints[key])}, got {value!r}") from None
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
    settings = StudySettings(**converted)
    if not _NAME.match(settings.name):
        raise StudyError(f"{source}: study.name: must be letters, digits, '.', '_' or '-', got {settings.name!r}")
    if not settings.seeds:
        raise StudyError(f"{source}: study.seeds: empty; give at least one seed, e.g. [0, 1, 2]")
    if any(s < 0 for s in settings.seeds) or len(set(settings.seeds)) != len(settings.seeds):
        raise StudyError(f"{source}: study.seeds: must be distinct integers >= 0, got {list(settings.seeds)}")
    for key in ("total_timesteps", "eval_freq", "n_eval_episodes"):
        if getattr(settings, key) <= 0:
            raise StudyError(f"{source}: study.{key}: must be > 0, got {getattr(settings, key)}")
    if settings.eval_seed < 0:
        raise StudyError(f"{source}: study.eval_seed: must be >= 0, got {settings.eval_seed}")
    try:
        check_env_id(settings.env_id)
    except ValueError as error:
        raise StudyError(f"{source}: study.env_id: {error}") from None
    return settings


def _agent(label: str, table: Any, source: str, code_dir: pathlib.Path | None, check_files: bool) -> AgentSpec:
    if not _NAME.match(label):
        raise StudyError(f"{source}: agents.{label}: a label must be letters, digits, '.', '_' or '-'")
    if not isinstance(table, dict):
        raise StudyError(f"{source}: agents.{label}: must be a table with a kind")
    kind = table.get("kind")
    if kind is None:
        raise StudyError(f"{source}: agents.{label}.kind: missing; allowed: {registry.allowed()}")
    try:
        registry.check_kind(kind, code_dir, check_files)
    except registry.KindError as error:
        raise StudyError(f"{source}: agents.{label}.kind: {error}") from None
    return AgentSpec(label, kind, {key: value for key, value in table.items() if key != "kind"})


def _named_key(message: str) -> str | None:
    """The hyperparameter a config dataclass's `ValueError` names ("hyperparameter 'x' ...")."""
    match = re.search(r"hyperparameter '([^']+)'", message)
    return match.group(1) if match else None


def to_toml(study: Study) -> str:
    """The study as TOML text (values resolved), readable back by `parse_study`."""
    lines = ["[study]"]
    settings = dataclasses.asdict(study.settings)
    lines += [f"{key} = {_toml_value(value)}" for key, value in settings.items() if value is not None]
    for spec in study.agents:
        lines += ["", f"[agents.{spec.label}]", f"kind = {_toml_value(spec.kind)}"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in spec.hyperparameters.items() if value is not None]
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
