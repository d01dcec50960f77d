"""`run.json`, typed: one dataclass that every module reads and writes a run's record through.

    record = read_record(run_dir)             # None when missing, truncated or corrupt
    record.complete, record.timings.wall_time_s, record.identity()
    write_record(run_dir, record)             # atomically (`run.json` is written last)

The record holds the pair's identity as it ran (`kind`, `env_id`, `profile`, `total_timesteps`,
`evaluation`, `hyperparameters`, `seed`, `code`, `libraries`: `harness.studies.identity`), what
ran it (class, versions, machine, command) and its outcome (status, error, steps, timings). A
record written by an earlier version of the harness reads too: what it did not record is None,
but for the env profile, which before profiles was always an episode lasting to the time limit
(`LEGACY_SETTINGS`).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from harness.conditions import EpisodeRules
from harness.schema import COMPLETE, FAILED, RUN_FILE
from harness.store.files import json_bytes, write_atomic
from harness.studies import LEGACY_SETTINGS

IDENTITY_KEYS = (
    "kind",
    "env_id",
    "profile",
    "total_timesteps",
    "evaluation",
    "hyperparameters",
    "seed",
    "code",
    "libraries",
)
"""The keys of a pair's identity (`harness.studies.pair_identity`), as `run.json` holds them."""
WRITTEN_WHEN_EMPTY = ("status", "error", "study", "label", "seed", *IDENTITY_KEYS, "code_dir", "command")
"""What every `run.json` says, null or not: the outcome and the pair it is of."""


@dataclass(frozen=True)
class Timings:
    """How long a run took (`run.json`'s `timings`)."""

    wall_time_s: float
    """From the start of the run to its files written."""
    learn_time_s: float | None = None
    """`learn`, evaluations included."""
    eval_time_s: float | None = None
    """The evaluations."""
    eval_share: float | None = None
    """`eval_time_s / learn_time_s`."""
    train_steps_per_s: float | None = None
    """Env steps per second of training, evaluations excluded."""


@dataclass(frozen=True)
class Machine:
    """What ran a run (`run.json`'s `machine`)."""

    cpu: str | None = None
    cores: int | None = None
    torch_threads: int | None = None
    platform: str | None = None
    cuda: str | None = None
    """The GPU's name, when torch saw one."""


@dataclass(frozen=True)
class Evaluation:
    """The evaluation protocol a run had (`run.json`'s `evaluation`)."""

    eval_freq: int | None = None
    n_eval_episodes: int | None = None
    eval_seed: int | None = None
    stop_below: list[list[float]] | None = None
    """A tuning trial's run: [env step, return] pairs of the median rule (absent otherwise)."""


