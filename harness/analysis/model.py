"""The report's numbers model: every figure of a study computed once, into tidy DataFrames.

    results = load(pathlib.Path("runs/classic-control"))
    results.summary              # one row per (env, agent): the summary table
    results.envs["Acrobot-v1"]   # one env's runs, summary, curves, comparisons
    results.aggregate            # across envs: rliable's IQM, mean, optimality gap, ...

The Markdown (`harness.markdown`), the pictures (`harness.plots`) and the episode videos
(`harness.media`) only read this model; `harness.load` returns it.

Definitions (the report prints them too), per env, by its profile (`harness.profiles`):

- a run's *final return* is the mean return of its last evaluation (the rows of `evals.csv` at
  the largest `eval_step`, the end of training); its *final success rate* the share of those
  episodes that succeeded by the profile's rule;
- its *score* is the final return normalised to [0, 1] by the profile's return range
  ((return - lo) / (hi - lo), clipped); the *normalised AUC* is the area under its normalised
  evaluation curve (trapezoid rule over env steps) divided by the budget;
- *steps to threshold*: the first evaluation at which its mean return reached the profile's
  threshold.

Intervals are 95% stratified-bootstrap intervals across seeds (`harness.stats`), each with its
own fixed random state, so the same runs always give the same numbers.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import pathlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np
import pandas as pd

from harness.analysis import stats
from harness.conditions import EnvProfile
from harness.store import Cache, EnvRuns, Pair, Run, StudyFiles, read_study
from harness.studies import Study

TRAIN_SMOOTHING_EPISODES = 20
"""The training-return curve is the mean of each seed's last 20 episodes."""
TRAIN_GRID_POINTS = 101
"""Env-step points at which smoothed training curves are sampled (0 to the budget)."""
PROFILE_TAUS = np.linspace(0.0, 1.0, 101)
"""Score thresholds of the performance profile."""

RUN_COLUMNS = (
    "agent",
    "seed",
    "status",
    "error",
    "final_return",
    "final_success",
    "score",
    "train_episodes",
    "train_success",
    "steps_to_threshold",
    "auc",
    "wall_time_s",
    "steps_per_s",
)
"""`EnvResults.runs`: one row per pair; the numbers are NaN for a pair without a complete run."""


def random_state(*parts: object) -> int:
    """A fixed random state per statistic, from its name: independent of which other agents or
    statistics the report holds."""
    return zlib.crc32("/".join(str(p) for p in parts).encode())


