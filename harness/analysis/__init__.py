"""The numbers model: every figure of a study's report computed once, from its run files alone,
into tidy DataFrames; the renderers (`harness.report`) only read it.

- `stats`: small pure functions on arrays (rliable's intervals, the probability of improvement,
  paired differences, normalised scores);
- `tables`: the tables of one env (runs, summary, curves, comparisons), pure functions of its files;
- `aggregate`: across envs, on normalised scores;
- `verdicts`: which agent a comparison puts above another, and whether the seeds can say at all
  (an exact test on them could reach 95%); the report prints these columns, never decides;
- `decisions`: AdaStop's decisions, replayed round by round from the per-seed final returns;
- `facts`: how the runs were made (wall time, commits, versions, machines);
- `objective`: a tuning run's value from its evaluation curve (what `harness tune` maximises);
- `tuning`: how each agent's hyperparameters were found (`[tuned.<label>]` records, presets), and
  the start's and tuned values' objective on the tuning, validation and test seeds;
- `columns`: every table's column names, which the renderers import;
- `envresults`: `EnvResults`, every figure of one env;
- `model`: `StudyResults`, per env `EnvResults` and across envs an `Aggregate`: all of the above.
"""

from harness.analysis import columns, objective, stats, verdicts
from harness.analysis.aggregate import PROFILE_TAUS, Aggregate, aggregate
from harness.analysis.columns import RUN_COLUMNS
from harness.analysis.decisions import (
    COLUMNS as DECISION_COLUMNS,
)
from harness.analysis.decisions import (
    DecisionState,
    decision_random_state,
    decisions_table,
    needed_seeds,
    replay,
    scores_of,
    sentence,
)
from harness.analysis.envresults import EnvResults, env_results
from harness.analysis.facts import LongestRun, StudyFacts, study_facts
from harness.analysis.model import StudyResults, load
from harness.analysis.stats import random_state
from harness.analysis.tuning import (
    START_SUFFIX,
    budgets_differ,
    objective_table,
    start_words,
    tuned_values,
    tuning_table,
)

__all__ = [
    "DECISION_COLUMNS",
    "PROFILE_TAUS",
    "RUN_COLUMNS",
    "START_SUFFIX",
    "Aggregate",
    "DecisionState",
    "EnvResults",
    "LongestRun",
    "StudyFacts",
    "StudyResults",
    "aggregate",
    "budgets_differ",
    "columns",
    "decision_random_state",
    "decisions_table",
    "env_results",
    "load",
    "needed_seeds",
    "objective",
    "objective_table",
    "random_state",
    "replay",
    "scores_of",
    "sentence",
    "start_words",
    "stats",
    "study_facts",
    "tuned_values",
    "tuning_table",
    "verdicts",
]
