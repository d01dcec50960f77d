"""Bring your own agent, end to end: a user's agent class in a folder outside the project, named
by a study next to it (`"my_agents.py:Class"`, `"pkg.module:Class"`), and library algorithms by
import path (SB3's PPO and A2C, sb3-contrib's QRDQN), run by `harness` from another working
directory: the local executor, the Ray executor (a local, loopback-only instance that `harness`
starts and stops itself, through `python -m harness` in a real subprocess), `train`, identical
conditions, and every kind of bad input refused before anything runs. The commands but the Ray
run go through `harness.cli.main` in this process (which forgets the user's modules afterwards)."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from helpers import (
    PROJECT,
    EpisodeStarts,
    ResetRecorder,
    harness_here,
    pair_dirs,
    read_csv,
    run_json,
    without_wall_time,
)
from stable_baselines3.common.callbacks import CallbackList

from harness import imports
from harness.conditions import Evaluator, RunGuard, single_thread
from harness.execution import PairTask, build_run
from harness.schema import EVAL_COLUMNS
from harness.studies import Study, load_study, resolve_study

EXAMPLE_AGENTS = PROJECT / "examples" / "my_agents.py"

# The Ray run's environment: loopback only, no usage statistics (as tests/test_ray.py), no
# bytecode files.
ENV = {
    **{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
}


# -- the user's folder --------------------------------------------------------------------------

HELPERS_INIT = '"""A user\'s package of agents, beside the study."""\n'

HELPERS_RULES = '''\
"""A rule the agent module imports (a local file the Ray executor must ship too)."""


def lean_action(obs, gain: float) -> int:
    """Push the cart the way the pole is falling."""
    return int(obs[2] + gain * obs[3] > 0)
'''

HELPERS_AGENTS = '''\
"""A hand-written agent that learns nothing: a fixed rule on the pole's angle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from custom_agents import BaseAgent

from .rules import lean_action


@dataclass(frozen=True)
class LeanConfig:
    gain: float = 1.0
    """Weight of the pole's angular velocity against its angle."""


class LeanAgent(BaseAgent):
    config_class = LeanConfig
    save_suffix = ".npz"

    def _setup_model(self) -> None:
        pass

    def _sample_actions(self, obs: np.ndarray) -> np.ndarray:
        return np.array([lean_action(obs[0], self.config.gain)])

    def _predict(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        return np.array([lean_action(o, self.config.gain) for o in obs])
'''

STUDY = """\
[study]
name = "byo"
env_id = "CartPole-v1"
seeds = [0, 1]
total_timesteps = 600
eval_freq = 300
n_eval_episodes = 2
paired = [["expected_sarsa", "tabular_q"]]

[agents.expected_sarsa]
kind = "my_agents.py:ExpectedSarsaAgent"

[agents.lean]
kind = "helpers_pkg.agents:LeanAgent"
gain = 0.5

[agents.tabular_q]
kind = "tabular_q"
"""
STUDY_PAIRS = sorted(f"{label}/seed_{seed}" for label in ("expected_sarsa", "lean", "tabular_q") for seed in (0, 1))

LIBRARY_STUDY = """\
[study]
name = "library"
env_id = "CartPole-v1"
seeds = [0]
total_timesteps = 1000
eval_freq = 500
n_eval_episodes = 3

[agents.ppo]
kind = "stable_baselines3:PPO"
n_steps = 128
batch_size = 64
n_epochs = 2

[agents.a2c]
kind = "stable_baselines3:A2C"
n_steps = 8

[agents.qrdqn]
kind = "sb3_contrib:QRDQN"
buffer_size = 2000
learning_starts = 200
batch_size = 32
policy_kwargs = { net_arch = [16] }

[agents.tabular_q]
kind = "tabular_q"
"""
LIBRARY_LABELS = ("ppo", "a2c", "qrdqn")


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A user's folder outside the project: `my_agents.py` (the example's), a package
    `helpers_pkg` and the studies that name them."""
    user = tmp_path_factory.mktemp("user")
    assert PROJECT not in user.parents
    shutil.copyfile(EXAMPLE_AGENTS, user / "my_agents.py")
    package = user / "helpers_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(HELPERS_INIT)
    (package / "rules.py").write_text(HELPERS_RULES)
    (package / "agents.py").write_text(HELPERS_AGENTS)
    (user / "study.toml").write_text(STUDY)
    (user / "library.toml").write_text(LIBRARY_STUDY)
    return user


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Another working directory, neither the project nor the user's folder."""
    return tmp_path_factory.mktemp("elsewhere")


