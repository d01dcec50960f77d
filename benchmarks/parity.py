"""`make bench-parity`: does the hand-written DQN learn like Stable-Baselines3's?

Both with the RL Zoo's CartPole-v1 preset, 50,000 env steps, seeds 0-9, through the harness
(same env factory, seeds, callbacks, evaluation episodes); then the final deterministic policy of
each run on the study's 20 evaluation episodes. Prints per agent the mean and IQM of the final
return across seeds with 95% stratified-bootstrap intervals, and the share of seeds whose final
policy reaches 500 on every evaluation episode. Runs are kept in `runs/parity-dqn-zoo/`, so an
interrupted benchmark resumes; `--fresh` starts over.

    python -m benchmarks.parity [--seeds 0-9] [--total-timesteps 50000] [--jobs 2] [--fresh]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

import numpy as np
import pandas as pd

from harness.analysis import stats
from harness.api import load
from harness.execution import LocalExecutor, compare
from harness.studies import parse_seeds, parse_study, resolve_study

STUDY = """
[study]
name = "parity-dqn-zoo"
description = "custom_dqn vs sb3_dqn, RL Zoo CartPole-v1 preset"
env_id = "CartPole-v1"
seeds = {seeds}
total_timesteps = {total_timesteps}
eval_freq = {total_timesteps}
n_eval_episodes = 20

[agents.custom_dqn]
kind = "custom_dqn"
preset = "zoo"

[agents.sb3_dqn]
kind = "sb3_dqn"
preset = "zoo"
"""
RANDOM_STATE = 0


def final_returns(evals: pd.DataFrame, label: str) -> np.ndarray:
    """Final evaluation returns of `label`'s runs (`evals`: `harness.load(...).evals`), shape
    (n_seeds, n_eval_episodes), by seed."""
    mine = evals[evals["agent"] == label]
    final = mine[mine["eval_step"] == mine.groupby("seed")["eval_step"].transform("max")]
    return np.array([group.sort_values("episode")["return"].to_numpy() for _, group in final.groupby("seed")])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.parity", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=parse_seeds, default=list(range(10)))
    parser.add_argument("--total-timesteps", type=int, default=50_000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs-dir", type=pathlib.Path, default=pathlib.Path("runs"))
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args(argv)

    text = STUDY.format(seeds=args.seeds, total_timesteps=args.total_timesteps)
    study = resolve_study(parse_study(text, "benchmarks/parity.py"))
    outcome = compare(
        study,
        args.runs_dir,
        LocalExecutor(args.jobs),
        fresh=args.fresh,
        command=" ".join(["python -m benchmarks.parity", *(argv or sys.argv[1:])]),
    )
    if outcome.failed:
        print(f"failed runs: {outcome.failed}", file=sys.stderr)
        return 1

    evals = load(args.runs_dir / study.name).evals
    rows = []
    for label in study.labels:
        returns = final_returns(evals, label)
        per_seed = returns.mean(axis=1)
        rows.append(
            {
                "agent": label,
                "mean final return [95% CI]": stats.mean_interval(per_seed, RANDOM_STATE).format(),
                "IQM final return [95% CI]": stats.iqm_interval(per_seed, RANDOM_STATE).format(),
                "seeds at 500 on every episode": f"{int((returns == 500).all(axis=1).sum())}/{len(per_seed)}",
                "per seed": " ".join(f"{v:.0f}" for v in per_seed),
            }
        )
    print(
        f"\n{study.name}: {args.total_timesteps} env steps, seeds {args.seeds[0]}-{args.seeds[-1]}, "
        f"final deterministic policy on 20 evaluation episodes\n"
    )
    print(pd.DataFrame(rows).to_markdown(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
