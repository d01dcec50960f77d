"""Across the study's envs, on normalised scores: rliable's IQM, mean and optimality gap with
stratified-bootstrap intervals, the probability of improvement averaged over envs, and
performance profiles (`aggregate`). The unit is still the seed (an agent counts with the seeds it
completed on every env), so the verdicts follow the unpaired seeds rule on those counts
(`verdicts`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.analysis import columns as col
from harness.analysis import stats, verdicts
from harness.analysis.envresults import EnvResults
from harness.analysis.stats import random_state
from harness.analysis.tables import cached_arrays, cached_improvement
from harness.schema import COMPLETE
from harness.store import Cache

PROFILE_TAUS = np.linspace(0.0, 1.0, 101)
"""Score thresholds of the performance profile."""
SCORE_DIGITS = 3
"""Digits of a normalised score in the report: agents equal at them share the highest IQM."""


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
    """One row per pair of agents: `x`, `y`, `p` = P(X > Y) averaged over envs, `low`, `high`,
    `n_x`, `n_y` (the seeds each completed on every env), and the verdict: `seeds_suffice`,
    `order`, `in_words` (`verdicts.improvement_verdicts`)."""
    profiles: pd.DataFrame
    """Long: `agent`, `tau`, `fraction` (share of scores above tau), `low`, `high`."""
    left_out: pd.DataFrame = field(default_factory=pd.DataFrame)
    """`agent`, `seeds`: seeds left out because they are not complete on every env."""
    standing: pd.DataFrame = field(default_factory=pd.DataFrame)
    """One row per agent: how it stands against the highest IQM score (`columns.STANDING_COLUMNS`)."""


def aggregate(envs: Mapping[str, EnvResults], reps: int, cache: Cache | None = None) -> Aggregate:
    """rliable's aggregate statistics of the final scores, across envs: for each agent, the seeds
    it completed on every env (a matrix seeds x envs)."""
    cache = cache or Cache(None)
    labels = list(dict.fromkeys(label for env in envs.values() for label in env.study.labels))
    matrices: dict[str, np.ndarray] = {}
    score_rows, left_out = [], []
    for label in labels:
        per_env = {}
        for env_id, env in envs.items():
            done = env.runs[(env.runs[col.AGENT] == label) & (env.runs[col.STATUS] == COMPLETE)]
            per_env[env_id] = dict(zip(done[col.SEED], done[col.SCORE]))
        planned = set.union(*(set(env.study.settings.seeds) for env in envs.values()))
        seeds = sorted(set.intersection(*(set(scores) for scores in per_env.values())))
        missing = sorted(planned - set(seeds))
        if missing:
            left_out.append({col.AGENT: label, col.SEEDS: ", ".join(map(str, missing))})
        if not seeds:
            continue
        matrices[label] = np.array([[per_env[env_id][seed] for env_id in envs] for seed in seeds])
        score_rows += [
            {col.AGENT: label, col.SEED: seed, col.ENV_ID: env_id, col.SCORE: per_env[env_id][seed]}
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
                    col.AGENT: label,
                    col.METRIC: metric,
                    col.VALUE: estimate.value,
                    col.LOW: estimate.low,
                    col.HIGH: estimate.high,
                    col.N_SEEDS: matrix.shape[0],
                }
            )
        state = random_state(label, "profile")
        fraction, low, high = cached_arrays(
            cache,
            "profile",
            [matrix, PROFILE_TAUS],
            state,
            reps,
            lambda m=matrix, s=state: stats.performance_profile(m, PROFILE_TAUS, s, reps),
        )
        values = (label, PROFILE_TAUS, fraction, low, high)
        profile_frames.append(pd.DataFrame(dict(zip(col.PROFILE_COLUMNS, values, strict=True))))
    names = list(matrices)
    improvement_rows = []
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            estimate = cached_improvement(cache, matrices[x], matrices[y], random_state(x, y, "aggregate_poi"), reps)
            n_x, n_y = matrices[x].shape[0], matrices[y].shape[0]
            values = (x, y, estimate.value, estimate.low, estimate.high, n_x, n_y)
            improvement_rows.append(dict(zip(col.IMPROVEMENT_NUMBERS, values, strict=True)))
    metrics = pd.DataFrame(metric_rows, columns=list(col.METRIC_COLUMNS))
    return Aggregate(
        scores=pd.DataFrame(score_rows, columns=[col.AGENT, col.SEED, col.ENV_ID, col.SCORE]),
        metrics=metrics,
        improvement=verdicts.improvement_verdicts(
            pd.DataFrame(improvement_rows, columns=list(col.IMPROVEMENT_NUMBERS))
        ),
        profiles=(
            pd.concat(profile_frames, ignore_index=True)
            if profile_frames
            else pd.DataFrame(columns=list(col.PROFILE_COLUMNS))
        ),
        left_out=pd.DataFrame(left_out, columns=[col.AGENT, col.SEEDS]),
        standing=iqm_standing(metrics),
    )


def iqm_standing(metrics: pd.DataFrame) -> pd.DataFrame:
    """How each agent stands against the highest IQM score across envs (`verdicts.standing_table`,
    unpaired rule on the seeds each completed on every env). metrics: `Aggregate.metrics`."""
    iqm = metrics[metrics[col.METRIC] == "IQM"]
    estimates = [stats.Estimate(row[col.VALUE], row[col.LOW], row[col.HIGH]) for _, row in iqm.iterrows()]
    return verdicts.standing_table(list(iqm[col.AGENT]), estimates, list(iqm[col.N_SEEDS]), SCORE_DIGITS)
