"""`harness report RUNS_DIR/STUDY --out reports/STUDY`: the study's report, from its files alone.

    reports/<study>/README.md        header, summary, pictures, pairwise comparison, episodes,
                                     hyperparameters, reproduce command, per-seed appendix
    reports/<study>/summary.csv      the summary table as data (one row per agent label)
    reports/<study>/*.png            evaluation and training curves, success rate, final returns
    reports/<study>/episode_*.gif    one episode of each agent (and .mp4), unless video=False

The files are read and the per-run numbers defined in `harness.rundata`. Intervals are 95%
stratified-bootstrap intervals across seeds (see `harness.stats`), each with its own fixed random
state, so the same runs always give the same report (but the date and wall times).

The report is built in a temporary folder next to `out` and then moved into place, so `out` holds
either the previous report or the whole new one.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import pathlib
import shutil
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness import plots, stats
from harness.results import STUDY_FILE
from harness.rundata import (
    ReportError,
    ReturnScale,
    Run,
    RunNumbers,
    StudyRuns,
    load_study_runs,
    one_line,
    return_scale,
    run_numbers,
)
from harness.study import Study

__all__ = ["ReportError", "build_report", "write_report"]

TRAIN_SMOOTHING_EPISODES = 20
"""The training-return picture shows the mean of each seed's last 20 episodes."""
TRAIN_GRID_POINTS = 101
"""Env-step points at which smoothed training curves are sampled (0 to the budget)."""
SUMMARY_FILE = "summary.csv"
README_FILE = "README.md"


def _random_state(*parts: object) -> int:
    """A fixed random state per statistic, from its name: independent of which other agents or
    statistics the report holds."""
    return zlib.crc32("/".join(str(p) for p in parts).encode())


def study_numbers(data: StudyRuns) -> tuple[dict[tuple[str, int], RunNumbers], ReturnScale]:
    """The numbers of every complete run, by (label, seed), and the env's return scale."""
    settings = data.study.settings
    scale = return_scale(settings.env_id)
    numbers = {
        (pair.label, pair.seed): run_numbers(pair.run, settings.total_timesteps, scale)
        for pair in data.pairs
        if pair.run
    }
    return numbers, scale


def summary_frame(
    data: StudyRuns, numbers: Mapping[tuple[str, int], RunNumbers], scale: ReturnScale, reps: int = stats.REPS
) -> pd.DataFrame:
    """The summary table as data: one row per agent label, in study order."""
    rows = []
    for label in data.study.labels:
        own = [numbers[(run.label, run.seed)] for run in data.runs(label)]
        final = np.array([n.final_return for n in own])
        mean = stats.mean_interval(final, _random_state(label, "final_mean"), reps)
        iqm = stats.iqm_interval(final, _random_state(label, "final_iqm"), reps)
        success = stats.mean_interval(np.array([n.final_success for n in own]), _random_state(label, "success"), reps)
        steps, reached = stats.median_of_reached(np.array([n.steps_to_threshold for n in own]))
        problems = [p for p in data.pairs if p.label == label and p.status != "complete"]
        rows.append(
            {
                "agent": label,
                "kind": data.kind(label),
                "runs_complete": len(own),
                "runs_planned": len(data.study.settings.seeds),
                "final_return_mean": mean.value,
                "final_return_mean_low": mean.low,
                "final_return_mean_high": mean.high,
                "final_return_iqm": iqm.value,
                "final_return_iqm_low": iqm.low,
                "final_return_iqm_high": iqm.high,
                "eval_success_rate": success.value,
                "eval_success_rate_low": success.low,
                "eval_success_rate_high": success.high,
                "train_success_rate": _mean([n.train_success for n in own]),
                "threshold": scale.threshold,
                "steps_to_threshold_median": steps,
                "seeds_reaching_threshold": reached,
                "auc_normalised": _mean([n.auc for n in own]),
                "wall_time_s_per_run": _mean([n.wall_time_s for n in own]),
                "env_steps_per_s": _mean([n.steps_per_s for n in own]),
                "failed_or_missing": "; ".join(f"seed {p.seed} {p.status}" for p in problems),
            }
        )
    return pd.DataFrame(rows)


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def _est(row: Mapping[str, Any], key: str) -> stats.Estimate:
    return stats.Estimate(row[key], row[f"{key}_low"], row[f"{key}_high"])


