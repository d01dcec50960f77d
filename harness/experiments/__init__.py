"""Experiments that run pairs and read their results as they go: a compare in rounds until each
comparison is decided (`rounds`, AdaStop), and a tune of the agents' hyperparameters with the same
Optuna budget for each (`tuning`).

Above both the execution (running pairs) and the analysis (deciding from their results); the API
calls them.
"""

from harness.experiments.rounds import RoundsOutcome, compare_in_rounds
from harness.experiments.tuning import MEDIAN_STARTUP, AgentTuning, TuneOutcome, median_rule, spaces_of, tune_study

__all__ = [
    "MEDIAN_STARTUP",
    "AgentTuning",
    "RoundsOutcome",
    "TuneOutcome",
    "compare_in_rounds",
    "median_rule",
    "spaces_of",
    "tune_study",
]
