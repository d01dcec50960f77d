"""One run: one agent, one seed, trained under the study's conditions, its files written.

The sequence, the same for every agent:

    one torch thread
    kind  = resolve_kind(kind, code_dir)             (the class is imported here, in this process)
    env, model = build_model(kind, env_id, seed, hyperparameters, rules)
                                                     (seed random/numpy/torch; the training env,
                                                      first reset and action space seeded; the
                                                      agent seeds itself the same way)
    model.set_logger(SB3 logger: TensorBoard + CSV in the run folder, + stdout for `train`)
    model.learn(total_timesteps, callback=[EpisodeRecorder, Evaluator, RunGuard])
    save model.*, episodes.csv, evals.csv; then run.json ("complete", a `RunRecord`), last

Any exception (a NaN loss included) is caught and written to `run.json` as "failed" with the
error; an interruption (Ctrl-C) leaves no `run.json`, so the pair reruns from scratch next time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import os
import pathlib
import platform
import shutil
import subprocess
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium
import numpy
import stable_baselines3
import torch
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.logger import configure

from harness import imports
from harness.agents import FINDINGS, AgentKind, build_model, class_bytes, is_in_memory, resolve_kind, where_raised
from harness.conditions import EpisodeRecorder, Evaluator, RunGuard, register_from, single_thread
from harness.errors import one_line
from harness.schema import CLASS_FILE, COMPLETE, EPISODES, EVALS, FAILED
from harness.store import Machine, RunRecord, Timings, clear_run_dir, pair_dir, pair_key, write_atomic, write_record
from harness.studies import Study, library_versions, run_settings
from harness.version import __version__


@dataclass(frozen=True)
class PairTask:
    """What one run needs: picklable, so it can go to another process or machine."""

    study: Study
    label: str
    seed: int
    command: str = ""
    """The command line that asked for it, kept in `run.json`."""
    code: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """The agent's code identity as the driver found it (`harness.agents.code_identity`), kept in
    `run.json` as part of the pair's identity."""

    def __post_init__(self) -> None:
        if not self.study.resolved:
            raise ValueError("a pair runs from a resolved study: call harness.studies.resolve_study first")
        if self.study.settings.env_id is None:
            raise ValueError("a pair runs on one env: give the single-env view of a study (Study.split)")

    @property
    def key(self) -> str:
        """`label/seed_S`, or `env_id/label/seed_S` in a study across envs: its folder in the study's."""
        return pair_key(self.study, self.label, self.seed)

    def path(self, runs_dir: pathlib.Path) -> pathlib.Path:
        """The pair's run folder under `runs_dir`."""
        return pair_dir(runs_dir, self.study, self.label, self.seed)

    def record(self, status: str | None, error: str | None = None, **outcome: Any) -> RunRecord:
        """The pair's `run.json`, whoever writes it (the worker, or the driver for a worker that
        died): which pair, the identity it ran with (`harness.studies.pair_identity`), where its
        code was and the command, then `status`, `error` and the rest of the outcome."""
        settings = self.study.settings
        header = {
            "status": status,
            "error": error,
            "study": settings.name,
            "label": self.label,
            "seed": self.seed,
            **run_settings(self.study, self.label),
            "code": dict(self.code),
            "libraries": library_versions(),
            "code_dir": settings.code_dir,
            "command": self.command,
        }
        return RunRecord.from_dict(header).replace(**outcome)


def run_pair(
    task: PairTask,
    out_dir: pathlib.Path,
    progress: Callable[[int], None] | None = None,
    verbose: bool = False,
    capture_output: bool = False,
) -> RunRecord:
    """Train one pair into `out_dir` (cleared first), write its files and return its `run.json`
    record. `verbose` adds SB3's stdout log tables; `capture_output` sends everything the run
    prints (warnings included) to `out_dir/output.log` instead of the terminal."""
    clear_run_dir(out_dir)
    with contextlib.ExitStack() as stack:
        if capture_output:
            log = stack.enter_context(open(out_dir / "output.log", "w", encoding="utf-8"))
            stack.enter_context(contextlib.redirect_stdout(log))
            stack.enter_context(contextlib.redirect_stderr(log))
        record = _train_and_save(task, out_dir, progress, verbose)
    write_record(out_dir, record)
    return record