@dataclass(frozen=True)
class RunRecord:
    """A run's `run.json`. Fields in the order the file holds them; None where a run did not get
    that far (a failed run has no model) or the harness that wrote it did not record it."""

    status: str | None
    """`complete` or `failed` (see `harness.schema`)."""
    error: str | None = None
    """Why it failed, one line."""
    study: str | None = None
    label: str | None = None
    seed: int | None = None
    kind: str | None = None
    env_id: str | None = None
    profile: EpisodeRules | None = None
    """The env profile's success rule and time limit the run had."""
    total_timesteps: int | None = None
    evaluation: Evaluation | None = None
    hyperparameters: Mapping[str, Any] | None = None
    """Resolved, as study.toml says them."""
    code: Mapping[str, Any] | None = None
    """The agent's code identity (`harness.agents.code_identity`)."""
    libraries: Mapping[str, str] | None = None
    """Versions of the libraries that are part of the identity."""
    code_dir: str | None = None
    """Where import-path kinds were resolved from."""
    command: str | None = None
    started_at: str | None = None
    versions: Mapping[str, str] | None = None
    """Python, this harness, its git commit, torch, SB3, gymnasium, numpy."""
    machine: Machine | None = None
    class_path: str | None = None
    """'module:QualifiedName' of the agent's class (`class` in the file)."""
    family: str | None = None
    class_file: str | None = None
    """The file the class was written in."""
    imported_from: str | None = None
    """The copy of it a Ray worker imported, when it was shipped."""
    agent_info: Mapping[str, Any] | None = None
    """What the agent resolved for itself (e.g. a tabular grid)."""
    steps_done: int | None = None
    n_episodes: int | None = None
    final_eval_mean_return: float | None = None
    stopped_at: int | None = None
    """A tuning trial's run stopped by the median rule: the env step it stopped at."""
    model_file: str | None = None
    timings: Timings | None = None
    traceback: str | None = None
    finished_at: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Keys this version of the harness does not know (kept, and written back)."""

    @property
    def complete(self) -> bool:
        return self.status == COMPLETE

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    @property
    def wall_time_s(self) -> float | None:
        return self.timings.wall_time_s if self.timings is not None else None

    @property
    def git_commit(self) -> str:
        """The commit of the harness that made the run ('not recorded' for a record without it)."""
        return (self.versions or {}).get("git_commit", "not recorded")

    def identity(self) -> dict[str, Any]:
        """The pair's identity as this record holds it (plain values, as `pair_identity` makes
        them); a key the record lacks is None, but for a legacy record's profile."""
        plain = self.to_dict()
        return {key: plain[key] if plain.get(key) is not None else LEGACY_SETTINGS.get(key) for key in IDENTITY_KEYS}

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)

    # -- the file ------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """A record from `run.json`'s JSON object (`ValueError` when it is not one)."""
        if not isinstance(data, Mapping):
            raise ValueError("run.json does not hold an object")
        names = {f.name for f in dataclasses.fields(cls)} - {"class_path", "extra"}
        values: dict[str, Any] = {name: data[name] for name in names if name in data}
        values["class_path"] = data.get("class")
        values["extra"] = {k: v for k, v in data.items() if k not in names and k != "class"}
        for name, typed in (
            ("profile", EpisodeRules),
            ("evaluation", Evaluation),
            ("timings", Timings),
            ("machine", Machine),
        ):
            if name in values:
                values[name] = _typed(typed, values[name])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of `run.json`: its fields in order, an empty one only when it is in
        `WRITTEN_WHEN_EMPTY`."""
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None and f.name not in WRITTEN_WHEN_EMPTY:
                continue
            if isinstance(value, Timings):  # a failed run has only its wall time
                value = {k: v for k, v in dataclasses.asdict(value).items() if v is not None}
            elif isinstance(value, Evaluation):  # the median rule only where a tuning run had one
                value = {k: v for k, v in dataclasses.asdict(value).items() if k != "stop_below" or v is not None}
            elif dataclasses.is_dataclass(value):
                value = dataclasses.asdict(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            data["class" if f.name == "class_path" else f.name] = value
        data.update(self.extra)
        return data


def _typed(cls: type, value: Any) -> Any:
    """A nested table of `run.json` as its dataclass (its known keys; `ValueError` for a table
    that lacks a required one or is no table at all)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{cls.__name__}: not a table")
    known = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in value.items() if k in known})


def read_record(run_dir: pathlib.Path) -> RunRecord | None:
    """The `run.json` of a run folder, or None when it is missing, truncated or corrupt."""
    try:
        return RunRecord.from_dict(json.loads((run_dir / RUN_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def is_complete(run_dir: pathlib.Path) -> bool:
    """Whether the run folder holds a complete result."""
    record = read_record(run_dir)
    return record is not None and record.complete


def write_record(run_dir: pathlib.Path, record: RunRecord) -> None:
    """Write `run.json` atomically (through a temporary name)."""
    write_atomic(run_dir / RUN_FILE, record_bytes(record))


def record_bytes(record: RunRecord) -> bytes:
    """`run.json`'s content: indented JSON with a final newline."""
    return json_bytes(record.to_dict())
