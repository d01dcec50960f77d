"""`harness report RUNS_DIR/STUDY --out reports/STUDY`: the study's report, from its files alone.

    reports/<study>/README.md        header, [across envs: aggregate], per env: summary, pictures,
                                     pairwise comparison, episodes, hyperparameters; reproduce
                                     command, every run
    reports/<study>/summary.csv      the summary table as data (one row per agent, per env)
    reports/<study>/aggregate.csv    across envs: IQM, mean and optimality gap of each agent
    reports/<study>/*.png            curves, final returns [, performance profiles]
    reports/<study>/episode_*.gif    one episode of each agent (and .mp4), unless video=False

Every number is computed once, into the numbers model (`harness.model`); the Markdown
(`harness.markdown`), the pictures (`harness.plots`) and the videos (`harness.media`) only read
it; `harness.publish` puts the folder in place whole.
"""

from __future__ import annotations

import datetime
import pathlib

from harness import stats
from harness.errors import ReportError
from harness.model import StudyResults, load
from harness.publish import README_FILE, SUMMARY_FILE, publish

__all__ = ["ReportError", "write_report", "write_results"]

AGGREGATE_FILE = "aggregate.csv"


def write_report(study_dir: pathlib.Path, out: pathlib.Path, video: bool, *, reps: int = stats.REPS) -> pathlib.Path:
    """Build the report of the study in `study_dir` (RUNS_DIR/STUDY) into `out` and return the
    README's path. `ReportError` (one line) for input a report cannot be built from; `out` is
    replaced only once the whole new report is written. `reps`: bootstrap resamples per interval."""
    return write_results(load(pathlib.Path(study_dir), reps), pathlib.Path(out), video)


def write_results(results: StudyResults, out: pathlib.Path, video: bool) -> pathlib.Path:
    """Write the report of `results` (the numbers model) into `out`; see `write_report`."""
    from harness import markdown, media, plots

    def build(folder: pathlib.Path) -> None:
        summary = results.summary if results.across_envs else results.summary.drop(columns="env_id")
        summary.to_csv(folder / SUMMARY_FILE, index=False, float_format="%.4f", lineterminator="\n")
        if results.aggregate is not None:
            results.aggregate.metrics.to_csv(
                folder / AGGREGATE_FILE, index=False, float_format="%.4f", lineterminator="\n"
            )
        plots.render(results, folder)
        rendered = media.render(results, folder) if video else None
        now = datetime.datetime.now(datetime.UTC)
        (folder / README_FILE).write_text(markdown.readme(results, out, now, rendered), encoding="utf-8")

    return publish(out, results.study_dir, build)
