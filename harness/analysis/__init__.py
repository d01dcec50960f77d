"""The numbers model: every figure of a study's report computed once, from its run files alone,
into tidy DataFrames; the renderers (`harness.report`) only read it.

- `stats`: small pure functions on arrays (rliable's intervals, the probability of improvement,
  paired differences, normalised scores);
- `model`: `StudyResults`, per env `EnvResults` and across envs an `Aggregate`.
"""

from harness.analysis import stats
from harness.analysis.model import (
    RUN_COLUMNS,
    Aggregate,
    EnvResults,
    StudyResults,
    aggregate,
    env_results,
    load,
    random_state,
)

__all__ = [
    "RUN_COLUMNS",
    "Aggregate",
    "EnvResults",
    "StudyResults",
    "aggregate",
    "env_results",
    "load",
    "random_state",
    "stats",
]
