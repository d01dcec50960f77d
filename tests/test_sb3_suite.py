"""Stable-Baselines3's own tests of its DQN, run with the hand-written agents in `DQN`'s place.

SB3's test files come from its source distribution for the installed version (`make install`
caches it in `.venv/sb3-source/`; without it this test downloads it, and skips with one line
only when that fails for lack of network). They run unmodified in a pytest subprocess with the
plugin `tests/sb3_suite/agent_in_dqns_place.py`, which swaps the name `DQN` and shims the
constructor, nothing more. Every DQN case of the files below is collected: `APPLICABLE` of them
apply to an agent of a 1-D state and discrete actions, `EXCLUDED` do not (each with its reason),
and the outcome of every applicable case is fixed here, per agent.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from importlib import metadata

import pytest
import torch
from helpers import PROJECT

pytestmark = pytest.mark.e2e

FILES = (
    "test_predict",
    "test_save_load",
    "test_deterministic",
    "test_logger",
    "test_run",
    "test_spaces",
    "test_train_eval_mode",
    "test_identity",
    "test_tensorboard",  # none of its cases builds a DQN
    "test_custom_policy",
)
"""SB3's test files that exercise a DQN (the issue's list)."""

IMAGE = "image observations (CnnPolicy)"
MULTI_OBS = "MultiDiscrete and MultiBinary observations"
RETURNS_AT_ONCE = "SB3's test returns before building a DQN"
EXCLUDED = {
    "test_save_load.py::test_save_load_policy[False-CnnPolicy-DQN]": IMAGE,
    "test_save_load.py::test_save_load_policy[True-CnnPolicy-DQN]": IMAGE,
    "test_save_load.py::test_save_load_q_net[CnnPolicy-DQN]": IMAGE,
    "test_save_load.py::test_save_load_policy[True-MlpPolicy-DQN]": "gSDE (use_sde) is not DQN's: SB3 skips it",
    "test_spaces.py::test_identity_spaces[env0-DQN]": MULTI_OBS,
    "test_spaces.py::test_identity_spaces[env1-DQN]": MULTI_OBS,
    "test_spaces.py::test_identity_spaces[env2-DQN]": MULTI_OBS,
    "test_identity.py::test_discrete[env1-DQN]": f"{MULTI_OBS}: {RETURNS_AT_ONCE}",
    "test_identity.py::test_discrete[env2-DQN]": f"{MULTI_OBS}: {RETURNS_AT_ONCE}",
    "test_predict.py::test_predict[cpu-Pendulum-v1-DQN]": f"continuous actions: {RETURNS_AT_ONCE}",
    "test_predict.py::test_predict[cuda-Pendulum-v1-DQN]": f"continuous actions: {RETURNS_AT_ONCE}",
    "test_predict.py::test_predict[auto-Pendulum-v1-DQN]": f"continuous actions: {RETURNS_AT_ONCE}",
    "test_train_eval_mode.py::test_predict_with_dropout_batch_norm[Pendulum-v1-DQN]": (
        f"continuous actions: {RETURNS_AT_ONCE}"
    ),
}
"""SB3's DQN cases that do not apply to an agent of a 1-D state and discrete actions. (Its
cases that check that continuous actions are refused, `test_action_spaces`, do apply.)"""

APPLICABLE = 33
"""SB3's DQN cases in `FILES` that apply (46 collected, 13 excluded)."""

NEEDS_CUDA = {"test_predict.py::test_predict[cuda-CartPole-v1-DQN]"}
"""Applicable cases SB3 skips without a GPU."""

NO_NETWORK = "no policy network, Q-network or device: a table"
ONE_ENV = "one env only (it learns per step from one env's transitions)"
TABULAR_FAILS = {
    "test_predict.py::test_predict[cpu-CartPole-v1-DQN]": NO_NETWORK,
    "test_predict.py::test_predict[auto-CartPole-v1-DQN]": NO_NETWORK,
    "test_save_load.py::test_save_load[DQN]": NO_NETWORK,
    "test_save_load.py::test_set_env[DQN]": (
        "it trains per episode, so learn(64) runs to the episode's end (as SB3's train_freq (1, 'episode'))"
    ),
    "test_save_load.py::test_exclude_include_saved_params[DQN]": (
        "its learning rate is a per-episode schedule, not a saved hyperparameter"
    ),
    "test_save_load.py::test_save_load_replay_buffer[DQN]": "no replay buffer",
    "test_save_load.py::test_warn_buffer[True-DQN]": "no replay buffer (optimize_memory_usage)",
    "test_save_load.py::test_save_load_policy[False-MlpPolicy-DQN]": NO_NETWORK,
    "test_save_load.py::test_save_load_q_net[MlpPolicy-DQN]": NO_NETWORK,
    "test_save_load.py::test_dqn_target_update_interval": ONE_ENV,
    "test_run.py::test_offpolicy_multi_env[DQN]": ONE_ENV,
    "test_run.py::test_warn_dqn_multi_env": ONE_ENV,
    "test_spaces.py::test_discrete_obs_space[Taxi-v3-DQN]": ONE_ENV,
    "test_train_eval_mode.py::test_dqn_train_with_batch_norm": NO_NETWORK,
    "test_train_eval_mode.py::test_offpolicy_collect_rollout_batch_norm[DQN]": NO_NETWORK,
    "test_train_eval_mode.py::test_predict_with_dropout_batch_norm[CartPole-v1-DQN]": NO_NETWORK,
}
"""The applicable cases a tabular agent fails, and why each stays: SB3's DQN surface where it
does not apply to a table."""

