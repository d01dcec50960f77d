"""Agents of the assignment's shape that do what a study cannot allow, and agents that end in
ways a study must record as they are (`harness.agents.assignment`, `harness.agents.envwatch`,
the executors' supervision):

- an agent learns on the env it is given (`self.env`): a `train()` that steps an env it made itself
  fails its pair with one line, the other agents go on; one that steps nothing, or returns early,
  is complete with the steps it used; the final evaluation is of the policy it ended with;
- nothing hangs: a loop whose bare `except:` swallows the harness's stop, or that never ends,
  is stopped within seconds (or at the study's `run_timeout`), in `compare`, `harness train`,
  on Ray and in `check_agent`; the study goes on;
- `check_agent` says each finding once, and counts findings.

The classes are defined inside functions, so that they are in-memory kinds, as a notebook's are.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pathlib
import subprocess
import sys
import time
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from helpers import LOOPBACK_RAY, harness_here, read_csv, run_json

import harness
from harness.agents import OWN_ENV_RULE, RUNAWAY
from harness.studies import Study

OWN_ENV = "train() stepped an env it made itself: agents of a study learn on `self.env`"
SWALLOWED = "train() went on after its budget was spent: did a bare `except:` catch the harness's stop?"


def test_the_messages_are_the_ones_the_users_guide_quotes():
    assert OWN_ENV_RULE == OWN_ENV
    assert RUNAWAY == SWALLOWED


def agent_classes() -> dict[str, type]:
    """Students' agents, as notebook cells define them."""

    def play(env: Any, policy: Any, steps: int | None = None) -> int:
        """Episodes on `env` with `policy(observation)`, forever or for `steps` env steps; the
        steps made."""
        made = 0
        while steps is None or made < steps:
            observation, _ = env.reset()
            done = False
            while not done and (steps is None or made < steps):
                observation, _, terminated, truncated, _ = env.step(policy(observation))
                made += 1
                done = terminated or truncated
        return made

    class Learner:
        """Learns on `self.env`, as the course asks (steps until the harness stops it)."""

        def __init__(self):
            self.env = None

        def act(self, observation, reward, done):
            return int(observation[2] > 0)

        def train(self):
            play(self.env, lambda observation: self.act(observation, 0.0, False))

    class CourseBase(Learner):
        """Makes an env in its constructor, as the course's CartPoleBase does, and learns on
        `self.env`."""

        def __init__(self):
            self.env = gym.make("CartPole-v1", render_mode="rgb_array")

    class OwnInTrain(Learner):
        def train(self):
            play(gym.make("CartPole-v1"), lambda observation: 0)

    class OwnFromInit(CourseBase):
        def __init__(self):
            super().__init__()
            self.mine = gym.make("CartPole-v1")

        def train(self):
            play(self.env, lambda observation: 0, steps=50)  # the harness's env first: allowed
            play(self.mine, lambda observation: 0)

    class OwnByConstructor(Learner):
        def train(self):
            from gymnasium.envs.classic_control import CartPoleEnv

            play(CartPoleEnv(), lambda observation: 1)

    class DoesNothing(Learner):
        def train(self):
            pass

    class StopsAt(Learner):
        def __init__(self, steps: int = 700):
            super().__init__()
            self.steps = steps

        def train(self):
            play(self.env, lambda observation: 0, steps=self.steps)

    class Switcher(Learner):
        """Pushes left for 1,000 steps, then, after its loop, switches to a good policy."""

        def __init__(self):
            super().__init__()
            self.good = False

        def act(self, observation, reward, done):
            return int(observation[2] + observation[3] > 0) if self.good else 0

        def train(self):
            play(self.env, lambda observation: self.act(observation, 0.0, False), steps=1_000)
            self.good = True

    class StopsBySeed(Switcher):
        """Steps 600 env steps with seed 0 and 1,100 with any other, then switches."""

        def __init__(self, seed: int = 0):
            super().__init__()
            self.seed = seed

        def train(self):
            steps = 600 if self.seed == 0 else 1_100
            play(self.env, lambda observation: self.act(observation, 0.0, False), steps=steps)
            self.good = True

    class Bare(Learner):
        """A bare `except:` around its episodes: it catches the harness's stop and goes on."""

        def train(self):
            while True:
                try:
                    play(self.env, lambda observation: 0)
                except:  # noqa: E722
                    pass

    class BareThenSpins(Learner):
        """Swallows the stop, then computes forever without touching the env again."""

        def train(self):
            try:
                play(self.env, lambda observation: 0)
            except:  # noqa: E722
                pass
            while True:
                pass

    class Forever(Learner):
        def train(self):
            while True:
                pass

    return {
        cls.__name__: cls
        for cls in (
            Learner,
            CourseBase,
            OwnInTrain,
            OwnFromInit,
            OwnByConstructor,
            DoesNothing,
            StopsAt,
            Switcher,
            StopsBySeed,
            Bare,
            BareThenSpins,
            Forever,
        )
    }


