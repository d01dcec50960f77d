"""The report's pictures: matplotlib figures (no pyplot state, Agg canvas) saved as PNG, drawn
from the numbers model (`render`) with a few drawing functions.

Every agent gets its own line style and marker as well as its own colour, so the pictures read
in grey too. PNGs are written without a software stamp, so the same data give the same bytes.
"""

from __future__ import annotations

import io
import pathlib
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from harness.analysis import EnvResults, StudyResults
from harness.analysis import columns as col
from harness.schema import COMPLETE

LINE_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
"""The Okabe-Ito palette, readable with the common colour-vision deficiencies."""
STEPS_LABEL = "env steps"
RETURN_LABEL = "return (sum of rewards)"
SUCCESS_LABEL = "success rate (share of episodes)"
SCORE_LABEL = "normalised score"
PICTURES = ("eval_return", "train_return", "success_rate", "final_return")
PROFILE_FILE = "performance_profile.png"


def picture_names(env_id: str | None) -> dict[str, str]:
    """The PNG file of each picture of an env: `eval_return.png`, ... for a one-env study,
    `<env_id>_eval_return.png`, ... for an env of a study across envs."""
    prefix = f"{env_id.rsplit(':', 1)[-1]}_" if env_id is not None else ""
    return {name: f"{prefix}{name}.png" for name in PICTURES}


def figures(results: StudyResults) -> dict[str, Figure]:
    """Every picture of the report as a matplotlib figure, by its PNG file name: per env, the
    evaluation, training and success curves and the final returns; across envs, the performance
    profiles."""
    drawn = {}
    for env in results.envs.values():
        drawn.update(env_figures(env, env.env_id if results.across_envs else None))
    if results.aggregate is not None:
        curves = {
            label: Curve.of(frame, col.TAU, col.FRACTION)
            for label, frame in results.aggregate.profiles.groupby(col.AGENT, sort=False)
        }
        drawn[PROFILE_FILE] = plot_curves(
            curves,
            title="Performance profiles across environments",
            subtitle="line: the share of an agent's scores (seeds x envs) above each threshold; shaded: its 95% "
            "stratified-bootstrap band; a curve further up and to the right is better",
            ylabel="share of scores > tau",
            xlabel="normalised score threshold tau",
            ylim=(-0.03, 1.03),
        )
    return drawn


def render(results: StudyResults, out: pathlib.Path) -> list[pathlib.Path]:
    """Every picture of the report (`figures`) into `out` as PNGs. Returns the files."""
    files = []
    for name, fig in figures(results).items():
        save(fig, out / name)
        files.append(out / name)
    return files


def env_figures(env: EnvResults, env_id: str | None) -> dict[str, Figure]:
    """The four pictures of one env, by file name (`picture_names(env_id)`)."""
    names = picture_names(env_id)
    settings = env.study.settings
    labels = env.labels
    where = f" on {env.env_id}" if env_id is not None else ""
    band = "shaded: its 95% bootstrap interval"
    evaluation = f"line: mean over seeds of each seed's mean over {settings.n_eval_episodes} evaluation episodes"

    def curves(name: str) -> dict[str, Curve]:
        frame = env.curves[env.curves[col.CURVE] == name]
        return {
            label: Curve.of(part, col.STEP, col.MEAN)
            for label, part in ((label, frame[frame[col.AGENT] == label]) for label in labels)
        }

    complete = env.runs[env.runs[col.STATUS] == COMPLETE]
    return {
        names["eval_return"]: plot_curves(
            curves(col.EVAL_RETURN_CURVE),
            title=f"Evaluation return vs env steps{where} (deterministic policy)",
            subtitle=f"{evaluation}; {band}",
            ylabel=RETURN_LABEL,
            hline=env.profile.threshold,
            hline_label=f"threshold {env.profile.threshold:,.0f}",
        ),
        names["train_return"]: plot_curves(
            curves(col.TRAIN_RETURN_CURVE),
            title=f"Training episode return vs env steps{where} (smoothed)",
            subtitle="each seed: mean return of its last 20 training episodes; line: mean over seeds; " + band,
            ylabel=RETURN_LABEL,
        ),
        names["success_rate"]: plot_curves(
            curves(col.SUCCESS_RATE_CURVE),
            title=f"Evaluation success rate vs env steps{where}",
            subtitle=f"success: {env.profile.success_words}; line: mean over seeds of each seed's share of "
            f"{settings.n_eval_episodes} evaluation episodes; {band}",
            ylabel=SUCCESS_LABEL,
            ylim=(-0.03, 1.03),
        ),
        names["final_return"]: plot_distribution(
            {label: complete[complete[col.AGENT] == label][col.FINAL_RETURN].tolist() for label in labels},
            title=f"Final evaluation return per seed{where} (mean of {settings.n_eval_episodes} episodes at the end "
            "of training)",
            ylabel=RETURN_LABEL,
        ),
    }


