"""The files a study leaves, and the rule that nothing half-written is ever taken for a result.

    runs/<study>/study.toml                  the resolved study, as run
    runs/<study>/<label>/seed_<s>/
        events.out.tfevents.*                TensorBoard (written live while training)
        progress.csv                         SB3's CSV log (written live)
        episodes.csv, evals.csv, model.*     written at the end, each to a temporary name, then renamed
        run.json                             written last; "status": "complete" marks the pair done

A pair without a complete `run.json` is cleared and rerun from scratch.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import shutil
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

EPISODE_COLUMNS = (
    "episode",
    "start_step",
    "end_step",
    "return",
    "length",
    "terminated",
    "truncated",
    "success",
    "wall_time_s",
)
EVAL_COLUMNS = ("eval_step", "episode", "eval_seed", "return", "length", "success")
RUN_FILE = "run.json"
STUDY_FILE = "study.toml"
COMMAND_PREFIX = "# The resolved study, as run by: "
"""The first line of `study.toml`, before the command line that wrote it."""
COMPLETE = "complete"
FAILED = "failed"


def run_dir(runs_dir: str | os.PathLike[str], study: str, label: str, seed: int) -> pathlib.Path:
    """`runs_dir/<study>/<label>/seed_<seed>`."""
    return pathlib.Path(runs_dir) / study / label / f"seed_{seed}"


def write_atomic(path: pathlib.Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename, so that
    `path` holds either its old content or all of the new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


def csv_bytes(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """CSV text of `rows` under `columns`: floats in Python's shortest round-trip form, booleans
    as true/false, so the same values always give the same bytes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(_cell(v) for v in row)
    return out.getvalue().encode()


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return value


def json_bytes(data: Mapping[str, Any]) -> bytes:
    """Indented JSON with a final newline."""
    return (json.dumps(data, indent=2, sort_keys=False) + "\n").encode()


def read_run(path: pathlib.Path) -> dict[str, Any] | None:
    """The `run.json` of a run folder, or None when it is missing or unreadable."""
    try:
        return json.loads((path / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None


def is_complete(path: pathlib.Path) -> bool:
    """Whether the run folder holds a complete result."""
    run = read_run(path)
    return run is not None and run.get("status") == COMPLETE


def clear_run_dir(path: pathlib.Path) -> None:
    """Remove a run folder's files (an earlier, interrupted attempt) and recreate it empty."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def install_files(path: pathlib.Path, files: Mapping[str, bytes]) -> None:
    """Write a run's files (name -> content) into `path` atomically, `run.json` last: used by
    executors whose workers ran elsewhere."""
    clear_run_dir(path)
    for name, data in files.items():
        if name != RUN_FILE:
            write_atomic(path / name, data)
    if RUN_FILE in files:
        write_atomic(path / RUN_FILE, files[RUN_FILE])


def collect_files(path: pathlib.Path) -> dict[str, bytes]:
    """Every plain file of a run folder, by name (the inverse of `install_files`)."""
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")}
