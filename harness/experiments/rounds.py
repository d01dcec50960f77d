"""`compare` of a study with a `[decide]` table: seeds are added in rounds until each comparison is
decided (AdaStop, `harness.analysis.decisions`).

    round k (from 0): train the study's seeds[k*n:(k+1)*n] of every agent still in an open
                      comparison (round 0: every agent), then test on all rounds so far;
                      an agent whose comparisons are all decided trains no more seeds.

It holds the study folder for all the rounds (one writer), and runs each round's pairs through the
store like any compare: complete pairs of the current identity are kept, so a compare interrupted
mid-round continues where it stopped, and run again when every needed pair is complete it trains
nothing and gives the same decisions (they are replayed from the scores, round after round, with
a fixed random state). A changed agent's pairs run again, and the decisions are redone. A study
across envs decides on each env apart.
"""

from __future__ import annotations

import dataclasses
import pathlib
import sys
from dataclasses import dataclass
from typing import TextIO

import pandas as pd

from harness import execution
from harness.analysis import DecisionState, columns, decision_random_state, decisions_table, replay, scores_of, sentence
from harness.store import StudyStore, pair_dir, read_record, write_study_file
from harness.studies import Study


@dataclass(frozen=True)
class RoundsOutcome:
    """What a compare in rounds did: its pairs (as any compare's) and where the decisions stand."""

    outcome: execution.CompareOutcome
    decisions: pd.DataFrame
    """One row per (env, comparison): `env`, then `harness.analysis.decisions.COLUMNS`."""
    max_rounds: int
    across_envs: bool = False

    def lines(self) -> tuple[str, ...]:
        """The decisions in words, one line per comparison (env first in a study across envs)."""
        return tuple(
            (f"{row[columns.DECISION_ENV]}: " if self.across_envs else "")
            + sentence(row, self.max_rounds).replace("**", "")
            for _, row in self.decisions.iterrows()
        )


def compare_in_rounds(
    study: Study,
    runs_dir: pathlib.Path,
    executor: execution.Executor,
    *,
    fresh: bool = False,
    command: str = "",
    stream: TextIO | None = None,
) -> RoundsOutcome:
    """Run `study` (resolved, with `decide`) in rounds (see the module docstring), holding its
    runs folder; `StoreBusy` when another process does. `fresh` trains each round's pairs again."""
    decide = study.decide
    assert decide is not None, "compare_in_rounds needs a study with a [decide] table"
    out = stream or sys.stdout
    store = StudyStore(runs_dir / study.name)
    views = {view.env_id: view for view in study.split()}
    comparisons = {env_id: decide.comparisons(view.labels) for env_id, view in views.items()}
    outcomes: list[execution.CompareOutcome] = []
    with store.lock(command or "harness compare"):
        write_study_file(study, store.study_dir, command)
        planned: dict[tuple[str, str], int] = {}  # (env, label) -> seeds planned in this run, in order
        states = {env_id: _replay(views[env_id], comparisons[env_id], store, planned) for env_id in views}
        stuck: set[str] = set()
        while True:
            batch: set[tuple[str, str, int]] = set()
            for env_id, state in states.items():
                if state.finished or env_id in stuck:
                    continue
                view, k = views[env_id], state.rounds_done
                seeds = decide.round_seeds(view.settings.seeds, k)
                compared = {label for pair in comparisons[env_id] for label in pair}
                agents = [*state.needed, *([a for a in view.labels if a not in compared] if k == 0 else [])]
                batch |= {(env_id, label, seed) for label in agents for seed in seeds}
                for label in agents:
                    planned[(env_id, label)] = (k + 1) * decide.seeds_per_round
                print(_round_line(study, env_id, k, seeds, agents, state), file=out, flush=True)
            if not batch:
                break
            chosen = frozenset(batch)
            outcomes.append(
                execution.run_pairs(
                    study,
                    store,
                    executor,
                    only=lambda *pair, c=chosen: pair in c,
                    fresh=fresh,
                    command=command,
                    stream=stream,
                )
            )
            for env_id in states:
                if env_id in stuck or states[env_id].finished:
                    continue
                before, states[env_id] = states[env_id], _replay(views[env_id], comparisons[env_id], store, planned)
                if not states[env_id].finished and states[env_id].rounds_done == before.rounds_done:
                    stuck.add(env_id)  # a pair of the round failed: its comparisons stay open
    decisions = decisions_table({env_id: state.table for env_id, state in states.items()})
    return RoundsOutcome(_merged(outcomes), decisions, decide.max_rounds, study.across_envs)


def _replay(view: Study, comparisons: list[tuple[str, str]], store: StudyStore, planned: dict) -> DecisionState:
    """The decisions on one env from the scores of the pairs planned so far in this run."""
    decide = view.decide
    assert decide is not None
    scores = {}
    for label in {label for pair in comparisons for label in pair}:
        seeds = list(view.settings.seeds)[: planned.get((view.env_id, label), 0)]
        scores[label] = scores_of([read_record(pair_dir(store.study_dir.parent, view, label, s)) for s in seeds])
    return replay(
        scores,
        comparisons,
        decide.seeds_per_round,
        decide.max_rounds,
        decide.alpha,
        decision_random_state(view.env_id if view.across_envs else None),
    )


def _round_line(study: Study, env_id: str, k: int, seeds: list[int], agents: list[str], state: DecisionState) -> str:
    decide = study.decide
    assert decide is not None
    where = f" on {env_id}" if study.across_envs else ""
    table = state.table
    still = table[table["verdict"] == "open"]
    open_text = "; ".join(f"{row.agent} vs {row.versus}" for row in still.itertuples()) or "none"
    return (
        f"round {k + 1} of {decide.max_rounds}{where}: seeds {', '.join(map(str, seeds))} of "
        f"{', '.join(agents)}; comparisons still open: {open_text}"
    )


def _merged(outcomes: list[execution.CompareOutcome]) -> execution.CompareOutcome:
    """The rounds' outcomes as one compare's."""
    if not outcomes:
        return execution.CompareOutcome((), (), (), 0.0)
    return dataclasses.replace(
        outcomes[0],
        skipped=tuple(key for o in outcomes for key in o.skipped),
        completed=tuple(key for o in outcomes for key in o.completed),
        failed=tuple(item for o in outcomes for item in o.failed),
        wall_time_s=sum(o.wall_time_s for o in outcomes),
        restored=tuple(key for o in outcomes for key in o.restored),
        set_aside=tuple(key for o in outcomes for key in o.set_aside),
    )
