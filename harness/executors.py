"""Where a study's pairs run. Every executor takes the same tasks and yields the same records,
so the scheduler does not know which one it uses.

- `LocalExecutor`: each pair in its own process on this machine, at most `jobs` at once.
- `RayExecutor` (`harness.ray_executor`): each pair a Ray task on a cluster.
"""

from __future__ import annotations

import multiprocessing
import pathlib
import queue as queue_module
import signal
import sys
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from harness.progress import StudyProgress
from harness.results import FAILED, RUN_FILE, json_bytes, read_run, run_dir, write_atomic
from harness.runner import PairTask, run_pair


class ExecutorUnavailable(RuntimeError):
    """An executor cannot run here (a missing package, a cluster that cannot be reached); the
    message is one line saying what to do."""


class Executor(Protocol):
    """Runs pairs and writes their run folders under `runs_dir`."""

    def run(self, tasks: Sequence[PairTask], runs_dir: pathlib.Path, progress: StudyProgress) -> dict[str, dict]:
        """Run every task; return its `run.json` record by `task.key`. Ctrl-C stops the running
        pairs (they leave no `run.json`) and raises `KeyboardInterrupt`."""
        ...


def lost_record(task: PairTask, why: str) -> dict[str, Any]:
    """The `run.json` of a pair whose worker died before writing its own."""
    return {
        "status": FAILED,
        "error": why,
        "study": task.study.name,
        "label": task.label,
        "kind": task.study.agent(task.label).kind,
        "seed": task.seed,
        "command": task.command,
    }


def _child(task: PairTask, path: str, progress_queue: Any) -> None:
    """A worker process: one pair, its output to the run folder, its progress to the queue."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    key = task.key
    try:
        run_pair(task, pathlib.Path(path), progress=lambda n: progress_queue.put((key, n)), capture_output=True)
    except KeyboardInterrupt:  # the driver says so; no traceback from every worker
        sys.exit(130)


class LocalExecutor:
    """Each pair in a fresh process forked from a server that has the harness imported (fast to
    start, and a crash or a leak stays inside its pair); at most `jobs` pairs at once.

    :param jobs: pairs run in parallel (each single-threaded in torch).
    """

    def __init__(self, jobs: int) -> None:
        if jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {jobs}")
        self.jobs = jobs

    def run(self, tasks: Sequence[PairTask], runs_dir: pathlib.Path, progress: StudyProgress) -> dict[str, dict]:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["harness.runner"])
        progress_queue = context.Queue()
        pending = deque(tasks)
        running: dict[str, tuple[Any, PairTask, pathlib.Path]] = {}
        records: dict[str, dict] = {}
        try:
            while pending or running:
                while pending and len(running) < self.jobs:
                    task = pending.popleft()
                    path = run_dir(runs_dir, task.study.name, task.label, task.seed)
                    process = context.Process(
                        target=_child, args=(task, str(path), progress_queue), name=f"harness {task.key}"
                    )
                    process.start()
                    running[task.key] = (process, task, path)
                self._drain(progress_queue, progress, timeout=0.2)
                for key, (process, task, path) in list(running.items()):
                    if process.exitcode is None:
                        continue
                    process.join()
                    del running[key]
                    self._drain(progress_queue, progress, timeout=0.0)
                    record = read_run(path)
                    if record is None:
                        record = lost_record(
                            task, f"worker process exited with code {process.exitcode} before writing its result"
                        )
                        write_atomic(path / RUN_FILE, json_bytes(record))
                    records[key] = record
                    progress.finished(key, record)
        except KeyboardInterrupt:
            for process, _task, _path in running.values():
                process.terminate()
            for process, _task, _path in running.values():
                process.join()
            raise
        finally:
            progress_queue.close()
        return records

    @staticmethod
    def _drain(progress_queue: Any, progress: StudyProgress, timeout: float) -> None:
        try:
            key, n = progress_queue.get(timeout=timeout) if timeout else progress_queue.get_nowait()
            progress.steps(key, n)
            while True:
                key, n = progress_queue.get_nowait()
                progress.steps(key, n)
        except queue_module.Empty:
            pass
