"""Where a study's pairs run. Every executor takes the same tasks and yields the same records,
so the scheduler does not know which one it uses.

- `LocalExecutor`: each pair in its own process on this machine, at most `jobs` at once.
- `RayExecutor` (`harness.execution.ray_executor`): each pair a Ray task on a cluster.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.forkserver as forkserver
import os
import pathlib
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from harness.execution import interrupts
from harness.execution.progress import StudyProgress
from harness.execution.runner import PairTask, run_pair
from harness.schema import FAILED
from harness.store import RunRecord, clear_run_dir, read_record, write_record


class Executor(Protocol):
    """Runs pairs and writes their run folders under `runs_dir`; a context manager that holds
    whatever it needs (a cluster connection) while the study runs."""

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...

    def run(self, tasks: Sequence[PairTask], runs_dir: pathlib.Path, progress: StudyProgress) -> dict[str, RunRecord]:
        """Run every task; return its `run.json` record by `task.key`. Ctrl-C stops the running
        pairs (they leave no `run.json`) and raises `KeyboardInterrupt`."""
        ...


def lost_record(task: PairTask, why: str) -> RunRecord:
    """The `run.json` of a pair whose worker died before writing its own."""
    return task.record(FAILED, why)


@contextlib.contextmanager
def _main_script_not_rerun() -> Iterator[None]:
    """While a worker starts: hide the main script's path from multiprocessing, which would
    otherwise run the script again in the worker (a script calling `harness.compare` at top level,
    without an `if __name__ == "__main__":` guard, would start a study inside each worker). The
    worker runs `_child`, which needs nothing of the script."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    hide = main is not None and path is not None and getattr(main, "__spec__", None) is None
    if hide:
        del main.__file__
    try:
        yield
    finally:
        if hide:
            main.__file__ = path


def _die_with_the_driver(lifeline: Connection) -> None:
    """Kill this worker as soon as the driver is gone (the other end of `lifeline` closes: the
    driver exited or was killed, even by SIGKILL). A worker that outlived its driver would go on
    writing into a run folder that the study's lock no longer protects, where a later compare may
    be running the same pair."""

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv()  # the driver never sends: this returns when its end closes
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()


def _child(task: PairTask, path: str, progress: Connection, lifeline: Connection) -> None:
    """A worker process: one pair, its output to the run folder, its step counts to the pipe.
    SIGINT is blocked here (see `LocalExecutor`): on Ctrl-C the driver stops its workers; if the
    driver dies, the worker dies with it (`_die_with_the_driver`)."""
    _die_with_the_driver(lifeline)
    try:
        run_pair(task, pathlib.Path(path), progress=progress.send, capture_output=True)
    finally:
        progress.close()


@dataclass
class _Worker:
    process: Any
    task: PairTask
    path: pathlib.Path
    progress: Connection
    """The read end of the pipe the worker sends its step counts through."""
    lifeline: Connection
    """The write end of the pipe whose closing tells the worker that the driver is gone."""

    def close(self) -> None:
        self.progress.close()
        self.lifeline.close()


class LocalExecutor:
    """Each pair in a fresh process forked from a server that has the harness imported (fast to
    start, and a crash or a leak stays inside its pair); at most `jobs` pairs at once. Progress
    comes back through one pipe per worker. Ctrl-C is the driver's alone: it terminates the
    running workers (they leave no run.json) and raises `KeyboardInterrupt`.

    :param jobs: pairs run in parallel (each single-threaded in torch).
    """

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {jobs}")
        self.jobs = jobs

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, tasks: Sequence[PairTask], runs_dir: pathlib.Path, progress: StudyProgress) -> dict[str, RunRecord]:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["harness.execution._forkserver"])
        with interrupts.ignored():  # the fork server starts ignoring Ctrl-C (its workers inherit that)
            forkserver.ensure_running()
        pending = deque(tasks)
        running: dict[str, _Worker] = {}
        records: dict[str, RunRecord] = {}
        try:
            while pending or running:
                while pending and len(running) < self.jobs:
                    task = pending.popleft()
                    path = task.path(runs_dir)
                    clear_run_dir(path)  # no earlier attempt's run.json can pass for this one's
                    reader, writer = context.Pipe(duplex=False)
                    watched, lifeline = context.Pipe(duplex=False)
                    process = context.Process(
                        target=_child, args=(task, str(path), writer, watched), name=f"harness {task.key}"
                    )
                    running[task.key] = _Worker(process, task, path, reader, lifeline)
                    # With SIGINT blocked while it starts, a Ctrl-C cannot cut a worker's start in
                    # half (it arrives just after), and the worker, like the fork server it comes
                    # from, keeps SIGINT blocked: only the driver reacts, and stops its workers.
                    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
                    try:
                        with _main_script_not_rerun():
                            process.start()
                    finally:
                        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
                    writer.close()  # the worker holds the write end now
                    watched.close()  # and the read end of its lifeline
                ready = wait([worker.progress for worker in running.values()], timeout=0.2)
                for key, worker in list(running.items()):
                    if worker.progress in ready:
                        self._read_progress(key, worker, progress)
                    if worker.process.exitcode is None:
                        continue
                    worker.process.join()
                    self._read_progress(key, worker, progress)
                    worker.close()
                    del running[key]
                    record = read_record(worker.path)
                    if record is None:
                        why = f"worker process exited with code {worker.process.exitcode} before writing its result"
                        record = lost_record(worker.task, why)
                        write_record(worker.path, record)
                    records[key] = record
                    progress.finished(key, record)
        except BaseException:  # Ctrl-C, or an error here: no worker goes on writing into runs/
            for worker in running.values():
                if worker.process.pid is not None:
                    worker.process.terminate()
            for worker in running.values():
                if worker.process.pid is not None:
                    worker.process.join()
                worker.close()
            raise
        return records

    @staticmethod
    def _read_progress(key: str, worker: _Worker, progress: StudyProgress) -> None:
        """Take every step count the worker has sent so far."""
        try:
            while worker.progress.poll():
                progress.steps(key, worker.progress.recv())
        except (EOFError, OSError):  # the worker is gone; what it sent was read
            pass
