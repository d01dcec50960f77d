"""Every figure of one env of a study (`EnvResults`), computed from its run files by the tables
of `tables.py` (`env_results`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from harness.analysis import columns as col
from harness.analysis.tables import (
    budget_table,
    curve_table,
    improvement_table,
    paired_table,
    run_table,
    summary_standing,
    summary_table,
)
from harness.conditions import EnvProfile
from harness.store import Cache, EnvRuns, Run
from harness.studies import Study


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
    `high`, `n_x`, `n_y`, and the verdict: `seeds_suffice`, `order`, `in_words` (`verdicts`)."""
    budget_use: pd.DataFrame
    """One row per agent that trained for fewer env steps than the budget (`columns.BUDGET_COLUMNS`:
    its `train()` returned first); empty when every run used the budget."""
    paired: pd.DataFrame
    """One row per declared pair: `x`, `y`, `n_runs`, `n_pairs`, `mean` (X − Y), `low`, `high`,
    `wins`, `ties`, `losses`, and the verdict: `seeds_suffice`, `order`, `in_words` (`verdicts`)."""
    standing: pd.DataFrame
    """One row per agent with a complete run: how it stands against the highest IQM final return
    (`columns.STANDING_COLUMNS`: `top`, `overlaps`, `below`, `too few seeds`)."""

    def family(self, label: str) -> str | None:
        """The agent family of an agent's runs (`hand-written`, `library`, `assignment`), None
        without a complete run (or one recorded before families were)."""
        runs = self.files.runs(label)
        return runs[0].record.family if runs else None

    @property
    def labels(self) -> list[str]:
        """The agents with at least one complete run, in study order."""
        return [label for label in self.study.labels if self.files.runs(label)]

    def shown_run(self, label: str) -> Run:
        """The run whose final return is the median of the agent's runs (the lower middle one
        for an even count; ties broken by the smaller seed): the one whose episode is shown."""
        final = self.runs.set_index([col.AGENT, col.SEED])[col.FINAL_RETURN]
        ordered = sorted(self.files.runs(label), key=lambda run: (final[(label, run.seed)], run.seed))
        return ordered[(len(ordered) - 1) // 2]


def env_results(
    files: EnvRuns, reps: int, cache: Cache | None = None, planned: Mapping[str, int] | None = None
) -> EnvResults:
    """Every figure of one env. `planned`: a study that decides in rounds: the seeds each agent's
    rounds need (`decisions.planned_seeds`)."""
    cache = cache or Cache(None)
    study = files.study
    profile = study.profile
    runs = run_table(files, profile, planned)
    summary = summary_table(files, runs, profile, reps, cache, planned)
    return EnvResults(
        env_id=files.env_id,
        study=study,
        profile=profile,
        files=files,
        runs=runs,
        summary=summary,
        curves=curve_table(files, reps, cache),
        improvement=improvement_table(files, runs, reps, cache),
        budget_use=budget_table(files, runs),
        paired=paired_table(files, reps, cache),
        standing=summary_standing(summary),
    )
