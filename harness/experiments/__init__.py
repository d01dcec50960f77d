"""Experiments that run pairs and read their results as they go: a compare in rounds until each
comparison is decided (`rounds`, AdaStop).

Above both the execution (running pairs) and the analysis (deciding from their results); the API
calls them.
"""

from harness.experiments.rounds import RoundsOutcome, compare_in_rounds

__all__ = ["RoundsOutcome", "compare_in_rounds"]
