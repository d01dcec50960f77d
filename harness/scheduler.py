"""`harness compare`: run every pair of a study not yet complete, then write the report.

Resuming is the default: a pair whose run folder holds a complete `run.json` is skipped, one
without is cleared and rerun from scratch. A complete pair that was run with other settings than
the study now asks for is refused (rerun with `--fresh` or another `--runs-dir`), so one folder
never mixes two versions of a study.
"""

from __future__ import annotations

import dataclasses
import pathlib
import shutil
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from harness.executors import Executor
from harness.progress import StudyProgress
from harness.results import COMMAND_PREFIX, STUDY_FILE, is_complete, pair_dir, read_run, write_atomic
from harness.runner import PairTask, changed_setting, run_settings
from harness.study import Study, StudyError, parse_study, to_toml


@dataclass(frozen=True)
class CompareOutcome:
    """What a `compare` did."""

    skipped: tuple[str, ...]
    """Pairs already complete."""
    completed: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    """(pair, error) of the pairs that failed now."""
    wall_time_s: float


def check_consistent(study: Study, runs_dir: pathlib.Path) -> None:
    """Refuse (`StudyError`) when a complete pair of this study's folder was run with other
    settings or hyperparameters than the study asks for now."""
    for view in study.split():
        for spec in view.agents:
            for seed in view.settings.seeds:
                path = pair_dir(runs_dir, view, spec.label, seed)
                record = read_run(path)
                if record is None or record.get("status") != "complete":
                    continue
                key = changed_setting(record, view, spec.label)
                if key is not None:
                    now = run_settings(view, spec.label)[key]
                    raise StudyError(
                        f"{path}: was run with another {key} "
                        f"({record.get(key)!r}, now {now!r}); use --fresh to start over or another --runs-dir"
                    )


def merge_recorded(study: Study, study_dir: pathlib.Path) -> Study:
    """`study` grown by the seeds and agents an earlier `compare` recorded in `study_dir` (a study
    run in parts, e.g. `--seeds 0-4` then `--seeds 5-9`, is reported whole)."""
    path = study_dir / STUDY_FILE
    if not path.exists():
        return study
    try:
        old = parse_study(path.read_text(encoding="utf-8"), str(path), check_files=False)
    except StudyError:
        return study
    if old.env_ids != study.env_ids:
        return study
    agents = study.agents + tuple(spec for spec in old.agents if spec.label not in study.labels)
    seeds = sorted(set(study.settings.seeds) | set(old.settings.seeds))
    paired = list(study.settings.paired) + [pair for pair in old.settings.paired if pair not in study.settings.paired]
    settings = dataclasses.replace(study.settings, paired=tuple(paired))
    return Study(settings, agents, study.source, study.resolved, study.env_settings).select(seeds=seeds)


def prepare_study_dir(study: Study, runs_dir: pathlib.Path, *, fresh: bool = False, command: str = "") -> pathlib.Path:
    """Before running pairs of `study`: with `fresh`, delete its folder; refuse (`StudyError`)
    when the folder holds complete runs of other settings, for this study's pairs or for those
    recorded before; write `study.toml` (this study merged with the recorded one). Returns the
    study's folder."""
    study_dir = runs_dir / study.name
    if fresh and study_dir.exists():
        shutil.rmtree(study_dir)
    recorded = merge_recorded(study, study_dir)
    check_consistent(recorded, runs_dir)
    header = f"{COMMAND_PREFIX}{command}\n" if command else ""
    write_atomic(study_dir / STUDY_FILE, (header + to_toml(recorded)).encode())
    return study_dir


def compare(
    study: Study,
    runs_dir: pathlib.Path,
    executor: Executor,
    *,
    fresh: bool = False,
    command: str = "",
    stream: TextIO | None = None,
) -> CompareOutcome:
    """Run the pairs of `study` that are not complete under `runs_dir/<study>`, after writing
    `study.toml` (this study merged with what the folder recorded before). Ctrl-C raises
    `KeyboardInterrupt` after the running pairs were stopped (complete pairs stay complete)."""
    stream = stream or sys.stdout
    study_dir = prepare_study_dir(study, runs_dir, fresh=fresh, command=command)

    skipped, tasks = [], []
    for view in study.split():
        for label in view.labels:
            for seed in view.settings.seeds:
                task = PairTask(view, label, seed, command)
                if is_complete(task.path(runs_dir)):
                    skipped.append(task.key)
                else:
                    tasks.append(task)
    if skipped:
        print(f"{len(skipped)} pair(s) already complete in {study_dir}, {len(tasks)} to run", file=stream)
    start = time.monotonic()
    progress = StudyProgress({task.key: task.study.settings.total_timesteps for task in tasks}, stream=stream)
    try:
        records = executor.run(tasks, runs_dir, progress) if tasks else {}
    finally:
        progress.close()
    failed = tuple((key, str(r.get("error"))) for key, r in records.items() if r.get("status") != "complete")
    completed = tuple(key for key, r in records.items() if r.get("status") == "complete")
    return CompareOutcome(tuple(skipped), completed, failed, time.monotonic() - start)
