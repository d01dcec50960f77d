"""`make bench` (`python -m benchmarks.speed [--repeats N] [--steps N] [--quick]`): training speed,
in env steps per second, on this machine.

Everything runs in this one process, single-threaded in torch, on the study's env factory, the
measured agents interleaved repeat by repeat so that a busy machine slows them alike. Compare
the ratios printed here, not absolute figures from another machine.

1. Tabular: 300 training episodes of `tabular_q` and `tabular_sarsa` against stepping the same
   wrapped env (`make_training_env`) as many steps with uniformly random actions.
2. DQN, the RL Zoo's CartPole-v1 preset: `custom_dqn` (its fast update, and its reference
   update), sbx's DQN (SB3's API on JAX, when installed: `pip install 'cartpole-compare[bench]'`)
   and `sb3_dqn`, the same hyperparameters and seed, each trained once to warm up (JAX compiles
   sbx's update then) and then `--steps` env steps per repeat; JAX on one thread too. Then the
   assignment preset against SB3's nearest settings. Printed: env steps/s, ms per gradient update,
   us per env step outside updates, and the ratios.
3. The evaluation's share of a run: `custom_dqn` with the assignment preset trained as the
   default study trains it (50,000 steps, 20 evaluation episodes every 2,500 steps), its
   evaluation time over the run's, and what the evaluation envs cost stepped by a free policy
   (the share's floor for an evaluation that plays the same episodes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import StopTrainingOnMaxEpisodes

from custom_agents.base import BaseAgent
from custom_agents.presets import DQN_PRESETS, ZOO_DQN, sb3_kwargs
from harness.agents import KindError, build_model, resolve_kind
from harness.conditions import (
    EVAL_SEED_BASE,
    Evaluator,
    make_eval_envs,
    make_training_env,
    profile_for,
    run_episodes,
    single_thread,
)

ENV_ID = "CartPole-v1"
SEED = 0
TABULAR_EPISODES = 300
# SB3's DQN has no counterpart for three of the assignment's choices (MSE loss, per-update
# epsilon decay, target updates counted in gradient updates); for sb3_dqn the benchmark keeps
# everything else and uses SB3's (same cost: one batch of 64 after each episode).
SB3_NEAREST_TO_ASSIGNMENT = sb3_kwargs(
    {k: v for k, v in DQN_PRESETS["assignment"].items() if k not in ("loss", "exploration_decay", "target_update_unit")}
)
ZOO_CONTENDERS: dict[str, tuple[str, dict[str, Any]]] = {
    "custom_dqn (fast)": ("custom_dqn", {"preset": "zoo"}),
    "custom_dqn (reference)": ("custom_dqn", {"preset": "zoo", "implementation": "reference"}),
    "sbx DQN": ("sbx:DQN", sb3_kwargs(ZOO_DQN[ENV_ID])),
    "sb3_dqn": ("sb3_dqn", {"preset": "zoo"}),
}
"""The DQNs on the RL Zoo's CartPole-v1 preset: label -> (kind, hyperparameters)."""
ASSIGNMENT_CONTENDERS: dict[str, tuple[str, dict[str, Any]]] = {
    "custom_dqn (assignment)": ("custom_dqn", {"preset": "assignment"}),
    "sb3_dqn (nearest to it)": ("sb3_dqn", SB3_NEAREST_TO_ASSIGNMENT),
}
WARM_UP_STEPS = 2_000
TARGETS = {"custom_dqn (fast) / sb3_dqn": 3.0, "custom_dqn (fast) / sbx DQN": 1.15}
"""The speed the hand-written DQN aims at, as ratios measured in the same run."""
JAX_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
EVAL_RUN = {"total_timesteps": 50_000, "eval_freq": 2_500, "n_eval_episodes": 20}
"""The default study's budget and evaluation, for the evaluation share."""
EVAL_SHARE_TARGET = 0.25


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
    # the hand-written base's training hook, or SB3's (sbx's `_train` is its jitted update's body)
    name = "_train" if isinstance(model, BaseAgent) else "train"
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


@dataclass(frozen=True)
class EvalShare:
    """One training run with the study's evaluation."""

    eval_s: float
    run_s: float
    eval_steps: int
    """Env steps the evaluation episodes took, all evaluations together."""
    free_policy_us: float
    """Microseconds per evaluation env step when the policy costs nothing (env and loop only)."""

    @property
    def share(self) -> float:
        return self.eval_s / self.run_s

    @property
    def floor(self) -> float:
        """The share if the policy's forward pass cost nothing."""
        env_s = self.eval_steps * self.free_policy_us / 1e6
        return env_s / (self.run_s - self.eval_s + env_s)


class Balancer:
    """A policy that costs next to nothing and keeps CartPole's pole up for long episodes (push
    the cart the way the pole falls): evaluation episodes as long as a trained agent's."""

    def predict(self, obs: np.ndarray, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64), None


