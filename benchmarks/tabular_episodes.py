"""The tabular agents measured the way the assignment measures them: 300 training episodes.

For each seed: train on the harness's env factory for exactly 300 episodes (default, i.e. the
assignment's, hyperparameters), then evaluate the greedy policy on the study's 20 evaluation
episodes. Prints, per agent, the figures of the reference table of the assignment's own agent
(mean over seeds and range): training episodes reaching 500 steps, mean length of the last 50
training episodes, final greedy mean return, first episode reaching 500.

    python -m benchmarks.tabular_episodes [--seeds 0-9] [--episodes 300]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
from stable_baselines3.common.callbacks import StopTrainingOnMaxEpisodes

from harness.agents import build_model, resolve_kind
from harness.conditions import (
    PROFILES,
    EpisodeRecorder,
    evaluation_seeds,
    make_eval_envs,
    run_episodes,
    single_thread,
)
from harness.studies import parse_seeds

RULES = PROFILES["CartPole-v1"].episode_rules


def measure(kind: str, seed: int, episodes: int) -> dict[str, float]:
    """One seed of one agent: the per-seed figures."""
    resolved = resolve_kind(kind)
    _, model = build_model(resolved, "CartPole-v1", seed, resolved.resolve({}, "CartPole-v1"), RULES)
    recorder = EpisodeRecorder()
    model.learn(10**9, callback=[recorder, StopTrainingOnMaxEpisodes(episodes)])
    lengths = np.array([row.length for row in recorder.rows])
    full = np.flatnonzero(lengths >= 500)
    envs = make_eval_envs("CartPole-v1", 20, RULES)
    greedy = run_episodes(model, envs, evaluation_seeds(20))
    for env in envs:
        env.close()
    return {
        "episodes reaching 500": len(full),
        "mean length, last 50": float(lengths[-50:].mean()),
        "greedy mean return (20 eval episodes)": float(np.mean([r.episode_return for r in greedy])),
        "first episode reaching 500": float(full[0]) if len(full) else float("nan"),
        "env steps": int(lengths.sum()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tabular_episodes", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=parse_seeds, default=list(range(10)))
    parser.add_argument("--episodes", type=int, default=300)
    args = parser.parse_args(argv)
    single_thread()
    for kind in ("tabular_q", "tabular_sarsa"):
        frame = pd.DataFrame([measure(kind, seed, args.episodes) for seed in args.seeds], index=args.seeds)
        summary = pd.DataFrame(
            {
                "mean over seeds": frame.mean(),
                "range": [f"{frame[c].min():.0f}-{frame[c].max():.0f}" for c in frame.columns],
                "seeds that got there": [int(frame[c].notna().sum()) for c in frame.columns],
            }
        )
        print(f"\n{kind}, {args.episodes} training episodes, seeds {args.seeds[0]}-{args.seeds[-1]}\n")
        print(summary.to_markdown(floatfmt=".1f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