CLASSES = agent_classes()


def study(name: str, seeds: tuple[int, ...] = (0,), budget: int = 2_000, eval_freq: int = 1_000) -> Study:
    return (
        harness.study("quick")
        .select(labels=["tabular_q"])
        .replace(name=name, seeds=list(seeds), total_timesteps=budget, eval_freq=eval_freq, n_eval_episodes=3)
    )


def compare(s: Study, runs: pathlib.Path, jobs: int = 2, **options: Any) -> Any:
    return harness.compare(s, jobs=jobs, runs_dir=runs, report=False, video=False, stream=io.StringIO(), **options)


def eval_means(folder: pathlib.Path) -> dict[int, list[float]]:
    """A run's evaluation returns by eval_step."""
    by_step: dict[int, list[float]] = {}
    for row in read_csv(folder / "evals.csv"):
        by_step.setdefault(int(row["eval_step"]), []).append(float(row["return"]))
    return by_step


# -- the agent learns on the env it is given ------------------------------------------------------

LEARNS_ON = ("tabular_q", "learner", "course_base", "own_in_train", "own_from_init", "own_by_constructor")
ENDS = ("does_nothing", "stops_at", "switcher")


@pytest.fixture(scope="module")
def envs_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, pathlib.Path]:
    """One study of every agent of this part (one seed, 2,000 steps, evaluations at 0, 1,000 and
    2,000): what compare returned and the study's runs folder."""
    runs = tmp_path_factory.mktemp("envs") / "runs"
    s = (
        study("envs")
        .with_agent("learner", CLASSES["Learner"])
        .with_agent("course_base", CLASSES["CourseBase"])
        .with_agent("own_in_train", CLASSES["OwnInTrain"])
        .with_agent("own_from_init", CLASSES["OwnFromInit"])
        .with_agent("own_by_constructor", CLASSES["OwnByConstructor"])
        .with_agent("does_nothing", CLASSES["DoesNothing"])
        .with_agent("stops_at", CLASSES["StopsAt"], steps=700)
        .with_agent("switcher", CLASSES["Switcher"])
    )
    return compare(s, runs), runs / "envs"


@pytest.mark.e2e
def test_an_agent_that_steps_an_env_it_made_itself_fails_and_the_others_complete(envs_study):
    outcome, folder = envs_study
    own = ["own_by_constructor/seed_0", "own_from_init/seed_0", "own_in_train/seed_0"]
    assert sorted(dict(outcome.failed)) == own
    assert all(error == OWN_ENV for _, error in outcome.failed), outcome.failed
    for pair in own:
        record = run_json(folder / pair)
        assert record["status"] == "failed" and record["error"] == OWN_ENV
    assert sorted(outcome.completed) == sorted(
        f"{label}/seed_0" for label in ("tabular_q", "learner", "course_base", *ENDS)
    )


@pytest.mark.e2e
def test_an_agent_that_learns_on_self_env_completes_the_budget_whatever_envs_its_constructor_made(envs_study):
    """The harness's own evaluation envs are not the agent's, nor is the env the course's base
    class makes in its constructor (which the harness replaces)."""
    _, folder = envs_study
    for label in ("tabular_q", "learner", "course_base"):
        record = run_json(folder / label / "seed_0")
        assert record["status"] == "complete" and record["error"] is None, record["error"]
        assert record["steps_done"] == 2_000
        assert sorted(eval_means(folder / label / "seed_0")) == [0, 1_000, 2_000]


@pytest.mark.e2e
def test_a_train_that_steps_nothing_completes_with_0_steps(envs_study):
    _, folder = envs_study
    record = run_json(folder / "does_nothing" / "seed_0")
    assert record["status"] == "complete" and record["steps_done"] == 0
    assert read_csv(folder / "does_nothing" / "seed_0" / "episodes.csv") == []
    assert sorted(eval_means(folder / "does_nothing" / "seed_0")) == [0]


@pytest.mark.e2e
def test_a_train_that_returns_early_completes_with_the_steps_it_used(envs_study):
    _, folder = envs_study
    record = run_json(folder / "stops_at" / "seed_0")
    assert record["status"] == "complete" and record["steps_done"] == 700
    assert sorted(eval_means(folder / "stops_at" / "seed_0")) == [0, 700]