@dataclass(frozen=True)
class EnvResults:
    """Every figure of one env of the study."""

    env_id: str
    study: Study
    """The study's single-env view of this env."""
    profile: EnvProfile
    files: EnvRuns
    runs: pd.DataFrame
    """One row per pair (`RUN_COLUMNS`), in study order."""
    summary: pd.DataFrame
    """One row per agent: the summary table (the columns of `summary.csv`)."""
    curves: pd.DataFrame
    """Long: `curve` (eval_return, train_return, success_rate), `agent`, `step`, `mean`, `low`,
    `high` (NaN where no seed has a value yet)."""
    improvement: pd.DataFrame
    """One row per pair of agents (each over each later one): `x`, `y`, `p` = P(X > Y), `low`,
    `high`, `n_x`, `n_y`."""
    paired: pd.DataFrame
    """One row per declared pair: `x`, `y`, `n_runs`, `n_pairs`, `mean` (X − Y), `low`, `high`,
    `wins`, `ties`, `losses`."""

    @property
    def labels(self) -> list[str]:
        """The agents with at least one complete run, in study order."""
        return [label for label in self.study.labels if self.files.runs(label)]

    def shown_run(self, label: str) -> Run:
        """The run whose final return is the median of the agent's runs (the lower middle one
        for an even count; ties broken by the smaller seed): the one whose episode is shown."""
        final = self.runs.set_index(["agent", "seed"])["final_return"]
        ordered = sorted(self.files.runs(label), key=lambda run: (final[(label, run.seed)], run.seed))
        return ordered[(len(ordered) - 1) // 2]


@dataclass(frozen=True)
class Aggregate:
    """Across the study's envs, on normalised scores (rliable)."""

    scores: pd.DataFrame
    """Long: `agent`, `seed`, `env_id`, `score`: each seed's final score on each env, for the
    seeds an agent completed on every env."""
    metrics: pd.DataFrame
    """One row per (agent, metric): `agent`, `metric` (IQM, mean, optimality gap), `value`,
    `low`, `high`, `n_seeds`."""
    improvement: pd.DataFrame
    """One row per pair of agents: `x`, `y`, `p` = P(X > Y) averaged over envs, `low`, `high`."""
    profiles: pd.DataFrame
    """Long: `agent`, `tau`, `fraction` (share of scores above tau), `low`, `high`."""
    left_out: pd.DataFrame = field(default_factory=pd.DataFrame)
    """`agent`, `seeds`: seeds left out because they are not complete on every env."""


class StudyResults:
    """A study's results from its run files alone: every figure, computed once.

    - `envs`: env id -> `EnvResults`; `aggregate`: across envs (None for one env);
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
        self.envs = {env_id: env_results(env, reps, cache) for env_id, env in files.envs.items()}
        self.aggregate = aggregate(self.envs, reps, cache) if self.study.across_envs else None
        cache.save()

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
            {"env_id": env_id, "agent": p.label, "seed": p.seed, "status": p.status, "error": p.error}
            for env_id, env in self.files.envs.items()
            for p in env.pairs
        ]
        return pd.DataFrame(rows, columns=["env_id", "agent", "seed", "status", "error"])

    def _long(self, which: str) -> pd.DataFrame:
        frames = []
        for env_id, env in self.files.envs.items():
            for pair in env.pairs:
                if pair.run is None:
                    continue
                frame = getattr(pair.run, which).copy()
                frame.insert(0, "seed", pair.seed)
                frame.insert(0, "agent", pair.label)
                frame.insert(0, "env_id", env_id)
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


# ----------------------------------------------------------------------------------------------
# One env


def env_results(files: EnvRuns, reps: int, cache: Cache | None = None) -> EnvResults:
    """Every figure of one env."""
    cache = cache or Cache(None)
    study = files.study
    profile = study.profile
    runs = run_table(files, profile)
    return EnvResults(
        env_id=files.env_id,
        study=study,
        profile=profile,
        files=files,
        runs=runs,
        summary=summary_table(files, runs, profile, reps, cache),
        curves=curve_table(files, reps, cache),
        improvement=improvement_table(files, runs, reps, cache),
        paired=paired_table(files, reps, cache),
    )


def _interval(cache: Cache, statistic: Any, scores: np.ndarray, state: int, reps: int) -> stats.Estimate:
    """`statistic(scores, state, reps)` (an interval of `harness.stats`), through the cache."""
    value = cache.numbers(
        statistic.__name__,
        [scores],
        state,
        reps,
        compute=lambda: list(dataclasses.astuple(statistic(scores, state, reps))),
    )
    return stats.Estimate(*value)


def _improvement(cache: Cache, x: np.ndarray, y: np.ndarray, state: int, reps: int) -> stats.Estimate:
    """`stats.probability_of_improvement(x, y, ...)`, through the cache."""
    value = cache.numbers(
        "poi",
        [x, y],
        state,
        reps,
        compute=lambda: list(dataclasses.astuple(stats.probability_of_improvement(x, y, state, reps))),
    )
    return stats.Estimate(*value)


def _arrays(cache: Cache, name: str, arrays: Sequence[Any], state: int, reps: int, compute: Any) -> tuple:
    """`compute()` (a tuple of 1-D arrays), through the cache."""
    value = cache.numbers(name, arrays, state, reps, compute=lambda: [np.asarray(a).tolist() for a in compute()])
    return tuple(np.asarray(a, dtype=float) for a in value)


def run_table(files: EnvRuns, profile: EnvProfile) -> pd.DataFrame:
    """One row per pair (`RUN_COLUMNS`)."""
    budget = files.study.settings.total_timesteps
    lo, hi = profile.return_range
    rows = []
    for pair in files.pairs:
        row: dict[str, Any] = {"agent": pair.label, "seed": pair.seed, "status": pair.status, "error": pair.error}
        run = pair.run
        if run is not None:
            curve = run.curve
            final = run.final_evals
            timings = run.record.get("timings") or {}
            final_return = float(final["return"].mean())
            row.update(
                final_return=final_return,
                final_success=float(final["success"].mean()),
                score=float(stats.normalise(final_return, lo, hi)),
                train_episodes=len(run.episodes),
                train_success=float(run.episodes["success"].mean()) if len(run.episodes) else math.nan,
                steps_to_threshold=stats.steps_to_threshold(
                    curve.index.to_numpy(), curve.to_numpy(), profile.threshold
                ),
                auc=stats.normalised_auc(curve.index.to_numpy(), curve.to_numpy(), budget, lo, hi),
                wall_time_s=float(timings.get("wall_time_s", math.nan)),
                steps_per_s=float(timings.get("train_steps_per_s", math.nan)),
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def summary_table(
    files: EnvRuns, runs: pd.DataFrame, profile: EnvProfile, reps: int, cache: Cache | None = None
) -> pd.DataFrame:
    """The summary table as data: one row per agent label, in study order."""
    cache = cache or Cache(None)
    rows = []
    for label in files.study.labels:
        own = runs[(runs["agent"] == label) & (runs["status"] == "complete")]
        final = own["final_return"].to_numpy()
        success_rates = own["final_success"].to_numpy()
        mean = _interval(cache, stats.mean_interval, final, random_state(*_env(files), label, "final_mean"), reps)
        iqm = _interval(cache, stats.iqm_interval, final, random_state(*_env(files), label, "final_iqm"), reps)
        success = _interval(
            cache, stats.mean_interval, success_rates, random_state(*_env(files), label, "success"), reps
        )
        steps, reached = stats.median_of_reached(own["steps_to_threshold"].to_numpy())
        problems = runs[(runs["agent"] == label) & (runs["status"] != "complete")]
        rows.append(
            {
                "agent": label,
                "kind": files.kind(label),
                "runs_complete": len(own),
                "runs_planned": len(files.study.settings.seeds),
                "final_return_mean": mean.value,
                "final_return_mean_low": mean.low,
                "final_return_mean_high": mean.high,
                "final_return_iqm": iqm.value,
                "final_return_iqm_low": iqm.low,
                "final_return_iqm_high": iqm.high,
                "eval_success_rate": success.value,
                "eval_success_rate_low": success.low,
                "eval_success_rate_high": success.high,
                "train_success_rate": _mean(own["train_success"]),
                "threshold": profile.threshold,
                "steps_to_threshold_median": steps,
                "seeds_reaching_threshold": reached,
                "auc_normalised": _mean(own["auc"]),
                "wall_time_s_per_run": _mean(own["wall_time_s"]),
                "env_steps_per_s": _mean(own["steps_per_s"]),
                "failed_or_missing": "; ".join(
                    f"seed {seed} {status}" for seed, status in problems[["seed", "status"]].itertuples(index=False)
                ),
            }
        )
    return pd.DataFrame(rows)


def curve_table(files: EnvRuns, reps: int, cache: Cache | None = None) -> pd.DataFrame:
    """The learning curves: evaluation return, smoothed training return and evaluation success
    rate against env steps, per agent, mean across seeds with a pointwise 95% band."""
    cache = cache or Cache(None)
    grid = np.linspace(0, files.study.settings.total_timesteps, TRAIN_GRID_POINTS)
    frames = []
    for label in files.study.labels:
        runs = files.runs(label)
        if not runs:
            continue
        for curve, (steps, mean, low, high) in (
            ("eval_return", _eval_curve(runs, "return", random_state(*_env(files), label, "eval_curve"), reps, cache)),
            ("train_return", _train_curve(runs, grid, random_state(*_env(files), label, "train_curve"), reps, cache)),
            (
                "success_rate",
                _eval_curve(runs, "success", random_state(*_env(files), label, "success_curve"), reps, cache),
            ),
        ):
            frames.append(
                pd.DataFrame({"curve": curve, "agent": label, "step": steps, "mean": mean, "low": low, "high": high})
            )
    columns = ["curve", "agent", "step", "mean", "low", "high"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _eval_curve(runs: Sequence[Run], column: str, state: int, reps: int, cache: Cache) -> tuple[np.ndarray, ...]:
    per_run = [run.evals.groupby("eval_step")[column].mean() for run in runs]
    steps = sorted(set.intersection(*(set(series.index) for series in per_run)))
    matrix = np.array([[float(series[step]) for step in steps] for series in per_run])
    mean, low, high = _arrays(
        cache, "pointwise", [matrix], state, reps, lambda: stats.pointwise_mean_interval(matrix, state, reps)
    )
    return np.array(steps, dtype=float), mean, low, high


def _train_curve(runs: Sequence[Run], grid: np.ndarray, state: int, reps: int, cache: Cache) -> tuple[np.ndarray, ...]:
    """Each run's mean return over its last episodes, as of each grid step (NaN before its first
    episode ends); mean and band over runs where every run has a value."""
    matrix = np.full((len(runs), grid.size), np.nan)
    for i, run in enumerate(runs):
        episodes = run.episodes.sort_values("end_step")
        if episodes.empty:
            continue
        smoothed = episodes["return"].rolling(TRAIN_SMOOTHING_EPISODES, min_periods=1).mean().to_numpy()
        index = np.searchsorted(episodes["end_step"].to_numpy(), grid, side="right") - 1
        matrix[i] = np.where(index >= 0, smoothed[np.maximum(index, 0)], np.nan)
    mean, low, high = (np.full(grid.size, np.nan) for _ in range(3))
    full = ~np.isnan(matrix).any(axis=0)
    if full.any():
        kept = matrix[:, full]
        mean[full], low[full], high[full] = _arrays(
            cache, "pointwise", [kept], state, reps, lambda: stats.pointwise_mean_interval(kept, state, reps)
        )
    return grid, mean, low, high


def improvement_table(files: EnvRuns, runs: pd.DataFrame, reps: int, cache: Cache | None = None) -> pd.DataFrame:
    """P(X > Y) of each agent X over each later one Y in the study's order, on final returns."""
    cache = cache or Cache(None)
    complete = runs[runs["status"] == "complete"]
    labels = [label for label in files.study.labels if (complete["agent"] == label).any()]
    finals = {label: complete[complete["agent"] == label]["final_return"].to_numpy() for label in labels}
    rows = []
    for i, x in enumerate(labels):
        for y in labels[i + 1 :]:
            estimate = _improvement(cache, finals[x], finals[y], random_state(*_env(files), x, y, "poi"), reps)
            rows.append(
                {
                    "x": x,
                    "y": y,
                    "p": estimate.value,
                    "low": estimate.low,
                    "high": estimate.high,
                    "n_x": len(finals[x]),
                    "n_y": len(finals[y]),
                }
            )
    return pd.DataFrame(rows, columns=["x", "y", "p", "low", "high", "n_x", "n_y"])


