"""Where a study's pairs run. Every executor takes the same tasks and yields the same records,
so the scheduler does not know which one it uses.

- `LocalExecutor`: each pair in its own process on this machine, at most `jobs` at once.
- `RayExecutor` (`harness.execution.ray_executor`): each pair a Ray task on a cluster.
"""

from __future__ import annotations

import contextlib
import pathlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Protocol

from harness.execution.progress import StudyProgress
from harness.execution.runner import PairTask, run_pair
from harness.execution.supervision import POLL_S, Child, context, forwarded_output
from harness.schema import FAILED
from harness.store import RunRecord, Timings, clear_run_dir, read_record, write_record


class Executor(Protocol):
    """Runs pairs and writes their run folders under `runs_dir`; a context manager that holds
    whatever it needs (a cluster connection) while the study runs."""

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...

    def run(self, tasks: Sequence[PairTask], runs_dir: pathlib.Path, progress: StudyProgress) -> dict[str, RunRecord]:
        """Run every task; return its `run.json` record by `task.key`. A pair whose agent goes on
        after its budget (`harness.agents.RUNAWAY`) or past the study's `run_timeout` is stopped
        and failed. Ctrl-C stops the running pairs (they leave no `run.json`) and raises
        `KeyboardInterrupt`."""
        ...


def lost_record(task: PairTask, why: str, steps: int | None = None, wall_time_s: float | None = None) -> RunRecord:
    """The `run.json` of a pair whose worker died, or was stopped, before writing its own."""
    timings = Timings(wall_time_s=wall_time_s) if wall_time_s is not None else None
    return task.record(FAILED, why, steps_done=steps, timings=timings)


def past_timeout(task: PairTask, elapsed: float) -> str | None:
    """Why a pair that has run `elapsed` seconds is stopped, when that is past its study's
    `run_timeout`; None while it is not."""
    limit = task.study.settings.run_timeout
    return f"the run went on past the study's run_timeout ({limit:,.0f} s) and was stopped" if elapsed > limit else None


def _child(task: PairTask, path: str, capture_output: bool, verbose: bool, send: Callable[[Any], None]) -> None:
    """A worker process: one pair, its output to the run folder (or to the driver, which shows
    it), its step counts to the driver."""
    with contextlib.nullcontext() if capture_output else forwarded_output(send):
        run_pair(task, pathlib.Path(path), progress=send, verbose=verbose, capture_output=capture_output)


@dataclass
class _Worker:
    child: Child
    task: PairTask
    path: pathlib.Path
    steps: int = 0


class LocalExecutor:
    """Each pair in a fresh process forked from a server that has the harness imported (fast to
    start, and a crash or a leak stays inside its pair), supervised (`supervision.Child`); at
    most `jobs` pairs at once. A pair whose agent goes on after its budget, or that runs past the
    study's `run_timeout`, is killed and failed with one line; the others go on. Ctrl-C is the
    driver's alone: it kills the running workers (they leave no run.json) and raises
    `KeyboardInterrupt`.

    :param jobs: pairs run in parallel (each single-threaded in torch).
    :param capture_output: a run's output goes to its `output.log` (else this process prints it,
        as `harness train` shows it, with SB3's log tables: `verbose`).
    """

    def __init__(self, jobs: int, capture_output: bool = True, verbose: bool = False) -> None:
        if jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {jobs}")
        self.jobs = jobs
        self.capture_output = capture_output
        self.verbose = verbose

    def __enter__(self) -> LocalExecutor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def start(self) -> None:
        """Start the fork server now (it imports torch and SB3, a second or two), so that it gets
        ready while the driver does other work; the first pair would start it otherwise."""
        context()

    def run(self, tasks: Sequence[PairTask], runs_dir: pathlib.Path, progress: StudyProgress) -> dict[str, RunRecord]:
        pending = deque(tasks)
        running: dict[str, _Worker] = {}
        records: dict[str, RunRecord] = {}
        try:
            while pending or running:
                while pending and len(running) < self.jobs:
                    task = pending.popleft()
                    path = task.path(runs_dir)
                    clear_run_dir(path)  # no earlier attempt's run.json can pass for this one's
                    args = (task, str(path), self.capture_output, self.verbose)
                    running[task.key] = _Worker(Child(_child, args, f"harness {task.key}"), task, path)
                wait([worker.child.connection for worker in running.values()], timeout=POLL_S)
                for key, worker in list(running.items()):
                    self._read_progress(key, worker, progress)
                    child = worker.child
                    why = child.runaway or past_timeout(worker.task, child.elapsed)
                    if why is None and child.exitcode is None:
                        continue
                    if why is not None:
                        child.stop()
                    child.join()
                    self._read_progress(key, worker, progress)
                    child.close()
                    del running[key]
                    record = None if why is not None else read_record(worker.path)
                    if record is None:
                        why = why or f"worker process exited with code {child.exitcode} before writing its result"
                        record = lost_record(worker.task, why, worker.steps, child.elapsed)
                        write_record(worker.path, record)
                    records[key] = record
                    progress.finished(key, record)
        except BaseException:  # Ctrl-C, or an error here: no worker goes on writing into runs/
            for worker in running.values():
                worker.child.stop()
                worker.child.close()
            raise
        return records

    @staticmethod
    def _read_progress(key: str, worker: _Worker, progress: StudyProgress) -> None:
        """Take every step count the worker has sent so far."""
        for steps in worker.child.messages():
            worker.steps = steps
            progress.steps(key, steps)
