"""The report's numbers model: every figure of a study computed once, into tidy DataFrames.

    results = load(pathlib.Path("runs/classic-control"))
    results.summary              # one row per (env, agent): the summary table
    results.envs["Acrobot-v1"]   # one env's runs, summary, curves, comparisons
    results.aggregate            # across envs: rliable's IQM, mean, optimality gap, ...

The Markdown (`harness.report.markdown`), the pictures (`harness.report.plots`) and the episode videos
(`harness.report.media`) only read this model; `harness.load` returns it.

Definitions (the report prints them too), per env, by its profile (`harness.conditions.profiles`):

- a run's *final return* is the mean return of its last evaluation (the rows of `evals.csv` at
  the largest `eval_step`, the end of training); its *final success rate* the share of those
  episodes that succeeded by the profile's rule;
- its *score* is the final return normalised to [0, 1] by the profile's return range
  ((return - lo) / (hi - lo), clipped); the *normalised AUC* is the area under its normalised
  evaluation curve (trapezoid rule over env steps) divided by the budget;
- *steps to threshold*: the first evaluation at which its mean return reached the profile's
  threshold.

Intervals are 95% stratified-bootstrap intervals across seeds (`harness.analysis.stats`), each with its
own fixed random state, so the same runs always give the same numbers.
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Sequence
from typing import Self

import pandas as pd

from harness.analysis import columns as col
from harness.analysis import stats
from harness.analysis.aggregate import aggregate
from harness.analysis.decisions import planned_seeds, study_decisions
from harness.analysis.envresults import env_results
from harness.analysis.facts import StudyFacts, study_facts
from harness.store import Cache, StudyFiles, read_study


class StudyResults:
    """A study's results from its run files alone: every figure, computed once.

    - `envs`: env id -> `EnvResults`; `aggregate`: across envs (None for one env);
    - `facts`: how the runs were made (wall time, commits, versions, machines);
    - `decisions`: a study with a `[decide]` table: one row per (env, comparison): `env`, `agent`,
      `versus`, `verdict` (larger, smaller, equal, open), `round`, `seeds_agent`, `seeds_versus`,
      `alpha` (empty without one);
    - `summary`: the envs' summary tables, one row per (env, agent), `env_id` first;
    - `evals`: one row per evaluation episode of every complete run: `env_id`, `agent`, `seed`,
      then `evals.csv`'s `eval_step, episode, eval_seed, return, length, success`;
    - `episodes`: one row per training episode of every complete run: `env_id`, `agent`, `seed`,
      then `episodes.csv`'s `episode, start_step, end_step, return, length, terminated,
      truncated, success, wall_time_s`;
    - `pairs`: one row per (env, agent, seed): `env_id`, `agent`, `seed`, `status` (complete,
      failed, stale, incomplete, missing), `error`.

    `harness.report.Results` adds the renderers (`write_report`, `plot`).
    """

    def __init__(self, files: StudyFiles, reps: int = stats.REPS, cache: Cache | None = None) -> None:
        self.files = files
        self.study = files.study
        self.study_dir = files.study_dir
        self.command = files.command
        self.reps = reps
        cache = cache or Cache(None)
        self.decisions: pd.DataFrame = study_decisions(files)
        self.envs = {env_id: env_results(env, reps, cache, self._planned(env_id)) for env_id, env in files.envs.items()}
        self.aggregate = aggregate(self.envs, reps, cache) if self.study.across_envs else None
        self.facts: StudyFacts = study_facts(files)
        cache.save()

    def _planned(self, env_id: str) -> dict[str, int] | None:
        """A study that decides in rounds: the seeds each agent's rounds need on `env_id`."""
        if self.study.decide is None:
            return None
        rows = self.decisions[self.decisions[col.DECISION_ENV] == env_id]
        return planned_seeds(self.files.envs[env_id].study, rows)

    @property
    def planned_runs(self) -> int:
        """The runs the study plans: every pair, or in a study that decides in rounds, the seeds
        each agent's rounds need."""
        return int(sum(env.summary[col.RUNS_PLANNED].sum() for env in self.envs.values()))

    @property
    def seeds(self) -> list[int]:
        """The seeds the study may train, sorted: all of them, or in a study that decides in rounds
        the first n x K (round k trains `seeds[k*n:(k+1)*n]`)."""
        seeds, decide = list(self.study.settings.seeds), self.study.decide
        if decide is not None:
            seeds = seeds[: decide.seeds_per_round * decide.max_rounds]
        return sorted(seeds)

    @property
    def across_envs(self) -> bool:
        return self.study.across_envs

    @functools.cached_property
    def summary(self) -> pd.DataFrame:
        return _with_env([(env_id, env.summary) for env_id, env in self.envs.items()])

    @functools.cached_property
    def evals(self) -> pd.DataFrame:
        return self._long("evals")

    @functools.cached_property
    def episodes(self) -> pd.DataFrame:
        return self._long("episodes")

    @functools.cached_property
    def pairs(self) -> pd.DataFrame:
        rows = [
            {col.ENV_ID: env_id, col.AGENT: p.label, col.SEED: p.seed, col.STATUS: p.status, col.ERROR: p.error}
            for env_id, env in self.files.envs.items()
            for p in env.pairs
        ]
        return pd.DataFrame(rows, columns=[col.ENV_ID, col.AGENT, col.SEED, col.STATUS, col.ERROR])

    def _long(self, which: str) -> pd.DataFrame:
        frames = []
        for env_id, env in self.files.envs.items():
            for pair in env.pairs:
                if pair.run is None:
                    continue
                frame = getattr(pair.run, which).copy()
                frame.insert(0, col.SEED, pair.seed)
                frame.insert(0, col.AGENT, pair.label)
                frame.insert(0, col.ENV_ID, env_id)
                frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    @classmethod
    def from_folder(cls, study_dir: str | pathlib.Path, reps: int = stats.REPS, cache: bool = True) -> Self:
        """The results of the study in `study_dir` (RUNS_DIR/STUDY); `ReportError` when there are
        none. With `cache`, the bootstrap intervals are kept in (and read back from)
        `RUNS_DIR/STUDY/.cache/`."""
        study_dir = pathlib.Path(study_dir)
        return cls(read_study(study_dir), reps, Cache.of_study(study_dir) if cache else None)

    def __repr__(self) -> str:
        complete = sum(1 for pair in self.files.pairs if pair.run is not None)
        envs = ", ".join(self.envs)
        return f"StudyResults({self.study_dir}: {envs}; {len(self.study.agents)} agents, {complete} complete runs)"


def load(study_dir: str | pathlib.Path, reps: int = stats.REPS, cache: bool = True) -> StudyResults:
    """`StudyResults.from_folder`: the results of the study in `study_dir` (RUNS_DIR/STUDY)."""
    return StudyResults.from_folder(study_dir, reps, cache)


def _with_env(frames: Sequence[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    parts = []
    for env_id, frame in frames:
        frame = frame.copy()
        frame.insert(0, col.ENV_ID, env_id)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)