# ----------------------------------------------------------------------------------------------
# Markdown pieces


def _num(value: float, digits: int) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, disable_numparse=True)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_markdown(summary: pd.DataFrame) -> str:
    """The summary table, formatted from `summary_frame` (so README and summary.csv agree)."""
    threshold = _num(summary["threshold"].iloc[0], 0)
    rows = []
    for _, row in summary.iterrows():
        steps = _num(row["steps_to_threshold_median"], 0)
        reached = f"{row['seeds_reaching_threshold']}/{row['runs_complete']}"
        rows.append(
            {
                "agent": row["agent"],
                "kind": row["kind"],
                "runs": f"{row['runs_complete']}/{row['runs_planned']}",
                "final return, mean [95% CI]": _est(row, "final_return_mean").format(1),
                "final return, IQM [95% CI]": _est(row, "final_return_iqm").format(1),
                "eval success rate [95% CI]": _est(row, "eval_success_rate").format(2),
                "training success rate": _num(row["train_success_rate"], 2),
                f"env steps to {threshold} (median; seeds)": f"{steps} ({reached})",
                "AUC (normalised)": _num(row["auc_normalised"], 3),
                "wall time per run (s)": _num(row["wall_time_s_per_run"], 1),
                "env steps/s": _num(row["env_steps_per_s"], 0),
                "failed or missing": _cell(row["failed_or_missing"]) or "none",
            }
        )
    return _table(pd.DataFrame(rows))


def summary_sentence(summary: pd.DataFrame) -> str:
    """What the summary table shows, from its numbers."""
    rows = summary[summary["runs_complete"] > 0]
    iqm = {row["agent"]: _est(row, "final_return_iqm") for _, row in rows.iterrows()}
    top = max(round(e.value, 1) for e in iqm.values())
    best = [label for label, e in iqm.items() if round(e.value, 1) == top]
    best_estimate = iqm[best[0]]
    if len(best) == 1:
        text = f"{best[0]} has the highest IQM final return ({best_estimate.format(1)})"
    else:
        text = f"{_join(best)} share the highest IQM final return ({best_estimate.format(1)})"
    overlapping = [
        f"{label}'s ({e.format(1)})" for label, e in iqm.items() if label not in best and e.overlaps(best_estimate)
    ]
    if overlapping:
        text += f"; its interval overlaps {_join(overlapping)}."
    elif len(iqm) > len(best):
        text += "; its interval overlaps no other agent's."
    else:
        text += "."
    auc = {row["agent"]: row["auc_normalised"] for _, row in rows.iterrows() if not math.isnan(row["auc_normalised"])}
    if auc:
        top_auc = max(round(v, 3) for v in auc.values())
        fastest = [label for label, v in auc.items() if round(v, 3) == top_auc]
        text += f" The largest normalised area under the evaluation curve is {_join(fastest)}'s ({top_auc:.3f})."
    reached = [
        f"{row['agent']} ({row['seeds_reaching_threshold']}/{row['runs_complete']})"
        for _, row in rows.iterrows()
        if row["seeds_reaching_threshold"] > 0
    ]
    threshold = _num(summary["threshold"].iloc[0], 0)
    if reached:
        text += f" Seeds whose evaluation mean reached {threshold}: {_join(reached)}."
    else:
        text += f" No seed of any agent reached an evaluation mean of {threshold}."
    return text


