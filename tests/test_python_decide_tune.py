"""Deciding and tuning from Python (`Study.replace(decide=..., tune=...)`,
`Study.with_agent(..., search=...)`, `harness.tune`), with a class handed over from Python.

The `[decide]` and `[tune]` tables set from Python are checked as a study file's are (one line
naming the key); a study file may name an agent that Python adds later; an agent's search space
goes in through `with_agent`; a tune of an in-memory class returns a study that compares at once in
the process that tuned it, and whose `tuned.toml` another process refuses in one line.
"""

from __future__ import annotations

import io
import pathlib
import re
import subprocess
import sys

import pytest
from helpers import run_json, study_text

import harness
from harness.studies import DecideSettings, Dimension, Study, StudyError, resolve_study


def agent_classes() -> dict[str, type]:
    class Gain:
        """Pushes towards the pole's lean, `gain` times its velocity's share."""

        def __init__(self, gain: float = 1.0):
            self.gain = gain
            self.env = None

        def act(self, observation, reward, done):
            return int(observation[2] + self.gain * observation[3] > 0)

        def train(self):
            observation, _ = self.env.reset()
            for _ in range(50):
                observation, _, terminated, truncated, _ = self.env.step(self.act(observation, 0.0, False))
                if terminated or truncated:
                    observation, _ = self.env.reset()

    class Searching(Gain):
        """Takes a keyword literally named `search`."""

        def __init__(self, search: int = 1):
            super().__init__()
            self.search = search

    return {"Gain": Gain, "Searching": Searching}


CLASSES = agent_classes()


def study(seeds: tuple[int, ...] = (0, 1)) -> Study:
    return (
        harness.study("quick")
        .select(labels=["random"])
        .replace(name="from-python", seeds=list(seeds), total_timesteps=600, eval_freq=300, n_eval_episodes=2)
    )


# -- the tables ----------------------------------------------------------------------------------


def test_replace_sets_and_drops_the_decide_table():
    decided = study().replace(decide={"compare_to": "random", "seeds_per_round": 2, "max_rounds": 1, "alpha": 0.1})
    assert decided.decide == DecideSettings(compare_to="random", seeds_per_round=2, max_rounds=1, alpha=0.1)
    assert decided.replace(total_timesteps=900).decide == decided.decide  # kept by another replace
    assert decided.replace(decide=None).decide is None
    assert study().decide is None


def test_replace_sets_and_drops_the_tune_table():
    tuned = study().replace(tune={"trials": 3, "seeds": [100, 101], "concurrent_trials": 1})
    assert tuned.tune is not None
    assert (tuned.tune.trials, tuned.tune.seeds, tuned.tune.concurrent_trials) == (3, (100, 101), 1)
    assert tuned.tune.total_timesteps == 600  # the study's budget by default
    assert tuned.replace(seeds=[0]).tune == tuned.tune
    assert tuned.replace(tune=None).tune is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"decide": {"alpha": 2}}, "decide.alpha: must be in (0, 1), got 2.0"),
        ({"decide": {"seeds_per_round": 1}}, "decide.seeds_per_round: must be >= 2"),
        ({"decide": {"rounds": 2}}, "decide.rounds: unknown key"),
        ({"decide": {"seeds_per_round": 2, "max_rounds": 2}}, "decide.max_rounds: 2 rounds of 2 seeds need 4 seeds"),
        ({"decide": {"compare_to": 3}}, "decide.compare_to: must be an agent label"),
        ({"tune": {"trials": 2, "seeds": [1, 100]}}, "tune.seeds: 1 also in study.seeds"),
        ({"tune": {"trials": 0, "seeds": [100]}}, "tune.trials: must be >= 1, got 0"),
        ({"tune": {"seeds": [100]}}, "tune.budget_env_steps: missing"),
        ({"tune": {"trials": 2, "seeds": [100], "sampler": "grid"}}, "tune.sampler: must be one of tpe, random"),
        ({"tune": [1, 2]}, "tune: must be a table [tune]"),
    ],
)
def test_a_bad_table_from_python_is_refused_in_one_line_naming_the_key(table: dict, message: str):
    with pytest.raises(StudyError) as error:
        study().replace(**table)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


DECIDED_FILE = """
[decide]
compare_to = "mine"
seeds_per_round = 2
max_rounds = 1
"""