EXPECTED_FAILURES = {"DQNAgent": {}, "TabularQAgent": TABULAR_FAILS}


def sb3_source(cache: pathlib.Path) -> pathlib.Path:
    """The `tests/` folder of SB3's source distribution for the installed version: the one `make
    install` cached, or one downloaded now into `cache` (skips when that cannot be done)."""
    version = metadata.version("stable-baselines3")
    for root in (pathlib.Path(sys.prefix) / "sb3-source", cache):
        tests = root / f"stable_baselines3-{version}" / "tests"
        if tests.is_dir():
            return tests
    cache.mkdir(parents=True, exist_ok=True)
    download = [sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps"]
    done = subprocess.run(
        [*download, "--timeout", "15", "--retries", "1", f"stable-baselines3=={version}", "-d", str(cache)],
        capture_output=True,
        text=True,
    )
    archives = sorted(cache.glob(f"stable_baselines3-{version}.tar.gz"))
    if done.returncode != 0 or not archives:
        pytest.skip(f"SB3's source distribution {version} could not be downloaded (no network?): {done.stderr[-200:]}")
    with tarfile.open(archives[0]) as archive:
        archive.extractall(cache, filter="data")
    return cache / f"stable_baselines3-{version}" / "tests"


@pytest.fixture(scope="module")
def tests_folder(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return sb3_source(pathlib.Path(tmp_path_factory.getbasetemp()).parent / "sb3-source")


def run_suite(tests: pathlib.Path, agent: str, report: pathlib.Path) -> dict[str, str]:
    """Run SB3's `FILES` with `agent` in `DQN`'s place: case id -> passed, failed or skipped."""
    env = {
        **os.environ,
        "SB3_SUITE_AGENT": agent,
        "PYTHONPATH": os.pathsep.join([str(PROJECT / "tests" / "sb3_suite"), str(PROJECT)]),
        # One BLAS and torch thread, as the harness runs every agent: on 2 cores shared with the
        # other pytest worker, threads that wait on each other make test_fps_logger's 100
        # steps/s floor a matter of luck for the 3x256 network (SB3's default DQN is 64x64).
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    files = [str(tests / f"{name}.py") for name in FILES]
    pytest_args = ["-p", "agent_in_dqns_place", "-p", "no:cacheprovider", "-q", "-o", "addopts="]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *pytest_args, "--junitxml", str(report), *files],
        cwd=tests.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if not report.exists():
        raise AssertionError(f"SB3's tests did not run:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").rsplit(".", 1)[-1]
        outcome = "passed"
        if case.find("skipped") is not None:
            outcome = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        outcomes[f"{module}.py::{case.get('name')}"] = outcome
    return outcomes


@pytest.mark.parametrize("agent", sorted(EXPECTED_FAILURES))
def test_sb3s_dqn_tests_pass_with_the_agent_in_dqns_place(tests_folder, tmp_path, agent):
    outcomes = run_suite(tests_folder, agent, tmp_path / "report.xml")
    assert set(EXCLUDED) <= set(outcomes), sorted(set(EXCLUDED) - set(outcomes))
    applicable = {case: outcome for case, outcome in outcomes.items() if case not in EXCLUDED}
    assert len(applicable) == APPLICABLE, sorted(applicable)
    skipped_here = NEEDS_CUDA if not torch.cuda.is_available() else set()
    expected = {
        case: "skipped" if case in skipped_here else "failed" if case in EXPECTED_FAILURES[agent] else "passed"
        for case in applicable
    }
    differ = {case: (outcome, expected[case]) for case, outcome in applicable.items() if outcome != expected[case]}
    assert not differ, f"(outcome, expected) per case: {differ}"