def _count(n: int, noun: str) -> str:
    """'1 seed', '3 seeds'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def improvement_section(data: StudyRuns, numbers: Mapping[tuple[str, int], RunNumbers], reps: int = stats.REPS) -> str:
    """Probability of improvement of each agent over each later one in the study's order."""
    labels = [label for label in data.study.labels if data.runs(label)]
    finals = {label: np.array([numbers[(r.label, r.seed)].final_return for r in data.runs(label)]) for label in labels}
    rows, clear, unclear = [], [], []
    for i, x in enumerate(labels):
        for y in labels[i + 1 :]:
            estimate = stats.probability_of_improvement(finals[x], finals[y], _random_state(x, y, "poi"), reps)
            if estimate.low > 0.5:
                higher = x
                clear.append(f"{x} over {y} ({estimate.format(2)})")
            elif estimate.high < 0.5:
                higher = y
                reverse = stats.Estimate(1 - estimate.value, 1 - estimate.high, 1 - estimate.low)
                clear.append(f"{y} over {x} ({reverse.format(2)})")
            else:
                higher = "neither: the interval includes 0.50"
                unclear.append(f"{x} vs {y} ({estimate.format(2)})")
            rows.append(
                {
                    "agent X": x,
                    "agent Y": y,
                    "P(X > Y) [95% CI]": estimate.format(2),
                    "likelier to end higher": higher,
                    "seeds (X, Y)": f"{len(finals[x])}, {len(finals[y])}",
                }
            )
    intro = (
        "P(X > Y) is the probability that a seed of X picked at random ends with a higher final return "
        "than a seed of Y (ties count half; rliable's probability of improvement), with a 95% bootstrap "
        "interval resampling the seeds of each; 0.50 means neither tends to do better, and "
        "P(Y > X) = 1 − P(X > Y)."
    )
    if not rows:
        return intro + " There is only one agent with complete runs, so there is nothing to compare."
    n = len(rows)
    if not clear:
        verdict = f" All {n} intervals include 0.50: no agent reliably ends above another here."
    elif not unclear:
        verdict = f" All {n} intervals exclude 0.50: every pair of agents is ordered."
    elif len(clear) <= len(unclear):
        others = "the other one includes" if len(unclear) == 1 else f"the other {len(unclear)} include"
        verdict = (
            f" {len(clear)} of {n} intervals exclude 0.50 (the agent named first is likelier to end "
            f"higher, with that probability): {_join(clear)}; {others} 0.50."
        )
    else:
        which = "the one that includes" if len(unclear) == 1 else f"the {len(unclear)} that include"
        verdict = f" {len(clear)} of {n} intervals exclude 0.50; {which} it: {_join(unclear)}."
    return intro + verdict + "\n\n" + _table(pd.DataFrame(rows))


def paired_section(data: StudyRuns, reps: int = stats.REPS) -> str:
    """The study's declared pairs (`paired`) on the same final evaluation episodes (same seed,
    same start state)."""
    pairs = list(data.study.settings.paired)
    intro = (
        "Each pair is one final evaluation episode (the same seed and the same reset seed, so the same "
        "start state) played by the final policies of both agents; the difference is X's return minus Y's. "
        "The mean difference has a 95% bootstrap interval across seeds (the episodes of one seed share "
        "a policy, so seeds are resampled, not episodes)."
    )
    if not pairs:
        return (
            "The study declares no pairs of agents to compare episode by episode "
            '(`paired = [["agent_x", "agent_y"]]` in its [study] table).'
        )
    rows, sentences = [], []
    for x, y in pairs:
        xs, ys = _paired_returns(data, x, y)
        if xs.size == 0:
            rows.append(
                {
                    "X": x,
                    "Y": y,
                    "seeds": "0",
                    "episode pairs": "0",
                    "mean X − Y [95% CI]": "–",
                    "X wins / ties / losses": "–",
                }
            )
            sentences.append(f"{x} and {y} have no seed that both completed.")
            continue
        result = stats.paired_difference(xs, ys, _random_state(x, y, "paired"), reps)
        diff = result.mean_difference
        n = xs.size
        rows.append(
            {
                "X": x,
                "Y": y,
                "seeds": str(result.n_runs),
                "episode pairs": str(n),
                "mean X − Y [95% CI]": _signed(diff),
                "X wins / ties / losses": f"{result.wins} / {result.ties} / {result.losses}",
            }
        )
        if diff.low > 0:
            where = f"lies above 0 ({x} scores higher)"
        elif diff.high < 0:
            where = f"lies below 0 ({y} scores higher)"
        else:
            where = "includes 0"
        sentences.append(
            f"On {n} shared episodes over {result.n_runs} seeds, {x}'s return minus {y}'s is "
            f"{_signed(diff)} on average; the interval {where}. {x} scored higher on {result.wins}, "
            f"the same on {result.ties} and lower on {result.losses} of them."
        )
    return intro + " " + " ".join(sentences) + "\n\n" + _table(pd.DataFrame(rows))


def _signed(estimate: stats.Estimate) -> str:
    return f"{estimate.value:+.1f} [{estimate.low:+.1f}, {estimate.high:+.1f}]"


def _paired_returns(data: StudyRuns, x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    """Final returns of x and y on their shared (seed, eval_seed) episodes, each shape
    (n_shared_seeds, n_shared_episodes)."""
    runs_y = {run.seed: run for run in data.runs(y)}
    xs, ys = [], []
    for run_x in data.runs(x):
        run_y = runs_y.get(run_x.seed)
        if run_y is None:
            continue
        joined = run_x.final_evals.merge(run_y.final_evals, on="eval_seed", suffixes=("_x", "_y"))
        joined = joined.sort_values("eval_seed")
        xs.append(joined["return_x"].to_numpy())
        ys.append(joined["return_y"].to_numpy())
    if not xs:
        return np.zeros((0, 0)), np.zeros((0, 0))
    width = min(len(a) for a in xs)  # every seed's final evaluation has the study's episodes
    return np.stack([a[:width] for a in xs]), np.stack([b[:width] for b in ys])


def hyperparameter_table(study: Study) -> str:
    """One column per agent, one row per hyperparameter name (– where a kind has no such name)."""
    names: list[str] = []
    for spec in study.agents:
        names += [name for name in spec.hyperparameters if name not in names]
    rows = [{"hyperparameter": "kind", **{spec.label: spec.kind for spec in study.agents}}]
    for name in names:
        row = {"hyperparameter": name}
        for spec in study.agents:
            row[spec.label] = _value(spec.hyperparameters[name]) if name in spec.hyperparameters else "–"
        rows.append(row)
    return _table(pd.DataFrame(rows))


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, (list, tuple, bool)):
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    return _cell(value)


def appendix_table(data: StudyRuns, numbers: Mapping[tuple[str, int], RunNumbers], scale: ReturnScale) -> str:
    """Every pair of the study, one row each."""
    rows = []
    for pair in data.pairs:
        n = numbers.get((pair.label, pair.seed))
        rows.append(
            {
                "agent": pair.label,
                "seed": str(pair.seed),
                "status": pair.status,
                "final return": _num(n.final_return, 1) if n else "–",
                "final success rate": _num(n.final_success, 2) if n else "–",
                "training episodes": str(n.train_episodes) if n else "–",
                "training success rate": _num(n.train_success, 2) if n else "–",
                f"env steps to {_num(scale.threshold, 0)}": _num(n.steps_to_threshold, 0) if n else "–",
                "AUC (normalised)": _num(n.auc, 3) if n else "–",
                "wall time (s)": _num(n.wall_time_s, 1) if n else "–",
                "env steps/s": _num(n.steps_per_s, 0) if n else "–",
            }
        )
    return _table(pd.DataFrame(rows))


def problems_section(data: StudyRuns) -> str:
    """The pairs without a complete result counted in the report, with their errors ('' when there
    are none)."""
    problems = [pair for pair in data.pairs if pair.status != "complete"]
    if not problems:
        return ""
    rows = [
        {
            "agent": p.label,
            "seed": str(p.seed),
            "status": p.status,
            "error": _cell(p.error[:300]) if p.error else "no run folder",
        }
        for p in problems
    ]
    return (
        f"## Failed, incomplete, stale and missing runs\n\n{len(problems)} of {len(data.pairs)} pairs have no "
        "complete result counted here; the tables and pictures use the complete runs only. `harness compare` "
        "with the same arguments reruns the failed, incomplete and missing ones.\n\n"
        + _table(pd.DataFrame(rows))
        + "\n"
    )


# ----------------------------------------------------------------------------------------------
# Pictures


def write_plots(
    out: pathlib.Path,
    data: StudyRuns,
    numbers: Mapping[tuple[str, int], RunNumbers],
    scale: ReturnScale,
    reps: int = stats.REPS,
) -> None:
    """eval_return.png, train_return.png, success_rate.png and final_return.png in `out`."""
    settings = data.study.settings
    labels = [label for label in data.study.labels if data.runs(label)]
    band = "shaded: its 95% bootstrap interval"
    evaluation = f"line: mean over seeds of each seed's mean over {settings.n_eval_episodes} evaluation episodes"
    plots.plot_curves(
        out / "eval_return.png",
        {label: _eval_curve(data.runs(label), "return", _random_state(label, "eval_curve"), reps) for label in labels},
        title="Evaluation return vs env steps (deterministic policy)",
        subtitle=f"{evaluation}; {band}",
        ylabel=plots.RETURN_LABEL,
        hline=scale.threshold,
        hline_label=f"threshold {_num(scale.threshold, 0)}",
    )
    grid = np.linspace(0, settings.total_timesteps, TRAIN_GRID_POINTS)
    plots.plot_curves(
        out / "train_return.png",
        {label: _train_curve(data.runs(label), grid, _random_state(label, "train_curve"), reps) for label in labels},
        title="Training episode return vs env steps (smoothed)",
        subtitle=f"each seed: mean return of its last {TRAIN_SMOOTHING_EPISODES} training episodes; "
        f"line: mean over seeds; {band}",
        ylabel=plots.RETURN_LABEL,
    )
    plots.plot_curves(
        out / "success_rate.png",
        {
            label: _eval_curve(data.runs(label), "success", _random_state(label, "success_curve"), reps)
            for label in labels
        },
        title="Evaluation success rate vs env steps",
        subtitle=f"success: an episode reaching the time limit; line: mean over seeds of each seed's share of "
        f"{settings.n_eval_episodes} evaluation episodes; {band}",
        ylabel=plots.SUCCESS_LABEL,
        ylim=(-0.03, 1.03),
    )
    plots.plot_distribution(
        out / "final_return.png",
        {label: [numbers[(run.label, run.seed)].final_return for run in data.runs(label)] for label in labels},
        title=f"Final evaluation return per seed (mean of {settings.n_eval_episodes} episodes at the end of training)",
        ylabel=plots.RETURN_LABEL,
    )


def _eval_curve(runs: Sequence[Run], column: str, random_state: int, reps: int) -> plots.Curve:
    per_run = [run.evals.groupby("eval_step")[column].mean() for run in runs]
    steps = sorted(set.intersection(*(set(series.index) for series in per_run)))
    matrix = np.array([[float(series[step]) for step in steps] for series in per_run])
    mean, low, high = stats.pointwise_mean_interval(matrix, random_state, reps)
    return plots.Curve(np.array(steps, dtype=float), mean, low, high)


def _train_curve(runs: Sequence[Run], grid: np.ndarray, random_state: int, reps: int) -> plots.Curve:
    """Each run's mean return over its last episodes, as of each grid step (NaN before its first
    episode ends); mean and band over runs where every run has a value."""
    matrix = np.full((len(runs), grid.size), np.nan)
    for i, run in enumerate(runs):
        episodes = run.episodes.sort_values("end_step")
        if episodes.empty:
            continue
        smoothed = episodes["return"].rolling(TRAIN_SMOOTHING_EPISODES, min_periods=1).mean().to_numpy()
        index = np.searchsorted(episodes["end_step"].to_numpy(), grid, side="right") - 1
        matrix[i] = np.where(index >= 0, smoothed[np.maximum(index, 0)], np.nan)
    mean, low, high = (np.full(grid.size, np.nan) for _ in range(3))
    full = ~np.isnan(matrix).any(axis=0)
    if full.any():
        mean[full], low[full], high[full] = stats.pointwise_mean_interval(matrix[:, full], random_state, reps)
    return plots.Curve(grid, mean, low, high)


# ----------------------------------------------------------------------------------------------
# Episodes


