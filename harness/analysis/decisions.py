"""Decisions: AdaStop (Mathieu et al., 2023; the `adastop` package) on the per-seed final returns,
round by round, with the family-wise error of all the comparisons held at alpha.

    state = replay(scores, comparisons, n=5, K=4, alpha=0.05, random_state=0)
    state.table        # one row per comparison: agent, versus, verdict, round, seeds_agent, ...
    state.needed       # the agents that need the next round's seeds ([] once every comparison is decided)

`scores[label]` is an agent's final returns (the mean return of its last evaluation) in the
study's seed order, as far as its runs are complete without a gap. Round k (from 0) tests on the
first (k+1) x n scores of each agent still in an open comparison; an agent whose comparisons are
all decided needs no more. The test is `adastop.MultipleAgentsComparator`, its permutations drawn
from a fixed random state, so the same scores always give the same decisions, and replaying the
rounds from the scores gives the decisions a run in rounds took.

Verdicts: `larger` (the agent's mean final return is larger than the other's), `smaller`, `equal`
(not shown different after the last round), and `open` (not decided yet: the study stopped before
its last round).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import columns as col
from harness.analysis.stats import random_state
from harness.store import RunRecord, StudyFiles
from harness.studies import Study

PERMUTATIONS = 10_000
"""B: random permutations that approximate each round's permutation distribution (adastop's
default); a round with fewer possible permutations uses them all."""
DECIDED = ("larger", "smaller")
RANDOM_STATE_NAME = "adastop"
VERDICTS = ("larger", "smaller", "equal", "open")
COLUMNS = col.DECISION_COLUMNS[1:]
"""`state.table`'s columns (`study_decisions` adds `env` first)."""


@dataclass(frozen=True)
class DecisionState:
    """Where the rounds stand."""

    table: pd.DataFrame
    """One row per comparison (`COLUMNS`), in the order given."""
    rounds_done: int
    """Rounds tested so far."""
    needed: tuple[str, ...]
    """The agents whose seeds the next round needs, in the order of first appearance; empty when
    every comparison is decided (or the last round is done)."""
    seeds_used: Mapping[str, int] = field(default_factory=dict)
    """Per agent, the seeds the tests used (the rounds it took x n)."""

    @property
    def finished(self) -> bool:
        return not self.needed


def replay(
    scores: Mapping[str, Sequence[float]],
    comparisons: Sequence[tuple[str, str]],
    n: int,
    K: int,
    alpha: float,
    random_state: int,
) -> DecisionState:
    """The decisions the scores give, round after round, until a round lacks scores or every
    comparison is decided (see the module docstring).

    scores: per agent, shape (n_complete_seeds,), in the study's seed order.
    """
    from adastop import MultipleAgentsComparator  # here: adastop imports pyplot; only decisions need it

    labels = list(dict.fromkeys(label for pair in comparisons for label in pair))
    index = {label: i for i, label in enumerate(labels)}
    pairs = np.array([(index[x], index[y]) for x, y in comparisons])
    comparator = MultipleAgentsComparator(n=n, K=K, B=PERMUTATIONS, comparisons=pairs, alpha=alpha, seed=random_state)
    verdicts = dict.fromkeys(comparisons, "open")
    decided_at: dict[tuple[str, str], int] = {}
    used = dict.fromkeys(labels, 0)
    open_pairs = list(comparisons)
    rounds = 0
    for k in range(K):
        needed = _agents_of(open_pairs, labels)
        if any(len(scores.get(label, ())) < (k + 1) * n for label in needed):
            return _state(comparisons, verdicts, decided_at, used, n, alpha, rounds, needed)
        for label in needed:
            used[label] = (k + 1) * n
        values = {label: np.asarray(scores[label][: used[label]], dtype=float) for label in labels}
        with contextlib.redirect_stdout(io.StringIO()):  # adastop prints as it goes
            comparator.partial_compare(values, verbose=False)
        rounds = k + 1
        for pair, i_j in zip(comparisons, pairs, strict=True):
            decision = comparator.decisions[str(i_j)]
            if verdicts[pair] == "open" and decision in (*DECIDED, "equal"):
                verdicts[pair], decided_at[pair] = decision, rounds
        open_pairs = [pair for pair in comparisons if verdicts[pair] == "open"]
        if not open_pairs:
            break
    return _state(comparisons, verdicts, decided_at, used, n, alpha, rounds, [])


def sentence(row: Mapping[str, Any], max_rounds: int) -> str:
    """One comparison's decision in words (a row of `state.table` or `study_decisions`), as the report
    and `harness compare` say it; Markdown bold on the subject."""
    x, y, verdict, r = row[col.AGENT], row[col.VERSUS], row[col.VERDICT], int(row[col.ROUND])
    a, b = int(row[col.SEEDS_AGENT]), int(row[col.SEEDS_VERSUS])
    seeds = f"{a} seeds each" if a == b else f"{a} and {b} seeds"
    rounds = f"round{'s' if r != 1 else ''}"
    if verdict in ("larger", "smaller"):
        how = "higher" if verdict == "larger" else "lower"
        return (
            f"**{x} ends {how} than {y}**: AdaStop, family-wise error <= {row[col.ALPHA]:g}, "
            f"decided after round {r}, {seeds}."
        )
    if verdict == "equal":
        return f"**{x} and {y} are not shown different** after {r} {rounds}, {seeds}."
    return (
        f"**{x} vs {y} is not decided yet**: the study stopped after {r} of {max_rounds} rounds ({seeds}); "
        "run `harness compare` again to go on."
    )


