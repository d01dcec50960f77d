"""When a tuning trial's runs stop early: the stop rules, as thresholds on the evaluation curve.

A rule is applied inside each run (`Evaluator`'s `stop_below`: at an evaluation of one of the
rule's steps, a run whose mean return is below the threshold for that step stops), so that it
works on any executor; the thresholds of a batch's trials are computed from the trials told
before the batch (`History`), so a run stops at the same place whatever `--jobs` and wherever a
tune was resumed. Optuna's pruners would need a live `should_prune()` in the worker.

- `none`: no run stops early.
- `median` (Optuna's `MedianPruner`): from the first third of the budget on, below the median of
  the complete trials' curves at that step (after `MEDIAN_STARTUP` complete trials).
- `halving` (asynchronous successive halving, Li et al. 2020; Optuna's `SuccessiveHalvingPruner`):
  at each rung, r_min x eta^k env steps (k = 0, 1, ...; below the trial budget, the
  `max_resource`), a run goes on only if its value is among the best 1/eta of the values the
  trials before reached at that rung (at least eta of them).
- `hyperband` (Li et al. 2018; Optuna's `HyperbandPruner`): several brackets of halving, each
  starting at a later rung (the last bracket never stops a run), trial n in bracket n mod the
  number of brackets, each bracket judged on its own trials: a hedge against rungs too early to
  tell the good configurations.

The rungs: r_min is the trial budget divided by eta^3, rounded up to an evaluation step, so a
halving trial stops at most after 1/27, 1/9 and 1/3 of its budget (eta = 3). The start (trial 0)
is never stopped.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

MEDIAN_STARTUP = 5
"""Complete trials needed before the median rule stops any run (Optuna's `MedianPruner` default)."""
WARMUP_SHARE = 1 / 3
"""The median rule never stops a run in the first third of its budget (the RL Zoo's `n_warmup_steps`)."""
RUNG_POWERS = 3
"""r_min = the trial budget / eta^3: three rungs below the budget."""

Thresholds = tuple[tuple[int, float], ...]
"""(env step, the least mean return a run must have there to go on), in step order."""


@dataclass(frozen=True)
class Told:
    """A trial told before the batch: its number, whether it completed (not pruned, not failed),
    and its curve (env step -> the mean over its seeds of their evaluation means)."""

    number: int
    complete: bool
    curve: Mapping[int, float]


def rungs(total_timesteps: int, eval_freq: int, eta: int) -> list[int]:
    """The halving rungs below the trial budget: r_min x eta^k, r_min the budget / eta^3 rounded
    up to an evaluation step."""
    r_min = math.ceil(total_timesteps / eta**RUNG_POWERS / eval_freq) * eval_freq
    found, rung = [], r_min
    while rung < total_timesteps:
        found.append(rung)
        rung *= eta
    return found


def brackets(total_timesteps: int, eval_freq: int, eta: int) -> int:
    """Hyperband's brackets: one starting at each rung, and one that never stops a run."""
    return len(rungs(total_timesteps, eval_freq, eta)) + 1


def thresholds(
    pruner: str, number: int, history: Sequence[Told], total_timesteps: int, eval_freq: int, eta: int = 3
) -> Thresholds:
    """Where trial `number`'s runs stop, and below what (see the module docstring)."""
    if pruner == "none" or number == 0:  # the start is never stopped
        return ()
    if pruner == "median":
        return median_rule(history, total_timesteps)
    steps = rungs(total_timesteps, eval_freq, eta)
    if pruner == "halving":
        return halving_rule(history, steps, eta)
    if pruner == "hyperband":
        count = len(steps) + 1  # `brackets`: one starting at each rung, and one that never stops a run
        bracket = number % count
        mates = [told for told in history if told.number % count == bracket]
        return halving_rule(mates, steps[bracket:], eta)
    raise ValueError(f"unknown pruner {pruner!r}")


def median_rule(history: Sequence[Told], total_timesteps: int) -> Thresholds:
    """(step, median) of the complete trials' curves, from the warm-up on, once `MEDIAN_STARTUP`
    trials are complete."""
    complete = [told for told in history if told.complete]
    if len(complete) < MEDIAN_STARTUP:
        return ()
    rule = []
    for step in sorted({step for told in complete for step in told.curve}):
        if step < total_timesteps * WARMUP_SHARE or step >= total_timesteps:
            continue
        values = [told.curve[step] for told in complete if step in told.curve]
        if len(values) >= MEDIAN_STARTUP:
            rule.append((int(step), float(statistics.median(values))))
    return tuple(rule)


def halving_rule(history: Sequence[Told], steps: Sequence[int], eta: int) -> Thresholds:
    """At each rung of `steps` that at least `eta` trials before reached, the least value among
    the best 1/eta of theirs there (ties go on)."""
    rule = []
    for step in steps:
        values = sorted((told.curve[step] for told in history if step in told.curve), reverse=True)
        if len(values) >= eta:
            rule.append((int(step), float(values[len(values) // eta - 1])))
    return tuple(rule)
