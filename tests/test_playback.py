"""`play`: a saved model's deterministic episodes, the same as the study's evaluation episodes."""

from __future__ import annotations

import json
import pathlib

import pytest

from harness.agents import resolve_kind
from harness.cli import main
from harness.conditions import make_eval_envs, make_training_env, run_episodes
from harness.report import PlaybackError, play

EVAL_SEED = 1_000_000


def make_run(root: pathlib.Path, kind: str = "tabular_q", status: str = "complete") -> pathlib.Path:
    """runs/study/<kind>/seed_0 with an untrained model of `kind` and its run.json."""
    path = root / "runs" / "study" / kind / "seed_0"
    path.mkdir(parents=True)
    agent_kind = resolve_kind(kind)
    env = make_training_env("CartPole-v1", 0)
    model = agent_kind.build(env, 0, agent_kind.resolve({}))
    model.save(path / "model")
    env.close()
    record = {
        "status": status,
        "error": None if status == "complete" else "RuntimeError: boom",
        "kind": kind,
        "seed": 0,
        "env_id": "CartPole-v1",
        "evaluation": {"eval_freq": 500, "n_eval_episodes": 2, "eval_seed": EVAL_SEED},
        "model_file": f"model{agent_kind.model_suffix}",
    }
    (path / "run.json").write_text(json.dumps(record))
    return path


def test_play_repeats_the_evaluation_episodes(tmp_path: pathlib.Path) -> None:
    run_dir = make_run(tmp_path)
    results = play(run_dir, episodes=3, video=None)
    assert [r.seed for r in results] == [EVAL_SEED, EVAL_SEED + 1, EVAL_SEED + 2]
    model = resolve_kind("tabular_q").load(run_dir / "model.zip")
    expected = run_episodes(model, make_eval_envs("CartPole-v1", 3), [EVAL_SEED + i for i in range(3)])
    assert results == expected
    assert play(run_dir, episodes=3, video=None) == results


def test_the_random_agent_plays_the_same_episodes_every_time(tmp_path: pathlib.Path) -> None:
    run_dir = make_run(tmp_path, kind="random")
    assert play(run_dir, episodes=2, video=None) == play(run_dir, episodes=2, video=None)


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_play_writes_a_video(tmp_path: pathlib.Path, suffix: str) -> None:
    video = tmp_path / "videos" / f"episode{suffix}"
    results = play(make_run(tmp_path), episodes=1, video=video)
    assert len(results) == 1 and video.stat().st_size > 1_000


def test_a_folder_without_a_complete_run_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(PlaybackError, match=r"no such run folder"):
        play(tmp_path / "nothing", episodes=1, video=None)
    (tmp_path / "bare").mkdir()
    with pytest.raises(PlaybackError, match=r"run.json: missing or unreadable"):
        play(tmp_path / "bare", episodes=1, video=None)
    with pytest.raises(PlaybackError, match=r"not complete .*RuntimeError: boom"):
        play(make_run(tmp_path / "failed", status="failed"), episodes=1, video=None)


def test_a_missing_or_broken_model_is_named(tmp_path: pathlib.Path) -> None:
    run_dir = make_run(tmp_path)
    (run_dir / "model.zip").write_bytes(b"not a model")
    with pytest.raises(PlaybackError, match=r"model.zip: cannot load the model") as error:
        play(run_dir, episodes=1, video=None)
    assert "\n" not in str(error.value)
    (run_dir / "model.zip").unlink()
    with pytest.raises(PlaybackError, match=r"model.zip: model file missing"):
        play(run_dir, episodes=1, video=None)


def test_an_unknown_video_format_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(PlaybackError, match=r"\.mp4 or \.gif"):
        play(make_run(tmp_path), episodes=1, video=tmp_path / "episode.avi")


def test_cli_play(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = make_run(tmp_path)
    assert main(["play", str(run_dir), "--episodes", "2"]) == 0
    assert capsys.readouterr().out.count("episode ") == 2
    assert main(["play", str(tmp_path / "nothing")]) == 2
    assert "harness play:" in capsys.readouterr().err
