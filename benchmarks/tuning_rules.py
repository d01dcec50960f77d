"""`make bench-tune`: which stop rule, and which objective, should `harness tune` use by default?

At equal budgets in env steps, every rule (`none`, `median`, `halving`, `hyperband`) tunes each agent
(`tabular_q`, `custom_dqn`, `sb3_dqn`, their default spaces, starting from their own values) on
CartPole-v1, once per tuner seed, at a reduced budget: each tune is an ordinary `harness.tune` of a
one-agent study. Printed per agent and rule, over the tuner seeds (mean, min-max):

- the validation value of the values the tune chose (`[tuned.<label>] validation_best`: the
  objective on the validation seeds, which the tune never tuned on), of the start, and of the best
  configuration the search found beyond the start (the best finalist there: what the rule found);
- the configurations tried and the env steps used (validation runs included).

And for the objective (issue 23, item 4): every tune's complete trials are ranked on the tuning
seeds by each objective (`final`, `last_quarter`, both computed from the same runs: a trial's mean
curve over its seeds is what Optuna holds); the best trial by each is re-trained on the validation
seeds (where the tune did not already), and its drop, its tuning value minus its validation value
(as a share of its tuning value), is printed: the steadier objective drops less.

    python -m benchmarks.tuning_rules [--agents tabular_q,custom_dqn,sb3_dqn]
        [--rules none,median,halving,hyperband] [--tuner-seeds 0,1,2] [--budget 400000]
        [--trial-steps 20000] [--eval-freq 1000] [--jobs 2] [--runs-dir bench-tune-runs]

Results are kept in `<runs-dir>/results.json` as they come, and the tunes in the runs folder: run
it again to resume (a finished tune is read, not run).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import pathlib
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import harness
from harness.analysis import objective
from harness.studies import TUNE_FOLDER, parse_study, resolve_study

TUNING_SEEDS = (100, 101)
VALIDATION_SEEDS = (102, 103)
OBJECTIVES = ("final", "last_quarter")


def study_text(agent: str, rule: str, tuner_seed: int, budget: int, trial_steps: int, eval_freq: int) -> str:
    """A one-agent study of CartPole-v1 whose `[tune]` table is this benchmark's setting."""
    preset = 'preset = "zoo"\n' if agent != "tabular_q" else ""
    return f"""
[study]
name = "{agent}-{rule}-{tuner_seed}"
env_id = "CartPole-v1"
seeds = [0]
total_timesteps = {trial_steps}
eval_freq = {eval_freq}
n_eval_episodes = 10

[tune]
budget_env_steps = {budget}
seeds = {list(TUNING_SEEDS)}
validation_seeds = {list(VALIDATION_SEEDS)}
pruner = "{rule}"
objective = "last_quarter"
seed = {tuner_seed}
concurrent_trials = 2
finalists = 3

[agents.{agent}]
kind = "{agent}"
{preset}"""


def curves_of(runs: pathlib.Path, name: str, agent: str) -> dict[int, dict[int, float]]:
    """Complete trial -> its mean curve over the tuning seeds (what Optuna holds)."""
    import optuna  # here: only this benchmark reads the journal directly

    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(runs / name / TUNE_FOLDER / "optuna.journal"))
    )
    (summary,) = [s for s in optuna.get_all_study_summaries(storage) if s.study_name.startswith(f"{agent}@")]
    ostudy = optuna.load_study(study_name=summary.study_name, storage=storage)
    return {
        t.number: {int(k): float(v) for k, v in t.intermediate_values.items()}
        for t in ostudy.get_trials(deepcopy=False)
        if t.state == optuna.trial.TrialState.COMPLETE
    }


