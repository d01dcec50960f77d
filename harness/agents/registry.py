"""Agent kinds: the built-in names, and import paths to any class of the two agent families.

This module is the only place that knows the built-in names. A study's `kind` is one of them or
an import path (see `harness.imports`):

| kind            | class                                                              |
|-----------------|--------------------------------------------------------------------|
| `random`        | `custom_agents.random_agent:RandomAgent`                           |
| `tabular_q`     | `custom_agents.tabular:TabularQAgent`                              |
| `tabular_sarsa` | `custom_agents.tabular:TabularSarsaAgent`                          |
| `custom_dqn`    | `custom_agents.dqn:DQNAgent`                                       |
| `sb3_dqn`       | `stable_baselines3:DQN`, unpatched, with the preset `zoo` (per env) |
| `"pkg.mod:Cls"`, `"path/file.py:Cls"` | a user's or a library's class                |
| `"__main__.Cls (in memory, <hash>)"`  | a class handed over from Python (`harness.agents.objects`) |

A kind stays a string until a process needs the class (`resolve_kind`): the driver, to check a
study before anything runs, and each worker that trains a pair (a local worker, `train`, a Ray
task), which imports it itself. `check_kind` only checks the string's form (and that a named
file exists), without importing anything: reading a study imports neither torch nor SB3.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from custom_agents.presets import dqn_preset, sb3_kwargs
from harness import imports
from harness.agents import objects
from harness.errors import ImportPathError, KindError

if TYPE_CHECKING:  # type only: the families import SB3 and torch, and this module is read by light commands
    from harness.agents.families import AgentKind


@dataclass(frozen=True)
class Builtin:
    """A built-in kind: a class by import path, and the presets the harness gives it."""

    target: str
    """Import path of the class."""
    description: str
    cost_hint: float
    """Seconds of wall time per env step, roughly, on one core (evaluations included): only to
    start the longest pairs of a study first."""
    presets: Callable[[str, str | None], Mapping[str, Any]] | None = None
    """For a library class: `(preset name, env id) -> constructor arguments`; hand-written agents
    handle `preset` in their own config."""
    search: Mapping[str, Any] | None = None
    """Its default search space for `harness tune`, as an `[agents.<label>.search]` table (plain
    data; `harness.studies` reads it into dimensions); None: nothing to tune."""


def sb3_dqn_preset(name: str, env_id: str | None) -> Mapping[str, Any]:
    """`sb3_dqn`'s presets: `zoo` (the RL Zoo's DQN for the env) in SB3's constructor arguments.
    `KindError` for another name (SB3's DQN has no counterpart for the assignment's choices) or
    an env the Zoo has no DQN settings for."""
    if name != "zoo":
        raise KindError(
            f"hyperparameter 'preset' must be 'zoo' for sb3_dqn, got {name!r} "
            "(SB3's DQN has no counterpart for the assignment's MSE loss and per-update schedules)",
            key="preset",
        )
    try:
        return sb3_kwargs(dqn_preset(name, env_id))
    except ValueError as error:
        raise KindError(str(error), key="preset") from None


_ZOO_DQN_SEARCH: dict[str, Any] = {
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
"""The RL Zoo's DQN space (`rl_zoo3/hyperparams_opt.py`, `sample_dqn_params`): gradient_steps is
train_freq divided by one of 1, 2, 4, 8 (the Zoo's `subsample_steps`)."""
_ZOO_NETS = [[64], [64, 64], [256, 256]]
"""The Zoo's tiny, small and medium networks."""
_TABULAR_SEARCH: dict[str, Any] = {
    "min_learning_rate": {"low": 0.01, "high": 0.5, "log": True},
    "exploration_final_eps": {"low": 0.0, "high": 0.2},
    "decay": {"low": 5.0, "high": 100.0, "log": True},
    "gamma": [0.9, 0.95, 0.99, 1.0],
    "num_bins": [[3, 3, 6, 6], [1, 1, 6, 12], [1, 1, 6, 6], [3, 3, 12, 12]],
}
"""The learning-rate and epsilon floors, the log10 decay constant, the discount and a few grids
around the assignment's (3, 3, 6, 6)."""

BUILTINS: dict[str, Builtin] = {
    "random": Builtin("custom_agents.random_agent:RandomAgent", "uniform random policy (the floor)", 5e-5),
    "tabular_q": Builtin(
        "custom_agents.tabular:TabularQAgent", "hand-written tabular Q-learning", 5e-5, search=_TABULAR_SEARCH
    ),
    "tabular_sarsa": Builtin(
        "custom_agents.tabular:TabularSarsaAgent", "hand-written tabular SARSA", 5e-5, search=_TABULAR_SEARCH
    ),
    "custom_dqn": Builtin(
        "custom_agents.dqn:DQNAgent",
        "hand-written PyTorch DQN",
        5e-4,
        search={**_ZOO_DQN_SEARCH, "net_arch": _ZOO_NETS},
    ),
    "sb3_dqn": Builtin(
        "stable_baselines3:DQN",
        "Stable-Baselines3's DQN",
        1e-3,
        presets=sb3_dqn_preset,
        search={**_ZOO_DQN_SEARCH, "policy_kwargs": [{"net_arch": net} for net in _ZOO_NETS]},
    ),
}
UNKNOWN_COST = 1e-3
"""The cost hint of a kind by import path: as slow as SB3's DQN until its runs say otherwise."""


def allowed() -> str:
    """What a kind may be, for messages."""
    return f"{', '.join(BUILTINS)}, or an import path 'package.module:Class' / 'path/to/file.py:Class'"


def is_builtin(kind: str) -> bool:
    return kind in BUILTINS


def check_kind(kind: Any, code_dir: pathlib.Path | None, check_files: bool = True) -> None:
    """`KindError` unless `kind` is a built-in name or a well-formed import path (whose file, if
    it names one, exists, unless `check_files` is off). Imports nothing."""
    if not isinstance(kind, str):
        raise KindError(f"must be a string, got {kind!r}; allowed: {allowed()}")
    if kind in BUILTINS:
        return
    if objects.is_in_memory(kind):
        if check_files and objects.registered(kind) is None:
            raise KindError(f"{kind!r}: {objects.NOT_HERE}")
        return
    if ":" not in kind:
        raise KindError(f"unknown kind {kind!r}; allowed: {allowed()}")
    try:
        path = imports.file_of(kind, code_dir)
    except ImportPathError as error:
        raise KindError(str(error)) from None
    if check_files and path is not None and not path.is_file():
        raise KindError(f"{kind!r}: no such file {path}")


def search_table(kind: str) -> Mapping[str, Any] | None:
    """The default search space of a built-in kind (an `[agents.<label>.search]` table), None for
    a kind without one (an import path, or a built-in with nothing to tune)."""
    builtin = BUILTINS.get(kind)
    return builtin.search if builtin is not None else None


def cost_hint(kind: str) -> float:
    """Rough seconds per env step of a kind (see `Builtin.cost_hint`)."""
    return BUILTINS[kind].cost_hint if kind in BUILTINS else UNKNOWN_COST


def target(kind: str) -> str:
    """The import path of a kind (a built-in's class, or the kind itself)."""
    return BUILTINS[kind].target if kind in BUILTINS else kind


def resolve_kind(kind: str, code_dir: pathlib.Path | None = None) -> AgentKind:
    """Import the class of `kind` in this process and wrap it in its family (`KindError`, one
    line, when it does not import, is missing, or is of neither family)."""
    from harness.agents.families import family_of  # deferred: the families import SB3 and torch

    check_kind(kind, code_dir, check_files=False)  # a missing file is said by the import, in one line
    if objects.is_in_memory(kind):
        cls = objects.registered(kind)
        if cls is None:
            raise KindError(f"{kind!r}: {objects.NOT_HERE}")
        return family_of(kind, cls)
    try:
        cls = imports.import_object(target(kind), code_dir)
    except ImportPathError as error:
        raise KindError(str(error)) from None
    builtin = BUILTINS.get(kind)
    return family_of(kind, cls, builtin.presets if builtin is not None else None)