def test_a_study_file_may_compare_to_an_agent_python_adds(tmp_path: pathlib.Path):
    path = tmp_path / "decided.toml"
    path.write_text(study_text(name="decided", seeds=(0, 1), agents={"random": 'kind = "random"'}) + DECIDED_FILE)
    loaded = harness.study(path)
    assert loaded.decide is not None and loaded.decide.compare_to == "mine"
    with pytest.raises(StudyError) as error:
        resolve_study(loaded)
    assert "decide.compare_to: 'mine' is not an agent label" in str(error.value)
    assert "\n" not in str(error.value)
    runnable = resolve_study(loaded.with_agent("mine", CLASSES["Gain"]))
    assert runnable.resolved and runnable.labels == ("random", "mine")
    assert runnable.decide.comparisons(runnable.labels) == [("mine", "random")]


def test_with_agent_sets_the_agents_search_space():
    s = study().with_agent("mine", CLASSES["Gain"], search={"gain": [0.5, 2.0]}, gain=1.0)
    spec = s.agent("mine")
    assert spec.search == (Dimension("gain", choices=(0.5, 2.0)),)
    assert spec.hyperparameters == {"gain": 1.0}
    ranged = study().with_agent("mine", CLASSES["Gain"], search={"gain": {"low": 0.1, "high": 4.0, "log": True}})
    assert ranged.agent("mine").search == (Dimension("gain", low=0.1, high=4.0, log=True),)
    with pytest.raises(StudyError, match=r"agents\.mine\.search\.gain: low must be < high"):
        study().with_agent("mine", CLASSES["Gain"], search={"gain": {"low": 4.0, "high": 0.1}})


def test_a_keyword_named_search_goes_in_through_hyperparameters():
    s = study().with_agent("x", CLASSES["Searching"], hyperparameters={"search": 3})
    assert s.agent("x").hyperparameters == {"search": 3} and s.agent("x").search is None
    assert resolve_study(s).agent("x").hyperparameters == {"search": 3}


# -- a tune from Python --------------------------------------------------------------------------

TUNE = {"trials": 2, "seeds": [100], "concurrent_trials": 1, "total_timesteps": 600}


@pytest.mark.e2e
def test_a_tune_of_an_in_memory_class_gives_a_study_that_compares_in_the_same_process(tmp_path: pathlib.Path):
    s = study(seeds=(0,)).replace(tune=TUNE)
    s = s.with_agent("mine", CLASSES["Gain"], search={"gain": [0.5, 2.0]}, gain=1.0)
    out = io.StringIO()
    result = harness.tune(s, runs_dir=tmp_path / "runs", jobs=2, stream=out)
    lines = out.getvalue().splitlines()
    agent_lines = [line for line in lines if re.match(r"(mine|random): (tuned|skipped): ", line)]
    assert len(agent_lines) == 2, lines  # one line per agent (after each trial's progress)
    assert re.fullmatch(r"mine: tuned: 2 configurations \(2 complete, 0 stopped early, 0 failed\); .*", agent_lines[0])
    assert agent_lines[1] == "random: skipped: nothing to tune"
    assert isinstance(result.study, Study)
    tuned = result.study.agent("mine")
    assert tuned.kind == s.agent("mine").kind and tuned.hyperparameters["gain"] in (0.5, 1.0, 2.0)  # 1.0: the start

    compared = harness.compare(
        result.study, runs_dir=tmp_path / "runs", jobs=2, report=False, video=False, stream=io.StringIO()
    )
    start = ["mine_start/seed_0"] if "mine_start" in result.study.labels else []  # the start, where it did not win
    assert compared.ok and sorted(compared.completed) == sorted(["mine/seed_0", "random/seed_0", *start])
    record = run_json(tmp_path / "runs" / "from-python" / "mine" / "seed_0")
    assert record["kind"] == tuned.kind and record["hyperparameters"]["gain"] == tuned.hyperparameters["gain"]

    assert result.tuned_file == tmp_path / "runs" / "from-python" / "tuned.toml"
    header = [line for line in result.tuned_file.read_text().splitlines() if line.startswith("#")]
    in_memory = "# mine: classes handed over from Python (in memory). This file runs only from the"
    assert any(line.startswith(in_memory) for line in header), header
    assert any("process that tuned it" in line for line in header), header


@pytest.mark.e2e
def test_the_tuned_file_of_an_in_memory_class_is_refused_in_another_process(tmp_path: pathlib.Path):
    s = study(seeds=(0,)).replace(tune=TUNE).with_agent("mine", CLASSES["Gain"], search={"gain": [0.5, 2.0]})
    result = harness.tune(s, runs_dir=tmp_path / "runs", jobs=2, stream=io.StringIO())
    assert result.tuned_file is not None and result.tuned_file.is_file()
    done = subprocess.run(
        [sys.executable, "-m", "harness", "compare", str(result.tuned_file), "--runs-dir", "elsewhere", "--no-report"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "is known only to the process that handed it over" in lines[0]
    assert not (tmp_path / "elsewhere").exists()
