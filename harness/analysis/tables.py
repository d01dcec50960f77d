"""The tables of one env, each a pure function of its run files: one row per pair (`run_table`),
per agent (`summary_table`, and `summary_standing`: against the highest IQM), per curve point
(`curve_table`), per pair of agents (`improvement_table`), per declared pair (`paired_table`).
Column names are `columns`' constants; the comparisons' verdicts are `verdicts`'.

Every interval goes through the report's cache (`harness.store.Cache`) under a fixed random
state named after what it measures (`stats.random_state`), so the same runs give the same numbers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import columns as col
from harness.analysis import stats, verdicts
from harness.analysis.stats import random_state
from harness.conditions import EnvProfile
from harness.schema import COMPLETE
from harness.store import Cache, EnvRuns, Run

TRAIN_SMOOTHING_EPISODES = 20
"""The training-return curve is the mean of each seed's last 20 episodes."""
RETURN_DIGITS = 1
"""Digits of a return in the report: agents equal at them share the highest IQM."""
TRAIN_GRID_POINTS = 101
"""Env-step points at which smoothed training curves are sampled (0 to the budget)."""


def cached_interval(cache: Cache, statistic: Any, scores: np.ndarray, state: int, reps: int) -> stats.Estimate:
    """`statistic(scores, state, reps)` (an interval of `harness.analysis.stats`), through the cache."""
    value = cache.numbers(
        statistic.__name__,
        [scores],
        state,
        reps,
        compute=lambda: list(dataclasses.astuple(statistic(scores, state, reps))),
    )
    return stats.Estimate(*value)


def cached_improvement(cache: Cache, x: np.ndarray, y: np.ndarray, state: int, reps: int) -> stats.Estimate:
    """`stats.probability_of_improvement(x, y, ...)`, through the cache."""
    value = cache.numbers(
        "poi",
        [x, y],
        state,
        reps,
        compute=lambda: list(dataclasses.astuple(stats.probability_of_improvement(x, y, state, reps))),
    )
    return stats.Estimate(*value)


def cached_arrays(cache: Cache, name: str, arrays: Sequence[Any], state: int, reps: int, compute: Any) -> tuple:
    """`compute()` (a tuple of 1-D arrays), through the cache."""
    value = cache.numbers(name, arrays, state, reps, compute=lambda: [np.asarray(a).tolist() for a in compute()])
    return tuple(np.asarray(a, dtype=float) for a in value)


def run_table(files: EnvRuns, profile: EnvProfile, planned: Mapping[str, int] | None = None) -> pd.DataFrame:
    """One row per pair (`columns.RUN_COLUMNS`); the numbers are NaN for a pair without a complete
    run. `planned` (a study that decides in rounds): per agent, how many of the study's seeds
    (in its order) its rounds need; a missing pair beyond them has no row (it was not needed)."""
    budget = files.study.settings.total_timesteps
    lo, hi = profile.return_range
    seeds = list(files.study.settings.seeds)
    rows = []
    for pair in files.pairs:
        if planned is not None and pair.status == "missing" and pair.seed not in seeds[: planned.get(pair.label, 0)]:
            continue
        row: dict[str, Any] = {
            col.AGENT: pair.label,
            col.SEED: pair.seed,
            col.STATUS: pair.status,
            col.ERROR: pair.error,
        }
        run = pair.run
        if run is not None:
            curve = run.curve
            final = run.final_evals
            timings = run.record.timings
            final_return = float(final["return"].mean())
            row.update(
                {
                    col.FINAL_RETURN: final_return,
                    col.FINAL_SUCCESS: float(final["success"].mean()),
                    col.SCORE: float(stats.normalise(final_return, lo, hi)),
                    col.TRAIN_EPISODES: len(run.episodes),
                    col.TRAIN_SUCCESS: float(run.episodes["success"].mean()) if len(run.episodes) else math.nan,
                    col.STEPS_TO_THRESHOLD: stats.steps_to_threshold(
                        curve.index.to_numpy(), curve.to_numpy(), profile.threshold
                    ),
                    col.AUC: stats.normalised_auc(curve.index.to_numpy(), curve.to_numpy(), budget, lo, hi),
                    col.WALL_TIME_S: _number(timings.wall_time_s if timings else None),
                    col.STEPS_PER_S: _number(timings.train_steps_per_s if timings else None),
                    col.STEPS_DONE: _number(run.record.steps_done),
                }
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=list(col.RUN_COLUMNS))


