"""The `[tune]` table, the agents' search spaces (`[agents.<label>.search]`) and the tuning
records of a tuned study (`[tuned.<label>]`).

    [tune]
    trials = 30                 # the same for every agent tuned
    seeds = [100, 101, 102]     # every trial trains these; disjoint from the study's seeds
    total_timesteps = 50_000    # per trial run (default: the study's budget)
    sampler = "tpe"             # "tpe" or "random"
    pruner = "median"           # "median" (on the evaluation curve) or "none"
    seed = 0                    # the sampler's seed
    eval_seed = 2_000_000       # the trials' evaluation episodes (default: the study's + 1,000,000)
    concurrent_trials = 2       # trials proposed and run at once (part of what the tune finds)

    [agents.tabular_q.search]
    min_learning_rate = { low = 0.01, high = 0.5, log = true }   # a range (integers if both ends are)
    num_bins = [[3, 3, 6, 6], [1, 1, 6, 12]]                     # a list: one of these
    gradient_steps = { divide = "train_freq", by = [1, 2, 4, 8] } # max(train_freq // by, 1), as the RL Zoo

Checked when the study is read (`StudyError`, one line naming the file and the key): tuning seeds
that overlap the study's, evaluation episodes that overlap the study's, low >= high, log with
low <= 0, an empty list. Whether the agent takes each search key is checked when its class is
imported (`check_search`). Built-in kinds have default spaces (`DEFAULT_SEARCH`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import StudyError

KEYS = ("trials", "seeds", "total_timesteps", "sampler", "pruner", "seed", "eval_seed", "concurrent_trials")
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")
TUNE_FOLDER = "tune"
"""`runs/<study>/tune/`: the tune's runs (`<label>/trial_<n>/seed_<s>/`) and Optuna's journal; so
no agent may be labelled so."""
STORAGE_FILE = "optuna.journal"
TUNED_FILE = "tuned.toml"
TUNING_EVAL_OFFSET = 1_000_000
"""The trials' evaluation episodes start this far past the study's (`eval_seed` by default)."""


@dataclass(frozen=True)
class TuneSettings:
    """A study's `[tune]` table."""

    trials: int
    """Trials per agent tuned: the same for every agent."""
    seeds: tuple[int, ...]
    """The seeds every trial trains (its value is the mean of their final returns)."""
    total_timesteps: int
    """Env steps per trial run."""
    eval_seed: int
    """The trials' evaluation episode i starts from `reset(seed=eval_seed + i)`."""
    sampler: str = "tpe"
    pruner: str = "median"
    seed: int = 0
    """The sampler's seed: the same tune proposes the same parameters."""
    concurrent_trials: int = 2
    """Trials proposed and run at once; trial k is proposed knowing trials 0 .. k - concurrent_trials
    - 1 (in batches), so what the tune proposes does not depend on `--jobs`."""

    def to_table(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["seeds"] = list(self.seeds)
        return values

    @property
    def budget(self) -> dict[str, Any]:
        """What makes two tunes' budgets equal: trials, seeds and env steps per trial run."""
        return {"trials": self.trials, "seeds": len(self.seeds), "total_timesteps": self.total_timesteps}


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
    """A value derived as max(<divide> // by, 1), `by` one of `choices` (the RL Zoo's `gradient_steps`)."""

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

    def to_table(self) -> Any:
        if self.divide is not None:
            return {"divide": self.divide, "by": list(self.choices or ())}
        if self.choices is not None:
            return list(self.choices)
        return {"low": self.low, "high": self.high, **({"log": True} if self.log else {})}

    def describe(self) -> str:
        """In words, for the report."""
        if self.divide is not None:
            return f"max({self.divide} // b, 1), b in {json.dumps(list(self.choices or ()))}"
        if self.choices is not None:
            return "one of " + ", ".join(json.dumps(c) for c in self.choices)
        scale = ", log scale" if self.log else ""
        kind = "integers" if self.integer else "floats"
        return f"{kind} in [{self.low:g}, {self.high:g}]{scale}"


SearchSpace = tuple[Dimension, ...]


def tune_settings(
    table: Any, study_seeds: Sequence[int], study_budget: int, eval_seed: int, n_eval: int, source: str
) -> TuneSettings:
    """The checked `[tune]` table (a mapping, or `TuneSettings`) of a study with these seeds,
    budget and evaluation episodes."""
    if isinstance(table, TuneSettings):
        table = table.to_table()
    if not isinstance(table, Mapping):
        raise StudyError(f"{source}: tune: must be a table [tune] of {', '.join(KEYS)}")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise StudyError(f"{source}: tune.{unknown[0]}: unknown key; allowed: {', '.join(KEYS)}")
    if "trials" not in table or "seeds" not in table:
        missing = "trials" if "trials" not in table else "seeds"
        raise StudyError(f"{source}: tune.{missing}: missing; it is required")
    for key in ("trials", "total_timesteps", "seed", "eval_seed", "concurrent_trials"):
        if key in table and (isinstance(table[key], bool) or not isinstance(table[key], int)):
            raise StudyError(f"{source}: tune.{key}: must be an integer, got {table[key]!r}")
    for key in ("trials", "total_timesteps", "concurrent_trials"):
        if key in table and table[key] < 1:
            raise StudyError(f"{source}: tune.{key}: must be >= 1, got {table[key]}")
    seeds = table["seeds"]
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
        or len(set(seeds)) != len(seeds)
    ):
        raise StudyError(f"{source}: tune.seeds: must be distinct integers >= 0, at least one, got {seeds!r}")
    overlap = sorted(set(seeds) & set(study_seeds))
    if overlap:
        raise StudyError(
            f"{source}: tune.seeds: {', '.join(map(str, overlap))} also in study.seeds; tuning seeds must be kept "
            "apart from the seeds the agents are compared on"
        )
    for key, allowed in (("sampler", SAMPLERS), ("pruner", PRUNERS)):
        if key in table and table[key] not in allowed:
            raise StudyError(f"{source}: tune.{key}: must be one of {', '.join(allowed)}, got {table[key]!r}")
    tuning_eval = table.get("eval_seed", eval_seed + TUNING_EVAL_OFFSET)
    if tuning_eval < 0 or (tuning_eval < eval_seed + n_eval and eval_seed < tuning_eval + n_eval):
        raise StudyError(
            f"{source}: tune.eval_seed: the trials' evaluation episodes ({tuning_eval}–{tuning_eval + n_eval - 1}) "
            f"must be kept apart from the study's ({eval_seed}–{eval_seed + n_eval - 1})"
        )
    return TuneSettings(
        trials=table["trials"],
        seeds=tuple(seeds),
        total_timesteps=table.get("total_timesteps", study_budget),
        eval_seed=tuning_eval,
        sampler=table.get("sampler", "tpe"),
        pruner=table.get("pruner", "median"),
        seed=table.get("seed", 0),
        concurrent_trials=table.get("concurrent_trials", 2),
    )


