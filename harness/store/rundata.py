"""A study's run files read back: `study.toml`, each pair's `run.json` and, for a complete run, its
two CSVs, checked and typed by the schema (`harness.schema`). Nothing here computes a figure;
`harness.analysis.model` does.

    files = read_study(pathlib.Path("runs/classic-control"))
    files.envs["Acrobot-v1"].runs("tabular_q")      # the complete runs of an agent on an env

A one-env study's pairs are `runs/<study>/<label>/seed_<s>/`, a study across envs'
`runs/<study>/<env_id>/<label>/seed_<s>/`.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

import pandas as pd

from harness.errors import ReportError, StoreError, one_line
from harness.schema import EPISODES, EVALS, RUN_FILE, Table
from harness.store.files import pair_dir
from harness.store.record import RunRecord, read_record
from harness.store.studyfile import read_study_file
from harness.studies import Study, changed_setting


@dataclass(frozen=True)
class Run:
    """A complete run: its `run.json` and its two CSVs."""

    label: str
    seed: int
    record: RunRecord
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
    """One (agent, seed) of an env of the study and what its folder holds."""

    label: str
    seed: int
    status: str
    """complete, failed (run.json says so), stale (complete, but run with other settings than
    study.toml's), incomplete (no complete run.json) or missing (no folder)."""
    path: pathlib.Path
    error: str = ""
    run: Run | None = None


@dataclass(frozen=True)
class EnvRuns:
    """One env of a study (its single-env view) and the state of each of its pairs."""

    study: Study
    pairs: tuple[Pair, ...]
    """In study order: agents as listed, seeds ascending."""

    @property
    def env_id(self) -> str:
        return self.study.env_id

    def runs(self, label: str) -> list[Run]:
        """The complete runs of an agent, by seed."""
        return [pair.run for pair in self.pairs if pair.label == label and pair.run is not None]

    def kind(self, label: str) -> str:
        return self.study.agent(label).kind


@dataclass(frozen=True)
class StudyFiles:
    """A study and the files of each env's pairs."""

    study: Study
    study_dir: pathlib.Path
    command: str
    """The command that ran it (first line of study.toml), or ''."""
    envs: dict[str, EnvRuns]
    """Env id -> its runs, in the study's order."""

    @property
    def pairs(self) -> list[Pair]:
        return [pair for env in self.envs.values() for pair in env.pairs]


def read_study(study_dir: pathlib.Path) -> StudyFiles:
    """Read `study.toml` and every pair's folder; `ReportError` for a missing folder or study
    file, a study without any complete run, or a complete run with a corrupt or missing CSV."""
    try:
        recorded = read_study_file(study_dir)
    except StoreError as error:
        raise ReportError(str(error)) from None
    study, command = recorded.study, recorded.command
    envs = {}
    for view in study.split():
        pairs = tuple(
            _read_pair(study_dir.parent, view, spec.label, seed)
            for spec in view.agents
            for seed in sorted(view.settings.seeds)
        )
        envs[view.env_id] = EnvRuns(view, pairs)
    files = StudyFiles(study, study_dir, command, envs)
    if not any(pair.run for pair in files.pairs):
        raise ReportError(f"{study_dir}: empty: no run folder holds a complete {RUN_FILE}; run `harness compare` first")
    return files


def _read_pair(runs_dir: pathlib.Path, study: Study, label: str, seed: int) -> Pair:
    path = pair_dir(runs_dir, study, label, seed)
    if not path.is_dir():
        return Pair(label, seed, "missing", path)
    record = read_record(path)
    if record is None or not (record.complete or record.failed):
        return Pair(label, seed, "incomplete", path, f"no complete {RUN_FILE} (interrupted?)")
    if record.failed:
        return Pair(label, seed, "failed", path, one_line(record.error or "failed"))
    key = changed_setting(record.identity(), study, label)
    if key is not None:
        return Pair(label, seed, "stale", path, f"run with another {key} than study.toml's: not counted")
    episodes = _read_table(path, EPISODES)
    evals = _read_table(path, EVALS)
    return Pair(label, seed, "complete", path, run=Run(label, seed, record, episodes, evals))


def _read_table(path: pathlib.Path, table: Table) -> pd.DataFrame:
    file = path / table.file
    try:
        return table.read(file)
    except FileNotFoundError:
        raise ReportError(f"{file}: missing, though {RUN_FILE} says the run is complete") from None
    except (OSError, ValueError) as error:  # pandas' parse and conversion errors are ValueErrors
        raise ReportError(f"{file}: corrupt CSV: {one_line(error)}") from None
