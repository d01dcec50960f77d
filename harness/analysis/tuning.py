"""How each agent's hyperparameters were found, from the study's `[tuned.<label>]` records (what
`harness tune` wrote) and its agents' presets: the report's "Tuning" section.

    tuning_table(study)     one row per agent: how it was tuned, its budget, its trials
    tuned_values(study)     one row per (agent, searched hyperparameter): default, tuned
    budgets_differ(study)   whether the tuned agents had different budgets
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.studies import Study, default_search

ZOO_PRESET = "RL Zoo preset: tuning budget not recorded"
NOT_TUNED = "not tuned: the study's values and the kind's defaults"
COLUMNS = (
    "agent",
    "tuned",
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
    "optuna",
)
VALUE_COLUMNS = ("agent", "hyperparameter", "default", "tuned")


def _preset(study: Study, label: str) -> str | None:
    spec = study.agent(label)
    values = spec.hyperparameters if not study.across_envs else next(iter(spec.env_hyperparameters.values()), {})
    preset = values.get("preset")
    return preset if isinstance(preset, str) else None


def tuning_table(study: Study) -> pd.DataFrame:
    """One row per agent (`COLUMNS`): `tuned` says how its values were found: by `harness tune`
    here (with the budget and trials of its record), an RL Zoo preset (budget not recorded), or
    not at all."""
    rows = []
    for spec in study.agents:
        record: dict[str, Any] = dict(spec.tuned or {})
        preset = _preset(study, spec.label)
        if record:
            start = f", starting from the {preset} preset" if preset else ""
            how = f"here: harness tune (Optuna){start}"
        elif preset == "zoo":
            how = ZOO_PRESET
        elif preset is not None:
            how = f"preset {preset!r}: tuning budget not recorded"
        else:
            how = NOT_TUNED
        seeds = record.get("seeds")
        rows.append(
            {
                "agent": spec.label,
                "tuned": how,
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
                "optuna": record.get("optuna"),
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def tuned_values(study: Study) -> pd.DataFrame:
    """One row per (tuned agent, searched hyperparameter): its value before tuning (`default`:
    the study's or the preset's; None where the kind chooses it on the env) and the tuned one. The
    searched keys are the agent's search space, or its kind's default space."""
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


def budgets_differ(study: Study) -> bool:
    """Whether the agents tuned here had different budgets (trials, seeds, env steps per run)."""
    budgets = {
        (spec.tuned.get("trials"), len(spec.tuned.get("seeds") or []), spec.tuned.get("total_timesteps"))
        for spec in study.agents
        if spec.tuned
    }
    return len(budgets) > 1
