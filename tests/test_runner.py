"""One run: identical conditions for every agent, the files it writes, failures, determinism."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np
import pytest
from helpers import EpisodeStarts, ResetRecorder, read_csv, study_text, without_wall_time
from stable_baselines3.common.callbacks import CallbackList

from custom_agents import RandomAgent
from harness.conditions import Evaluator, RunGuard, single_thread
from harness.execution import PairTask, build_run, run_pair
from harness.schema import EPISODE_COLUMNS, EVAL_COLUMNS
from harness.studies import Study, parse_study, resolve_study

TINY = study_text()
"""quick.toml's agents with a small budget: two seeds, 1,500 steps, 3 evaluation episodes."""
MODEL_FILES = {
    "random": "model.zip",
    "tabular_q": "model.zip",
    "tabular_sarsa": "model.zip",
    "custom_dqn": "model.zip",
    "sb3_dqn": "model.zip",
}


CLASSES = {
    "random": "custom_agents.random_agent:RandomAgent",
    "tabular_q": "custom_agents.tabular:TabularQAgent",
    "tabular_sarsa": "custom_agents.tabular:TabularSarsaAgent",
    "custom_dqn": "custom_agents.dqn:DQNAgent",
    "sb3_dqn": "stable_baselines3.dqn.dqn:DQN",
}
"""The class each kind's run records."""


@pytest.fixture(scope="module")
def study() -> Study:
    return resolve_study(parse_study(TINY, "tiny.toml"))


# -- identical conditions -----------------------------------------------------------------------


