"""`harness compare`: run every pair of a study whose current run is missing, then write the report.

The study folder is a store (`harness.store`), held by one writer at a time. For each pair the
identity it has now (`harness.studies.identity`: settings, seed, the agent's code, library versions) is
compared with what its slot holds:

- a complete run of that identity is kept as it is (same files, same `run.json`);
- a complete run of another identity is set aside under that identity, and a run set aside
  earlier with the identity the pair has now comes back instead of training (changing a setting
  back costs nothing);
- anything else (no run, a failed, interrupted or corrupt one) is cleared and the pair runs.

`fresh` clears the selected pairs (and only those) and trains them again. The pairs run longest
first (estimated from earlier runs of the same agent, else from the registry's cost hint), which
shortens the wall time of a study whose agents differ a lot in speed.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

from harness.agents import code_identity, cost_hint
from harness.execution.executors import Executor
from harness.execution.progress import StudyProgress
from harness.execution.runner import PairTask
from harness.store import StudyStore, clear, read_record, slot_state, write_study_file
from harness.studies import Study, pair_identity


@dataclass(frozen=True)
class CompareOutcome:
    """What a `compare` did."""

    skipped: tuple[str, ...]
    """Pairs whose current run was complete already."""
    completed: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]
    """(pair, error) of the pairs that failed now."""
    wall_time_s: float
    restored: tuple[str, ...] = ()
    """Pairs whose run of the current identity came back from `.superseded/`."""
    set_aside: tuple[str, ...] = ()
    """Pairs whose complete run of another identity was set aside."""


PairFilter = Callable[[str, str, int], bool]
"""(env id, label, seed) -> whether a pair is considered."""


@dataclass
class Plan:
    """What `compare` will do with the selected pairs."""

    tasks: list[PairTask] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    restored: list[str] = dataclasses.field(default_factory=list)
    set_aside: list[str] = dataclasses.field(default_factory=list)
    unhashable: dict[str, str] = dataclasses.field(default_factory=dict)
    """Label -> what of its class could not be fingerprinted: its pairs run again every time."""


def plan(
    study: Study, store: StudyStore, command: str = "", fresh: bool = False, only: PairFilter | None = None
) -> Plan:
    """Set aside, restore and clear slots as the module docstring says; return the pairs to run
    (longest first). `only(env_id, label, seed)`, when given, selects the pairs to consider (the
    others are left as they are). Call with the store held."""
    result = Plan()
    for view in study.split():
        codes = {spec.label: code_identity(spec.kind, view.code_dir) for spec in view.agents}
        for label in view.labels:
            for seed in view.settings.seeds:
                if only is not None and not only(view.env_id, label, seed):
                    continue
                task = PairTask(view, label, seed, command, codes[label])
                slot = task.path(store.study_dir.parent)
                wanted = pair_identity(view, label, seed, codes[label])
                unhashable = codes[label].get("unhashable")
                if unhashable:
                    result.unhashable[label] = unhashable
                if fresh or unhashable:  # a class not wholly fingerprinted is never reused on a guess
                    clear(slot)
                    result.tasks.append(task)
                    continue
                state = slot_state(slot, wanted)
                if state.status == "complete":
                    result.skipped.append(task.key)
                    continue
                if state.status == "stale":
                    store.set_aside(state)
                    result.set_aside.append(task.key)
                if store.restore(slot, wanted):
                    result.restored.append(task.key)
                    continue
                clear(slot)
                result.tasks.append(task)
    result.tasks = longest_first(result.tasks, store)
    return result


def compare(
    study: Study,
    runs_dir: pathlib.Path,
    executor: Executor,
    *,
    fresh: bool = False,
    command: str = "",
    stream: TextIO | None = None,
) -> CompareOutcome:
    """Run the pairs of `study` (a resolved study) whose current run is missing under
    `runs_dir/<study>`, holding the folder (`StoreBusy` if another process does). Ctrl-C raises
    `KeyboardInterrupt` after the running pairs were stopped (complete pairs stay complete)."""
    store = StudyStore(runs_dir / study.name)
    with store.lock(command or "harness compare"):
        write_study_file(study, store.study_dir, command)
        return run_pairs(study, store, executor, fresh=fresh, command=command, stream=stream)


def run_pairs(
    study: Study,
    store: StudyStore,
    executor: Executor,
    *,
    only: PairFilter | None = None,
    fresh: bool = False,
    command: str = "",
    stream: TextIO | None = None,
) -> CompareOutcome:
    """`plan` the pairs (those `only` selects) and run the ones to run, in a store the caller
    holds; see `compare`."""
    given, stream = stream, stream or sys.stdout
    todo = plan(study, store, command, fresh, only)
    if todo.skipped or todo.restored:
        restored = f", {len(todo.restored)} restored from runs set aside" if todo.restored else ""
        print(
            f"{len(todo.skipped)} pair(s) already complete in {store.study_dir}{restored}, {len(todo.tasks)} to run",
            file=stream,
        )
    for label, what in todo.unhashable.items():
        print(f"{label}: trained again: its class reads {what}, which cannot be fingerprinted", file=stream)
    if todo.set_aside:
        print(
            f"{len(todo.set_aside)} run(s) of other settings or code set aside in "
            f"{store.study_dir / '.superseded'} (harness prune deletes them)",
            file=stream,
        )
    start = time.monotonic()
    progress = StudyProgress({task.key: task.study.settings.total_timesteps for task in todo.tasks}, stream=given)
    try:
        records = executor.run(todo.tasks, store.study_dir.parent, progress) if todo.tasks else {}
    finally:
        progress.close()
    failed = tuple((key, str(r.error)) for key, r in records.items() if not r.complete)
    completed = tuple(key for key, r in records.items() if r.complete)
    return CompareOutcome(
        tuple(todo.skipped),
        completed,
        failed,
        time.monotonic() - start,
        tuple(todo.restored),
        tuple(todo.set_aside),
    )


def longest_first(tasks: Sequence[PairTask], store: StudyStore) -> list[PairTask]:
    """The tasks ordered by their estimated wall time, longest first (two jobs then finish close
    together instead of one slow pair running alone at the end). The estimate: the agent's
    seconds per env step in earlier complete runs of the same env here (set-aside ones too), else
    the registry's cost hint for its kind, times the budget. `HARNESS_SCHEDULE=study-order` in
    the environment keeps the study's order instead (to measure the difference)."""
    if os.environ.get("HARNESS_SCHEDULE") == "study-order":  # to measure what longest-first gains
        return list(tasks)
    rates = _recorded_rates(store)
    estimates = {}
    for task in tasks:
        spec = task.study.agent(task.label)
        rate = rates.get((task.study.env_id, task.label), cost_hint(spec.kind))
        estimates[task.key] = rate * task.study.settings.total_timesteps
    return sorted(tasks, key=lambda task: -estimates[task.key])


def _recorded_rates(store: StudyStore) -> Mapping[tuple[str, str], float]:
    """(env id, label) -> mean seconds of wall time per env step of the complete runs in the folder."""
    sums: dict[tuple[str, str], list[float]] = {}
    paths = [*store.slot_folders(), *store.superseded_runs()]
    for path in paths:
        record = read_record(path)
        if record is None or not record.complete:
            continue
        wall = record.wall_time_s
        steps = record.steps_done or record.total_timesteps
        if wall and steps:
            sums.setdefault((record.env_id, record.label), []).append(wall / steps)
    return {key: sum(values) / len(values) for key, values in sums.items()}