def paired_table(files: EnvRuns, reps: int, cache: Cache | None = None) -> pd.DataFrame:
    """The declared pairs on the same final evaluation episodes (same seed, same start state)."""
    cache = cache or Cache(None)
    rows = []
    for x, y in files.study.settings.paired:
        xs, ys = _paired_returns(files, x, y)
        row: dict[str, Any] = {"x": x, "y": y, "n_runs": 0, "n_pairs": 0}
        if xs.size:
            state = random_state(*_env(files), x, y, "paired")

            def compute(xs: np.ndarray = xs, ys: np.ndarray = ys, state: int = state) -> list[float]:
                result = stats.paired_difference(xs, ys, state, reps)
                diff = result.mean_difference
                return [diff.value, diff.low, diff.high, result.wins, result.ties, result.losses, result.n_runs]

            mean, low, high, wins, ties, losses, n_runs = cache.numbers(
                "paired", [xs, ys], state, reps, compute=compute
            )
            row.update(
                n_runs=int(n_runs),
                n_pairs=int(xs.size),
                mean=mean,
                low=low,
                high=high,
                wins=int(wins),
                ties=int(ties),
                losses=int(losses),
            )
        rows.append(row)
    columns = ["x", "y", "n_runs", "n_pairs", "mean", "low", "high", "wins", "ties", "losses"]
    return pd.DataFrame(rows, columns=columns)


