"""The run files' schema, in one place: file names, the rows of the two CSVs with their columns and
dtypes, and the statuses of a run and of a pair.

    runs/<study>/study.toml                          STUDY_FILE
    runs/<study>[/<env_id>]/<label>/seed_<s>/
        episodes.csv     EPISODES: one `EpisodeRow` per training episode
        evals.csv        EVALS: one `EvalRow` per evaluation episode
        run.json         RUN_FILE: "status" is COMPLETE or FAILED

The callbacks make the rows, the runner writes them with `Table.csv_bytes`, the report reads them
with `Table.read`: columns, their order and their dtypes are declared once, here.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

RUN_FILE = "run.json"
CLASS_FILE = "agent_class.pkl"
"""In the run folder of an agent class handed over from Python (a notebook's): the class, pickled
by value, so that later processes can load the run's model (loading it runs its code)."""
STUDY_FILE = "study.toml"
ACROSS_SEEDS = "across_seeds"
"""The band run of an agent in the comparison view: `<label>/across_seeds` beside its seeds'
`<label>/seed_<s>` (so `^<label>/` selects an agent's seeds and band, `/across_seeds$` the bands
alone)."""
COMPLETE = "complete"
FAILED = "failed"
"""A run's status in `run.json`."""
PAIR_STATUSES = ("complete", "failed", "stale", "incomplete", "missing")
"""What a pair's folder holds, as `status` and the report say: a complete run of the current
settings; a failed run; a complete run of other settings; no complete `run.json` (interrupted,
corrupt); no folder."""


@dataclass(frozen=True)
class EpisodeRow:
    """One training episode: a row of `episodes.csv`."""

    episode: int
    """Its index, from 0."""
    start_step: int
    """Env steps done before it started."""
    end_step: int
    """Env steps done when it ended."""
    episode_return: float
    """Sum of its rewards (column `return`)."""
    length: int
    """Its env steps."""
    terminated: bool
    """Ended by the env (gymnasium's `terminated`)."""
    truncated: bool
    """Cut by the time limit (gymnasium's `truncated`)."""
    success: bool
    """A success by the env profile's rule."""
    wall_time_s: float
    """Seconds from the start of training to its end (measured, so never the same twice)."""


@dataclass(frozen=True)
class EvalRow:
    """One evaluation episode: a row of `evals.csv`."""

    eval_step: int
    """Env steps of training when the evaluation ran."""
    episode: int
    """Its index within the evaluation."""
    eval_seed: int
    """The seed its env was reset with."""
    episode_return: float
    """Sum of its rewards (column `return`)."""
    length: int
    """Its env steps."""
    success: bool
    """A success by the env profile's rule."""


_DTYPES = {int: "int64", float: "float64", bool: "bool", "int": "int64", "float": "float64", "bool": "bool"}


@dataclass(frozen=True)
class Table:
    """A CSV file of rows of one dataclass: its columns are the dataclass's fields, in order
    (`episode_return` is the column `return`)."""

    file: str
    row: type
    need_rows: bool
    """Whether a complete run always has at least one row."""

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(_column(f.name) for f in dataclasses.fields(self.row))

    @property
    def dtypes(self) -> dict[str, str]:
        return {_column(f.name): _DTYPES[f.type] for f in dataclasses.fields(self.row)}

    def csv_bytes(self, rows: Iterable[Any]) -> bytes:
        """The CSV text of `rows`: floats in Python's shortest round-trip form, booleans as
        true/false, so the same values always give the same bytes."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        for row in rows:
            writer.writerow(_cell(v) for v in dataclasses.astuple(row))
        return out.getvalue().encode()

    def read(self, path: pathlib.Path) -> Any:
        """The file as a pandas DataFrame with the declared columns and dtypes; `ValueError` (one
        line) for a file that is missing columns or rows or holds a non-finite return;
        `FileNotFoundError` when it is missing."""
        frame = pd.read_csv(path, dtype=self.dtypes)
        missing = [column for column in self.columns if column not in frame.columns]
        if missing:
            raise ValueError(f"missing column(s) {', '.join(missing)}")
        if self.need_rows and frame.empty:
            raise ValueError("no rows")
        if not np.isfinite(frame["return"].to_numpy()).all():
            raise ValueError("a non-finite return")
        return frame[list(self.columns)]


EPISODES = Table("episodes.csv", EpisodeRow, need_rows=False)
EVALS = Table("evals.csv", EvalRow, need_rows=True)


def _column(field: str) -> str:
    return "return" if field == "episode_return" else field


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return value


EPISODE_COLUMNS = EPISODES.columns
EVAL_COLUMNS = EVALS.columns
