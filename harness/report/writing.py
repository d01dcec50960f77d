"""`harness report RUNS_DIR/STUDY --out reports/STUDY`: the study's report, from its files alone.

    reports/<study>/README.md        header, [across envs: aggregate], per env: summary, pictures,
                                     pairwise comparison, episodes, hyperparameters; reproduce
                                     command, every run
    reports/<study>/summary.csv      the summary table as data (one row per agent, per env)
    reports/<study>/aggregate.csv    across envs: IQM, mean and optimality gap of each agent
    reports/<study>/decisions.csv    a study with [decide]: one row per comparison (AdaStop)
    reports/<study>/*.png            curves, final returns [, performance profiles]
    reports/<study>/episode_*.gif    one episode of each agent (and .mp4), unless video=False

Every number is computed once, into the numbers model (`harness.analysis`); the Markdown
(`markdown`), the pictures (`plots`) and the videos (`media`) only read it; `publish` puts the
folder in place whole. `Results` is the numbers model with these renderers at hand: what
`harness.load` returns.
"""

from __future__ import annotations

import datetime
import pathlib
import sys

from matplotlib.figure import Figure

from harness.analysis import StudyResults, stats
from harness.errors import ReportError
from harness.report import markdown, media, plots, tensorboard
from harness.report.publish import README_FILE, SUMMARY_FILE, publish
from harness.store import Cache, StudyStore

AGGREGATE_FILE = "aggregate.csv"
DECISIONS_FILE = "decisions.csv"


class Results(StudyResults):
    """A study's results (`harness.analysis.StudyResults`: every figure as DataFrames) with the
    report's renderers: `write_report(out)` writes the report from them, `plot(name)` and
    `figures()` give its pictures as matplotlib figures, and a notebook shows the summary table."""

    def figures(self) -> dict[str, Figure]:
        """Every picture of the report, by its file name (`eval_return.png`, ...; across envs
        `<env>_eval_return.png`, ..., and `performance_profile.png`)."""
        return plots.figures(self)

    def plot(self, name: str = "eval_return", env_id: str | None = None) -> Figure:
        """One picture of the report: `eval_return`, `train_return`, `success_rate` or
        `final_return` (of `env_id` in a study across envs), or `performance_profile`."""
        if name == "performance_profile":
            file = plots.PROFILE_FILE
        elif name in plots.PICTURES:
            if self.across_envs and env_id is None:
                raise ReportError(f"plot: the study spans envs; give env_id, one of {', '.join(self.envs)}")
            file = plots.picture_names(env_id if self.across_envs else None)[name]
        else:
            raise ReportError(
                f"plot: no picture {name!r}; one of {', '.join([*plots.PICTURES, 'performance_profile'])}"
            )
        drawn = self.figures()
        if file not in drawn:
            raise ReportError(f"plot: no picture {file} in this study")
        return drawn[file]

    def _repr_html_(self) -> str:
        """The summary table, as a notebook shows it."""
        return markdown.summary_html(self)

    def write_report(self, out: str | pathlib.Path | None = None, video: bool = True) -> pathlib.Path:
        """Write the report (README.md, summary.csv, pictures, episodes) into `out` (default
        `reports/<study>`); returns the README's path."""
        target = pathlib.Path(out) if out is not None else pathlib.Path("reports") / self.study.name
        return write_results(self, target, video, Cache.of_study(self.study_dir))


def write_report(
    study_dir: pathlib.Path, out: pathlib.Path, video: bool, *, reps: int = stats.REPS, cache: bool = True
) -> pathlib.Path:
    """Build the report of the study in `study_dir` (RUNS_DIR/STUDY) into `out` and return the
    README's path, holding the folder for reading (`StoreBusy` while another process writes it).
    `ReportError` (one line) for input a report cannot be built from; `out` is replaced only once
    the whole new report is written. `reps`: bootstrap resamples per interval; `cache`: reuse the
    intervals and episode videos of runs that did not change (`harness.store.Cache`)."""
    study_dir = pathlib.Path(study_dir)
    if not study_dir.is_dir():
        raise ReportError(f"{study_dir}: no such folder")
    with StudyStore(study_dir).lock("harness report", exclusive=False):
        results = Results.from_folder(study_dir, reps, cache=cache)
        media_cache = Cache.of_study(study_dir) if cache else None
        return write_results(results, pathlib.Path(out), video, media_cache)


def write_results(
    results: StudyResults, out: pathlib.Path, video: bool, media_cache: Cache | None = None
) -> pathlib.Path:
    """Write the report of `results` (the numbers model) into `out`; see `write_report`."""

    def build(folder: pathlib.Path) -> None:
        summary = results.summary if results.across_envs else results.summary.drop(columns="env_id")
        summary.to_csv(folder / SUMMARY_FILE, index=False, float_format="%.4f", lineterminator="\n")
        if not results.decisions.empty:
            results.decisions.to_csv(folder / DECISIONS_FILE, index=False, lineterminator="\n")
        if results.aggregate is not None:
            results.aggregate.metrics.to_csv(
                folder / AGGREGATE_FILE, index=False, float_format="%.4f", lineterminator="\n"
            )
        plots.render(results, folder)
        rendered = media.render(results, folder, media_cache) if video else None
        now = datetime.datetime.now(datetime.UTC)
        (folder / README_FILE).write_text(markdown.readme(results, out, now, rendered), encoding="utf-8")

    path = publish(out, results.study_dir, build)
    try:  # the runs folder's TensorBoard view, from the same numbers (never the runs' own files)
        tensorboard.write_view(results)
    except OSError as error:  # a runs folder this process may read but not write: the report stands
        print(f"harness report: no TensorBoard view written in {results.study_dir}: {error}", file=sys.stderr)
    return path
