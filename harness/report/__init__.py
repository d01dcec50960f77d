"""The report: renderers that only read the numbers model (`harness.analysis`).

- `writing`: `write_report` (RUNS_DIR/STUDY -> reports/STUDY) and `Results`, the numbers model
  with its renderers (what `harness.load` returns);
- `markdown`: README.md; `plots`: the PNGs; `media`: an episode of each agent (GIF, MP4);
- `publish`: the report folder replaced whole, never half-written;
- `video`, `playback`: a saved model replayed (`harness play`).
"""

from harness.errors import PlaybackError, ReportError
from harness.report import markdown
from harness.report.playback import play
from harness.report.plots import picture_names
from harness.report.publish import README_FILE, SUMMARY_FILE, check_out, publish
from harness.report.writing import AGGREGATE_FILE, Results, write_report, write_results

__all__ = [
    "AGGREGATE_FILE",
    "README_FILE",
    "SUMMARY_FILE",
    "PlaybackError",
    "ReportError",
    "Results",
    "check_out",
    "markdown",
    "picture_names",
    "play",
    "publish",
    "write_report",
    "write_results",
]
