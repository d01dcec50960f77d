"""A study's run files read back: the pairs of `study.toml`, each complete run's `run.json` and
CSVs checked and typed, and the per-run numbers the report aggregates.

Definitions (the report prints them too):

- a run's *final return* is the mean return of its last evaluation (the rows of `evals.csv` at
  the largest `eval_step`, the end of training); its *final success rate* the share of those
  episodes that reached the time limit;
- the *maximum return* normalises returns: `max_episode_steps` of the env's spec (500 on
  CartPole-v1, which pays +1 per step until the time limit); the *threshold* is the spec's
  `reward_threshold` (475 on CartPole-v1);
- the *normalised AUC* is the trapezoid-rule area under a run's evaluation curve (mean return at
  each evaluation point against env steps) divided by budget x maximum return.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd

from harness import stats
from harness.errors import ReportError
from harness.results import (
    COMMAND_PREFIX,
    COMPLETE,
    EPISODE_COLUMNS,
    EVAL_COLUMNS,
    FAILED,
    RUN_FILE,
    STUDY_FILE,
    read_run,
)
from harness.runner import changed_setting
from harness.study import Study, StudyError, parse_study

_EVAL_DTYPES = {
    "eval_step": "int64",
    "episode": "int64",
    "eval_seed": "int64",
    "return": "float64",
    "length": "int64",
    "success": "bool",
}
_EPISODE_DTYPES = {
    "episode": "int64",
    "start_step": "int64",
    "end_step": "int64",
    "return": "float64",
    "length": "int64",
    "terminated": "bool",
    "truncated": "bool",
    "success": "bool",
    "wall_time_s": "float64",
}


# ----------------------------------------------------------------------------------------------
# Reading a study's files


@dataclass(frozen=True)
class Run:
    """A complete run: its `run.json` and its two CSVs."""

    label: str
    seed: int
    record: Mapping[str, Any]
    episodes: pd.DataFrame
    """`episodes.csv`: one row per training episode."""
    evals: pd.DataFrame
    """`evals.csv`: one row per evaluation episode."""

    @property
    def curve(self) -> pd.Series:
        """Mean evaluation return by `eval_step` (sorted)."""
        return self.evals.groupby("eval_step")["return"].mean().sort_index()

    @property
    def final_evals(self) -> pd.DataFrame:
        """The evaluation episodes of the last evaluation, by episode."""
        last = self.evals["eval_step"].max()
        return self.evals[self.evals["eval_step"] == last].sort_values("episode")


@dataclass(frozen=True)
class Pair:
    """One (agent, seed) of the study and what its folder holds."""

    label: str
    seed: int
    status: str
    """complete, failed (run.json says so), stale (complete, but run with other settings than
    study.toml's), incomplete (no complete run.json) or missing (no folder)."""
    error: str = ""
    run: Run | None = None


@dataclass(frozen=True)
class StudyRuns:
    """A study and the state of each of its pairs."""

    study: Study
    study_dir: pathlib.Path
    command: str
    """The command that ran it (first line of study.toml), or ''."""
    pairs: tuple[Pair, ...]
    """In study order: agents as listed, seeds ascending."""

    def runs(self, label: str) -> list[Run]:
        """The complete runs of an agent, by seed."""
        return [pair.run for pair in self.pairs if pair.label == label and pair.run is not None]

    def kind(self, label: str) -> str:
        return self.study.agent(label).kind


def load_study_runs(study_dir: pathlib.Path) -> StudyRuns:
    """Read `study.toml` and every pair's folder; `ReportError` for a missing folder or study
    file, a study without any complete run, or a complete run with a corrupt or missing CSV."""
    if not study_dir.is_dir():
        raise ReportError(f"{study_dir}: no such folder")
    study_file = study_dir / STUDY_FILE
    try:
        text = study_file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{study_file}: missing; is {study_dir} a study's runs folder (RUNS_DIR/STUDY)?") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReportError(f"{study_file}: cannot read: {one_line(error)}") from None
    try:
        study = parse_study(text, str(study_file), check_files=False)
    except StudyError as error:
        raise ReportError(one_line(error)) from None
    first = text.splitlines()[0] if text else ""
    command = first[len(COMMAND_PREFIX) :].strip() if first.startswith(COMMAND_PREFIX) else ""
    pairs = tuple(
        _read_pair(study_dir, study, spec.label, seed) for spec in study.agents for seed in sorted(study.settings.seeds)
    )
    if not any(pair.run for pair in pairs):
        raise ReportError(f"{study_dir}: empty: no run folder holds a complete {RUN_FILE}; run `harness compare` first")
    return StudyRuns(study, study_dir, command, pairs)


def _read_pair(study_dir: pathlib.Path, study: Study, label: str, seed: int) -> Pair:
    path = study_dir / label / f"seed_{seed}"
    if not path.is_dir():
        return Pair(label, seed, "missing")
    record = read_run(path)
    if record is None or record.get("status") not in (COMPLETE, FAILED):
        return Pair(label, seed, "incomplete", f"no complete {RUN_FILE} (interrupted?)")
    if record["status"] == FAILED:
        return Pair(label, seed, "failed", one_line(record.get("error") or "failed"))
    key = changed_setting(record, study, label)
    if key is not None:
        return Pair(label, seed, "stale", f"run with another {key} than study.toml's: not counted")
    episodes = _read_csv(path / "episodes.csv", EPISODE_COLUMNS, _EPISODE_DTYPES, need_rows=False)
    evals = _read_csv(path / "evals.csv", EVAL_COLUMNS, _EVAL_DTYPES, need_rows=True)
    return Pair(label, seed, "complete", run=Run(label, seed, record, episodes, evals))


def _read_csv(path: pathlib.Path, columns: Sequence[str], dtypes: Mapping[str, str], need_rows: bool) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=dict(dtypes))
    except FileNotFoundError:
        raise ReportError(f"{path}: missing, though {RUN_FILE} says the run is complete") from None
    except (OSError, ValueError) as error:  # pandas' parse and conversion errors are ValueErrors
        raise ReportError(f"{path}: corrupt CSV: {one_line(error)}") from None
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ReportError(f"{path}: corrupt CSV: missing column(s) {', '.join(missing)}")
    if need_rows and frame.empty:
        raise ReportError(f"{path}: corrupt CSV: no rows")
    if not np.isfinite(frame["return"].to_numpy()).all():
        raise ReportError(f"{path}: corrupt CSV: a non-finite return")
    return frame[list(columns)]


