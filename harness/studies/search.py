"""Search spaces: an agent's `[agents.<label>.search]` table (or `with_agent(..., search={...})`),
read into `Dimension`s, checked against the agent's class, and made to hold the agent's start.

    [agents.tabular_q.search]
    min_learning_rate = { low = 0.01, high = 0.5, log = true }   # a range (integers if both ends are)
    num_bins = [[3, 3, 6, 6], [1, 1, 6, 12]]                     # a list: one of these
    gradient_steps = { divide = "train_freq", by = [1, 2, 4, 8] } # max(train_freq // by, 1), as the RL Zoo

Built-in kinds have default spaces: plain data on the registry (`harness.agents.search_table`),
read here by `default_search`. A tune starts from the agent's own values (`with_start`): where one
lies outside its dimension, the dimension is made to hold it (a choice added, a range widened),
and that is said.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.agents import is_builtin, search_table
from harness.errors import StudyError

FIXED = "="
"""A `divide` dimension's choice that is no divisor but a value itself: `"=-1"` is gradient_steps = -1
(a start value no divisor of train_freq gives)."""


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter."""

    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None
    divide: str | None = None
    """A value derived as max(<divide> // by, 1), `by` one of `choices` (the RL Zoo's
    `gradient_steps`); a choice `"=v"` (`FIXED`) is the value v itself."""

    def candidates(self) -> list[Any]:
        """Values that span the dimension (to check that the agent takes them): every choice; an
        integer range's ends; a float range's points just inside its ends (a sampler draws an end
        itself with probability 0, and agents may refuse one, e.g. an exploration fraction of 0)."""
        if self.divide is not None:
            return [1]
        if self.choices is not None:
            return list(self.choices)
        assert self.low is not None and self.high is not None
        if self.integer:
            return [self.low, self.high]
        inside = (self.high - self.low) * 1e-6
        return [self.low + inside, self.high - inside]

    def value(self, choice: Any, values: Mapping[str, Any]) -> Any:
        """The hyperparameter's value for `choice` (a `divide` dimension's divisor or fixed value,
        given the other `values`), else the choice itself."""
        if self.divide is None:
            return choice
        if isinstance(choice, str) and choice.startswith(FIXED):
            return int(choice[len(FIXED) :])
        return max(int(comparable(values[self.divide])) // int(choice), 1)

    def to_table(self) -> Any:
        if self.divide is not None:
            return {"divide": self.divide, "by": list(self.choices or ())}
        if self.choices is not None:
            return list(self.choices)
        return {"low": self.low, "high": self.high, **({"log": True} if self.log else {})}

    def describe(self) -> str:
        """In words, for the report."""
        if self.divide is not None:
            fixed = [c for c in self.choices or () if isinstance(c, str)]
            divisors = [c for c in self.choices or () if not isinstance(c, str)]
            also = f", or {', '.join(c[len(FIXED) :] for c in fixed)}" if fixed else ""
            return f"max({self.divide} // b, 1), b in {json.dumps(divisors)}{also}"
        if self.choices is not None:
            return "one of " + ", ".join(json.dumps(c) for c in self.choices)
        scale = ", log scale" if self.log else ""
        kind = "integers" if self.integer else "floats"
        return f"{kind} in [{self.low:g}, {self.high:g}]{scale}"


SearchSpace = tuple[Dimension, ...]


def search_space(table: Any, where: str) -> SearchSpace:
    """A checked `[agents.<label>.search]` table (`where`: "<source>: agents.<label>.search")."""
    if not isinstance(table, Mapping) or not table:
        raise StudyError(f"{where}: must be a table of hyperparameter = {{ low, high }} or a list of values")
    return tuple(_dimension(key, value, f"{where}.{key}") for key, value in table.items())


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dimension(key: str, value: Any, where: str) -> Dimension:
    if isinstance(value, (list, tuple)):
        value = list(value)
        if not value:
            raise StudyError(f"{where}: an empty list; give the values to choose from")
        encoded = [json.dumps(v, sort_keys=True) for v in value]
        if len(set(encoded)) != len(encoded):
            raise StudyError(f"{where}: a value is listed twice")
        return Dimension(key, choices=tuple(value))
    if not isinstance(value, Mapping):
        raise StudyError(f"{where}: must be {{ low = ..., high = ... }} or a list of values, got {value!r}")
    if "divide" in value:
        unknown = sorted(set(value) - {"divide", "by"})
        by = value.get("by")
        if unknown or not isinstance(value["divide"], str):
            raise StudyError(f'{where}: {{ divide = "<hyperparameter>", by = [1, 2, ...] }}, got {value!r}')
        if not isinstance(by, (list, tuple)) or not by or not all(_divisor(b) for b in by):
            raise StudyError(f"{where}.by: must be a non-empty list of integers >= 1, got {by!r}")
        return Dimension(key, choices=tuple(by), divide=value["divide"], integer=True)
    unknown = sorted(set(value) - {"low", "high", "log"})
    if unknown:
        raise StudyError(f"{where}.{unknown[0]}: unknown key; allowed: low, high, log")
    low, high, log = value.get("low"), value.get("high"), value.get("log", False)
    if not _number(low) or not _number(high):
        raise StudyError(f"{where}: low and high must be numbers, got {low!r} and {high!r}")
    if not isinstance(log, bool):
        raise StudyError(f"{where}.log: must be true or false, got {log!r}")
    if low >= high:
        raise StudyError(f"{where}: low must be < high, got low = {low}, high = {high}")
    if log and low <= 0:
        raise StudyError(f"{where}: log needs low > 0, got low = {low}")
    integer = isinstance(low, int) and isinstance(high, int)
    return Dimension(key, low=low, high=high, log=log, integer=integer)


def _divisor(value: Any) -> bool:
    """A `divide` dimension's choice: an integer >= 1, or a fixed value `"=v"` (what `with_start` adds)."""
    if isinstance(value, str):
        try:
            int(value.removeprefix(FIXED))
        except ValueError:
            return False
        return value.startswith(FIXED)
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_search(
    space: SearchSpace, hyperparameters: Mapping[str, Any], resolve: Callable[[Mapping[str, Any]], Any], where: str
) -> None:
    """Refuse a key the agent does not take or a value it refuses (`resolve`: the kind's
    `resolve` on the agent's env; `where`: "<source>: agents.<label>.search")."""
    keys = {d.key for d in space}
    for dimension in space:
        if dimension.divide is not None and dimension.divide not in keys | set(hyperparameters):
            raise StudyError(f"{where}.{dimension.key}: divides {dimension.divide!r}, which is not a hyperparameter")
        for candidate in dimension.candidates():
            try:
                resolve({**hyperparameters, dimension.key: candidate})
            except ValueError as error:
                message = str(error).replace("hyperparameter ", "", 1) if "unknown" in str(error) else str(error)
                raise StudyError(f"{where}.{dimension.key}: {message}") from None


def default_search(kind: str) -> SearchSpace | None:
    """The default space of a built-in kind (the registry's table), or None."""
    table = search_table(kind)
    return search_space(table, f"default search space of {kind}") if table is not None else None


def nothing_to_tune(kind: str) -> bool:
    """Whether a kind is a built-in without a hyperparameter that changes how it plays (the random agent)."""
    return is_builtin(kind) and search_table(kind) is None


def comparable(value: Any) -> Any:
    """A value as a search dimension compares it: SB3's `(n, "step")` frequency is n."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[1] == "step" and isinstance(value[0], int):
        return value[0]
    return value


def with_start(space: SearchSpace, start: Mapping[str, Any]) -> tuple[SearchSpace, list[str]]:
    """The space made to hold the agent's start (`start`: its resolved hyperparameters): a choice
    it lacks is added, a range that excludes it widened to it, a `divide` dimension given a
    divisor or a fixed value (`"=-1"`) that makes it; and, for the report, each such change in
    words. A start value of None (the kind's default, left out) is a choice of None."""
    dimensions, notes = [], []
    start = {key: comparable(value) for key, value in start.items()}
    for d in space:
        value = start.get(d.key)
        if d.divide is not None:
            base = start.get(d.divide)
            if (
                value is None
                or base is None
                or any(not isinstance(c, str) and max(int(base) // int(c), 1) == value for c in d.choices or ())
            ):
                dimensions.append(d)
                continue
            fixed = f"{FIXED}{int(value)}"
            if fixed not in (d.choices or ()):
                d = Dimension(d.key, choices=(*(d.choices or ()), fixed), divide=d.divide, integer=True)
                notes.append(f"{d.key}: {value} (the start's; no divisor of {d.divide} gives it) added to the choices")
        elif d.choices is not None:
            if _encoded(value) not in {_encoded(c) for c in d.choices}:
                d = Dimension(d.key, choices=(*d.choices, value))
                what = json.dumps(value) if value is not None else "the kind's own choice on the env"
                notes.append(f"{d.key}: {what} (the start's) added to the choices")
        elif value is not None and _number(value):
            assert d.low is not None and d.high is not None
            if value < d.low or value > d.high:
                low, high = min(d.low, value), max(d.high, value)
                if d.log and low <= 0:
                    notes.append(f"{d.key}: the start's {value} lies outside a log range, which cannot hold it")
                else:
                    integer = d.integer and isinstance(value, int)
                    d = Dimension(d.key, low=low, high=high, log=d.log, integer=integer)
                    notes.append(f"{d.key}: widened to [{low:g}, {high:g}] to hold the start's {value:g}")
        dimensions.append(d)
    return tuple(dimensions), notes


def start_of(space: SearchSpace, start: Mapping[str, Any]) -> dict[str, Any]:
    """The start as a trial's choices (a `divide` dimension's divisor or fixed value): what
    `Dimension.value` turns back into the start's values. The space holds the start
    (`with_start`)."""
    chosen: dict[str, Any] = {}
    start = {key: comparable(value) for key, value in start.items()}
    for d in space:
        value = start.get(d.key)
        if d.divide is None:
            if d.choices is not None:
                chosen[d.key] = next(c for c in d.choices if _encoded(c) == _encoded(value))
            elif value is not None:
                chosen[d.key] = value
            continue
        base = start.get(d.divide)
        for choice in d.choices or ():
            if base is not None and value is not None and d.value(choice, {**start, d.divide: base}) == value:
                chosen[d.key] = choice
                break
    return chosen


def _encoded(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