def summary_table(
    files: EnvRuns,
    runs: pd.DataFrame,
    profile: EnvProfile,
    reps: int,
    cache: Cache | None = None,
    planned: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """The summary table as data: one row per agent label, in study order."""
    cache = cache or Cache(None)
    rows = []
    for label in files.study.labels:
        own = runs[(runs[col.AGENT] == label) & (runs[col.STATUS] == COMPLETE)]
        final = own[col.FINAL_RETURN].to_numpy()
        success_rates = own[col.FINAL_SUCCESS].to_numpy()
        mean = cached_interval(cache, stats.mean_interval, final, random_state(*_env(files), label, "final_mean"), reps)
        iqm = cached_interval(cache, stats.iqm_interval, final, random_state(*_env(files), label, "final_iqm"), reps)
        success = cached_interval(
            cache, stats.mean_interval, success_rates, random_state(*_env(files), label, "success"), reps
        )
        steps, reached = stats.median_of_reached(own[col.STEPS_TO_THRESHOLD].to_numpy())
        problems = runs[(runs[col.AGENT] == label) & (runs[col.STATUS] != COMPLETE)]
        rows.append(
            {
                col.AGENT: label,
                col.KIND: files.kind(label),
                col.RUNS_COMPLETE: len(own),
                col.RUNS_PLANNED: (planned or {}).get(label, len(files.study.settings.seeds)),
                **_interval_columns(col.FINAL_RETURN_MEAN, mean),
                **_interval_columns(col.FINAL_RETURN_IQM, iqm),
                **_interval_columns(col.EVAL_SUCCESS_RATE, success),
                col.TRAIN_SUCCESS_RATE: _mean(own[col.TRAIN_SUCCESS]),
                col.THRESHOLD: profile.threshold,
                col.STEPS_TO_THRESHOLD_MEDIAN: steps,
                col.SEEDS_REACHING_THRESHOLD: reached,
                col.AUC_NORMALISED: _mean(own[col.AUC]),
                col.WALL_TIME_S_PER_RUN: _mean(own[col.WALL_TIME_S]),
                col.ENV_STEPS_PER_S: _mean(own[col.STEPS_PER_S]),
                col.FAILED_OR_MISSING: "; ".join(
                    f"seed {seed} {status}" for seed, status in problems[[col.SEED, col.STATUS]].itertuples(index=False)
                ),
            }
        )
    return pd.DataFrame(rows)


def summary_standing(summary: pd.DataFrame) -> pd.DataFrame:
    """How each agent with a complete run stands against the highest IQM final return
    (`verdicts.standing_table`, at the report's 1 digit)."""
    rows = summary[summary[col.RUNS_COMPLETE] > 0]
    estimates = [
        stats.Estimate(
            row[col.FINAL_RETURN_IQM], row[col.low(col.FINAL_RETURN_IQM)], row[col.high(col.FINAL_RETURN_IQM)]
        )
        for _, row in rows.iterrows()
    ]
    return verdicts.standing_table(list(rows[col.AGENT]), estimates, list(rows[col.RUNS_COMPLETE]), RETURN_DIGITS)


def budget_table(files: EnvRuns, runs: pd.DataFrame) -> pd.DataFrame:
    """One row per agent whose complete runs trained for fewer env steps than the budget (an
    agent of the assignment's shape whose `train()` returned first): how many steps they used."""
    budget = files.study.settings.total_timesteps
    rows = []
    for label in files.study.labels:
        steps = runs[(runs[col.AGENT] == label) & (runs[col.STATUS] == COMPLETE)][col.STEPS_DONE].to_numpy()
        if steps.size and (steps < budget).any():
            values = (label, int(steps.size), budget, float(steps.mean()), int(steps.min()), int(steps.max()))
            rows.append(dict(zip(col.BUDGET_COLUMNS, values, strict=True)))
    return pd.DataFrame(rows, columns=list(col.BUDGET_COLUMNS))


def _interval_columns(name: str, estimate: stats.Estimate) -> dict[str, float]:
    """An interval as its three columns: `name`, `name_low`, `name_high`."""
    return {name: estimate.value, col.low(name): estimate.low, col.high(name): estimate.high}


def _number(value: float | None) -> float:
    return float(value) if value is not None else math.nan


def curve_table(files: EnvRuns, reps: int, cache: Cache | None = None) -> pd.DataFrame:
    """The learning curves: evaluation return, smoothed training return and evaluation success
    rate against env steps, per agent, mean across seeds with a pointwise 95% band."""
    cache = cache or Cache(None)
    settings = files.study.settings
    grid = np.linspace(0, settings.total_timesteps, TRAIN_GRID_POINTS)
    schedule = [*range(0, settings.total_timesteps, settings.eval_freq), settings.total_timesteps]
    frames = []
    for label in files.study.labels:
        runs = files.runs(label)
        if not runs:
            continue
        for curve, (steps, mean, low, high) in (
            (
                col.EVAL_RETURN_CURVE,
                _eval_curve(runs, "return", random_state(*_env(files), label, "eval_curve"), reps, cache, schedule),
            ),
            (
                col.TRAIN_RETURN_CURVE,
                _train_curve(runs, grid, random_state(*_env(files), label, "train_curve"), reps, cache),
            ),
            (
                col.SUCCESS_RATE_CURVE,
                _eval_curve(runs, "success", random_state(*_env(files), label, "success_curve"), reps, cache, schedule),
            ),
        ):
            values = (curve, label, steps, mean, low, high)
            frames.append(pd.DataFrame(dict(zip(col.CURVE_COLUMNS, values, strict=True))))
    columns = list(col.CURVE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def _eval_curve(
    runs: Sequence[Run], column: str, state: int, reps: int, cache: Cache, schedule: Sequence[int] = ()
) -> tuple[np.ndarray, ...]:
    """Mean and band over runs of each evaluation's mean `column`, at the steps (the runs' and the
    study's `schedule` of evaluations, to the budget) where every run has a value: an evaluation of
    its own, or its last one when it ended before (a run whose `train()` returned early keeps the
    policy it ended with, to the budget)."""
    per_run = [run.evals.groupby("eval_step")[column].mean() for run in runs]
    steps = sorted(
        step
        for step in set().union(set(schedule), *(set(series.index) for series in per_run))
        if all(step in series.index or step > series.index.max() for series in per_run)
    )
    matrix = np.array([[float(series[min(step, series.index.max())]) for step in steps] for series in per_run])
    mean, low, high = cached_arrays(
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
        mean[full], low[full], high[full] = cached_arrays(
            cache, "pointwise", [kept], state, reps, lambda: stats.pointwise_mean_interval(kept, state, reps)
        )
    return grid, mean, low, high


def improvement_table(files: EnvRuns, runs: pd.DataFrame, reps: int, cache: Cache | None = None) -> pd.DataFrame:
    """P(X > Y) of each agent X over each later one Y in the study's order, on final returns, with
    its verdict (`verdicts.improvement_verdicts`)."""
    cache = cache or Cache(None)
    complete = runs[runs[col.STATUS] == COMPLETE]
    labels = [label for label in files.study.labels if (complete[col.AGENT] == label).any()]
    finals = {label: complete[complete[col.AGENT] == label][col.FINAL_RETURN].to_numpy() for label in labels}
    rows = []
    for i, x in enumerate(labels):
        for y in labels[i + 1 :]:
            estimate = cached_improvement(cache, finals[x], finals[y], random_state(*_env(files), x, y, "poi"), reps)
            rows.append(
                {
                    col.X: x,
                    col.Y: y,
                    col.P: estimate.value,
                    col.LOW: estimate.low,
                    col.HIGH: estimate.high,
                    col.N_X: len(finals[x]),
                    col.N_Y: len(finals[y]),
                }
            )
    return verdicts.improvement_verdicts(pd.DataFrame(rows, columns=list(col.IMPROVEMENT_NUMBERS)))


def paired_table(files: EnvRuns, reps: int, cache: Cache | None = None) -> pd.DataFrame:
    """The declared pairs on the same final evaluation episodes (same seed, same start state), with
    their verdicts (`verdicts.paired_verdicts`)."""
    cache = cache or Cache(None)
    rows = []
    for x, y in files.study.settings.paired:
        xs, ys = _paired_returns(files, x, y)
        row: dict[str, Any] = {col.X: x, col.Y: y, col.N_RUNS: 0, col.N_PAIRS: 0}
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
                {
                    col.N_RUNS: int(n_runs),
                    col.N_PAIRS: int(xs.size),
                    col.MEAN: mean,
                    col.LOW: low,
                    col.HIGH: high,
                    col.WINS: int(wins),
                    col.TIES: int(ties),
                    col.LOSSES: int(losses),
                }
            )
        rows.append(row)
    return verdicts.paired_verdicts(pd.DataFrame(rows, columns=list(col.PAIRED_NUMBERS)))


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


def _env(files: EnvRuns) -> tuple[str, ...]:
    """The random-state prefix of an env's statistics: none for a one-env study (so a one-env
    study's numbers are the same as before envs existed), the env id across envs."""
    return (files.env_id,) if files.study.across_envs else ()


def _mean(values: Any) -> float:
    finite = [v for v in np.asarray(values, dtype=float) if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan
