"""The study's TensorBoard comparison view, written with its report from the numbers model.

    runs/<study>/.tensorboard/comparison/          the view (`harness tensorboard` shows it)
        <label> -> ../../<label>                   each agent's runs, through a link
        events.out.tfevents.harness-experiment     the HParams experiment and the custom-scalars layout
    runs/<study>/<label>/seed_<s>/
        events.out.tfevents.harness-hparams         the run's HParams session and the report's figures
    runs/<study>/<label>/across_seeds/
        events.out.tfevents.harness-bands           the report's mean and 95% band across seeds

(A study across envs nests each under `<env_id>/`.) The experiment's columns are every agent's
resolved hyperparameters with `agent`, `kind`, `seed` and `env_id`; a session per complete run,
its metrics the report's per-run figures (`RUN_METRICS`). The band of each agent holds, at each
point of the report's curves, the mean and the bounds of the report's PNGs (`BAND_TAGS`), and
the layout draws each as a margin chart with every agent on it. A run's own event files are never
touched; the harness's are rewritten whole with each report, so the view never shows a run set
aside or an agent the study no longer has.
"""

from __future__ import annotations

import datetime
import pathlib
from typing import Any

import pandas as pd

from harness.analysis import EnvResults, StudyResults
from harness.analysis import columns as col
from harness.conditions import tensorboard
from harness.schema import COMPLETE
from harness.store import band_key, comparison_view, pair_key

RUN_METRICS: dict[str, tuple[str, str]] = {
    col.FINAL_RETURN: ("hparams/final_return", "final return"),
    col.FINAL_SUCCESS: ("hparams/final_success_rate", "final success rate"),
    col.AUC: ("hparams/auc_normalised", "AUC (normalised)"),
    col.STEPS_TO_THRESHOLD: ("hparams/env_steps_to_threshold", "env steps to threshold"),
    col.STEPS_PER_S: ("hparams/env_steps_per_s", "env steps/s"),
}
"""A session's metrics: the report's per-run figure (a column of `EnvResults.runs`) -> (tag, name)."""
BAND_TAGS: dict[str, tuple[str, str]] = {
    col.EVAL_RETURN_CURVE: ("eval/mean_reward", "evaluation return"),
    col.SUCCESS_RATE_CURVE: ("eval/success_rate", "evaluation success rate"),
    col.TRAIN_RETURN_CURVE: ("episode/return", "training return (the mean of a seed's last 20 episodes)"),
}
"""A band's tags: the report's curve -> (the runs' own tag for it, its name in the layout). The mean
is written under the runs' tag (it joins their charts), the bounds under `<tag>_lower` and `_upper`."""
ORDER = ("agent", "kind", "seed", "env_id")
"""The experiment's first columns; the hyperparameters follow."""


def write_view(results: StudyResults) -> pathlib.Path:
    """Write the comparison view of `results`' runs folder (see the module docstring); its folder."""
    sessions: list[tensorboard.Session] = []
    for env in results.envs.values():
        view = env.study
        budget = view.settings.total_timesteps
        started = {(pair.label, pair.seed): pair.run.record.started_at for pair in env.files.pairs if pair.run}
        for row in env.runs[env.runs[col.STATUS] == COMPLETE].itertuples(index=False):
            label, seed = getattr(row, col.AGENT), int(getattr(row, col.SEED))
            spec = view.agent(label)
            values = {"agent": label, "kind": spec.kind, "seed": seed, "env_id": env.env_id, **spec.hyperparameters}
            name = pair_key(view, label, seed)
            metrics = {tag: float(getattr(row, column)) for column, (tag, _) in RUN_METRICS.items()}
            start = _seconds(started.get((label, seed)))
            sessions.append(tensorboard.Session(results.study_dir / name, name, values, metrics, budget, start))
        for label in env.labels:
            tensorboard.write_events(
                results.study_dir / band_key(view, label), "bands", _band(env, label, results.across_envs)
            )
    tensorboard.write_sessions(sessions, "hparams")
    root = comparison_view(results.study_dir, results.study)
    metrics = [(tag, display) for tag, display in RUN_METRICS.values()]
    experiment = tensorboard.experiment([s.values for s in sessions], metrics, ORDER)
    tensorboard.write_events(root, "experiment", [(0, experiment), (0, _layout(results))])
    return root


def _seconds(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return datetime.datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def _band(env: EnvResults, label: str, across_envs: bool) -> list[tuple[int, Any]]:
    """The report's curves of one agent as (step, scalars): mean and bounds under each curve's tag
    (and, across envs, under `<env_id>/<tag>` too, which the env's margin charts draw)."""
    curves = env.curves[env.curves[col.AGENT] == label]
    points: dict[int, dict[str, float]] = {}
    for curve, (tag, _) in BAND_TAGS.items():
        for row in curves[curves[col.CURVE] == curve].itertuples(index=False):
            mean, low, high = getattr(row, col.MEAN), getattr(row, col.LOW), getattr(row, col.HIGH)
            if any(pd.isna(v) for v in (mean, low, high)):
                continue
            values = points.setdefault(int(getattr(row, col.STEP)), {})
            for name in [tag, *([f"{env.env_id}/{tag}"] if across_envs else [])]:
                values.update({name: float(mean), f"{name}_lower": float(low), f"{name}_upper": float(high)})
    return [(step, tensorboard.scalars(values)) for step, values in sorted(points.items())]


def _layout(results: StudyResults) -> Any:
    """A margin chart per figure (per env across envs), every agent's band on it."""
    categories: dict[str, list[tuple[str, str, str, str]]] = {}
    for env_id in results.envs:
        prefix = f"{env_id}/" if results.across_envs else ""
        title = "mean and 95% bootstrap band across seeds (the report's)" + (f": {env_id}" if prefix else "")
        categories[title] = [
            (display, f"{prefix}{tag}", f"{prefix}{tag}_lower", f"{prefix}{tag}_upper")
            for tag, display in BAND_TAGS.values()
        ]
    return tensorboard.margin_layout(categories)