def eval_share(hyperparameters: Mapping[str, Any], total_timesteps: int) -> EvalShare:
    """Train `custom_dqn` for `total_timesteps` with the default study's evaluation (`Evaluator`,
    as the runner adds it) and measure the evaluation's share of the run."""
    rules = profile_for(ENV_ID).episode_rules
    model = _build("custom_dqn", hyperparameters)
    n_episodes = EVAL_RUN["n_eval_episodes"]
    evaluator = Evaluator(ENV_ID, EVAL_RUN["eval_freq"], n_episodes, EVAL_SEED_BASE, rules)
    start = time.perf_counter()
    model.learn(total_timesteps, callback=evaluator)
    run_s = time.perf_counter() - start
    eval_steps = sum(row.length for row in evaluator.rows)
    envs, seeds = make_eval_envs(ENV_ID, n_episodes, rules), evaluator.seeds
    steps, free_start = 0, time.perf_counter()
    while steps < 20_000:
        steps += sum(r.length for r in run_episodes(Balancer(), envs, seeds))
    free_us = (time.perf_counter() - free_start) / steps * 1e6
    return EvalShare(evaluator.eval_time_s, run_s, eval_steps, free_us)


def _build(kind: str, hyperparameters: Mapping[str, Any]) -> Any:
    resolved = resolve_kind(kind)
    return build_model(resolved, ENV_ID, SEED, resolved.resolve(hyperparameters, ENV_ID))[1]


def _n_updates(model: Any) -> int:
    return int(getattr(model, "n_updates", getattr(model, "_n_updates", 0)))


def run_bench(repeats: int = 3, dqn_steps: int = 12_000, quick: bool = False, print_fn: Callable = print) -> None:
    """Measure and print every figure (see the module docstring)."""
    os.environ.setdefault("XLA_FLAGS", JAX_ONE_THREAD)  # read when JAX is imported (by sbx), later
    single_thread()
    if quick:
        repeats, dqn_steps = 1, 2_000
    print_fn(f"make bench: {repeats} repeat(s), torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
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
        print_fn(f"{'  cost relative to raw stepping':<52} {raw_t.median / agent_t.median:>5.2f}x")

    for title, contenders in (
        ("the RL Zoo's CartPole-v1 preset", ZOO_CONTENDERS),
        ("the assignment's preset", ASSIGNMENT_CONTENDERS),
    ):
        runnable = {label: spec for label, spec in contenders.items() if available(spec[0], print_fn)}
        print_fn(
            f"\nDQN, {title}, {dqn_steps} training steps (seed {SEED}) after a warm-up run of {WARM_UP_STEPS}: "
            "env steps/s, then medians of ms per gradient update and us per env step outside updates"
        )
        print_fn(f"{header} {'ms/upd':>9} {'us/step':>9}")
        for kind, hyperparameters in runnable.values():
            dqn_run(kind, hyperparameters, WARM_UP_STEPS)
        results: dict[str, list[tuple[float, float, float]]] = {label: [] for label in runnable}
        for _ in range(repeats):
            for label, (kind, hyperparameters) in runnable.items():
                results[label].append(dqn_run(kind, hyperparameters, dqn_steps))
        timings = {
            label: Timing(label, *(tuple(column) for column in zip(*runs, strict=True)))
            for label, runs in results.items()
        }
        for timing in timings.values():
            print_fn(timing.row())
        labels = list(timings)
        for x in labels:
            for y in labels[labels.index(x) + 1 :]:
                ratio = timings[x].median / timings[y].median
                target = TARGETS.get(f"{x} / {y}")
                verdict = f"  (target >= {target:.2f}x: {'met' if ratio >= target else 'MISSED'})" if target else ""
                print_fn(f"{'  ' + x + ' / ' + y:<52} {ratio:>5.2f}x{verdict}")
    print_fn(
        "\n(sb3_dqn with the assignment preset uses SB3's Huber loss, linear exploration and "
        "env-step target updates: SB3 has no counterpart for the assignment's choices)"
    )

    total = 10_000 if quick else EVAL_RUN["total_timesteps"]
    print_fn(
        f"\nEvaluation share, custom_dqn (assignment), {total} steps, {EVAL_RUN['n_eval_episodes']} evaluation "
        f"episodes every {EVAL_RUN['eval_freq']} steps (the default study's)"
    )
    shares = [eval_share({"preset": "assignment"}, total) for _ in range(repeats)]
    middle = sorted(shares, key=lambda share: share.share)[len(shares) // 2]
    verdict = "met" if middle.share < EVAL_SHARE_TARGET else "MISSED"
    print_fn(
        f"  evaluation {middle.eval_s:.2f} s of a {middle.run_s:.2f} s run: {middle.share:.1%} "
        f"(median of {len(shares)}; target < {EVAL_SHARE_TARGET:.0%}: {verdict})"
    )
    print_fn(
        f"  {middle.eval_steps:,} evaluation env steps, {middle.eval_s / middle.eval_steps * 1e6:.1f} us each; with "
        f"a free policy {middle.free_policy_us:.1f} us each (env and loop): the share's floor is {middle.floor:.1%}"
    )


def available(kind: str, print_fn: Callable) -> bool:
    """Whether a kind can be built here (sbx is an optional extra: without it, its row is left out)."""
    try:
        resolve_kind(kind)
    except KindError as error:
        print_fn(f"({kind} left out: {error}; pip install 'cartpole-compare[bench]' adds sbx)")
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=12_000, help="DQN training steps per repeat")
    parser.add_argument("--quick", action="store_true", help="a short smoke run of the benchmark")
    args = parser.parse_args(argv)
    run_bench(repeats=args.repeats, dqn_steps=args.steps, quick=args.quick)


if __name__ == "__main__":
    main()
