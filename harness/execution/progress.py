"""The one progress display of a study: pairs done, env steps done, ETA.

On a terminal it is a tqdm bar counted in env steps; in a Jupyter notebook a notebook progress
bar (a widget, when ipywidgets is installed); otherwise (CI, a pipe, a log file) one plain line per
finished pair.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from tqdm import tqdm

from harness.store import RunRecord


class StudyProgress:
    """Tracks and shows the progress of a study's pairs.

    :param budgets: the pairs to run now (by key) and the budget of each, in env steps.
    :param stream: where to write (default: stdout).
    :param bar: a live bar (default: when `stream` is a terminal).
    """

    def __init__(self, budgets: Mapping[str, int], stream: TextIO | None = None, bar: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.budgets = dict(budgets)
        self.total_pairs = len(self.budgets)
        self.done = 0
        self.failed = 0
        self._steps: dict[str, int] = {}
        self._start = time.monotonic()
        use_bar = (self.stream.isatty() or in_notebook()) if bar is None else bar
        widget = use_bar and in_notebook() and stream is None
        self._bar = (
            _notebook_bar(sum(self.budgets.values()))
            if widget
            else tqdm(
                total=sum(self.budgets.values()),
                unit="step",
                unit_scale=True,
                file=self.stream,
                # A terminal that reports no size (some ptys) would get an invisible bar.
                ncols=min(shutil.get_terminal_size().columns, 120),
                nrows=shutil.get_terminal_size().lines,
                smoothing=0.05,
            )
            if use_bar
            else None
        )
        self._refresh_postfix()

    def steps(self, key: str, n: int) -> None:
        """Pair `key` has done `n` env steps."""
        n = min(n, self.budgets.get(key, n))
        delta = n - self._steps.get(key, 0)
        if delta > 0:
            self._steps[key] = n
            if self._bar is not None:
                self._bar.update(delta)

    def finished(self, key: str, record: RunRecord) -> None:
        """Pair `key` ended with `record` (its run.json)."""
        self.steps(key, self.budgets.get(key, 0))
        self.done += 1
        ok = record.complete
        if not ok:
            self.failed += 1
        seconds = record.wall_time_s
        took = f" in {seconds:.1f}s" if seconds is not None else ""
        what = "complete" if ok else f"FAILED: {record.error}"
        line = f"[{self.done}/{self.total_pairs}] {key}: {what}{took}"
        if self._bar is not None:
            self._refresh_postfix()
            if not ok:
                self._bar.write(line, file=self.stream)
        else:
            elapsed = time.monotonic() - self._start
            eta = elapsed / self.done * (self.total_pairs - self.done) if self.done else 0.0
            print(f"{line} (elapsed {_clock(elapsed)}, eta {_clock(eta)})", file=self.stream, flush=True)

    def _refresh_postfix(self) -> None:
        if self._bar is not None:
            failed = f", {self.failed} failed" if self.failed else ""
            self._bar.set_postfix_str(f"pairs {self.done}/{self.total_pairs}{failed}", refresh=True)

    def close(self) -> None:
        """End the display."""
        if self._bar is not None:
            self._bar.close()


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (where stdout is no terminal, but a widget shows)."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def _notebook_bar(total: int) -> Any:
    """A notebook progress bar counted in env steps, or a plain one where ipywidgets is missing."""
    try:
        from tqdm.notebook import tqdm as notebook_tqdm  # here: only a notebook's progress needs it

        return notebook_tqdm(total=total, unit="step", unit_scale=True, smoothing=0.05)
    except ImportError:  # no ipywidgets: tqdm.notebook cannot draw; text on stdout instead
        return tqdm(total=total, unit="step", unit_scale=True, file=sys.stdout, smoothing=0.05)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"
