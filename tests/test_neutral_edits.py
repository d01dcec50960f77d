"""Edits of the project's agent code declared neutral (`harness.agents.NEUTRAL_EDITS`): each is in
its file as declared, and the code fingerprint reads the file as it was before them, so runs made
before keep their identity. And the edit of issue 16 itself: `learn`'s TensorBoard folder is named
after the class, as SB3 names its algorithms' (`DQN_1`)."""

from __future__ import annotations

import json
import pathlib

import gymnasium as gym
import pytest

from custom_agents import DQNAgent, TabularQAgent
from harness.agents import NEUTRAL_EDITS, PROJECT_ROOT, code_identity, fingerprint, local_sources

PINNED = pathlib.Path(__file__).parent / "data" / "before-layers" / "runs" / "quick"


@pytest.mark.parametrize("edit", NEUTRAL_EDITS, ids=lambda edit: edit.now[:40])
def test_each_neutral_edit_is_in_its_file_once(edit):
    text = (PROJECT_ROOT / edit.file).read_text()
    assert text.count(edit.now) == 1
    assert edit.before not in text
    assert edit.why


@pytest.mark.parametrize("kind", ["random", "tabular_q", "tabular_sarsa", "custom_dqn"])
def test_the_fingerprint_reads_the_code_as_before_the_neutral_edits(kind: str):
    recorded = json.loads((PINNED / kind / "seed_0" / "run.json").read_text())["code"]
    assert code_identity(kind, None) == recorded
    module = {"random": "random_agent", "custom_dqn": "dqn"}.get(kind, "tabular")
    files = local_sources(PROJECT_ROOT / "custom_agents" / f"{module}.py", [PROJECT_ROOT])
    assert fingerprint(files, [PROJECT_ROOT]) != recorded["source"]  # the files as they are now differ


@pytest.mark.parametrize("cls", [TabularQAgent, DQNAgent])
def test_learn_names_its_tensorboard_folder_after_the_class(cls, tmp_path: pathlib.Path):
    env = gym.make("CartPole-v1")
    cls(env, seed=0, tensorboard_log=str(tmp_path)).learn(64)
    cls(env, seed=0, tensorboard_log=str(tmp_path)).learn(64)
    cls(env, seed=0, tensorboard_log=str(tmp_path)).learn(64, tb_log_name="mine")
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"{cls.__name__}_1", f"{cls.__name__}_2", "mine_1"]
