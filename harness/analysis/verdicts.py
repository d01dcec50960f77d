"""Verdicts: which agent a comparison puts above the other, decided once, here, as columns of the
comparison tables; the report only prints them.

**The seeds rule.** The unit of every comparison is the seed (a seed's final policy; its evaluation
episodes share it). A 95% bootstrap interval on a handful of seeds can look decisive because there
is next to nothing to resample: on 2 seeds a side, P(X > Y) reads 1.00 [1.00, 1.00]. So a verdict
("X is likelier to end higher", "the interval lies above 0", "its interval overlaps no other
agent's") is stated only where an exact test on the seeds *could* reach that level with the seeds
there are:

- unpaired (P(X > Y), the summary's and the aggregate's orderings): a two-sample permutation test
  on n and m seeds has C(n + m, n) equally likely splits, so its smallest two-sided p-value is
  2 / C(n + m, n); reaching 0.05 needs C(n + m, n) >= 40 (4 and 4 seeds; 3 and 5; 2 and 8);
- paired (a declared pair's per-seed mean differences): a sign-flip test on n seeds has 2^n sign
  patterns, its smallest two-sided p-value 2 / 2^n; reaching 0.05 needs 2^n >= 40 (6 seeds).

Below that, a row says so ("too few seeds (2, 2) to order at 95%; 4 each would do"). The rule only
withholds a verdict; the bootstrap intervals themselves are unchanged. Each verdict's level is per
comparison: nothing here controls the chance that any of several is wrong (the family-wise error),
which is what a study's `[decide]` table gives (AdaStop, `decisions.py`).

Verdict columns (`columns.SEEDS_SUFFICE`, `columns.ORDER`, `columns.IN_WORDS`) are added to the
probability-of-improvement tables (`improvement_verdicts`) and the declared pairs
(`paired_verdicts`); `standing_table` says how each agent stands against the one with the highest
IQM.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from harness.analysis import columns as col
from harness.analysis import stats

LEVEL = 1.0 - stats.CONFIDENCE
"""The two-sided level a verdict is stated at (0.05: the intervals' 95%)."""
MIN_ARRANGEMENTS = round(2 / LEVEL)
"""40: the equally likely arrangements an exact test needs for its smallest two-sided p-value,
2 / arrangements, to be at most `LEVEL`."""

# -- values of the `order` column -------------------------------------------------------------------
X_HIGHER = "x"
"""The comparison puts X above Y."""
Y_HIGHER = "y"
NEITHER = "neither"
"""The seeds suffice, and the interval does not order them."""
TOO_FEW = "too few seeds"
"""An exact test on these seeds could not reach the level: no verdict either way."""
ORDERS = (X_HIGHER, Y_HIGHER, NEITHER, TOO_FEW)

# -- values of the `standing` column ------------------------------------------------------------------
TOP = "top"
"""The highest IQM (shared when equal at the digits shown)."""
OVERLAPS = "overlaps"
"""Its interval shares a point with the top agent's."""
BELOW = "below"
"""Its interval does not, and the seeds suffice to order it below every top agent."""
STANDINGS = (TOP, OVERLAPS, BELOW, TOO_FEW)


def unpaired_arrangements(n_x: int, n_y: int) -> int:
    """The splits of n_x + n_y seeds into groups of n_x and n_y: C(n_x + n_y, n_x), the equally
    likely outcomes of a two-sample permutation test under no difference."""
    return math.comb(n_x + n_y, n_x)


def paired_arrangements(n: int) -> int:
    """The sign patterns of n per-seed differences: 2^n, the outcomes of a sign-flip test."""
    return 2**n


def unpaired_seeds_suffice(n_x: int, n_y: int) -> bool:
    """Whether a two-sample permutation test on n_x and n_y seeds could reach the level."""
    return n_x > 0 and n_y > 0 and unpaired_arrangements(n_x, n_y) >= MIN_ARRANGEMENTS


def paired_seeds_suffice(n: int) -> bool:
    """Whether a sign-flip test on n seeds' differences could reach the level."""
    return n > 0 and paired_arrangements(n) >= MIN_ARRANGEMENTS


def unpaired_seeds_needed() -> int:
    """The fewest seeds per agent, the same on both sides, that suffice unpaired (4)."""
    return next(k for k in range(1, 64) if unpaired_seeds_suffice(k, k))


def paired_seeds_needed() -> int:
    """The fewest seeds that suffice for a paired comparison (6)."""
    return next(n for n in range(1, 64) if paired_seeds_suffice(n))


def too_few_unpaired(n_x: int, n_y: int) -> str:
    """'too few seeds (2, 2) to order at 95%; 4 each would do'."""
    return f"too few seeds ({n_x}, {n_y}) to order at {stats.CONFIDENCE:.0%}; {unpaired_seeds_needed()} each would do"


def too_few_paired(n: int) -> str:
    """'too few seeds (5) to order at 95%; 6 would do'."""
    return f"too few seeds ({n}) to order at {stats.CONFIDENCE:.0%}; {paired_seeds_needed()} would do"


def interval_order(low: float, high: float, middle: float) -> str:
    """Which side an interval puts X on: `X_HIGHER` when it lies above `middle` (0.50 for
    P(X > Y), 0 for X − Y), `Y_HIGHER` when below, `NEITHER` when it includes it."""
    if low > middle:
        return X_HIGHER
    if high < middle:
        return Y_HIGHER
    return NEITHER


def improvement_verdicts(improvement: pd.DataFrame) -> pd.DataFrame:
    """A probability-of-improvement table with its verdicts: `seeds_suffice` (unpaired rule on
    `n_x`, `n_y`), `order` (`ORDERS`) and `in_words`, the table's cell: the agent likelier to end
    higher, 'neither: the interval includes 0.50', or the too-few-seeds words.

    improvement: one row per pair of agents with `x`, `y`, `low`, `high`, `n_x`, `n_y`; returned
    with the three columns added at the end."""
    rows = []
    for x, y, low, high, n_x, n_y in improvement[[col.X, col.Y, col.LOW, col.HIGH, col.N_X, col.N_Y]].itertuples(
        index=False
    ):
        suffice = unpaired_seeds_suffice(int(n_x), int(n_y))
        order = interval_order(low, high, 0.5) if suffice else TOO_FEW
        words = {X_HIGHER: x, Y_HIGHER: y, NEITHER: "neither: the interval includes 0.50"}.get(order)
        rows.append((suffice, order, words or too_few_unpaired(int(n_x), int(n_y))))
    return _with_verdicts(improvement, rows)


def paired_verdicts(paired: pd.DataFrame) -> pd.DataFrame:
    """The declared pairs with their verdicts: `seeds_suffice` (paired rule on `n_runs`), `order`
    (`ORDERS`) and `in_words`: 'the interval lies above 0 (X scores higher)', '... below 0 (Y
    scores higher)', 'the interval includes 0', or the too-few-seeds words.

    paired: one row per declared pair with `x`, `y`, `n_runs`, `low`, `high`; returned with the
    three columns added at the end."""
    rows = []
    for x, y, n, low, high in paired[[col.X, col.Y, col.N_RUNS, col.LOW, col.HIGH]].itertuples(index=False):
        suffice = paired_seeds_suffice(int(n))
        order = interval_order(low, high, 0.0) if suffice else TOO_FEW
        words = {
            X_HIGHER: f"the interval lies above 0 ({x} scores higher)",
            Y_HIGHER: f"the interval lies below 0 ({y} scores higher)",
            NEITHER: "the interval includes 0",
        }.get(order)
        rows.append((suffice, order, words or too_few_paired(int(n))))
    return _with_verdicts(paired, rows)


def standing_table(
    agents: Sequence[str], estimates: Sequence[stats.Estimate], seeds: Sequence[int], digits: int
) -> pd.DataFrame:
    """How each agent stands against the one(s) with the highest estimate (an IQM), one row per
    agent in the order given (`columns.STANDING_COLUMNS`): `standing` is `TOP` (the highest at `digits`
    digits, shared on a tie), `OVERLAPS` (its interval shares a point with the first top agent's),
    `BELOW` (it does not, and the seeds suffice, by the unpaired rule, against every top agent)
    or `TOO_FEW` (it does not, but they do not: `in_words` says so with the first top agent's
    seeds and its own); `in_words` is empty otherwise.

    agents, estimates, seeds: one entry per agent with at least one seed (its seeds: how many)."""
    n_seeds = [int(n) for n in seeds]
    if not n_seeds:
        return pd.DataFrame(columns=list(col.STANDING_COLUMNS))
    rounded = [round(e.value, digits) for e in estimates]
    tops = [i for i, value in enumerate(rounded) if value == max(rounded)]
    first = estimates[tops[0]]
    standing, words = [], []
    for i, (estimate, n) in enumerate(zip(estimates, n_seeds, strict=True)):
        short = [n_seeds[t] for t in tops if not unpaired_seeds_suffice(n_seeds[t], n)]
        if i in tops:
            standing.append(TOP)
        elif estimate.overlaps(first):
            standing.append(OVERLAPS)
        elif not short:
            standing.append(BELOW)
        else:
            standing.append(TOO_FEW)
        words.append(too_few_unpaired(short[0], n) if standing[-1] == TOO_FEW else "")
    values = (
        list(agents),
        [e.value for e in estimates],
        [e.low for e in estimates],
        [e.high for e in estimates],
        n_seeds,
        standing,
        words,
    )
    return pd.DataFrame(dict(zip(col.STANDING_COLUMNS, values, strict=True)))


def _with_verdicts(frame: pd.DataFrame, rows: list[tuple[bool, str, str]]) -> pd.DataFrame:
    """`frame` with `columns.VERDICT_COLUMNS` from `rows` (one (seeds_suffice, order, in_words) per row)."""
    columns = list(zip(*rows, strict=True)) if rows else [(), (), ()]
    added = {
        name: pd.Series(list(values), index=frame.index, dtype=dtype)
        for name, values, dtype in zip(col.VERDICT_COLUMNS, columns, (bool, object, object), strict=True)
    }
    return frame.drop(columns=list(col.VERDICT_COLUMNS), errors="ignore").assign(**added)