@dataclass(frozen=True)
class Curve:
    """One agent's line: a mean across seeds and a band, at env steps."""

    steps: np.ndarray
    """Env steps, shape (n_points,)."""
    mean: np.ndarray
    """Shape (n_points,); NaN where no seed has a value yet."""
    low: np.ndarray
    """Lower edge of the band, shape (n_points,)."""
    high: np.ndarray
    """Upper edge of the band, shape (n_points,)."""

    @classmethod
    def of(cls, frame: pd.DataFrame, x: str, y: str) -> Curve:
        """The curve in columns `x`, `y`, `low`, `high` of one agent's rows of a table."""
        return cls(frame[x].to_numpy(), frame[y].to_numpy(), frame[col.LOW].to_numpy(), frame[col.HIGH].to_numpy())


def agent_style(index: int) -> dict[str, object]:
    """Colour, line style and marker of the agent at `index` in the study's order."""
    return {
        "color": COLOURS[index % len(COLOURS)],
        "linestyle": LINE_STYLES[index % len(LINE_STYLES)],
        "marker": MARKERS[index % len(MARKERS)],
    }


def plot_curves(
    curves: Mapping[str, Curve],
    *,
    title: str,
    subtitle: str,
    ylabel: str,
    hline: float | None = None,
    hline_label: str = "",
    ylim: tuple[float, float] | None = None,
    xlabel: str = STEPS_LABEL,
) -> Figure:
    """A line per agent (in the mapping's order) with a shaded band; `subtitle` says what line
    and band are; `hline` marks a level (e.g. the solved threshold)."""
    fig = _figure()
    ax = fig.add_subplot()
    for index, (label, curve) in enumerate(curves.items()):
        style = agent_style(index)
        n = len(curve.steps)
        every = max(1, n // 10)
        offset = (index * max(1, every // 3)) % every  # markers of different agents don't sit on each other
        ax.plot(curve.steps, curve.mean, label=label, linewidth=1.6, markersize=5, markevery=(offset, every), **style)
        ax.fill_between(curve.steps, curve.low, curve.high, color=style["color"], alpha=0.15, linewidth=0)
    if hline is not None:
        ax.axhline(hline, color="grey", linewidth=0.8, linestyle=(0, (2, 2)), label=hline_label or None)
    ax.set_xlabel(xlabel)
    if xlabel == STEPS_LABEL:
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    ax.set_title(textwrap.fill(subtitle, 120), fontsize=8, loc="left", color="dimgrey")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


def plot_distribution(scores: Mapping[str, Sequence[float]], *, title: str, ylabel: str) -> Figure:
    """A box per agent with every seed's score drawn over it as a point (spread evenly across
    the box, no random jitter)."""
    fig = _figure()
    ax = fig.add_subplot()
    labels = list(scores)
    data = [np.asarray(scores[label], dtype=float) for label in labels]
    filled = [i for i, values in enumerate(data) if values.size]
    if filled:
        ax.boxplot(
            [data[i] for i in filled],
            positions=filled,
            widths=0.5,
            showfliers=False,
            medianprops={"color": "black"},
            boxprops={"color": "grey"},
            whiskerprops={"color": "grey"},
            capprops={"color": "grey"},
        )
    for index, values in enumerate(data):
        style = agent_style(index)
        offsets = np.linspace(-0.15, 0.15, values.size) if values.size > 1 else np.zeros(values.size)
        ax.plot(
            index + offsets,
            values,
            linestyle="none",
            marker=style["marker"],
            color=style["color"],
            markersize=6,
            alpha=0.8,
            label=labels[index],
        )
    ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right")
    ax.set_xlim(-0.6, len(labels) - 0.4)
    ax.set_xlabel("agent (one point per seed)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11, loc="left")
    ax.grid(True, axis="y", alpha=0.3)
    return fig


def save(fig: Figure, path: pathlib.Path) -> None:
    """Write `fig` as a PNG without a software stamp (identical data give identical bytes)."""
    fig.savefig(path, format="png", dpi=100, metadata={"Software": None})


class ReportFigure(Figure):
    """A figure of the report that a notebook shows as a PNG without pyplot (`_repr_png_`)."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
        return buffer.getvalue()


def _figure() -> Figure:
    fig = ReportFigure(figsize=(8, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    return fig