def validation_curves(
    runs: pathlib.Path, name: str, agent: str, number: int, study: Any, jobs: int
) -> list[dict[int, float]]:
    """Trial `number`'s curves on the validation seeds: the tune's own validation runs, else runs
    made here (the trial's resolved hyperparameters, as its run.json holds them)."""
    tune_store = runs / name / TUNE_FOLDER / agent / f"trial_{number:04d}"
    found = [_curve(tune_store / f"seed_{seed}") for seed in VALIDATION_SEEDS]
    if all(curve is not None for curve in found):
        return found  # type: ignore[return-value]
    record = json.loads((tune_store / f"seed_{TUNING_SEEDS[0]}" / "run.json").read_text())
    tune = study.tune
    spec = dataclasses.replace(
        study.agent(agent), label=f"trial_{number:04d}", hyperparameters=record["hyperparameters"]
    )
    view = dataclasses.replace(study, agents=(spec,), decide=None, tune=None, resolved=False)
    view = view.replace(name=f"{name}-validation", seeds=list(VALIDATION_SEEDS), eval_seed=tune.validation_eval_seed)
    harness.compare(view, runs_dir=runs, jobs=jobs, report=False, stream=io.StringIO())
    folder = runs / f"{name}-validation" / f"trial_{number:04d}"
    return [_curve(folder / f"seed_{seed}") or {} for seed in VALIDATION_SEEDS]


def _curve(run: pathlib.Path) -> dict[int, float] | None:
    evals = run / "evals.csv"
    if not (run / "run.json").is_file() or not evals.is_file():
        return None
    import pandas as pd  # here: only reading the runs needs it

    return pd.read_csv(evals).groupby("eval_step")["return"].mean().to_dict()


