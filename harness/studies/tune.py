"""The `[tune]` table and the tuning records of a tuned study (`[tuned.<label>]`).

    [tune]
    budget_env_steps = 3_000_000  # per agent, the same for every agent: trials and validation runs
    trials = 200                  # optional: at most this many trials (configurations) per agent
    seeds = [100, 101, 102]       # the tuning seeds: disjoint from the study's
    total_timesteps = 50_000      # a trial's budget per run (the multi-fidelity rules' max_resource)
    pruner = "median"             # "median", "halving", "hyperband" or "none": when a run stops early
    reduction_factor = 3          # halving, hyperband: the share of runs that go on at each rung (1/3)
    objective = "last_quarter"    # a run's value: "last_quarter" (its evaluations in the last quarter
                                  # of the budget, averaged) or "final" (its last evaluation)
    validation_seeds = [103, 104, 105]   # default: as many as the tuning seeds, after them
    finalists = 3                 # the best full-budget trials re-trained on the validation seeds
    sampler = "tpe"               # "tpe" (multivariate, as the RL Zoo) or "random"
    seed = 0                      # the sampler's seed: the same tune proposes the same values
    concurrent_trials = 2         # trials proposed and run at once (not --jobs: results do not depend on it)
    eval_seed = 2_000_000         # the trials' evaluation episodes (default: the study's + 1,000,000)
    validation_eval_seed = 3_000_000   # the validation runs' (default: the study's + 2,000,000)

Checked when the study is read or the table given from Python (`StudyError`, one line naming
the file and the key): tuning or validation seeds that overlap each other or the study's, evaluation
episodes that overlap, a budget that cannot pay for the start trial and the validation runs, and
values out of range. The search spaces are `harness.studies.search`'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import StudyError

KEYS = (
    "budget_env_steps",
    "trials",
    "seeds",
    "total_timesteps",
    "pruner",
    "reduction_factor",
    "objective",
    "validation_seeds",
    "finalists",
    "sampler",
    "seed",
    "concurrent_trials",
    "eval_seed",
    "validation_eval_seed",
)
SAMPLERS = ("tpe", "random")
PRUNERS = ("halving", "hyperband", "median", "none")
OBJECTIVES = ("last_quarter", "final")
DEFAULT_PRUNER = "median"
"""Chosen by measurement (`make bench-tune`, README "Tuning"): at equal env steps no rule chose
better values on the validation seeds; halving's extra configurations were worse there for both
DQNs, and median, none and hyperband measured the same. Median is the RL Zoo's default, and it
judges a run only after a third of its budget."""
DEFAULT_OBJECTIVE = "last_quarter"
"""Chosen by measurement (`make bench-tune`, README "Tuning")."""
TUNE_FOLDER = "tune"
"""`runs/<study>/tune/`: the tune's runs (`<label>/trial_<n>/seed_<s>/`) and Optuna's journal; so
no agent may be labelled so."""
STORAGE_FILE = "optuna.journal"
TUNED_FILE = "tuned.toml"
TUNING_EVAL_OFFSET = 1_000_000
"""The trials' evaluation episodes start this far past the study's (`eval_seed` by default)."""
VALIDATION_EVAL_OFFSET = 2_000_000
"""The validation runs' evaluation episodes start this far past the study's."""


@dataclass(frozen=True)
class TuneSettings:
    """A study's `[tune]` table (see the module docstring)."""

    seeds: tuple[int, ...]
    """The seeds every trial trains; its value is the mean of their runs' values."""
    total_timesteps: int
    """Env steps per trial run: a full-budget trial's runs, the most a rule lets a run take."""
    eval_seed: int
    """The trials' evaluation episode i starts from `reset(seed=eval_seed + i)`."""
    validation_seeds: tuple[int, ...]
    """The seeds the finalists and the start are re-trained on, to choose the tuned values."""
    validation_eval_seed: int
    """The validation runs' evaluation episode i starts from `reset(seed=validation_eval_seed + i)`."""
    budget_env_steps: int | None = None
    """Env steps per agent, trials and validation runs together (None: `trials` decides)."""
    trials: int | None = None
    """At most this many trials per agent (None: the budget decides)."""
    pruner: str = DEFAULT_PRUNER
    reduction_factor: int = 3
    objective: str = DEFAULT_OBJECTIVE
    finalists: int = 3
    sampler: str = "tpe"
    seed: int = 0
    """The sampler's seed: the same tune proposes the same parameters."""
    concurrent_trials: int = 2
    """Trials proposed and run at once; a trial is proposed knowing the trials of the batches
    before it only, so what the tune proposes does not depend on `--jobs`."""

    def to_table(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["seeds"] = list(self.seeds)
        values["validation_seeds"] = list(self.validation_seeds)
        return {key: values[key] for key in KEYS if values[key] is not None}

    @property
    def validation_env_steps(self) -> int:
        """What the validation runs take: the finalists and the start, on every validation seed."""
        return (self.finalists + 1) * len(self.validation_seeds) * self.total_timesteps

    @property
    def trial_env_steps(self) -> int:
        """What a full-budget trial takes: every tuning seed for the whole trial budget."""
        return len(self.seeds) * self.total_timesteps


def _integer(table: Mapping[str, Any], key: str, source: str, least: int | None = None) -> None:
    if key not in table:
        return
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise StudyError(f"{source}: tune.{key}: must be an integer, got {value!r}")
    if least is not None and value < least:
        raise StudyError(f"{source}: tune.{key}: must be >= {least}, got {value}")


def _seeds(value: Any, key: str, source: str) -> tuple[int, ...]:
    if isinstance(value, tuple):
        value = list(value)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)
        or len(set(value)) != len(value)
    ):
        raise StudyError(f"{source}: tune.{key}: must be distinct integers >= 0, at least one, got {value!r}")
    return tuple(value)


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
    if "seeds" not in table:
        raise StudyError(f"{source}: tune.seeds: missing; it is required")
    if "budget_env_steps" not in table and "trials" not in table:
        raise StudyError(
            f"{source}: tune.budget_env_steps: missing; give each agent's budget in env steps (or a number of trials)"
        )
    for key, least in (
        ("budget_env_steps", 1),
        ("trials", 1),
        ("total_timesteps", 1),
        ("concurrent_trials", 1),
        ("finalists", 1),
        ("reduction_factor", 2),
        ("seed", None),
        ("eval_seed", 0),
        ("validation_eval_seed", 0),
    ):
        _integer(table, key, source, least)
    seeds = _seeds(table["seeds"], "seeds", source)
    overlap = sorted(set(seeds) & set(study_seeds))
    if overlap:
        raise StudyError(
            f"{source}: tune.seeds: {', '.join(map(str, overlap))} also in study.seeds; tuning seeds must be kept "
            "apart from the seeds the agents are compared on"
        )
    if "validation_seeds" in table:
        validation = _seeds(table["validation_seeds"], "validation_seeds", source)
    else:  # as many as the tuning seeds, after every seed the study and its tune use
        after = max([*study_seeds, *seeds]) + 1
        validation = tuple(range(after, after + len(seeds)))
    for other, where in ((seeds, "tune.seeds"), (study_seeds, "study.seeds")):
        overlap = sorted(set(validation) & set(other))
        if overlap:
            raise StudyError(
                f"{source}: tune.validation_seeds: {overlap[0]} is also in {where}; the tuned values are chosen on "
                "seeds apart from the tuning and the study's seeds"
            )
    for key, allowed in (("sampler", SAMPLERS), ("pruner", PRUNERS), ("objective", OBJECTIVES)):
        if key in table and table[key] not in allowed:
            raise StudyError(f"{source}: tune.{key}: must be one of {', '.join(allowed)}, got {table[key]!r}")
    episodes = {"study": eval_seed}
    for key, offset in (("eval_seed", TUNING_EVAL_OFFSET), ("validation_eval_seed", VALIDATION_EVAL_OFFSET)):
        start = table.get(key, eval_seed + offset)
        for name, other in episodes.items():
            if start < other + n_eval and other < start + n_eval:
                where = "the study's" if name == "study" else "the trials'"
                raise StudyError(
                    f"{source}: tune.{key}: its evaluation episodes ({start}–{start + n_eval - 1}) must be kept "
                    f"apart from {where} ({other}–{other + n_eval - 1})"
                )
        episodes[key] = start
    settings = TuneSettings(
        seeds=seeds,
        total_timesteps=table.get("total_timesteps", study_budget),
        eval_seed=episodes["eval_seed"],
        validation_seeds=validation,
        validation_eval_seed=episodes["validation_eval_seed"],
        budget_env_steps=table.get("budget_env_steps"),
        trials=table.get("trials"),
        pruner=table.get("pruner", DEFAULT_PRUNER),
        reduction_factor=table.get("reduction_factor", 3),
        objective=table.get("objective", DEFAULT_OBJECTIVE),
        finalists=table.get("finalists", 3),
        sampler=table.get("sampler", "tpe"),
        seed=table.get("seed", 0),
        concurrent_trials=table.get("concurrent_trials", 2),
    )
    least = settings.trial_env_steps + settings.validation_env_steps
    if settings.budget_env_steps is not None and settings.budget_env_steps < least:
        raise StudyError(
            f"{source}: tune.budget_env_steps: {settings.budget_env_steps:,} cannot pay for the start trial and the "
            f"validation runs ({least:,} env steps: {len(seeds)} seeds x {settings.total_timesteps:,}, then "
            f"{settings.finalists} finalists and the start x {len(validation)} seeds x {settings.total_timesteps:,})"
        )
    return settings


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
    "budget_env_steps",
    "objective",
    "start_value",
    "validation_seeds",
    "validation_start",
    "validation_best",
    "chosen_trial",
    "chosen_value",
    "finalists",
    "space_extended",
)
"""What a `[tuned.<label>]` record may hold. Its first fourteen are what tunes before issue 23
wrote (trials, not env steps, made their budget); the rest what they write now: the budget in env
steps, the objective, trial 0's value (`start_value`: the agent's own values), the validation
seeds, the start's and the chosen values' objective there, the chosen trial (0: the start won) and
its value on the tuning seeds, the finalists re-trained and what the space was widened by to hold
the start."""


def tuned_record(table: Any, where: str) -> dict[str, Any]:
    """A checked `[tuned.<label>]` record (what `harness tune` wrote)."""
    if not isinstance(table, Mapping):
        raise StudyError(f"{where}: must be a table")
    unknown = sorted(set(table) - set(TUNED_KEYS))
    if unknown:
        raise StudyError(f"{where}.{unknown[0]}: unknown key; allowed: {', '.join(TUNED_KEYS)}")
    for key in ("seeds", "total_timesteps"):
        if key not in table:
            raise StudyError(f"{where}.{key}: missing; a tuning record states its budget")
    if "trials" not in table and "budget_env_steps" not in table:
        raise StudyError(f"{where}.budget_env_steps: missing; a tuning record states its budget")
    return dict(table)
