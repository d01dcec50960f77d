"""Test helpers shared by several test files (imported as `helpers`): SB3 callbacks and env
wrappers that record what a run met, study files built from parts, `harness` run in a subprocess or
in this process, process-group helpers for the tests that stop a `compare`, and readers of run
folders."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback

PROJECT = pathlib.Path(__file__).resolve().parent.parent
"""The repository's root."""

# -- recording what a run met -----------------------------------------------------------------


class EpisodeStarts(BaseCallback):
    """Keeps the first observation of every training episode: the one before training starts,
    then `new_obs` of each step that ended an episode (the VecEnv has already reset)."""

    def __init__(self) -> None:
        super().__init__()
        self.starts: list[np.ndarray] = []

    def _on_training_start(self) -> None:
        self.starts.append(np.array(self.model._last_obs[0], copy=True))

    def _on_step(self) -> bool:
        if self.locals["dones"][0]:
            self.starts.append(np.array(self.locals["new_obs"][0], copy=True))
        return True


class ResetRecorder(gym.Wrapper):
    """Keeps every observation its env was reset to."""

    def __init__(self, env: gym.Env, resets: list[np.ndarray]) -> None:
        super().__init__(env)
        self.resets = resets

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = super().reset(**kwargs)
        self.resets.append(np.array(obs, copy=True))
        return obs, info


# -- study files --------------------------------------------------------------------------------

DQN_TABLE = 'preset = "zoo"\nlearning_starts = 500\ntrain_freq = 64\ngradient_steps = 16'
AGENT_TABLES = {
    "random": 'kind = "random"',
    "tabular_q": 'kind = "tabular_q"',
    "tabular_sarsa": 'kind = "tabular_sarsa"',
    "custom_dqn": 'kind = "custom_dqn"\nnet_arch = [64, 64]\n' + DQN_TABLE,
    "sb3_dqn": 'kind = "sb3_dqn"\npolicy_kwargs = { net_arch = [64, 64] }\n' + DQN_TABLE,
}
"""quick.toml's agents (their tables, by label)."""


def agent_tables(*labels: str) -> dict[str, str]:
    """The tables of some of quick.toml's agents, in the order given."""
    return {label: AGENT_TABLES[label] for label in labels}


def study_text(
    name: str = "tiny",
    seeds: Sequence[int] = (0, 1),
    total_timesteps: int = 1500,
    eval_freq: int = 500,
    agents: Mapping[str, str] = AGENT_TABLES,
    n_eval_episodes: int = 3,
    env_id: str | Sequence[str] | None = "CartPole-v1",
    extra: Sequence[str] = (),
) -> str:
    """A study file: `[study]` (its `extra` lines last; `env_id` a list gives `env_ids`, None
    leaves it to the default) and one `[agents.LABEL]` table per agent. By default quick.toml's
    agents with a small budget."""
    lines = ["[study]", f'name = "{name}"']
    if isinstance(env_id, str):
        lines.append(f'env_id = "{env_id}"')
    elif env_id is not None:
        lines.append(f"env_ids = {json.dumps(list(env_id))}")
    lines += [
        f"seeds = {list(seeds)}",
        f"total_timesteps = {total_timesteps}",
        f"eval_freq = {eval_freq}",
        f"n_eval_episodes = {n_eval_episodes}",
        *extra,
    ]
    for label, table in agents.items():
        lines += ["", f"[agents.{label}]", table]
    return "\n".join(lines) + "\n"


# -- the harness command ------------------------------------------------------------------------


def harness(
    *args: object, cwd: pathlib.Path, env: Mapping[str, str] | None = None, timeout: float = 400
) -> subprocess.CompletedProcess[str]:
    """Run `python -m harness ARGS` in `cwd` to the end, in a process of its own (`env`: its whole
    environment; by default this process's)."""
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)],
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _outside_the_environment(module: Any) -> bool:
    """Whether a module was imported from a file that is neither installed nor one of the
    project's packages: a user's agent file (or the example's), imported under its own name."""
    file = getattr(module, "__file__", None)
    if not file:
        return False
    path = pathlib.Path(file).resolve()
    kept = [pathlib.Path(sys.prefix), pathlib.Path(sys.base_prefix)]
    kept += [PROJECT / name for name in ("harness", "custom_agents", "benchmarks", "tests")]
    return not any(root.resolve() in path.parents for root in kept)