def decision_random_state(env_id: str | None = None) -> int:
    """The fixed random state of a study's decisions (of one env of a study across envs)."""
    return random_state(*([env_id] if env_id is not None else []), RANDOM_STATE_NAME)


def scores_of(records: Sequence[RunRecord | None]) -> list[float]:
    """An agent's scores for the test: the final returns (`run.json`'s `final_eval_mean_return`,
    the mean return of its last evaluation) of its complete runs, in the study's seed order, up
    to the first seed without one (`records`: the runs of its seeds, in order; None for a seed
    without a complete run of the study's current settings)."""
    scores = []
    for record in records:
        if record is None or not record.complete or record.final_eval_mean_return is None:
            break
        scores.append(float(record.final_eval_mean_return))
    return scores


def study_decisions(files: StudyFiles) -> pd.DataFrame:
    """The decisions of a study with a `[decide]` table, from its run files alone: per env, the
    rounds replayed on the final returns of its complete runs; one row per comparison, `env` then
    `COLUMNS`. Empty (with the columns) for a study without one."""
    decide = files.study.decide
    frames, envs = [], []
    for env_id, env in files.envs.items() if decide is not None else ():
        view = env.study
        comparisons = decide.comparisons(view.labels)
        runs = {(pair.label, pair.seed): pair.run for pair in env.pairs}
        scores = {}
        for label in {label for pair in comparisons for label in pair}:
            records = [runs.get((label, seed)) for seed in view.settings.seeds]
            scores[label] = scores_of([run.record if run is not None else None for run in records])
        env_key = env_id if files.study.across_envs else None
        state = replay(
            scores, comparisons, decide.seeds_per_round, decide.max_rounds, decide.alpha, decision_random_state(env_key)
        )
        frames.append(state.table)
        envs.append(env_id)
    return decisions_table(dict(zip(envs, frames, strict=True)))


def planned_seeds(study: Study, decisions: pd.DataFrame) -> dict[str, int]:
    """Per agent of a one-env study or view that decides in rounds, how many of its seeds the
    rounds need: those its tests used, one round more while a comparison of it is open, and one
    round for an agent compared with none (`decisions`: that env's rows)."""
    decide = study.decide
    assert decide is not None
    n = decide.seeds_per_round
    planned = dict.fromkeys(study.labels, n)
    for _, row in decisions.iterrows():
        more = n if row[col.VERDICT] == "open" and row[col.ROUND] < decide.max_rounds else 0
        for label, seeds in ((row[col.AGENT], row[col.SEEDS_AGENT]), (row[col.VERSUS], row[col.SEEDS_VERSUS])):
            planned[label] = max(planned[label], int(seeds) + more)
    return planned


def needed_seeds(files: StudyFiles) -> dict[str, dict[str, int]]:
    """Per env and agent of a study with a `[decide]` table, how many of the study's seeds its
    rounds need (`planned_seeds`) on the runs recorded now; empty for a study without one."""
    if files.study.decide is None:
        return {}
    decisions = study_decisions(files)
    return {
        env_id: planned_seeds(env.study, decisions[decisions[col.DECISION_ENV] == env_id])
        for env_id, env in files.envs.items()
    }


def decisions_table(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The decisions of each env (env id -> `DecisionState.table`) as one table, `env` first
    (`columns.DECISION_COLUMNS`)."""
    columns = list(col.DECISION_COLUMNS)
    frames = [table.assign(**{col.DECISION_ENV: env_id})[columns] for env_id, table in tables.items()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _agents_of(pairs: Sequence[tuple[str, str]], labels: Sequence[str]) -> list[str]:
    involved = {label for pair in pairs for label in pair}
    return [label for label in labels if label in involved]


def _state(
    comparisons: Sequence[tuple[str, str]],
    verdicts: Mapping[tuple[str, str], str],
    decided_at: Mapping[tuple[str, str], int],
    used: Mapping[str, int],
    n: int,
    alpha: float,
    rounds: int,
    needed: Sequence[str],
) -> DecisionState:
    rows = []
    for pair in comparisons:
        x, y = pair
        at = decided_at.get(pair, rounds)
        rows.append(
            dict(
                zip(COLUMNS, (x, y, verdicts[pair], at, min(used[x], at * n), min(used[y], at * n), alpha), strict=True)
            )
        )
    return DecisionState(pd.DataFrame(rows, columns=list(COLUMNS)), rounds, tuple(needed), dict(used))