@pytest.mark.e2e
def test_the_final_evaluation_is_of_the_policy_the_agent_ended_with(envs_study):
    """Switcher evaluated at step 1,000 inside its loop would push left (returns of ~9); it
    switched after its last step, and the final evaluation, at that step, is of the new policy,
    made once."""
    _, folder = envs_study
    run = folder / "switcher" / "seed_0"
    record = run_json(run)
    assert record["status"] == "complete" and record["steps_done"] == 1_000
    by_step = eval_means(run)
    assert {step: len(returns) for step, returns in by_step.items()} == {0: 3, 1_000: 3}
    assert np.mean(by_step[0]) < 15
    final = by_step[max(by_step)]
    assert np.mean(final) > 100, final
    assert record["final_eval_mean_return"] == pytest.approx(np.mean(final))


@pytest.mark.e2e
def test_the_curve_of_an_agent_that_returns_early_keeps_its_last_evaluation_to_the_budget(tmp_path: pathlib.Path):
    """Two seeds stop at 600 and 1,100 steps: the eval_return curve has a point at every step
    where each run has a value (its last one carried forward), up to the budget."""
    s = study("curves", seeds=(0, 1), budget=2_000, eval_freq=500).with_agent("early", CLASSES["StopsBySeed"])
    assert compare(s, tmp_path / "runs").ok
    folder = tmp_path / "runs" / "curves" / "early"
    per_run = []
    for seed, steps in ((0, 600), (1, 1_100)):
        assert run_json(folder / f"seed_{seed}")["steps_done"] == steps
        means = {step: float(np.mean(returns)) for step, returns in eval_means(folder / f"seed_{seed}").items()}
        assert max(means) == steps and means[steps] > 100  # its final evaluation: the good policy
        per_run.append(means)
    results = harness.load(tmp_path / "runs" / "curves")
    curves = results.envs["CartPole-v1"].curves
    curve = curves[(curves["curve"] == "eval_return") & (curves["agent"] == "early")].sort_values("step")
    steps = curve["step"].tolist()
    assert steps[0] == 0 and steps[-1] == 2_000, steps
    assert {0, 500, 1_000, 1_100} <= set(steps)
    for step, mean in zip(steps, curve["mean"], strict=True):
        carried = [run[max(s for s in run if s <= step)] for run in per_run]
        assert mean == pytest.approx(np.mean(carried)), step


# -- nothing hangs --------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("swallower", ["Bare", pytest.param("BareThenSpins", marks=pytest.mark.slow)])
def test_a_bare_except_that_swallows_the_stop_fails_its_pair_within_seconds(tmp_path: pathlib.Path, swallower: str):
    """Bare steps again at once; BareThenSpins computes on without the env (stopped after the
    10 s of grace the harness gives a `finally:`). The agent queued after it still runs."""
    s = study("swallowed", budget=500, eval_freq=250).with_agent("bare", CLASSES[swallower])
    s = s.with_agent("after", CLASSES["StopsAt"], steps=300)
    start = time.monotonic()
    outcome = compare(s, tmp_path / "runs", jobs=1)
    assert time.monotonic() - start < 60
    assert outcome.failed == (("bare/seed_0", SWALLOWED),)
    assert sorted(outcome.completed) == ["after/seed_0", "tabular_q/seed_0"]
    record = run_json(tmp_path / "runs" / "swallowed" / "bare" / "seed_0")
    assert record["status"] == "failed" and record["error"] == SWALLOWED


@pytest.mark.e2e
def test_a_train_that_never_ends_is_stopped_at_the_run_timeout(tmp_path: pathlib.Path):
    s = study("forever", budget=500, eval_freq=250).replace(run_timeout=3).with_agent("forever", CLASSES["Forever"])
    start = time.monotonic()
    outcome = compare(s, tmp_path / "runs")
    assert time.monotonic() - start < 60
    failed = dict(outcome.failed)
    assert list(failed) == ["forever/seed_0"] and "run_timeout" in failed["forever/seed_0"]
    assert outcome.completed == ("tabular_q/seed_0",)
    record = run_json(tmp_path / "runs" / "forever" / "forever" / "seed_0")
    assert record["status"] == "failed" and "run_timeout" in record["error"]


BARE_FILE = """
class Bare:
    def __init__(self):
        self.env = None

    def act(self, observation, reward, done):
        return 0

    def train(self):
        while True:
            try:
                self.env.reset()
                while True:
                    self.env.step(0)
            except:  # noqa: E722
                pass
"""
BARE_STUDY = """
[study]
name = "bare"
seeds = [0]
total_timesteps = 500
eval_freq = 250
n_eval_episodes = 2

[agents.bare]
kind = "my_agents.py:Bare"
"""


