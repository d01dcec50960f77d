"""The `[decide]` table: compare in rounds of seeds until each comparison is decided (AdaStop).

    [decide]
    compare_to = "custom_dqn"   # one agent against each of the others; or pairs = [["a", "b"], ...];
                                # neither: every pair
    seeds_per_round = 5         # n: each round trains n more seeds of the agents still compared
    max_rounds = 4              # K: at most K rounds (the study's seeds must hold n x K)
    alpha = 0.05                # the family-wise error of all the comparisons together

Checked when the study is read or the table given from Python (`Study.replace(decide=...)`):
n < 2, K < 1, alpha outside (0, 1), fewer than n x K seeds; the labels it names when the study is
resolved (`check_decide`), so that a study file may name an agent that Python adds
(`with_agent`) before it runs. Each a `StudyError`, one line naming the file and the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import StudyError
from harness.studies.settings import check_pair

KEYS = ("compare_to", "pairs", "seeds_per_round", "max_rounds", "alpha")


@dataclass(frozen=True)
class DecideSettings:
    """A study's `[decide]` table."""

    compare_to: str | None = None
    """One agent compared with each of the others."""
    pairs: tuple[tuple[str, str], ...] | None = None
    """The comparisons, when not `compare_to` (default: every pair of agents)."""
    seeds_per_round: int = 5
    """n: the seeds each round adds for every agent still in an open comparison."""
    max_rounds: int = 4
    """K: the most rounds; a comparison still open after it is reported as not shown different."""
    alpha: float = 0.05
    """The family-wise error: the chance that any of the comparisons' decisions is wrong."""

    def comparisons(self, labels: Sequence[str]) -> list[tuple[str, str]]:
        """The pairs of agents compared, in the study's order of `labels`."""
        if self.pairs is not None:
            return [tuple(pair) for pair in self.pairs]  # type: ignore[misc]
        if self.compare_to is not None:
            return [(self.compare_to, label) for label in labels if label != self.compare_to]
        return [(x, y) for i, x in enumerate(labels) for y in labels[i + 1 :]]

    def named(self) -> list[str]:
        """The labels the table names (`compare_to`, the labels of `pairs`)."""
        if self.compare_to is not None:
            return [self.compare_to]
        return [label for pair in self.pairs or () for label in pair]

    def round_seeds(self, seeds: Sequence[int], k: int) -> list[int]:
        """The seeds of round `k` (from 0): `seeds[k*n:(k+1)*n]`, in the study's order."""
        n = self.seeds_per_round
        return list(seeds[k * n : (k + 1) * n])

    def to_table(self) -> dict[str, Any]:
        """The table as a study file writes it (empty keys left out)."""
        values = {
            "compare_to": self.compare_to,
            "pairs": [list(pair) for pair in self.pairs] if self.pairs is not None else None,
            "seeds_per_round": self.seeds_per_round,
            "max_rounds": self.max_rounds,
            "alpha": self.alpha,
        }
        return {key: value for key, value in values.items() if value is not None}


def decide_settings(table: Any, seeds: Sequence[int], source: str) -> DecideSettings:
    """The checked `[decide]` table (a mapping, or `DecideSettings`) of a study with these `seeds`;
    the labels it names are checked by `check_decide`."""
    if isinstance(table, DecideSettings):
        table = table.to_table()
    if not isinstance(table, Mapping):
        raise StudyError(f"{source}: decide: must be a table [decide] of {', '.join(KEYS)}")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise StudyError(f"{source}: decide.{unknown[0]}: unknown key; allowed: {', '.join(KEYS)}")
    values: dict[str, Any] = {}
    for key in ("seeds_per_round", "max_rounds"):
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise StudyError(f"{source}: decide.{key}: must be an integer, got {value!r}")
            values[key] = value
    if "alpha" in table:
        alpha = table["alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise StudyError(f"{source}: decide.alpha: must be a number, got {alpha!r}")
        values["alpha"] = float(alpha)
    if "compare_to" in table and "pairs" in table:
        raise StudyError(f"{source}: decide.pairs: give compare_to (one agent against the others) or pairs, not both")
    if "compare_to" in table:
        label = table["compare_to"]
        if not isinstance(label, str):
            raise StudyError(f"{source}: decide.compare_to: must be an agent label, got {label!r}")
        values["compare_to"] = label
    if "pairs" in table:
        values["pairs"] = _pairs(table["pairs"], source)
    settings = DecideSettings(**values)
    n, k = settings.seeds_per_round, settings.max_rounds
    if n < 2:
        raise StudyError(f"{source}: decide.seeds_per_round: must be >= 2 (a round compares seeds), got {n}")
    if k < 1:
        raise StudyError(f"{source}: decide.max_rounds: must be >= 1, got {k}")
    if not 0.0 < settings.alpha < 1.0:
        raise StudyError(f"{source}: decide.alpha: must be in (0, 1), got {settings.alpha}")
    if len(seeds) < n * k:
        raise StudyError(
            f"{source}: decide.max_rounds: {k} rounds of {n} seeds need {n * k} seeds; study.seeds has {len(seeds)}"
        )
    return settings


def check_decide(settings: DecideSettings, labels: Sequence[str], source: str) -> None:
    """`StudyError` unless the labels `settings` names are agents of the study, and it has
    something to compare."""
    if settings.compare_to is not None and settings.compare_to not in labels:
        raise StudyError(
            f"{source}: decide.compare_to: {settings.compare_to!r} is not an agent label; labels: {', '.join(labels)}"
        )
    for pair in settings.pairs or ():
        check_pair(pair, labels, f"{source}: decide.pairs")
    if not settings.comparisons(labels):
        raise StudyError(f"{source}: decide: nothing to compare; the study needs two agents")


def _pairs(value: Any, source: str) -> tuple[tuple[str, str], ...]:
    if isinstance(value, tuple):
        value = [list(pair) if isinstance(pair, tuple) else pair for pair in value]
    if not isinstance(value, list) or not value:
        raise StudyError(f'{source}: decide.pairs: must be a non-empty list of pairs, e.g. [["a", "b"]]')
    pairs: list[tuple[str, str]] = []
    for pair in value:
        if isinstance(pair, tuple):
            pair = list(pair)
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise StudyError(f"{source}: decide.pairs: {pair!r} is not a pair of agent labels")
        if pair[0] == pair[1]:
            raise StudyError(f"{source}: decide.pairs: {pair} pairs an agent with itself; name two labels")
        if tuple(pair) in pairs or tuple(reversed(pair)) in pairs:
            raise StudyError(f"{source}: decide.pairs: {pair} is given twice")
        pairs.append((pair[0], pair[1]))
    return tuple(pairs)