def relative(path: pathlib.Path, start: pathlib.Path) -> str:
    return os.path.relpath(path, start)


def is_under(file: str | None, folder: pathlib.Path) -> bool:
    assert file is not None
    return folder.resolve() in pathlib.Path(file).resolve().parents


# -- the local executor, from another working directory ------------------------------------------


@pytest.fixture(scope="module")
def ray_started(
    user_dir: pathlib.Path, elsewhere: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[subprocess.Popen[bytes], pathlib.Path]]:
    """The user's study through `compare --executor ray` without an address: a local
    loopback-only Ray instance for this study (started and stopped by `harness`), the user's code
    shipped in the job's working_dir. Started before the local run and left running in the
    background (it mostly waits for Ray to start); `ray_runs` collects it. Yields (process,
    folder of its stdout.txt and stderr.txt)."""
    logs = tmp_path_factory.mktemp("ray_logs")
    command = [
        sys.executable, "-m", "harness", "compare", relative(user_dir / "study.toml", elsewhere), "--executor", "ray",
        "--jobs", "2", "--no-report", "--runs-dir", "on_ray",
    ]  # fmt: skip
    with open(logs / "stdout.txt", "wb") as out, open(logs / "stderr.txt", "wb") as err:
        process = subprocess.Popen(command, cwd=elsewhere, env=ENV, stdout=out, stderr=err)
    try:
        yield process, logs
    finally:
        if process.poll() is None:  # a test failed or was interrupted: stop it as Ctrl-C does
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def local_runs(
    user_dir: pathlib.Path, elsewhere: pathlib.Path, ray_started: tuple[subprocess.Popen[bytes], pathlib.Path]
) -> pathlib.Path:
    """`compare` of the user's study, run from another folder (while the Ray run starts): its
    study folder."""
    result = harness_here(
        "compare", relative(user_dir / "study.toml", elsewhere), "--jobs", "2", "--no-report", "--runs-dir", "local",
        cwd=elsewhere,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return elsewhere / "local" / "byo"


@pytest.mark.e2e
def test_compare_from_another_folder_runs_the_users_agents(local_runs: pathlib.Path, user_dir: pathlib.Path):
    pairs = pair_dirs(local_runs)
    assert sorted(pairs) == STUDY_PAIRS
    for key, path in pairs.items():
        record = run_json(path)
        assert record is not None and record["status"] == "complete", (key, record)
        assert record["steps_done"] == 600
    for seed in (0, 1):
        sarsa = run_json(pairs[f"expected_sarsa/seed_{seed}"])
        assert sarsa["family"] == "hand-written"
        assert sarsa["class"] == "my_agents:ExpectedSarsaAgent"
        assert pathlib.Path(sarsa["class_file"]).resolve() == (user_dir / "my_agents.py").resolve()
        assert pathlib.Path(sarsa["code_dir"]).resolve() == user_dir.resolve()
        assert (pairs[f"expected_sarsa/seed_{seed}"] / "model.npz").is_file()
        lean = run_json(pairs[f"lean/seed_{seed}"])
        assert lean["class"] == "helpers_pkg.agents:LeanAgent"
        assert pathlib.Path(lean["class_file"]).resolve() == (user_dir / "helpers_pkg" / "agents.py").resolve()
        assert lean["hyperparameters"] == {"gain": 0.5}
        # The built-in agent comes from the project, not from the user's folder.
        builtin = run_json(pairs[f"tabular_q/seed_{seed}"])
        assert not is_under(builtin["class_file"], user_dir)
        assert is_under(builtin["class_file"], PROJECT / "custom_agents")
    # The resolved study keeps the user's kinds and where they are resolved from.
    recorded = load_study(str(local_runs / "study.toml"))
    assert recorded.agent("expected_sarsa").kind == "my_agents.py:ExpectedSarsaAgent"
    assert pathlib.Path(recorded.settings.code_dir).resolve() == user_dir.resolve()
    assert recorded.settings.paired == (("expected_sarsa", "tabular_q"),)


@pytest.fixture(scope="module")
def ray_runs(ray_started: tuple[subprocess.Popen[bytes], pathlib.Path], elsewhere: pathlib.Path) -> pathlib.Path:
    """The Ray run of the user's study, waited for: its study folder."""
    process, logs = ray_started
    returncode = process.wait(timeout=400)
    output = (logs / "stdout.txt").read_text() + (logs / "stderr.txt").read_text()
    assert returncode == 0, output
    return elsewhere / "on_ray" / "byo"


@pytest.mark.e2e
def test_the_same_study_on_ray_gives_the_same_evaluations(local_runs: pathlib.Path, ray_runs: pathlib.Path):
    on_ray, local = pair_dirs(ray_runs), pair_dirs(local_runs)
    assert sorted(on_ray) == STUDY_PAIRS
    for key, path in on_ray.items():
        record = run_json(path)
        assert record is not None and record["status"] == "complete", (key, record)
        assert (path / "evals.csv").read_bytes() == (local[key] / "evals.csv").read_bytes(), key
        local_rows, ray_rows = read_csv(local[key] / "episodes.csv"), read_csv(path / "episodes.csv")
        assert without_wall_time(local_rows) == without_wall_time(ray_rows), key
        assert record["class"] == run_json(local[key])["class"]


@pytest.mark.e2e
def test_on_ray_the_users_classes_are_imported_from_the_shipped_copy(ray_runs: pathlib.Path, user_dir: pathlib.Path):
    """run.json names the user's file (`class_file`) and the shipped copy the worker imported it
    from (`imported_from`), which is not under the user's folder."""
    on_ray = pair_dirs(ray_runs)
    for seed in (0, 1):
        for label, name in (("expected_sarsa", "my_agents.py"), ("lean", "agents.py")):
            record = run_json(on_ray[f"{label}/seed_{seed}"])
            assert is_under(record["class_file"], user_dir), record["class_file"]
            assert pathlib.Path(record["imported_from"]).name == name, record["imported_from"]
            assert not is_under(record["imported_from"], user_dir), record["imported_from"]


def shipped_files(study: Study, staging: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """Where a Ray worker finds the user's two agent modules, given the copy `stage_code` makes in
    `staging` (the job's working_dir, the worker's current folder), as `_run_remote` maps it."""
    from harness.execution import stage_code

    mapping = stage_code([study], staging)
    assert len(mapping) == 1, mapping
    with imports.shipped_roots({pathlib.Path(root): staging / copy for root, copy in mapping.items()}):
        sarsa = imports.file_of("my_agents.py:ExpectedSarsaAgent", study.code_dir)
        origin = imports.local_origin("helpers_pkg.agents:LeanAgent", study.code_dir)
    assert sarsa is not None and origin is not None
    return sarsa, origin[1]


def test_stage_code_ships_the_users_files_and_workers_find_the_copy(user_dir: pathlib.Path, tmp_path: pathlib.Path):
    staging = tmp_path / "staging"
    sarsa, lean = shipped_files(load_study(str(user_dir / "study.toml")), staging)
    copy = staging / "root_0"
    assert sarsa == copy / "my_agents.py"
    assert lean == copy / "helpers_pkg" / "agents.py"
    # The package's other module, which agents.py imports, travels with it; the studies do not.
    assert (copy / "helpers_pkg" / "rules.py").is_file()
    assert not list(copy.glob("*.toml"))


def test_stage_code_ships_the_package_init_of_a_module_path_kind(user_dir: pathlib.Path, tmp_path: pathlib.Path):
    shipped_files(load_study(str(user_dir / "study.toml")), tmp_path / "staging")
    assert (tmp_path / "staging" / "root_0" / "helpers_pkg" / "__init__.py").is_file()


def test_a_study_path_with_dotdot_also_finds_the_copy(
    user_dir: pathlib.Path, elsewhere: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(elsewhere)
    staging = tmp_path / "staging"
    sarsa, lean = shipped_files(load_study(relative(user_dir / "study.toml", elsewhere)), staging)
    assert sarsa == staging / "root_0" / "my_agents.py"
    assert lean == staging / "root_0" / "helpers_pkg" / "agents.py"


@pytest.mark.e2e
def test_train_runs_the_users_agent_from_another_folder(user_dir: pathlib.Path, elsewhere: pathlib.Path):
    result = harness_here(
        "train", "expected_sarsa", "--seed", "0", relative(user_dir / "study.toml", elsewhere), "--runs-dir", "trained",
        cwd=elsewhere,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "expected_sarsa/seed_0: complete" in result.stdout
    path = elsewhere / "trained" / "byo" / "expected_sarsa" / "seed_0"
    record = run_json(path)
    assert record["status"] == "complete" and record["steps_done"] == 600
    assert pathlib.Path(record["class_file"]).resolve() == (user_dir / "my_agents.py").resolve()
    assert (path / "model.npz").is_file() and (path / "evals.csv").is_file()
    assert sorted(p.name for p in (elsewhere / "trained" / "byo").iterdir() if p.is_dir()) == ["expected_sarsa"]


# -- library algorithms by import path -------------------------------------------------------------


@pytest.mark.e2e
def test_sb3_and_sb3_contrib_algorithms_run_from_a_study(user_dir: pathlib.Path, elsewhere: pathlib.Path):
    result = harness_here(
        "compare", relative(user_dir / "library.toml", elsewhere), "--jobs", "2", "--no-report", "--runs-dir", "lib",
        cwd=elsewhere,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    pairs = pair_dirs(elsewhere / "lib" / "library")
    assert sorted(pairs) == sorted(f"{label}/seed_0" for label in (*LIBRARY_LABELS, "tabular_q"))
    reference = read_csv(pairs["tabular_q/seed_0"] / "evals.csv")
    assert [row["eval_step"] for row in reference] == ["0"] * 3 + ["500"] * 3 + ["1000"] * 3
    classes = {"ppo": "PPO", "a2c": "A2C", "qrdqn": "QRDQN"}
    for label in LIBRARY_LABELS:
        path = pairs[f"{label}/seed_0"]
        record = run_json(path)
        assert record["status"] == "complete", (label, record.get("error"))
        assert record["steps_done"] == 1000, label
        assert record["family"] == "library"
        assert record["class"].endswith(f":{classes[label]}"), record["class"]
        assert record["model_file"] == "model.zip"
        assert (path / "model.zip").is_file()
        rows = read_csv(path / "evals.csv")
        assert list(rows[0]) == list(EVAL_COLUMNS)
        assert [row["eval_seed"] for row in rows] == [row["eval_seed"] for row in reference], label
        assert [(row["eval_step"], row["episode"]) for row in rows] == [
            (row["eval_step"], row["episode"]) for row in reference
        ], label
    qrdqn = run_json(pairs["qrdqn/seed_0"])["hyperparameters"]
    assert qrdqn["policy_kwargs"] == {"net_arch": [16]}
    assert qrdqn["buffer_size"] == 2000 and qrdqn["learning_starts"] == 200 and qrdqn["device"] == "cpu"
    assert run_json(pairs["ppo/seed_0"])["hyperparameters"]["n_steps"] == 128


# -- identical conditions -----------------------------------------------------------------------


@pytest.fixture
def restored_imports() -> Iterator[None]:
    """Importing the user's classes in this process puts their folder on `sys.path` and their
    modules in `sys.modules`: undo both afterwards, so no other test sees them."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if name in ("my_agents", "helpers_pkg") or name.startswith("helpers_pkg."):
            del sys.modules[name]


def train_recording(study: Study, label: str, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], list[int]]:
    """Train one pair as `run_pair` does (the runner's `build_run`, the same callbacks); return
    its training episode starts, its evaluation resets and the eval seeds of its evaluation rows."""
    settings = study.settings
    single_thread()
    _kind, env, model = build_run(PairTask(study, label, seed))
    starts = EpisodeStarts()
    evaluator = Evaluator(settings.env_id, settings.eval_freq, settings.n_eval_episodes, settings.eval_seed)
    resets: list[np.ndarray] = []
    evaluator.envs = [ResetRecorder(e, resets) for e in evaluator.envs]
    try:
        model.learn(
            settings.total_timesteps, callback=CallbackList([starts, evaluator, RunGuard(settings.total_timesteps)])
        )
        assert model.num_timesteps == settings.total_timesteps, label
    finally:
        evaluator.close()
        env.close()
    return starts.starts, resets, [row.eval_seed for row in evaluator.rows]


def test_library_and_users_agents_meet_the_same_start_states(user_dir: pathlib.Path, restored_imports: None):
    same = {"total_timesteps": 600, "eval_freq": 300, "n_eval_episodes": 3}
    study = resolve_study(load_study(str(user_dir / "library.toml")).replace(**same))  # PPO, QRDQN, tabular_q
    users = resolve_study(load_study(str(user_dir / "study.toml")).replace(**same))  # the user's agent
    seed = 0
    runs = {label: train_recording(study, label, seed) for label in ("ppo", "qrdqn", "tabular_q")}
    runs["expected_sarsa"] = train_recording(users, "expected_sarsa", seed)

    # Training: every agent's episodes start from the same states, as far as each got.
    common = min(len(starts) for starts, _, _ in runs.values())
    assert common >= 5, {label: len(starts) for label, (starts, _, _) in runs.items()}
    reference = runs["tabular_q"][0]
    for label, (starts, _, _) in runs.items():
        for i in range(common):
            np.testing.assert_array_equal(starts[i], reference[i], err_msg=f"{label}: episode {i} starts elsewhere")
    # ... and they are the seed's own: another seed starts elsewhere.
    other, _, _ = train_recording(study, "tabular_q", seed + 1)
    assert not np.array_equal(other[0], reference[0])

    # Evaluation: the same seeds and the same first observations at every evaluation point.
    n_eval = study.settings.n_eval_episodes
    seeds = runs["tabular_q"][2]
    assert seeds == [1_000_000 + i for i in range(n_eval)] * 3
    first_point = runs["tabular_q"][1][:n_eval]
    for label, (_, resets, eval_seeds) in runs.items():
        assert eval_seeds == seeds, label
        assert len(resets) == 3 * n_eval, label
        for i, obs in enumerate(resets):
            np.testing.assert_array_equal(obs, first_point[i % n_eval], err_msg=f"{label}: eval reset {i}")
    env = gym.make("CartPole-v1")
    try:
        for i, obs in enumerate(first_point):
            np.testing.assert_array_equal(obs, env.reset(seed=1_000_000 + i)[0])
    finally:
        env.close()


# -- bad input: exit 2, one line naming the study file and the key, nothing written ----------------

BASE = """\
[study]
name = "bad"
env_id = "{env_id}"
seeds = [0]
total_timesteps = 300
eval_freq = 100
n_eval_episodes = 2
{paired}
[agents.mine]
{table}
"""

BAD_FILES = {
    "broken_pkg/__init__.py": "",
    "broken_pkg/agents.py": 'raise ImportError("this module needs a package that is not installed")\n',
    "broken_syntax.py": "class Agent(:\n    pass\n",
}

BAD_STUDIES: dict[str, tuple[dict[str, str], str, str]] = {
    # case: (format values, the key the line names, a fragment it holds)
    "module raises ImportError": (
        {"table": 'kind = "broken_pkg.agents:Agent"'},
        "agents.mine.kind",
        "ImportError",
    ),
    "file has a SyntaxError": ({"table": 'kind = "broken_syntax.py:Agent"'}, "agents.mine.kind", "SyntaxError"),
    "missing file": ({"table": 'kind = "no_such_file.py:Agent"'}, "agents.mine.kind", "no such file"),
    "missing class": ({"table": 'kind = "my_agents.py:NoSuchAgent"'}, "agents.mine.kind", "NoSuchAgent"),
    "class of no family": ({"table": 'kind = "collections:OrderedDict"'}, "agents.mine.kind", "of no agent family"),
    "constructor argument it does not take": (
        {"table": 'kind = "stable_baselines3:PPO"\nnot_an_arg = 1'},
        "agents.mine.not_an_arg",
        "not_an_arg",
    ),
    "import path value that does not resolve": (
        {"table": 'kind = "stable_baselines3:PPO"\npolicy_kwargs = { activation_fn = "torch.nn:NoSuch" }'},
        "agents.mine.policy_kwargs.activation_fn",
        "NoSuch",
    ),
    "action space that does not fit": (
        {
            "table": 'kind = "stable_baselines3:DQN"',
            "env_id": "Pendulum-v1",
            # Pendulum has no env profile: the study declares one, so the agent is what is refused
            "paired": 'success = "return >= -200"\nreturn_range = [-1700, 0]',
        },
        "agents.mine",
        "DQN cannot be built on Pendulum-v1",
    ),
    "env without a profile": (
        {"table": 'kind = "tabular_q"', "env_id": "Pendulum-v1"},
        "study",
        "no profile for 'Pendulum-v1'",
    ),
    "paired names an unknown label": (
        {"table": 'kind = "tabular_q"', "paired": 'paired = [["mine", "nobody"]]'},
        "study.paired",
        "nobody",
    ),
}


@pytest.fixture(scope="module")
def refused(user_dir: pathlib.Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[pathlib.Path, Any]]:
    """Every bad study run through `compare` (each in an empty working folder of its own):
    {case: (study file, (cwd, returncode, stdout, stderr))}."""
    for name, text in BAD_FILES.items():
        (user_dir / name).parent.mkdir(exist_ok=True)
        (user_dir / name).write_text(text)
    root = tmp_path_factory.mktemp("refused")
    results = {}
    for i, (case, (values, _, _)) in enumerate(BAD_STUDIES.items()):
        study = user_dir / f"bad_{i}.toml"
        study.write_text(BASE.format(**{"env_id": "CartPole-v1", "paired": "", **values}))
        cwd = root / f"case_{i}"
        cwd.mkdir()
        done = harness_here("compare", study, "--no-report", "--runs-dir", "runs", cwd=cwd)
        results[case] = (study, (cwd, done.returncode, done.stdout, done.stderr))
    return results


@pytest.mark.e2e
@pytest.mark.parametrize("case", list(BAD_STUDIES))
def test_bad_input_gives_exit_2_one_line_naming_the_file_and_key(case: str, refused: dict[str, Any]):
    _, key, fragment = BAD_STUDIES[case]
    study, (cwd, returncode, out, err) = refused[case]
    assert returncode == 2, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{study}: {key}: "), lines[0]
    assert fragment in lines[0], lines[0]
    assert list(cwd.iterdir()) == [], "a refused study wrote files"