@pytest.mark.e2e
def test_harness_train_stops_a_bare_except_and_exits_1_with_one_failed_line(tmp_path: pathlib.Path):
    (tmp_path / "my_agents.py").write_text(BARE_FILE)
    (tmp_path / "study.toml").write_text(BARE_STUDY)
    start = time.monotonic()
    done = harness_here("train", "bare", "--seed", "0", "study.toml", "--runs-dir", "runs", cwd=tmp_path)
    assert time.monotonic() - start < 60
    assert done.returncode == 1
    assert [line for line in done.stderr.splitlines() if "failed" in line] == [f"bare/seed_0: failed: {SWALLOWED}"]
    assert "failed" not in done.stdout
    assert run_json(tmp_path / "runs" / "bare" / "bare" / "seed_0")["error"] == SWALLOWED


RAY_SCRIPT = (
    """
import sys

import harness
"""
    + BARE_FILE
    + """

study = (
    harness.study("quick")
    .select(labels=["random"])
    .replace(name="ray-bare", seeds=[0], total_timesteps=500, eval_freq=250, n_eval_episodes=2)
    .with_agent("bare", Bare)
)
result = harness.compare(study, jobs=2, runs_dir=sys.argv[1], executor="ray", report=False)
print("COMPLETED", sorted(result.completed))
print("FAILED", dict(result.failed))
"""
)


@pytest.mark.slow
@pytest.mark.e2e
def test_the_ray_executor_stops_a_bare_except_too(tmp_path: pathlib.Path):
    pytest.importorskip("ray")
    (tmp_path / "script.py").write_text(RAY_SCRIPT)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "script.py", str(tmp_path / "runs")],
        cwd=tmp_path,
        env={**os.environ, **LOOPBACK_RAY},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2_000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith(("COMPLETED", "FAILED"))]
    assert lines == ["COMPLETED ['random/seed_0']", "FAILED " + repr({"bare/seed_0": SWALLOWED})]
    assert time.monotonic() - start < 240
    assert run_json(tmp_path / "runs" / "ray-bare" / "bare" / "seed_0")["error"] == SWALLOWED


# -- check_agent --------------------------------------------------------------------------------------


def test_check_agent_stops_a_bare_except_and_counts_one_finding_for_every_failed_check():
    out = io.StringIO()
    start = time.monotonic()
    report = harness.check_agent(CLASSES["Bare"], total_timesteps=600, stream=out)
    assert time.monotonic() - start < 60
    failed = len(report.failed)
    assert failed >= 1 and report.findings == {SWALLOWED: failed}
    held, checks = len(report.results) - failed, len(report.results)
    assert report.summary() == f"{held} of {checks} checks hold; {failed} fail: 1 finding ({failed} checks)"
    lines = out.getvalue().splitlines()
    assert lines[-1] == report.summary()
    fails = [line for line in lines if line.startswith("FAIL")]
    assert len(fails) == failed
    assert fails[0].startswith(f"FAIL  {report.failed[0].name}: {SWALLOWED}")
    assert fails[1:] == [f"FAIL  {result.name}: as above" for result in report.failed[1:]]


def test_check_agent_says_each_finding_once_and_its_report_shows_once_in_a_notebook(
    capsys: pytest.CaptureFixture[str],
):
    class Crasher(CLASSES["Learner"]):
        def train(self):
            self.env.reset()
            raise ValueError("the student's bug")

    out = io.StringIO()
    report = harness.check_agent(Crasher, total_timesteps=600, stream=out)
    capsys.readouterr()
    failed = len(report.failed)
    assert failed >= 2 and len(report.findings) == 1
    (finding,) = report.findings
    assert finding.startswith("ValueError: the student's bug") and report.findings[finding] == failed
    printed = out.getvalue().splitlines()
    assert printed[1:] == [*report.lines(), report.summary()]
    assert [line for line in printed if line.endswith(": as above")] == [
        f"FAIL  {result.name}: as above" for result in report.failed[1:]
    ]
    assert "\n" not in repr(report) and repr(report).endswith(f": {report.summary()})")
    report._ipython_display_()
    assert capsys.readouterr().out == ""  # printed by check_agent already
    dataclasses.replace(report, printed=False)._ipython_display_()
    assert capsys.readouterr().out == str(report) + "\n"


def test_check_agent_names_the_budget_given_when_train_returns_early():
    out = io.StringIO()
    report = harness.check_agent(CLASSES["StopsAt"], total_timesteps=2_000, stream=out, steps=300)
    exact = [line for line in out.getvalue().splitlines() if "exact budget" in line]
    assert len(exact) == 1 and "train() returned after 300 of 2,000 env steps" in exact[0], exact
    assert [result.name for result in report.results if result.name == "exact budget" and result.ok] == ["exact budget"]