# ----------------------------------------------------------------------------------------------
# Numbers


@dataclass(frozen=True)
class ReturnScale:
    """What returns are measured against."""

    max_return: float
    """The best possible return: `max_episode_steps` of the env's spec (CartPole pays +1 per step
    until the time limit, so 500 on CartPole-v1). Normalises the AUC."""
    threshold: float
    """The 'solved' level: the spec's `reward_threshold` (475 on CartPole-v1), else 95% of the
    maximum return."""


def return_scale(env_id: str) -> ReturnScale:
    """The `ReturnScale` of a gymnasium env id."""
    spec = gym.spec(env_id)
    max_return = float(spec.max_episode_steps) if spec.max_episode_steps else math.nan
    threshold = float(spec.reward_threshold) if spec.reward_threshold is not None else 0.95 * max_return
    return ReturnScale(max_return, threshold)


@dataclass(frozen=True)
class RunNumbers:
    """The per-seed numbers of one complete run."""

    final_return: float
    final_success: float
    train_episodes: int
    train_success: float
    steps_to_threshold: float
    """NaN when the run never reached the threshold."""
    auc: float
    wall_time_s: float
    steps_per_s: float


def run_numbers(run: Run, budget: int, scale: ReturnScale) -> RunNumbers:
    """The numbers of one run (see the module docstring for the definitions)."""
    curve = run.curve
    final = run.final_evals
    timings = run.record.get("timings") or {}
    return RunNumbers(
        final_return=float(final["return"].mean()),
        final_success=float(final["success"].mean()),
        train_episodes=len(run.episodes),
        train_success=float(run.episodes["success"].mean()) if len(run.episodes) else math.nan,
        steps_to_threshold=stats.steps_to_threshold(curve.index.to_numpy(), curve.to_numpy(), scale.threshold),
        auc=stats.normalised_auc(curve.index.to_numpy(), curve.to_numpy(), budget, scale.max_return),
        wall_time_s=float(timings.get("wall_time_s", math.nan)),
        steps_per_s=float(timings.get("train_steps_per_s", math.nan)),
    )


def one_line(error: object) -> str:
    return " ".join(str(error).split())
