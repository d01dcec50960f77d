"""Optuna's side of a tune: one Optuna study per agent in a journal file, trials asked (the start
enqueued first), their values told, and what a study holds read back. The loop that decides what
to run is `harness.experiments.tuning`'s.

Choices are stored as Optuna takes them: a number, string, bool or None as it is, anything else
(a list, a table) as JSON; a `divide` dimension under `<key>:by`, its divisor or fixed value.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.experiments.rules import Told
from harness.studies import SearchSpace, TuneSettings

START = 0
"""The start's trial number: the agent's own values, enqueued before anything is asked."""


def optuna_module() -> Any:
    """Optuna, quiet (imported on first use: about half a second, and only a tune needs it)."""
    import optuna  # here: only a tune loads Optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage_at(path: str) -> Any:
    """Optuna's journal storage in a file (resumable; optuna-dashboard opens it)."""
    optuna = optuna_module()
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))


def open_study(storage: Any, name: str) -> Any:
    """The agent's Optuna study (made on first use)."""
    optuna = optuna_module()
    return optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)


def sampler(tune: TuneSettings, label: str, number: int) -> Any:
    """The sampler that proposes trial `number` of `label`: seeded by the tune's seed, the label
    and the number, so a proposal depends on the history only, not on where a tune resumed."""
    optuna = optuna_module()
    seed = int.from_bytes(hashlib.sha256(f"{tune.seed}/{label}/{number}".encode()).digest()[:4], "little")
    if tune.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # multivariate TPE is "experimental"; the RL Zoo uses it
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)


def encoded(value: Any) -> Any:
    """A choice as Optuna stores it: a number, string, bool or None as it is, anything else as JSON."""
    return value if isinstance(value, (int, float, str, bool)) or value is None else json.dumps(value)


def param_name(dimension: Any) -> str:
    """The name Optuna knows a dimension by (a `divide` dimension's choice is its divisor)."""
    return f"{dimension.key}:by" if dimension.divide is not None else dimension.key


def enqueue_start(ostudy: Any, space: SearchSpace, chosen: Mapping[str, Any]) -> None:
    """Enqueue the start (`chosen`: its choices, `harness.studies.start_of`) as the first trial, once."""
    params = {param_name(d): encoded(chosen[d.key]) for d in space if d.key in chosen}
    ostudy.enqueue_trial(params, skip_if_exists=True)


def suggest(trial: Any, space: SearchSpace) -> dict[str, Any]:
    """The trial's choices (an enqueued trial's are the ones fixed for it), decoded, by key."""
    values: dict[str, Any] = {}
    for d in space:
        if d.choices is not None:
            values[param_name(d)] = trial.suggest_categorical(param_name(d), [encoded(c) for c in d.choices])
        elif d.integer:
            values[d.key] = trial.suggest_int(d.key, int(d.low), int(d.high), log=d.log)  # type: ignore[arg-type]
        else:
            values[d.key] = trial.suggest_float(d.key, float(d.low), float(d.high), log=d.log)  # type: ignore[arg-type]
    return decoded(values, space)


def decoded(params: Mapping[str, Any], space: SearchSpace) -> dict[str, Any]:
    """Optuna's params (by its names, choices encoded) as the dimensions' choices, by key."""
    chosen: dict[str, Any] = {}
    for d in space:
        name = param_name(d)
        if name not in params:
            continue
        value = params[name]
        chosen[d.key] = next(c for c in d.choices if encoded(c) == value) if d.choices is not None else value
    return chosen


def trial_id(storage: Any, ostudy: Any, number: int) -> int:
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(ostudy.study_name), number)


def ask(ostudy: Any, tune: TuneSettings, label: str, number: int, space: SearchSpace) -> dict[str, Any]:
    """Ask trial `number` (the next one Optuna gives: the enqueued start first), its choices."""
    ostudy.sampler = sampler(tune, label, number)
    trial = ostudy.ask()
    assert trial.number == number, f"trial {trial.number} asked where {number} was due"
    return suggest(trial, space)


def waiting_choices(trial: Any, space: SearchSpace) -> dict[str, Any] | None:
    """The choices of a trial enqueued but not asked yet (a tune killed in between: WAITING, its
    params still in `fixed_params`), None for any other trial."""
    optuna = optuna_module()
    if trial.state != optuna.trial.TrialState.WAITING:
        return None
    return decoded(trial.system_attrs.get("fixed_params", {}), space)


@dataclass(frozen=True)
class TrialRecord:
    """A finished trial, as the journal holds it."""

    number: int
    state: str
    """'complete', 'pruned' or 'failed'."""
    value: float | None
    choices: Mapping[str, Any]
    curve: Mapping[int, float]
    env_steps: int

    def told(self) -> Told:
        return Told(self.number, self.state == "complete", self.curve)


def finished(ostudy: Any, space: SearchSpace) -> list[TrialRecord]:
    """Every finished trial of the agent's study, by number."""
    optuna = optuna_module()
    states = {
        optuna.trial.TrialState.COMPLETE: "complete",
        optuna.trial.TrialState.PRUNED: "pruned",
        optuna.trial.TrialState.FAIL: "failed",
    }
    records = []
    for trial in sorted(ostudy.get_trials(deepcopy=False), key=lambda t: t.number):
        if trial.state in states:
            records.append(
                TrialRecord(
                    trial.number,
                    states[trial.state],
                    trial.value,
                    decoded(trial.params, space),
                    {int(step): float(value) for step, value in trial.intermediate_values.items()},
                    int(trial.user_attrs.get("env_steps", 0)),
                )
            )
    return records


def tell(
    ostudy: Any,
    storage: Any,
    number: int,
    state: str,
    value: float | None = None,
    curve: Mapping[int, float] | None = None,
    env_steps: int = 0,
    error: str | None = None,
) -> None:
    """Tell Optuna how trial `number` ended: its curve (intermediate values), the env steps its
    runs took, and 'complete' (with its value), 'pruned' or 'failed' (with why)."""
    optuna = optuna_module()
    identifier = trial_id(storage, ostudy, number)
    for step, mean in sorted((curve or {}).items()):
        storage.set_trial_intermediate_value(identifier, int(step), float(mean))
    storage.set_trial_user_attr(identifier, "env_steps", int(env_steps))
    if error is not None:
        storage.set_trial_user_attr(identifier, "error", error)
    if state == "complete":
        ostudy.tell(number, value)
    else:
        ostudy.tell(number, state=optuna.trial.TrialState.PRUNED if state == "pruned" else optuna.trial.TrialState.FAIL)


def best_complete(records: Sequence[TrialRecord]) -> TrialRecord | None:
    """The complete trial with the highest value (the lower number on a tie)."""
    complete = [r for r in records if r.state == "complete" and r.value is not None]
    return max(complete, key=lambda r: (r.value, -r.number)) if complete else None