def _paired_returns(files: EnvRuns, x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    """Final returns of x and y on their shared (seed, eval_seed) episodes, each shape
    (n_shared_seeds, n_shared_episodes)."""
    runs_y = {run.seed: run for run in files.runs(y)}
    xs, ys = [], []
    for run_x in files.runs(x):
        run_y = runs_y.get(run_x.seed)
        if run_y is None:
            continue
        joined = run_x.final_evals.merge(run_y.final_evals, on="eval_seed", suffixes=("_x", "_y"))
        joined = joined.sort_values("eval_seed")
        xs.append(joined["return_x"].to_numpy())
        ys.append(joined["return_y"].to_numpy())
    if not xs:
        return np.zeros((0, 0)), np.zeros((0, 0))
    width = min(len(a) for a in xs)  # every seed's final evaluation has the study's episodes
    return np.stack([a[:width] for a in xs]), np.stack([b[:width] for b in ys])


# ----------------------------------------------------------------------------------------------
# Across envs


def aggregate(envs: dict[str, EnvResults], reps: int, cache: Cache | None = None) -> Aggregate:
    """rliable's aggregate statistics of the final scores, across envs: for each agent, the seeds
    it completed on every env (a matrix seeds x envs)."""
    cache = cache or Cache(None)
    labels = list(dict.fromkeys(label for env in envs.values() for label in env.study.labels))
    matrices: dict[str, np.ndarray] = {}
    score_rows, left_out = [], []
    for label in labels:
        per_env = {}
        for env_id, env in envs.items():
            done = env.runs[(env.runs["agent"] == label) & (env.runs["status"] == "complete")]
            per_env[env_id] = dict(zip(done["seed"], done["score"]))
        planned = set.union(*(set(env.study.settings.seeds) for env in envs.values()))
        seeds = sorted(set.intersection(*(set(scores) for scores in per_env.values())))
        missing = sorted(planned - set(seeds))
        if missing:
            left_out.append({"agent": label, "seeds": ", ".join(map(str, missing))})
        if not seeds:
            continue
        matrices[label] = np.array([[per_env[env_id][seed] for env_id in envs] for seed in seeds])
        score_rows += [
            {"agent": label, "seed": seed, "env_id": env_id, "score": per_env[env_id][seed]}
            for seed in seeds
            for env_id in envs
        ]
    metric_rows, profile_frames = [], []
    for label, matrix in matrices.items():
        state = random_state(label, "aggregate")
        values = cache.numbers(
            "aggregate",
            [matrix],
            state,
            reps,
            compute=lambda m=matrix, s=state: [
                list(dataclasses.astuple(e)) for e in stats.aggregate_intervals(m, s, reps).values()
            ],
        )
        for metric, value in zip(stats.AGGREGATES, values, strict=True):
            estimate = stats.Estimate(*value)
            metric_rows.append(
                {
                    "agent": label,
                    "metric": metric,
                    "value": estimate.value,
                    "low": estimate.low,
                    "high": estimate.high,
                    "n_seeds": matrix.shape[0],
                }
            )
        state = random_state(label, "profile")
        fraction, low, high = _arrays(
            cache,
            "profile",
            [matrix, PROFILE_TAUS],
            state,
            reps,
            lambda m=matrix, s=state: stats.performance_profile(m, PROFILE_TAUS, s, reps),
        )
        profile_frames.append(
            pd.DataFrame({"agent": label, "tau": PROFILE_TAUS, "fraction": fraction, "low": low, "high": high})
        )
    names = list(matrices)
    improvement_rows = []
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            estimate = _improvement(cache, matrices[x], matrices[y], random_state(x, y, "aggregate_poi"), reps)
            improvement_rows.append({"x": x, "y": y, "p": estimate.value, "low": estimate.low, "high": estimate.high})
    return Aggregate(
        scores=pd.DataFrame(score_rows, columns=["agent", "seed", "env_id", "score"]),
        metrics=pd.DataFrame(metric_rows, columns=["agent", "metric", "value", "low", "high", "n_seeds"]),
        improvement=pd.DataFrame(improvement_rows, columns=["x", "y", "p", "low", "high"]),
        profiles=(
            pd.concat(profile_frames, ignore_index=True)
            if profile_frames
            else pd.DataFrame(columns=["agent", "tau", "fraction", "low", "high"])
        ),
        left_out=pd.DataFrame(left_out, columns=["agent", "seeds"]),
    )


# ----------------------------------------------------------------------------------------------


def _env(files: EnvRuns) -> tuple[str, ...]:
    """The random-state prefix of an env's statistics: none for a one-env study (so a one-env
    study's numbers are the same as before envs existed), the env id across envs."""
    return (files.env_id,) if files.study.across_envs else ()


def _mean(values: Any) -> float:
    finite = [v for v in np.asarray(values, dtype=float) if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def _with_env(frames: Sequence[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    parts = []
    for env_id, frame in frames:
        frame = frame.copy()
        frame.insert(0, "env_id", env_id)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


__all__ = ["Aggregate", "EnvResults", "Pair", "StudyResults", "env_results", "load"]
