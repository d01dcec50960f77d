"""A tuning run's value, from its evaluation curve: what `harness tune` maximises, and what the
report's Tuning section shows on the tuning, validation and test seeds alike.

- `final`: the mean return of its last evaluation (the final return of every other table);
- `last_quarter`: the mean, over its evaluations in the last quarter of the budget (from 3/4 of
  it on, the last evaluation included), of their mean returns: steadier than one evaluation, so
  that a configuration chosen on it holds up better on other seeds (measured: `make bench-tune`).

A trial's (or an agent's) value is the mean of its runs' values over the seeds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

LAST_SHARE = 0.25
"""`last_quarter`: the share of the budget, at its end, whose evaluations count."""


def run_value(curve: Mapping[int, float], total_timesteps: int, objective: str) -> float:
    """One run's value. curve: env step -> the mean return of its evaluation there (every
    evaluation it made, in any order)."""
    steps = sorted(curve)
    if not steps:
        return float("nan")
    if objective == "final":
        return float(curve[steps[-1]])
    if objective == "last_quarter":
        tail = [step for step in steps if step >= total_timesteps * (1 - LAST_SHARE)] or steps[-1:]
        return float(np.mean([curve[step] for step in tail]))
    raise ValueError(f"unknown objective {objective!r}")


def mean_value(curves: Iterable[Mapping[int, float]], total_timesteps: int, objective: str) -> float:
    """The mean of `run_value` over runs (seeds)."""
    values = [run_value(curve, total_timesteps, objective) for curve in curves]
    return float(np.mean(values)) if values else float("nan")