def _train_and_save(
    task: PairTask, out_dir: pathlib.Path, progress: Callable[[int], None] | None, verbose: bool
) -> RunRecord:
    settings = task.study.settings
    record = task.record(None, started_at=_now(), versions=versions())
    start = time.perf_counter()
    env = model = logger = evaluator = None
    try:
        single_thread()
        record = record.replace(machine=machine())
        kind, env, model = build_run(task)
        record = record.replace(**class_record(kind))
        if callable(getattr(model, "run_info", None)) and model.run_info():
            record = record.replace(agent_info=model.run_info())
        logger = configure(str(out_dir), ["tensorboard", "csv", *(["stdout"] if verbose else [])])
        model.set_logger(logger)
        recorder = EpisodeRecorder()
        evaluator = Evaluator(
            settings.env_id,
            settings.eval_freq,
            settings.n_eval_episodes,
            settings.eval_seed,
            task.study.episode_rules,
            dict(task.study.agent(task.label).stop_below),
        )
        guard = RunGuard(settings.total_timesteps, progress)
        train_start = time.perf_counter()
        model.learn(settings.total_timesteps, callback=CallbackList([recorder, evaluator, guard]))
        train_wall = time.perf_counter() - train_start
        logger.close()
        logger = None

        tmp = out_dir / ".model"
        tmp.mkdir()
        model.save(tmp / "model")
        model_file = f"model{kind.model_suffix}"
        os.replace(tmp / model_file, out_dir / model_file)
        shutil.rmtree(tmp)
        if is_in_memory(kind.kind):  # a notebook's class: kept, so later processes can load the model
            write_atomic(out_dir / CLASS_FILE, class_bytes(kind.kind))
        write_atomic(out_dir / EPISODES.file, EPISODES.csv_bytes(recorder.rows))
        write_atomic(out_dir / EVALS.file, EVALS.csv_bytes(evaluator.rows))
        train_only = max(train_wall - evaluator.eval_time_s, 1e-9)
        final = [r.episode_return for r in evaluator.rows if r.eval_step == evaluator.rows[-1].eval_step]
        record = record.replace(
            status=COMPLETE,
            steps_done=int(model.num_timesteps),
            n_episodes=len(recorder.rows),
            final_eval_mean_return=sum(final) / len(final),
            stopped_at=evaluator.stopped_at,
            model_file=model_file,
            timings=Timings(
                wall_time_s=time.perf_counter() - start,
                learn_time_s=train_wall,
                eval_time_s=evaluator.eval_time_s,
                eval_share=evaluator.eval_time_s / train_wall if train_wall > 0 else 0.0,
                train_steps_per_s=model.num_timesteps / train_only,
            ),
        )
    except Exception as error:
        record = record.replace(
            status=FAILED,
            error=run_error(error),
            traceback=traceback.format_exc(),
            steps_done=int(getattr(model, "num_timesteps", 0) or 0),
            timings=Timings(wall_time_s=time.perf_counter() - start),
        )
    finally:
        if logger is not None:
            logger.close()
        if evaluator is not None:
            evaluator.close()
        if env is not None:
            env.close()
    return record.replace(finished_at=_now())


def run_error(error: BaseException) -> str:
    """A failed run's error, in one line: the harness's own finding as it says it, anything else
    with its type and where the user's code raised it ('ValueError: ... (In [5], line 12 (act))')."""
    if isinstance(error, FINDINGS):
        return one_line(error)
    where = where_raised(error)
    return one_line(error, with_type=True) + (f" (at {where})" if where else "")


def build_run(task: PairTask) -> tuple[AgentKind, Any, Any]:
    """Import the pair's agent class (here, in the process that trains it), seed everything with
    the pair's seed, then build its env and agent: the one sequence every run of every agent goes
    through. Returns (kind, env, model)."""
    study = task.study
    spec = study.agent(task.label)
    kind = resolve_kind(spec.kind, study.code_dir)
    register_from(study.env_id, study.code_dir)
    env, model = build_model(kind, study.env_id, task.seed, spec.hyperparameters, study.episode_rules)
    return kind, env, model


def class_record(kind: AgentKind) -> dict[str, Any]:
    """What `run.json` says of the agent's class (`RunRecord` fields): its import path, its
    family, the file it was written in and, where that differs (code shipped to a Ray worker),
    the copy imported here."""
    record: dict[str, Any] = {"class_path": kind.class_path, "family": kind.family, "class_file": kind.source_file}
    if kind.source_file is not None:
        source = str(imports.original(kind.source_file))
        if source != str(pathlib.Path(kind.source_file).resolve()):
            record.update(class_file=source, imported_from=kind.source_file)
    return record


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """Versions of the packages that decide a run's numbers."""
    return {
        "python": platform.python_version(),
        "cartpole_compare": __version__,
        "git_commit": source_commit(),
        "torch": torch.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": numpy.__version__,
    }


@functools.cache
def source_commit() -> str:
    """`git rev-parse --short HEAD` of the code running now, '-dirty' when tracked files under
    harness/ or custom_agents/ differ from it; 'unknown' when it is not a git checkout."""
    root = pathlib.Path(__file__).resolve().parents[2]  # this file is harness/execution/runner.py
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return "unknown"
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "harness", "custom_agents"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def machine() -> Machine:
    """What ran it: CPU model, cores, torch threads, accelerator."""
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        platform=platform.platform(),
        cuda=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    )


def _cpu_model() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