def train_recording_starts(study: Study, label: str, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Train one pair as the runner does; return its training episode starts and its evaluation resets."""
    settings = study.settings
    single_thread()  # as `run_pair` does
    kind, env, model = build_run(PairTask(study, label, seed))
    assert kind.kind == label
    starts = EpisodeStarts()
    evaluator = Evaluator(settings.env_id, settings.eval_freq, settings.n_eval_episodes, settings.eval_seed)
    resets: list[np.ndarray] = []
    evaluator.envs = [ResetRecorder(e, resets) for e in evaluator.envs]
    try:
        model.learn(
            settings.total_timesteps,
            callback=CallbackList([starts, evaluator, RunGuard(settings.total_timesteps)]),
        )
        assert model.num_timesteps == settings.total_timesteps
    finally:
        evaluator.close()
        env.close()
    return starts.starts, resets


@pytest.mark.slow
def test_every_agent_meets_the_same_episode_starts_and_evaluation_starts(study: Study):
    seed = 0
    runs = {label: train_recording_starts(study, label, seed) for label in study.labels}

    # Training: the shorter sequence of episode starts is a prefix of the longer one.
    longest = max((starts for starts, _ in runs.values()), key=len)
    for label, (starts, _) in runs.items():
        assert len(starts) >= 10, label
        for i, obs in enumerate(starts):
            np.testing.assert_array_equal(obs, longest[i], err_msg=f"{label}: episode {i} starts elsewhere")

    # Evaluation: the same resets for every agent, at every evaluation point (0, 500, 1000, 1500).
    n_eval = study.settings.n_eval_episodes
    first_point = runs["random"][1][:n_eval]
    for label, (_, resets) in runs.items():
        assert len(resets) == 4 * n_eval, label
        for i, obs in enumerate(resets):
            np.testing.assert_array_equal(obs, first_point[i % n_eval], err_msg=f"{label}: eval reset {i}")

    # The test can tell seeds apart: another seed starts its episodes elsewhere.
    other_starts, other_resets = train_recording_starts(study, "random", seed + 1)
    assert not np.array_equal(other_starts[0], longest[0])
    assert not np.array_equal(other_starts[1], longest[1])
    for a, b in zip(other_resets, runs["random"][1]):  # evaluation does not depend on the training seed
        np.testing.assert_array_equal(a, b)


# -- run_pair --------------------------------------------------------------------------------


@pytest.mark.parametrize("label", list(MODEL_FILES))
def test_run_pair_writes_its_files_and_is_deterministic(study: Study, label: str, tmp_path: pathlib.Path):
    task = PairTask(study, label, 1, command="harness test")
    first, second = tmp_path / "first", tmp_path / "second"
    record = run_pair(task, first).to_dict()
    again = run_pair(task, second).to_dict()

    assert record["status"] == "complete", record.get("traceback")
    assert json.loads((first / "run.json").read_text()) == record
    names = sorted(p.name for p in first.iterdir())
    events = [n for n in names if n.startswith("events.out.tfevents.")]
    assert len(events) == 1
    assert set(names) >= {"episodes.csv", "evals.csv", "run.json", MODEL_FILES[label]}
    assert [n for n in names if n.startswith("model")] == [MODEL_FILES[label]]
    assert not [n for n in names if n.startswith(".")]  # no temporary file left
    assert record["model_file"] == MODEL_FILES[label]
    assert (record["label"], record["seed"], record["kind"], record["command"]) == (label, 1, label, "harness test")
    assert record["error"] is None
    assert record["steps_done"] == study.settings.total_timesteps
    assert record["hyperparameters"] == dict(study.agent(label).hyperparameters)
    assert 0 <= record["timings"]["eval_share"] < 1
    family = "library" if label == "sb3_dqn" else "hand-written"
    assert (record["class"], record["family"]) == (CLASSES[label], family)
    assert record["class_file"] and pathlib.Path(record["class_file"]).is_file()
    assert record["code_dir"] == study.settings.code_dir

    episodes = read_csv(first / "episodes.csv")
    evals = read_csv(first / "evals.csv")
    assert tuple(episodes[0]) == EPISODE_COLUMNS
    assert tuple(evals[0]) == EVAL_COLUMNS
    assert record["n_episodes"] == len(episodes)
    assert int(episodes[-1]["end_step"]) <= study.settings.total_timesteps

    # The same task twice: the same numbers, all but the measured wall clock.
    assert again["status"] == "complete"
    assert (first / "evals.csv").read_bytes() == (second / "evals.csv").read_bytes()
    assert without_wall_time(read_csv(second / "episodes.csv")) == without_wall_time(episodes)
    assert again["final_eval_mean_return"] == record["final_eval_mean_return"]


def test_a_pair_needs_a_resolved_study():
    with pytest.raises(ValueError, match="resolve_study"):
        PairTask(parse_study(TINY, "tiny.toml"), "random", 0)


def test_run_pair_clears_an_earlier_attempt(study: Study, tmp_path: pathlib.Path):
    out = tmp_path / "pair"
    out.mkdir()
    (out / "events.out.tfevents.0.stale").write_bytes(b"old")
    (out / "episodes.csv").write_text("old\n")
    record = run_pair(PairTask(study.replace(total_timesteps=300), "random", 0), out).to_dict()
    assert record["status"] == "complete"
    assert not (out / "events.out.tfevents.0.stale").exists()
    assert (out / "episodes.csv").read_text().startswith("episode,")
    assert len(list(out.glob("events.out.tfevents.*"))) == 1


def test_a_failure_inside_learn_gives_a_failed_record_and_no_results(
    study: Study, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
):
    original = RandomAgent._sample_actions
    calls = []

    def failing(self: RandomAgent, obs: np.ndarray) -> np.ndarray:
        calls.append(1)
        if len(calls) > 200:
            raise RuntimeError("boom in the agent")
        return original(self, obs)

    monkeypatch.setattr(RandomAgent, "_sample_actions", failing)
    out = tmp_path / "pair"
    record = run_pair(PairTask(study, "random", 0), out).to_dict()

    assert record["status"] == "failed"
    assert record["error"].startswith("RuntimeError: boom in the agent (at test_runner.py, line ")  # where it raised
    assert "Traceback" in record["traceback"] and "failing" in record["traceback"]
    assert record["steps_done"] == 200
    assert json.loads((out / "run.json").read_text()) == record
    names = {p.name for p in out.iterdir()}
    assert not {n for n in names if n.startswith("model") or n in ("episodes.csv", "evals.csv")}
    assert not {n for n in names if n.startswith(".")}


def test_a_failure_while_saving_leaves_no_half_written_model(
    study: Study, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
):
    def half_save(self: RandomAgent, path: Any) -> None:
        pathlib.Path(str(path) + ".npz").write_bytes(b"half a model")
        raise OSError("disk full")

    monkeypatch.setattr(RandomAgent, "save", half_save)
    out = tmp_path / "pair"
    record = run_pair(PairTask(study.replace(total_timesteps=300), "random", 0), out).to_dict()
    assert record["status"] == "failed"
    assert record["error"].startswith("OSError: disk full (at test_runner.py, line ")
    assert not list(out.glob("model*"))
    assert not (out / "episodes.csv").exists() and not (out / "evals.csv").exists()


def test_capture_output_sends_what_the_run_prints_to_output_log(
    study: Study, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    original = RandomAgent._setup_model

    def chatty(self: RandomAgent) -> None:
        print("hello from the agent")
        original(self)

    monkeypatch.setattr(RandomAgent, "_setup_model", chatty)
    short = study.replace(total_timesteps=300)

    out = tmp_path / "captured"
    assert run_pair(PairTask(short, "random", 0), out, capture_output=True).to_dict()["status"] == "complete"
    assert "hello from the agent" in (out / "output.log").read_text()
    assert "hello from the agent" not in capsys.readouterr().out

    out = tmp_path / "not_captured"
    assert run_pair(PairTask(short, "random", 0), out).to_dict()["status"] == "complete"
    assert not (out / "output.log").exists()
    assert "hello from the agent" in capsys.readouterr().out
