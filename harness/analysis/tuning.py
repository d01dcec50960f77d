"""How each agent's hyperparameters were found, from the study's `[tuned.<label>]` records (what
`harness tune` wrote) and its agents' presets, and how the start and the tuned values did: the
report's "Tuning" section.

    tuning_table(study)             one row per agent: how its values were found, its budget, its trials
    tuned_values(study)             one row per (agent, searched hyperparameter): start, tuned
    objective_table(study, env)     one row per tuned agent: the start's and the tuned values' objective
                                    on the tuning, validation and test seeds, and the drop
    budgets_differ(study)           whether the tuned agents had different budgets

The test values come from the runs of this study (the tuned agent, and its start as
`<label>_start` where the tuned values differ from it), never from another report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.envresults import EnvResults
from harness.analysis.objective import mean_value
from harness.studies import Study, default_search

ZOO_PRESET = "RL Zoo preset, its own tuning budget not recorded"
NOT_TUNED = "the study's values and the kind's defaults"
START_SUFFIX = "_start"
"""The label of a tuned agent's start in a tuned study: `<label>_start` (`harness tune` writes it)."""
COLUMNS = (
    "agent",
    "start",
    "tuned",
    "budget_env_steps",
    "trials",
    "seeds",
    "total_timesteps",
    "complete",
    "pruned",
    "failed",
    "env_steps",
    "best_value",
    "sampler",
    "pruner",
    "objective",
    "optuna",
    "chosen_trial",
    "space_extended",
)
VALUE_COLUMNS = ("agent", "hyperparameter", "default", "tuned")
OBJECTIVE_COLUMNS = (
    "agent",
    "objective",
    "start_tuning",
    "start_validation",
    "start_test",
    "tuned_tuning",
    "tuned_validation",
    "tuned_test",
    "drop",
    "start_won",
)


def _preset(study: Study, label: str) -> str | None:
    spec = study.agent(label)
    values = spec.hyperparameters if not study.across_envs else next(iter(spec.env_hyperparameters.values()), {})
    preset = values.get("preset")
    return preset if isinstance(preset, str) else None


def start_words(study: Study, label: str) -> str:
    """Where an agent's values (its start, when tuned) come from, in words."""
    preset = _preset(study, label)
    if preset == "zoo":
        return ZOO_PRESET
    if preset is not None:
        return f"preset {preset!r}, its own tuning budget not recorded"
    return NOT_TUNED


def tuning_table(study: Study) -> pd.DataFrame:
    """One row per agent (`COLUMNS`) but the starts of tuned agents: `start` says where its values
    (its start, when tuned) came from; `tuned` how they were found: by `harness tune` here (with
    the budget and trials of its record), or not at all."""
    rows = []
    starts = {f"{spec.label}{START_SUFFIX}" for spec in study.agents if spec.tuned}
    for spec in study.agents:
        if spec.label in starts:
            continue
        record: dict[str, Any] = dict(spec.tuned or {})
        seeds = record.get("seeds")
        chosen = record.get("chosen_trial")
        if not record:
            how = "not tuned"
        elif chosen == 0:
            how = "harness tune: tuning found nothing better than the start"
        elif chosen is not None:
            how = f"harness tune: trial {chosen}"
        else:
            how = "harness tune (Optuna)"
        rows.append(
            {
                "agent": spec.label,
                "start": start_words(study, spec.label),
                "tuned": how,
                "budget_env_steps": record.get("budget_env_steps"),
                "trials": record.get("trials"),
                "seeds": len(seeds) if isinstance(seeds, list) else None,
                "total_timesteps": record.get("total_timesteps"),
                "complete": record.get("complete"),
                "pruned": record.get("pruned"),
                "failed": record.get("failed"),
                "env_steps": record.get("env_steps"),
                "best_value": record.get("best_value"),
                "sampler": record.get("sampler"),
                "pruner": record.get("pruner"),
                "objective": record.get("objective", "final"),
                "optuna": record.get("optuna"),
                "chosen_trial": chosen,
                "space_extended": "; ".join(record.get("space_extended") or []),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def tuned_values(study: Study) -> pd.DataFrame:
    """One row per (tuned agent, searched hyperparameter): its start (`default`: the study's or the
    preset's; None where the kind chooses it on the env) and the tuned value. The searched keys are
    the agent's search space, or its kind's default space."""
    rows = []
    for spec in study.agents:
        if not spec.tuned:
            continue
        defaults = dict(spec.tuned.get("defaults") or {})
        space = spec.search if spec.search is not None else default_search(spec.kind)
        keys = [d.key for d in space] if space is not None else list(defaults)
        for key in keys:
            rows.append(
                {
                    "agent": spec.label,
                    "hyperparameter": key,
                    "default": defaults.get(key),
                    "tuned": spec.hyperparameters.get(key),
                }
            )
    return pd.DataFrame(rows, columns=list(VALUE_COLUMNS))


def test_value(env: EnvResults, label: str, objective: str) -> float:
    """An agent's objective on this study's seeds (the test seeds): the mean over its complete
    runs of their values (NaN without one)."""
    runs = env.files.runs(label) if label in env.study.labels else []
    curves = [run.curve.to_dict() for run in runs]
    return mean_value(curves, env.study.settings.total_timesteps, objective) if curves else float("nan")


def objective_table(study: Study, env: EnvResults) -> pd.DataFrame:
    """One row per agent tuned with a validation (`OBJECTIVE_COLUMNS`): its start's and its tuned
    values' objective on the tuning seeds (the start's trial, the chosen trial), on the validation
    seeds, and on this study's seeds (the test seeds: the runs of the tuned agent and of its start,
    `<label>_start`, or the tuned agent's again where the start won); `drop` is the tuned values'
    tuning value minus their validation value."""
    rows = []
    for spec in study.agents:
        record = dict(spec.tuned or {})
        if "validation_best" not in record:
            continue
        objective = str(record.get("objective", "final"))
        start_won = record.get("chosen_trial") == 0
        start_label = spec.label if start_won else f"{spec.label}{START_SUFFIX}"
        tuned_tuning = record.get("chosen_value", record.get("start_value") if start_won else record.get("best_value"))
        rows.append(
            {
                "agent": spec.label,
                "objective": objective,
                "start_tuning": _number(record.get("start_value")),
                "start_validation": _number(record.get("validation_start")),
                "start_test": test_value(env, start_label, objective),
                "tuned_tuning": _number(tuned_tuning),
                "tuned_validation": _number(record.get("validation_best")),
                "tuned_test": test_value(env, spec.label, objective),
                "drop": _number(tuned_tuning) - _number(record.get("validation_best")),
                "start_won": start_won,
            }
        )
    return pd.DataFrame(rows, columns=list(OBJECTIVE_COLUMNS))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float(np.nan)


def budgets_differ(study: Study) -> bool:
    """Whether the agents tuned here had different budgets (env steps; or, for records written
    before budgets were in env steps, trials, seeds and env steps per run)."""
    budgets = {
        (spec.tuned.get("budget_env_steps"),)
        if spec.tuned.get("budget_env_steps") is not None
        else (spec.tuned.get("trials"), len(spec.tuned.get("seeds") or []), spec.tuned.get("total_timesteps"))
        for spec in study.agents
        if spec.tuned
    }
    return len(budgets) > 1
