"""Run a study's pairs as Ray tasks: `harness compare ... --executor ray [--address ADDRESS]`.

Each pair is one task asking for one CPU (and `gpus_per_run` GPUs for pairs whose `device` is not
"cpu"). A worker needs no shared filesystem: the user's agent code the study names by import path
(a file, or a module found in the study's code folder, with the local files they import) is
copied into the job's runtime environment (`working_dir`), and the worker imports its agent class
from that copy; it trains into a temporary folder of its own and returns the run's files; the
driver writes them into `runs/` with the same rule as the local executor (every file through a
temporary name, `run.json` last). Installed packages (SB3, sb3-contrib, this harness) must be
installed on the workers. A worker that dies (a crash, a lost node) is retried up to
`max_retries` times by Ray; after that the pair is marked failed and the study goes on.

Without `address` a local Ray instance is started for the study and stopped after it, listening
on loopback only (127.0.0.1, no dashboard, usage stats off): an unauthenticated cluster must not
be open to the network.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

from harness import imports
from harness.agents import import_paths_in, is_in_memory, local_sources, on_runaway, target
from harness.errors import RayUnavailable, one_line
from harness.execution.executors import lost_record, past_timeout
from harness.execution.progress import StudyProgress
from harness.execution.runner import PairTask, run_pair
from harness.schema import RUN_FILE
from harness.store import RunRecord, collect_files, install_files, read_record, record_bytes
from harness.studies import Study


def _import_ray(local: bool) -> Any:
    if local:
        # Read by Ray when it is imported: keep a local instance's addresses on loopback.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray  # here: Ray is optional, and slow to import; only --executor ray needs it
    except ImportError:
        raise RayUnavailable(
            "--executor ray needs Ray: pip install 'cartpole-compare[ray]' (or the dev extra)"
        ) from None
    return ray


def stage_code(studies: Sequence[Study], staging: pathlib.Path) -> dict[str, str]:
    """Copy the user's code that `studies`' agents (and `"module:EnvId"` envs) name by import path
    (and the local files it imports, `harness.agents.local_sources`) into `staging`, one folder per root
    (`root_0`, ...). Returns {original root folder: its folder in `staging`} ({} when every class
    comes from `sys.path`)."""
    roots: dict[pathlib.Path, set[pathlib.Path]] = {}
    for study in studies:
        env_modules = [f"{env_id.rsplit(':', 1)[0]}:_" for env_id in study.env_ids if ":" in env_id]
        for spec in study.agents:
            kinds = [] if is_in_memory(spec.kind) else [target(spec.kind)]  # a notebook's class travels by value
            for text in [*kinds, *import_paths_in(spec.hyperparameters), *env_modules]:
                origin = imports.local_origin(text, study.code_dir)
                if origin is not None:
                    root, start = origin[0].resolve(), origin[1]
                    files = roots.setdefault(root, set())
                    files.update(f for f in local_sources(start, [root]) if root in f.parents)
    mapping: dict[str, str] = {}
    for i, (root, files) in enumerate(sorted(roots.items())):
        name = f"root_{i}"
        for file in files:
            copy = staging / name / file.relative_to(root)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, copy)
        mapping[str(root)] = name
    return mapping


def _run_remote(task: PairTask, reporter: Any, shipped: Mapping[str, str]) -> dict[str, bytes]:
    """The body of a Ray task: one pair in a temporary folder, its files returned. `shipped`:
    {original root: folder of its copy in the job's working_dir (this task's current folder)}."""
    key = task.key

    def progress(n: int) -> None:
        reporter.report.remote(key, n)

    progress(0)  # the driver counts the pair's run_timeout from here
    on_runaway(lambda why: reporter.alert.remote(key, why))  # the driver cancels the task (force)
    here = pathlib.Path.cwd()
    with (
        imports.shipped_roots({pathlib.Path(root): here / copy for root, copy in shipped.items()}),
        tempfile.TemporaryDirectory(prefix="harness-run-") as tmp,
    ):
        out = pathlib.Path(tmp) / "run"
        run_pair(task, out, progress=progress, capture_output=True)
        return collect_files(out)


class _ProgressBoard:
    """A Ray actor holding the latest step count of each running pair, and the pairs whose agent
    went on after the harness stopped it (`harness.agents.RUNAWAY`)."""

    def __init__(self) -> None:
        self.steps: dict[str, int] = {}
        self.alerts: dict[str, str] = {}

    def report(self, key: str, n: int) -> None:
        self.steps[key] = n

    def alert(self, key: str, why: str) -> None:
        self.alerts.setdefault(key, why)

    def snapshot(self) -> tuple[dict[str, int], dict[str, str]]:
        return dict(self.steps), dict(self.alerts)


class RayExecutor:
    """Runs pairs as Ray tasks (see the module docstring). Use it as a context manager: it
    connects when it is first given pairs to run (starting a local instance when `address` is
    None, with the pairs' user code in the job's runtime environment) and disconnects on exit.

    :param address: `auto`, `HOST:PORT` or `ray://HOST:PORT` of a running cluster; None starts a
        local, loopback-only instance.
    :param num_cpus: CPUs of the local instance (ignored with `address`).
    :param gpus_per_run: GPUs each pair asks for whose `device` hyperparameter is not "cpu" (set
        `device = "cuda"` in the study for the agents that should use one).
    :param max_retries: times Ray reruns a pair whose worker died.
    """

    def __init__(
        self, address: str | None = None, num_cpus: int | None = None, gpus_per_run: float = 0.0, max_retries: int = 2
    ) -> None:
        if gpus_per_run < 0:
            raise ValueError(f"--gpus-per-run must be >= 0, got {gpus_per_run}")
        self.address = address
        self.num_cpus = num_cpus
        self.gpus_per_run = gpus_per_run
        self.max_retries = max_retries
        self.ray = _import_ray(local=address is None)
        self._staging: pathlib.Path | None = None
        self._shipped: dict[str, str] = {}

    def __enter__(self) -> RayExecutor:
        return self

    def _connect(self, tasks: Sequence[PairTask]) -> None:
        """Start or reach Ray, shipping the tasks' user code in the job's runtime environment."""
        ray = self.ray
        self._staging = pathlib.Path(tempfile.mkdtemp(prefix="harness-code-"))
        studies = list({id(task.study): task.study for task in tasks}.values())
        self._shipped = stage_code(studies, self._staging)
        runtime_env = {"working_dir": str(self._staging)} if self._shipped else None
        try:
            if self.address is None:
                ray.init(
                    address="local",  # a new instance, never one that `ray start` left running here
                    num_cpus=self.num_cpus,
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                    configure_logging=False,
                    log_to_driver=False,
                    runtime_env=runtime_env,
                )
            else:
                ray.init(address=self.address, configure_logging=False, log_to_driver=False, runtime_env=runtime_env)
        except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as error:
            where = self.address or "a local instance"
            hint = ""
            if isinstance(error, ray.exceptions.AuthenticationError) or "Authentication" in str(error):
                hint = " (the cluster uses token authentication: set RAY_AUTH_MODE=token and its token)"
            raise RayUnavailable(f"cannot start or reach Ray at {where}: {str(error).splitlines()[0]}{hint}") from None
        self._reporter = ray.remote(num_cpus=0)(_ProgressBoard).remote()

    def __exit__(self, *exc: object) -> None:
        if self.ray.is_initialized():
            self.ray.shutdown()
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)

    def run(self, tasks: Sequence[PairTask], runs_dir: pathlib.Path, progress: StudyProgress) -> dict[str, RunRecord]:
        ray = self.ray
        if not ray.is_initialized():
            self._connect(tasks)
        remote = ray.remote(_run_remote)
        pending: dict[Any, PairTask] = {}
        for task in tasks:
            device = task.study.agent(task.label).hyperparameters.get("device")
            gpus = self.gpus_per_run if device not in (None, "cpu") else 0
            options = {"num_cpus": 1, "num_gpus": gpus, "max_retries": self.max_retries, "name": f"harness {task.key}"}
            pending[remote.options(**options).remote(task, self._reporter, self._shipped)] = task
        records: dict[str, RunRecord] = {}
        started: dict[str, float] = {}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                steps, alerts = ray.get(self._reporter.snapshot.remote())
                for key, n in steps.items():
                    started.setdefault(key, time.monotonic())
                    progress.steps(key, n)
                for ref, task in list(pending.items()):  # a runaway, or past run_timeout: stopped, failed
                    elapsed = time.monotonic() - started.get(task.key, time.monotonic())
                    why = alerts.get(task.key) or past_timeout(task, elapsed)
                    if why is None or ref in ready:
                        continue
                    ray.cancel(ref, force=True)
                    del pending[ref]
                    record = lost_record(task, why, steps.get(task.key), elapsed)
                    install_files(task.path(runs_dir), {RUN_FILE: record_bytes(record)})
                    records[task.key] = record
                    progress.finished(task.key, record)
                for ref in ready:
                    task = pending.pop(ref)
                    path = task.path(runs_dir)
                    try:
                        install_files(path, ray.get(ref))
                        record = read_record(path) or lost_record(task, "the worker returned no run.json")
                    except ray.exceptions.RayTaskError as error:  # raised in the task, not retried
                        record = lost_record(task, f"the Ray task raised: {one_line(error.cause or error)}")
                        install_files(path, {RUN_FILE: record_bytes(record)})
                    except ray.exceptions.RayError as error:  # a dead worker or node, after Ray's retries
                        why = f"Ray task lost after {self.max_retries} retries: {type(error).__name__}"
                        record = lost_record(task, why)
                        install_files(path, {RUN_FILE: record_bytes(record)})
                    records[task.key] = record
                    progress.finished(task.key, record)
        except BaseException:  # Ctrl-C, or an error here: nothing goes on running on the cluster
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return records