def harness_here(*args: object, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    """`harness ARGS` run in this process (`harness.cli.main`) in `cwd`, returned as `harness()`
    returns a subprocess: its exit code and what it printed. For a command whose test needs no
    process of its own (no signal, kill, environment or process-level check): it saves a new
    process's imports of torch and SB3, and `compare` forks its workers from this process's fork
    server (started once). The user's modules it imported and the folders it put on `sys.path`
    are forgotten afterwards, so that a later test may import another file of the same name."""
    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    path, modules = list(sys.path), set(sys.modules)
    try:
        with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(arg) for arg in args])
    finally:
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if _outside_the_environment(sys.modules[name]):
                del sys.modules[name]
    return subprocess.CompletedProcess(["harness", *map(str, args)], code, out.getvalue(), err.getvalue())


# -- processes a test stops -----------------------------------------------------------------------


def start(
    args: Sequence[object],
    cwd: pathlib.Path,
    env: Mapping[str, str] | None = None,
    out: str = "stdout.txt",
    err: str = "stderr.txt",
) -> subprocess.Popen[bytes]:
    """Start `python -m harness ARGS` in its own process group, its output to the files `out` and
    `err` in `cwd` (`env`: variables added to this process's), with Ctrl-C's default disposition
    as in a terminal (a test suite started in the background of a non-interactive shell runs with
    SIGINT ignored, which its children would inherit)."""
    with open(cwd / out, "wb") as stdout, open(cwd / err, "wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "harness", *map(str, args)],
            cwd=cwd,
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def wait_for(
    condition: Callable[[], bool],
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    timeout: float = 120,
    every: float = 0.01,
) -> None:
    """Poll `condition` every `every` seconds until it holds; fail if `process` ends first or
    `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process ended (exit {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(every)


def stop_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> int:
    """Send `sig` to the process group of `process` and wait for it."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL every process of the group `process` leads (its fork server and workers too)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


# -- reading what a run left --------------------------------------------------------------------


LOOPBACK_RAY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
"""Ray's loopback switch, and no usage stats: a local Ray instance that a script starts stays on 127.0.0.1."""


def script_on_each_executor(
    folder: pathlib.Path, script: str, *args: str, keep: tuple[str, ...], timeout: float = 400
) -> dict[str, list[str]]:
    """Write `script` to `folder/script.py` and run it in `folder` twice, with `args` then the executor
    ("local", then "ray", on a local loopback-only instance the harness starts); per executor, the
    lines of its stdout that start with one of `keep`. Fails the test if a run exits non-zero."""
    (folder / "script.py").write_text(script)
    lines = {}
    for executor in ("local", "ray"):
        done = subprocess.run(
            [sys.executable, "script.py", *args, executor],
            cwd=folder,
            env={**os.environ, **LOOPBACK_RAY},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, done.stderr[-2_000:]
        lines[executor] = [line for line in done.stdout.splitlines() if line.startswith(keep)]
    return lines


def run_json(run_dir: pathlib.Path) -> dict[str, Any] | None:
    """A run folder's `run.json` as the JSON object on disk (None when missing or unreadable): the
    tests check the file itself, not its typed reading."""
    try:
        return json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None


def pair_dirs(study_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    """The pairs' run folders (`label/seed_S`) that exist, by pair."""
    return {f"{p.parent.name}/{p.name}": p for p in sorted(study_dir.glob("*/seed_*"))}


def read_csv(path: pathlib.Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def without_wall_time(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows of `episodes.csv` but for the measured wall clock (which each row has)."""
    assert all("wall_time_s" in row for row in rows), "episodes.csv without its wall_time_s column"
    return [{k: v for k, v in row.items() if k != "wall_time_s"} for row in rows]


def one_line(text: str) -> str:
    """The one line of `text` (a command's stderr), which holds no traceback."""
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def files_under(path: pathlib.Path) -> list[str]:
    """Every file and folder under `path`, relative to it, sorted."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))
