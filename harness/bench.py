"""`harness bench` / `make bench`: training speed, in env steps per second, on this machine.

Everything runs in this one process, single-threaded in torch, on the study's env factory, the
measured agents interleaved repeat by repeat so that a busy machine slows them alike. Compare
the ratios printed here, not absolute figures from another machine.

1. Tabular: 300 training episodes of `tabular_q` and `tabular_sarsa` against stepping the same
   wrapped env (`make_training_env`) as many steps with uniformly random actions.
2. DQN: `custom_dqn` against `sb3_dqn` with the same hyperparameters and seed, for the `zoo` and
   the `assignment` preset, and where the time goes (gradient updates vs everything else).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import StopTrainingOnMaxEpisodes

from custom_agents.presets import DQN_PRESETS, sb3_kwargs
from harness.envs import make_training_env
from harness.registry import resolve_kind
from harness.runner import build_model
from harness.seeding import single_thread

ENV_ID = "CartPole-v1"
SEED = 0
TABULAR_EPISODES = 300
# SB3's DQN has no counterpart for three of the assignment's choices (MSE loss, per-update
# epsilon decay, target updates counted in gradient updates); for sb3_dqn the benchmark keeps
# everything else and uses SB3's (same cost: one batch of 64 after each episode).
SB3_NEAREST_TO_ASSIGNMENT = sb3_kwargs(
    {k: v for k, v in DQN_PRESETS["assignment"].items() if k not in ("loss", "exploration_decay", "target_update_unit")}
)
BENCH_HYPERPARAMETERS: dict[str, dict[str, dict[str, Any]]] = {
    "zoo": {"custom_dqn": {"preset": "zoo"}, "sb3_dqn": {"preset": "zoo"}},
    "assignment": {"custom_dqn": {"preset": "assignment"}, "sb3_dqn": SB3_NEAREST_TO_ASSIGNMENT},
}
"""Per preset, the hyperparameters of each DQN kind."""


@dataclass(frozen=True)
class Timing:
    """Repeated measurements of one thing, in env steps per second."""

    name: str
    steps_per_s: tuple[float, ...]
    update_ms: tuple[float, ...] = ()
    """Milliseconds per gradient update, per repeat (DQN only)."""
    other_us_per_step: tuple[float, ...] = ()
    """Microseconds per env step outside gradient updates, per repeat (DQN only)."""

    @property
    def median(self) -> float:
        return statistics.median(self.steps_per_s)

    def row(self) -> str:
        values = self.steps_per_s
        text = f"{self.name:<40} {self.median:>10,.0f} {min(values):>10,.0f} {max(values):>10,.0f}"
        if self.update_ms:
            text += f" {statistics.median(self.update_ms):>9.3f} {statistics.median(self.other_us_per_step):>9.1f}"
        return text


def raw_steps_per_s(n_steps: int) -> float:
    """Env steps/s of the wrapped training env with uniformly random actions."""
    env = make_training_env(ENV_ID, SEED)
    env.reset()
    actions = np.random.default_rng(SEED).integers(0, env.action_space.n, size=(n_steps, 1))
    start = time.perf_counter()
    for i in range(n_steps):
        env.step(actions[i])
    return n_steps / (time.perf_counter() - start)


def tabular_steps(kind: str) -> int:
    """Env steps that `TABULAR_EPISODES` training episodes of `kind` take with seed `SEED`."""
    agent = _build(kind, {})
    agent.learn(10**9, callback=StopTrainingOnMaxEpisodes(TABULAR_EPISODES))
    return agent.num_timesteps


def tabular_steps_per_s(kind: str, n_steps: int) -> float:
    """Env steps/s of training `kind` for `n_steps` (no callback: the agent's own cost)."""
    agent = _build(kind, {})
    start = time.perf_counter()
    agent.learn(n_steps)
    return n_steps / (time.perf_counter() - start)


def dqn_run(kind: str, hyperparameters: Mapping[str, Any], n_steps: int) -> tuple[float, float, float]:
    """Train a DQN for `n_steps`; (env steps/s, ms per gradient update, us per step outside updates)."""
    model = _build(kind, hyperparameters)
    spent = [0.0]
    updates_before = _n_updates(model)
    name = "_train" if hasattr(model, "_train") else "train"  # the hand-written base's hook, or SB3's
    inner: Callable[..., Any] = getattr(model, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - start

    setattr(model, name, timed)
    start = time.perf_counter()
    model.learn(n_steps)
    total = time.perf_counter() - start
    updates = _n_updates(model) - updates_before
    update_ms = spent[0] / updates * 1e3 if updates else float("nan")
    return n_steps / total, update_ms, (total - spent[0]) / n_steps * 1e6


def _build(kind: str, hyperparameters: Mapping[str, Any]) -> Any:
    resolved = resolve_kind(kind)
    return build_model(resolved, ENV_ID, SEED, resolved.resolve(hyperparameters, ENV_ID))[1]


def _n_updates(model: Any) -> int:
    return int(getattr(model, "n_updates", getattr(model, "_n_updates", 0)))


def run_bench(repeats: int = 3, dqn_steps: int = 20_000, quick: bool = False, print_fn: Callable = print) -> None:
    """Measure and print every figure (see the module docstring)."""
    single_thread()
    if quick:
        repeats, dqn_steps = 1, 2_000
    print_fn(f"harness bench: {repeats} repeat(s), torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    header = f"{'':<40} {'median':>10} {'min':>10} {'max':>10}"

    steps = {kind: tabular_steps(kind) for kind in ("tabular_q", "tabular_sarsa")}
    print_fn(f"\nTabular agents, {TABULAR_EPISODES} training episodes (seed {SEED}), env steps/s")
    print_fn(header)
    for kind, n in steps.items():
        raw, agent = [], []
        for _ in range(repeats):
            raw.append(raw_steps_per_s(n))
            agent.append(tabular_steps_per_s(kind, n))
        raw_t, agent_t = Timing(f"raw env, random actions ({n} steps)", tuple(raw)), Timing(kind, tuple(agent))
        print_fn(raw_t.row())
        print_fn(agent_t.row())
        print_fn(f"{'  cost relative to raw stepping':<40} {raw_t.median / agent_t.median:>10.2f}x")

    print_fn(
        f"\nDQN, {dqn_steps} training steps (seed {SEED}): env steps/s, then medians of ms per gradient "
        "update and us per env step outside updates"
    )
    print_fn(f"{header} {'ms/upd':>9} {'us/step':>9}")
    for preset, kinds in BENCH_HYPERPARAMETERS.items():
        results: dict[str, list[tuple[float, float, float]]] = {kind: [] for kind in kinds}
        for _ in range(repeats):
            for kind, hyperparameters in kinds.items():
                results[kind].append(dqn_run(kind, hyperparameters, dqn_steps))
        timings = {
            kind: Timing(f"{kind} ({preset})", *(tuple(column) for column in zip(*runs, strict=True)))
            for kind, runs in results.items()
        }
        for timing in timings.values():
            print_fn(timing.row())
        ratio = timings["custom_dqn"].median / timings["sb3_dqn"].median
        print_fn(f"{'  custom_dqn / sb3_dqn':<40} {ratio:>10.2f}x")
    print_fn(
        "\n(sb3_dqn with the assignment preset uses SB3's Huber loss, linear exploration and "
        "env-step target updates: SB3 has no counterpart for the assignment's choices)"
    )