def search_space(table: Any, where: str) -> SearchSpace:
    """A checked `[agents.<label>.search]` table (`where`: "<source>: agents.<label>.search")."""
    if not isinstance(table, Mapping) or not table:
        raise StudyError(f"{where}: must be a table of hyperparameter = {{ low, high }} or a list of values")
    return tuple(_dimension(key, value, f"{where}.{key}") for key, value in table.items())


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dimension(key: str, value: Any, where: str) -> Dimension:
    if isinstance(value, list):
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
        if not isinstance(by, list) or not by or not all(isinstance(b, int) and b >= 1 for b in by):
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


_ZOO_DQN: dict[str, Any] = {
    "gamma": [0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9999],
    "learning_rate": {"low": 1e-5, "high": 1.0, "log": True},
    "batch_size": [16, 32, 64, 100, 128, 256, 512],
    "buffer_size": [10_000, 50_000, 100_000, 1_000_000],
    "exploration_final_eps": {"low": 0.0, "high": 0.2},
    "exploration_fraction": {"low": 0.0, "high": 0.5},
    "target_update_interval": [1, 1_000, 5_000, 10_000, 15_000, 20_000],
    "learning_starts": [0, 1_000, 5_000, 10_000, 20_000],
    "train_freq": [1, 4, 8, 16, 128, 256, 1_000],
    "gradient_steps": {"divide": "train_freq", "by": [1, 2, 4, 8]},
}
_NETS = [[64], [64, 64], [256, 256]]
_TABULAR: dict[str, Any] = {
    "min_learning_rate": {"low": 0.01, "high": 0.5, "log": True},
    "exploration_final_eps": {"low": 0.0, "high": 0.2},
    "decay": {"low": 5.0, "high": 100.0, "log": True},
    "gamma": [0.9, 0.95, 0.99, 1.0],
    "num_bins": [[3, 3, 6, 6], [1, 1, 6, 12], [1, 1, 6, 6], [3, 3, 12, 12]],
}
DEFAULT_SEARCH: dict[str, dict[str, Any]] = {
    "tabular_q": _TABULAR,
    "tabular_sarsa": _TABULAR,
    "custom_dqn": {**_ZOO_DQN, "net_arch": _NETS},
    "sb3_dqn": {**_ZOO_DQN, "policy_kwargs": [{"net_arch": net} for net in _NETS]},
}
"""The search spaces of the built-in kinds, for an agent tuned without a `search` table. The DQNs'
is the RL Zoo's DQN space (`rl_zoo3/hyperparams_opt.py`, `sample_dqn_params`): gradient_steps is
train_freq divided by one of 1, 2, 4, 8 (the Zoo's `subsample_steps`), the networks the Zoo's
tiny, small and medium. The tabular agents': the learning rate and epsilon floors, the log10 decay
constant, the discount and a few grids around the assignment's (3, 3, 6, 6)."""


NOTHING_TO_TUNE = frozenset({"random"})
"""Built-in kinds without a hyperparameter that changes how they play."""


def default_search(kind: str) -> SearchSpace | None:
    """The default space of a built-in kind, or None."""
    table = DEFAULT_SEARCH.get(kind)
    return search_space(table, f"default search space of {kind}") if table is not None else None


TUNED_KEYS = (
    "trials",
    "seeds",
    "total_timesteps",
    "sampler",
    "pruner",
    "seed",
    "best_value",
    "best_trial",
    "complete",
    "pruned",
    "failed",
    "env_steps",
    "defaults",
    "optuna",
)


def tuned_record(table: Any, where: str) -> dict[str, Any]:
    """A checked `[tuned.<label>]` record (what `harness tune` wrote)."""
    if not isinstance(table, Mapping):
        raise StudyError(f"{where}: must be a table")
    unknown = sorted(set(table) - set(TUNED_KEYS))
    if unknown:
        raise StudyError(f"{where}.{unknown[0]}: unknown key; allowed: {', '.join(TUNED_KEYS)}")
    for key in ("trials", "seeds", "total_timesteps"):
        if key not in table:
            raise StudyError(f"{where}.{key}: missing; a tuning record states its budget")
    return dict(table)