def one_tune(runs: pathlib.Path, agent: str, rule: str, tuner_seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Tune one agent with one rule and tuner seed; its figures."""
    text = study_text(agent, rule, tuner_seed, args.budget, args.trial_steps, args.eval_freq)
    study = parse_study(text, f"bench-tune {agent} {rule} {tuner_seed}")
    start = time.monotonic()
    result = harness.tune(study, runs_dir=runs, jobs=args.jobs, stream=io.StringIO())
    wall = time.monotonic() - start
    (tuning,) = result.agents
    record = dict(result.study.agent(agent).tuned or {}) if result.study is not None else {}
    figures: dict[str, Any] = {
        "agent": agent,
        "rule": rule,
        "tuner_seed": tuner_seed,
        "wall_time_s": wall,
        "configurations": tuning.configurations,
        "complete": tuning.complete,
        "pruned": tuning.pruned,
        "failed": tuning.failed,
        "env_steps": tuning.env_steps,
        "start_value": record.get("start_value"),
        "validation_start": record.get("validation_start"),
        "validation_best": record.get("validation_best"),
        "chosen_trial": record.get("chosen_trial"),
    }
    curves = curves_of(runs, study.name, agent)
    resolved = resolve_study(study)
    for kind in OBJECTIVES:
        values = {n: objective.run_value(curve, args.trial_steps, kind) for n, curve in curves.items()}
        best = max(values, key=lambda n: (values[n], -n))
        validation = validation_curves(runs, study.name, agent, best, resolved, args.jobs)
        figures[f"{kind}_best_trial"] = best
        figures[f"{kind}_tuning"] = values[best]
        figures[f"{kind}_validation"] = objective.mean_value(validation, args.trial_steps, kind)
    return figures


def found_validation(runs: pathlib.Path, figures: Mapping[str, Any], trial_steps: int) -> float | None:
    """The best validation value among the trials re-trained there but the start (what the search
    found beyond the start), from the tune's validation runs; None when none completed."""
    name = f"{figures['agent']}-{figures['rule']}-{figures['tuner_seed']}"
    values = []
    for trial in sorted((runs / name / TUNE_FOLDER / figures["agent"]).glob("trial_*")):
        if trial.name == "trial_0000":
            continue
        curves = [_curve(trial / f"seed_{seed}") for seed in VALIDATION_SEEDS]
        if all(curve is not None for curve in curves):
            values.append(objective.mean_value(curves, trial_steps, "last_quarter"))  # type: ignore[arg-type]
    return max(values) if values else None


def _stat(values: Sequence[float | None], digits: int = 1) -> str:
    finite = [v for v in values if v is not None]
    if not finite:
        return "–"
    return f"{statistics.mean(finite):,.{digits}f} ({min(finite):,.{digits}f}-{max(finite):,.{digits}f})"


def print_tables(results: Sequence[Mapping[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nbench-tune: CartPole-v1, budget {args.budget:,} env steps per agent and tune (validation runs included), "
        f"trial budget {args.trial_steps:,} env steps, evaluations every {args.eval_freq:,} (10 episodes), tuning "
        f"seeds {list(TUNING_SEEDS)}, validation seeds {list(VALIDATION_SEEDS)}, objective last_quarter, "
        f"{len(args.tuner_seeds)} tuner seeds; mean (min-max) over them\n"
    )
    header = [
        "agent",
        "rule",
        "chosen: validation",
        "start: validation",
        "best found: validation",
        "configurations",
        "env steps",
        "wall s",
    ]
    rows = []
    for agent in args.agents:
        for rule in args.rules:
            mine = [r for r in results if r["agent"] == agent and r["rule"] == rule]
            if not mine:
                continue
            rows.append(
                [
                    agent,
                    rule,
                    _stat([r["validation_best"] for r in mine]),
                    _stat([r["validation_start"] for r in mine]),
                    _stat([found_validation(args.runs_dir, r, args.trial_steps) for r in mine]),
                    _stat([r["configurations"] for r in mine], 0),
                    _stat([r["env_steps"] for r in mine], 0),
                    _stat([r["wall_time_s"] for r in mine], 0),
                ]
            )
    _print(header, rows)
    print("\nthe objective: the best trial by each on the tuning seeds, its value there and on the validation seeds")
    header = ["agent", "objective", "tuning", "validation", "drop", "drop / tuning"]
    rows = []
    for agent in args.agents:
        mine = [r for r in results if r["agent"] == agent]
        for kind in OBJECTIVES:
            drops = [r[f"{kind}_tuning"] - r[f"{kind}_validation"] for r in mine]
            shares = [(r[f"{kind}_tuning"] - r[f"{kind}_validation"]) / r[f"{kind}_tuning"] for r in mine]
            rows.append(
                [
                    agent,
                    kind,
                    _stat([r[f"{kind}_tuning"] for r in mine]),
                    _stat([r[f"{kind}_validation"] for r in mine]),
                    _stat(drops),
                    _stat([100 * s for s in shares], 0) + " %",
                ]
            )
    _print(header, rows)


def _print(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  " + "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tuning_rules", description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="tabular_q,custom_dqn,sb3_dqn")
    parser.add_argument("--rules", default="none,median,halving,hyperband")
    parser.add_argument("--tuner-seeds", default="0,1,2")
    parser.add_argument("--budget", type=int, default=400_000)
    parser.add_argument("--trial-steps", type=int, default=20_000)
    parser.add_argument("--eval-freq", type=int, default=1_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs-dir", type=pathlib.Path, default=pathlib.Path("bench-tune-runs"))
    args = parser.parse_args(argv)
    args.agents = args.agents.split(",")
    args.rules = args.rules.split(",")
    args.tuner_seeds = [int(s) for s in args.tuner_seeds.split(",")]
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    store = args.runs_dir / "results.json"
    results: list[dict[str, Any]] = json.loads(store.read_text()) if store.is_file() else []
    started = time.monotonic()
    for tuner_seed in args.tuner_seeds:  # a tuner seed across every agent and rule first: partial results compare
        for agent in args.agents:
            for rule in args.rules:
                if any((r["agent"], r["rule"], r["tuner_seed"]) == (agent, rule, tuner_seed) for r in results):
                    continue
                figures = one_tune(args.runs_dir, agent, rule, tuner_seed, args)
                results.append(figures)
                store.write_text(json.dumps(results, indent=1))
                print(
                    f"{agent} {rule} seed {tuner_seed}: chosen {figures['validation_best']} on validation "
                    f"(start {figures['validation_start']}), {figures['configurations']} configurations, "
                    f"{figures['wall_time_s']:.0f}s",
                    flush=True,
                )
    print_tables(results, args)
    print(f"\n(this call took {time.monotonic() - started:,.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