def median_seed(runs: Sequence[Run], numbers: Mapping[tuple[str, int], RunNumbers]) -> Run:
    """The run whose final return is the median of its agent's runs (the lower middle one for an
    even count; ties broken by the smaller seed)."""
    ordered = sorted(runs, key=lambda run: (numbers[(run.label, run.seed)].final_return, run.seed))
    return ordered[(len(ordered) - 1) // 2]


def episodes_section(out: pathlib.Path, data: StudyRuns, numbers: Mapping[tuple[str, int], RunNumbers]) -> str:
    """Render one episode of each agent to episode_<label>.gif/.mp4 and describe them."""
    from harness.playback import load_model
    from harness.seeding import evaluation_seeds
    from harness.video import record_episodes, render_fps, write_gif, write_mp4

    settings = data.study.settings
    fps = render_fps(settings.env_id)
    rows = []
    for label in data.study.labels:
        runs = data.runs(label)
        if not runs:
            continue
        run = median_seed(runs, numbers)
        row = {
            "agent": label,
            "seed": str(run.seed),
            "seed's final return": _num(numbers[(label, run.seed)].final_return, 1),
        }
        try:
            model = load_model(data.study_dir / label / f"seed_{run.seed}", dict(run.record))
            seeds = evaluation_seeds(settings.n_eval_episodes, settings.eval_seed)
            results, frames = record_episodes(model, settings.env_id, seeds, render=[0])
            result = results[0]
            write_gif(frames[0], out / f"episode_{label}.gif", fps)
            write_mp4(frames[0], out / f"episode_{label}.mp4", fps)
        except Exception as error:  # one agent's video must not stop the report
            rows.append(
                {
                    **row,
                    "episode return": "–",
                    "length": "–",
                    "episode": f"not rendered: {_cell(one_line(error))[:200]}",
                    "MP4": "–",
                }
            )
            continue
        rows.append(
            {
                **row,
                "episode return": _num(result.episode_return, 1),
                "length": str(result.length),
                "episode": f"![{label}](episode_{label}.gif)",
                "MP4": f"[episode_{label}.mp4](episode_{label}.mp4)",
            }
        )
    intro = (
        f"The final policy of each agent's median seed (the seed whose final return is the median of the "
        f"agent's seeds; the lower middle one for an even count), playing the first evaluation episode "
        f"(reset seed {settings.eval_seed}) with its deterministic policy, replayed exactly as its final "
        f"evaluation played it (so the return is that episode's in evals.csv, but for a policy that draws "
        f"random actions, such as the random agent's). The GIF is scaled down and keeps every second frame; "
        f"the MP4 has every frame."
    )
    return intro + "\n\n" + _table(pd.DataFrame(rows))


# ----------------------------------------------------------------------------------------------
# Header


def _distinct(records: Sequence[Mapping[str, Any]], key: str) -> list[tuple[dict[str, Any], int]]:
    """Distinct values of `record[key]` with how many runs had each, most common first."""
    seen: list[tuple[dict[str, Any], int]] = []
    for record in records:
        value = dict(record.get(key) or {})
        for i, (known, count) in enumerate(seen):
            if known == value:
                seen[i] = (known, count + 1)
                break
        else:
            seen.append((value, 1))
    return sorted(seen, key=lambda item: -item[1])


def _versions_text(records: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for versions, count in _distinct(records, "versions"):
        text = ", ".join(f"{name} {version}" for name, version in versions.items() if name != "git_commit")
        text = text or "unknown"
        parts.append(text if len(records) == count else f"{text} ({count} runs)")
    return "; ".join(parts)


def _machine_text(records: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for machine, count in _distinct(records, "machine"):
        text = (
            f"{machine.get('cpu', 'unknown CPU')}, {machine.get('cores', '?')} cores, "
            f"{machine.get('torch_threads', '?')} torch thread(s) per run"
        )
        if machine.get("cuda"):
            text += f", {machine['cuda']}"
        if machine.get("platform"):
            text += f", {machine['platform']}"
        parts.append(text if len(records) == count else f"{text} ({count} runs)")
    return "; ".join(parts)


def _commit_text(records: Sequence[Mapping[str, Any]]) -> str:
    """The commits of the code that made the runs (`run.json` versions.git_commit)."""
    commits: dict[str, int] = {}
    for record in records:
        commit = (record.get("versions") or {}).get("git_commit", "not recorded")
        commits[commit] = commits.get(commit, 0) + 1
    if len(commits) == 1:
        return next(iter(commits))
    return "; ".join(f"{commit} ({count} runs)" for commit, count in sorted(commits.items(), key=lambda kv: -kv[1]))


def header(data: StudyRuns, scale: ReturnScale, now: datetime.datetime) -> str:
    """Title and the study's facts."""
    study, settings = data.study, data.study.settings
    records = [pair.run.record for pair in data.pairs if pair.run]
    complete = sum(1 for pair in data.pairs if pair.run)
    walls = [(float((r.get("timings") or {}).get("wall_time_s", math.nan)), r) for r in records]
    walls = [(w, r) for w, r in walls if not math.isnan(w)]
    longest = max(walls, key=lambda item: item[0]) if walls else None
    eval_seeds = f"{settings.eval_seed}–{settings.eval_seed + settings.n_eval_episodes - 1}"
    lines = [
        f"# {study.name}: cartpole-compare report",
        "",
        *([settings.description, ""] if settings.description else []),
        f"- **study**: {study.name} ({_count(len(study.agents), 'agent')} x {_count(len(settings.seeds), 'seed')} = "
        f"{len(data.pairs)} runs, {complete} complete), read from `{data.study_dir / STUDY_FILE}`",
        f"- **environment**: {settings.env_id}; maximum return {_num(scale.max_return, 0)} (the time limit, "
        f"max_episode_steps, at +1 per step); success = an episode reaching the time limit; "
        f"threshold {_num(scale.threshold, 0)} (the env's reward_threshold)",
        f"- **budget**: {settings.total_timesteps:,} env steps per run, the same for every agent",
        f"- **seeds**: {', '.join(str(s) for s in sorted(settings.seeds))}",
        f"- **evaluation**: {settings.n_eval_episodes} episodes with the deterministic policy at step 0, every "
        f"{settings.eval_freq:,} env steps and at the end of training; episode i starts from reset seed "
        f"{settings.eval_seed} + i ({eval_seeds}), the same for every agent and evaluation",
        f"- **date**: {now.strftime('%Y-%m-%d %H:%M')} UTC",
        f"- **git commit** (of the code that made the runs): {_commit_text(records)}",
        f"- **versions**: {_versions_text(records)}",
        f"- **machine**: {_machine_text(records)}",
        f"- **total wall time**: {sum(w for w, _ in walls):,.1f} s summed over {len(walls)} complete runs"
        + (
            f" (longest: {longest[1].get('label')} seed {longest[1].get('seed')}, {longest[0]:,.1f} s)"
            if longest
            else ""
        ),
    ]
    return "\n".join(lines) + "\n"


def reproduce_section(data: StudyRuns, out: pathlib.Path) -> str:
    """The commands that make the runs again, and the one that rebuilds this report."""
    last = (
        f"The last command that wrote study.toml (a study run in parts shows only its last part):\n\n"
        f"```sh\n{data.command}\n```\n\n"
        if data.command
        else ""
    )
    return (
        f"Train every pair of this study again, into a new runs folder (study.toml is the resolved study, "
        f"a study file itself):\n\n```sh\nharness compare {data.study_dir / STUDY_FILE} --runs-dir runs-again\n"
        f"```\n\n{last}The default study (`cartpole`) is also run by `make compare`. Rebuild this report from "
        f"the run files:\n\n```sh\nharness report {data.study_dir} --out {out}\n```\n"
    )


# ----------------------------------------------------------------------------------------------
# The report


def build_report(
    data: StudyRuns,
    out: pathlib.Path,
    final_out: pathlib.Path,
    video: bool,
    now: datetime.datetime,
    reps: int = stats.REPS,
) -> str:
    """Write summary.csv, the pictures (and episodes) into `out`; return the README text.
    `final_out` is where the report will live (named in the reproduce command)."""
    settings = data.study.settings
    numbers, scale = study_numbers(data)
    summary = summary_frame(data, numbers, scale, reps)
    summary.to_csv(out / SUMMARY_FILE, index=False, float_format="%.4f", lineterminator="\n")
    write_plots(out, data, numbers, scale, reps)
    problems = problems_section(data)
    threshold = _num(scale.threshold, 0)
    sections = [
        header(data, scale, now),
        "## Summary\n",
        f"One row per agent. *Final return*: the mean return of a seed's {settings.n_eval_episodes} evaluation "
        f"episodes at the end of training; mean and IQM (interquartile mean) are taken across seeds, with 95% "
        f"stratified-bootstrap intervals (rliable, {reps:,} resamples). *Eval success rate*: share of those "
        f"episodes reaching the time limit; *training success rate*: share of training episodes reaching it. "
        f"*Env steps to {threshold}*: the first evaluation at which a seed's mean return reached {threshold}, "
        f"median over the seeds that got there (how many did, in brackets). *AUC*: area under the evaluation "
        f"curve over the budget, divided by budget x maximum return (1 = the maximum from step 0). *env "
        f"steps/s*: training speed, evaluation time excluded. Also in [{SUMMARY_FILE}]({SUMMARY_FILE}).\n",
        summary_sentence(summary) + "\n",
        summary_markdown(summary) + "\n",
        *([problems] if problems else []),
        "## Pictures\n",
        "Lines are means across seeds, shaded bands their pointwise 95% bootstrap intervals; each agent has its "
        "own line style and marker.\n",
        "![Evaluation return vs env steps](eval_return.png)\n",
        "![Training episode return vs env steps](train_return.png)\n",
        "![Evaluation success rate vs env steps](success_rate.png)\n",
        "![Final evaluation return per seed](final_return.png)\n",
        "## Pairwise comparison\n",
        "### Probability of improvement\n",
        improvement_section(data, numbers, reps) + "\n",
        "### Declared pairs on the same episodes\n",
        paired_section(data, reps) + "\n",
        "## An episode of each agent\n",
        (
            episodes_section(out, data, numbers)
            if video
            else "Not rendered: the report was built without videos (`--no-video`)."
        )
        + "\n",
        "## Hyperparameters\n",
        "As resolved for the run (presets applied, defaults filled), from study.toml.\n",
        hyperparameter_table(data.study) + "\n",
        "## Reproduce\n",
        reproduce_section(data, final_out),
        "## Appendix: every run\n",
        f"Final return and success rate: the last evaluation ({settings.n_eval_episodes} episodes); "
        f"training success rate: over all training episodes.\n",
        appendix_table(data, numbers, scale) + "\n",
    ]
    return "\n".join(sections)


def write_report(study_dir: pathlib.Path, out: pathlib.Path, video: bool, *, reps: int = stats.REPS) -> pathlib.Path:
    """Build the report of the study in `study_dir` (RUNS_DIR/STUDY) into `out` and return the
    README's path. `ReportError` (one line) for input a report cannot be built from; `out` is
    replaced only once the whole new report is written. `reps`: bootstrap resamples per interval."""
    data = load_study_runs(pathlib.Path(study_dir))
    out = pathlib.Path(out)
    _check_out(out, pathlib.Path(study_dir))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"{out.parent}: cannot create: {one_line(error)}") from None
    _remove_leftovers(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    tmp.mkdir()
    try:
        readme = build_report(data, tmp, out, video, datetime.datetime.now(datetime.UTC), reps)
        (tmp / README_FILE).write_text(readme, encoding="utf-8")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
    return out / README_FILE


def _check_out(out: pathlib.Path, study_dir: pathlib.Path) -> None:
    """Refuse an output folder that is not a report (it will be replaced whole) or that overlaps
    the runs."""
    out_abs, runs_abs = out.resolve(), study_dir.resolve()
    if out_abs == runs_abs or runs_abs in out_abs.parents or out_abs in runs_abs.parents:
        raise ReportError(f"{out}: the report folder must not be, contain or sit inside the runs folder {study_dir}")
    if out.exists():
        is_report = out.is_dir() and (out / README_FILE).is_file() and (out / SUMMARY_FILE).is_file()
        if not is_report or any(path.is_dir() for path in out.iterdir()):
            raise ReportError(f"{out}: exists and is not a report (it would be replaced); choose another --out")


def _remove_leftovers(out: pathlib.Path) -> None:
    """Clean up after earlier builds of `out` that were killed midway (their process is gone): a
    report they had moved aside comes back if `out` is missing, their temporary folders go; a build
    running now in another process keeps its own."""
    for path in sorted(out.parent.glob(f".{out.name}.old-*")) + sorted(out.parent.glob(f".{out.name}.tmp-*")):
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and (int(pid) == os.getpid() or not _process_alive(int(pid))):
            if ".old-" in path.name and not out.exists():
                os.replace(path, out)
            else:
                shutil.rmtree(path, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True
