"""Experiments that run pairs and read their results as they go: a compare in rounds until each
comparison is decided (`rounds`, AdaStop), and a tune of the agents' hyperparameters with the same
budget for each (`tuning`, the loop; `trials`, Optuna's side of it; `rules`, when a trial's runs
stop early).

Above both the execution (running pairs) and the analysis (deciding from their results); the API
calls them.
"""

from harness.experiments.rounds import RoundsOutcome, compare_in_rounds
from harness.experiments.rules import MEDIAN_STARTUP, Told, brackets, halving_rule, median_rule, rungs, thresholds
from harness.experiments.trials import START
from harness.experiments.tuning import AgentTuning, TuneOutcome, spaces_of, study_name, tune_study

__all__ = [
    "MEDIAN_STARTUP",
    "START",
    "AgentTuning",
    "RoundsOutcome",
    "Told",
    "TuneOutcome",
    "brackets",
    "compare_in_rounds",
    "halving_rule",
    "median_rule",
    "rungs",
    "spaces_of",
    "study_name",
    "thresholds",
    "tune_study",
]
