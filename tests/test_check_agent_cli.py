"""`harness check-agent KIND`, as a user runs it, from a folder of their own.

Exit 0 when every check holds (one line per check), 1 when some fail (a FAIL line naming the
check), 2 for bad input (one line on stderr, no traceback). The commands run once per module: two
as subprocesses, started together (the agent whose checks fail, and the file that exits at
import), the others meanwhile in this process (`harness.cli.main`), which saves each the imports of
torch and SB3. Each test reads its own result.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest
from helpers import PROJECT, harness_here

from harness.agents import CHECKS

REPO = PROJECT
N_CHECKS = len(CHECKS)

BROKEN_AGENT = textwrap.dedent(
    '''
    """A user's agent that never dumps its logs."""

    from custom_agents import RandomAgent


    class SilentAgent(RandomAgent):
        def dump_logs(self) -> None:
            pass


    class NotAnAgent:
        pass
    '''
)

EXITING_AGENT = textwrap.dedent(
    """
    import sys

    from custom_agents import RandomAgent


    class Agent(RandomAgent):
        pass


    sys.exit(0)  # a script's last line, copied along with the class
    """
)

# name -> (arguments after `check-agent`, run in the repository (True) or in the user's folder)
COMMANDS: dict[str, tuple[list[str], bool]] = {
    "builtin": (
        ["tabular_q", "--set", "gamma=0.99", "--set", "num_bins=[1, 1, 6, 12]", "--total-timesteps", "300"],
        True,
    ),
    "example": (["examples/my_agents.py:ExpectedSarsaAgent", "--total-timesteps", "400", "--seed", "3"], True),
    "ppo": (
        ["stable_baselines3:PPO", "--set", "n_steps=64", "--set", "batch_size=32", "--total-timesteps", "300"],
        False,
    ),
    "broken": (["user_agents.py:SilentAgent", "--total-timesteps", "300"], False),
    "missing file": (["no_such_agents.py:Agent"], False),
    "missing class": (["user_agents.py:NoSuchAgent"], False),
    "neither family": (["user_agents.py:NotAnAgent"], False),
    "library of neither family": (["collections:OrderedDict"], False),
    "unknown key": (["tabular_q", "--set", "no_such_key=1"], True),
    "unknown library key": (["stable_baselines3:PPO", "--set", "n_stepz=64"], False),
    "bad env": (["random", "--env", "NoSuchEnv-v9"], True),
    "set without =": (["random", "--set", "gamma"], True),
    "env it cannot take": (["sb3_dqn", "--env", "Pendulum-v1", "--set", "buffer_size=100"], True),
    "exits at import": (["exiting_agents.py:Agent"], False),
}
IN_A_PROCESS = ("broken", "exits at import")
"""The commands run as subprocesses: one whose checks fail (exit 1), and one whose file ends its
process at import."""


pytestmark = [pytest.mark.e2e]


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    user = tmp_path_factory.mktemp("user")
    (user / "user_agents.py").write_text(BROKEN_AGENT)
    (user / "exiting_agents.py").write_text(EXITING_AGENT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", "harness", "check-agent", *args],
            cwd=REPO if in_repo else user,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, (args, in_repo) in COMMANDS.items()
        if name in IN_A_PROCESS
    }
    done = {}
    try:
        for name, (args, in_repo) in COMMANDS.items():
            if name not in IN_A_PROCESS:
                here = harness_here("check-agent", *args, cwd=REPO if in_repo else user)
                done[name] = Run(here.returncode, here.stdout, here.stderr)
        for name, process in started.items():
            stdout, stderr = process.communicate(timeout=300)
            done[name] = Run(process.returncode, stdout, stderr)
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return done


def assert_all_hold(run: Run, header: str) -> None:
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert run.lines[0] == header
    names = [line[6:].split(" (")[0] for line in run.lines[1:-1]]
    assert names == list(CHECKS)
    assert all(line.startswith("ok    ") for line in run.lines[1:-1]), run.stdout
    assert run.lines[-1] == f"{N_CHECKS} of {N_CHECKS} checks hold"


def test_a_builtin_kind_with_settings(runs):
    assert_all_hold(
        runs["builtin"],
        "harness check-agent tabular_q (hand-written: custom_agents.tabular:TabularQAgent) on CartPole-v1, budget 300",
    )


def test_the_example_agent_from_the_repository(runs):
    assert_all_hold(
        runs["example"],
        "harness check-agent examples/my_agents.py:ExpectedSarsaAgent (hand-written: my_agents:ExpectedSarsaAgent) "
        "on CartPole-v1, budget 400",
    )


def test_a_library_class_by_import_path(runs):
    assert_all_hold(
        runs["ppo"],
        "harness check-agent stable_baselines3:PPO (library: stable_baselines3.ppo.ppo:PPO) on CartPole-v1, budget 300",
    )


def test_a_broken_agent_fails_naming_the_check(runs):
    run = runs["broken"]
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    failed = [line for line in run.lines if line.startswith("FAIL")]
    assert len(failed) == 1, run.stdout
    assert failed[0].startswith("FAIL  log keys: rollout/ep_rew_mean, rollout/ep_len_mean, time/fps never logged")
    assert "fix:" in failed[0]
    assert run.lines[-1] == f"{N_CHECKS - 1} of {N_CHECKS} checks hold; 1 fail: 1 finding (1 check)"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("missing file", "harness check-agent: no_such_agents.py:Agent: 'no_such_agents.py:Agent': no such file"),
        ("missing class", "user_agents.py has no 'NoSuchAgent'"),
        ("neither family", "user_agents.NotAnAgent is of no agent family"),
        ("library of neither family", "collections.OrderedDict is of no agent family"),
        ("unknown key", "no_such_key"),
        ("unknown library key", "unknown hyperparameter 'n_stepz': PPO takes"),
        ("bad env", "unknown env id 'NoSuchEnv-v9'"),
        ("set without =", "harness check-agent: --set 'gamma': write KEY=VALUE"),
        ("env it cannot take", "DQN cannot be built on Pendulum-v1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(runs, name, says):
    run = runs[name]
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert says in lines[0]
    assert lines[0].startswith("harness check-agent: ")


def test_a_file_that_exits_at_import_is_bad_input(runs):
    run = runs["exits at import"]
    assert run.returncode == 2, (run.returncode, run.stdout, run.stderr)
    assert "does not import" in run.stderr
