"""The command line: bad input gives exit 2 and one line, and `compare quick` end to end leaves
every file DESIGN.md promises. `compare` always runs with `--no-report` here."""

from __future__ import annotations

import csv
import itertools
import json
import pathlib
import subprocess

import pytest
from helpers import agent_tables, files_under, harness, harness_here, study_text

from harness.cli import main
from harness.schema import EPISODE_COLUMNS, EVAL_COLUMNS
from harness.studies import load_study, parse_seeds, parse_study, resolve_study

STUDY = study_text(
    "t", env_id=None, total_timesteps=300, eval_freq=100, n_eval_episodes=2, agents=agent_tables("random")
)
"""One random agent, two seeds, 300 steps; no `env_id` (the default, CartPole-v1)."""


# -- bad input: exit 2, one line on stderr, no traceback, nothing written -------------------------

BAD_STUDIES = {
    "unknown key in [study]": (STUDY.replace("n_eval_episodes = 2", "n_eval_episodes = 2\ncolour = 1"), "study.colour"),
    "unknown key in an agent table": (STUDY + "colour = 1\n", "agents.random.colour"),
    "unknown kind": (STUDY.replace('kind = "random"', 'kind = "ppo"'), "agents.random.kind"),
    "unknown env id": (STUDY.replace('name = "t"', 'name = "t"\nenv_id = "NoSuchEnv-v9"'), "study.env_id"),
    "wrong type": (STUDY.replace("total_timesteps = 300", 'total_timesteps = "300"'), "study.total_timesteps"),
    "empty seeds": (STUDY.replace("seeds = [0, 1]", "seeds = []"), "study.seeds"),
    "non-positive budget": (STUDY.replace("total_timesteps = 300", "total_timesteps = 0"), "study.total_timesteps"),
    "labels differing only in case": (STUDY + '\n[agents.RANDOM]\nkind = "random"\n', "used twice"),
    "unknown table": (STUDY + "\n[extra]\nx = 1\n", "unknown table 'extra'"),
    "missing [study]": ('[agents.random]\nkind = "random"\n', "missing [study]"),
    "no agents": (STUDY.split("[agents.random]")[0], "no agents"),
    "list hyperparameter given a string": (
        STUDY.replace('kind = "random"', 'kind = "tabular_q"\nnum_bins = "x"'),
        "agents.random.num_bins",
    ),
    "impossible hyperparameter value": (
        STUDY.replace('kind = "random"', 'kind = "tabular_q"\ngamma = 2'),
        "agents.random.gamma",
    ),
    "unknown hyperparameter": (
        STUDY.replace('kind = "random"', 'kind = "custom_dqn"\nlearning_rat = 0.1'),
        "agents.random.learning_rat",
    ),
    "unreadable TOML": (STUDY + "[agents.x\n", "not valid TOML"),
}


@pytest.mark.parametrize(("text", "fragment"), list(BAD_STUDIES.values()), ids=list(BAD_STUDIES))
def test_a_bad_study_gives_exit_2_one_line_and_writes_nothing(
    text: str,
    fragment: str,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text(text)
    assert main(["compare", "bad.toml", "--no-report", "--runs-dir", "my_runs"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("bad.toml: ")
    assert fragment in lines[0]
    assert files_under(tmp_path) == ["bad.toml"]


BAD_ARGUMENTS = {
    "seeds not numbers": ("study.toml", ["--seeds", "a-b"], "--seeds"),
    "seeds backwards": ("study.toml", ["--seeds", "3-1"], "--seeds"),
    "seeds repeated": ("study.toml", ["--seeds", "1,1"], "--seeds"),
    "no jobs": ("study.toml", ["--jobs", "0"], "--jobs"),
    "zero budget": ("study.toml", ["--total-timesteps", "0"], "--total-timesteps"),
    "unknown executor": ("study.toml", ["--executor", "dask"], "--executor"),
    "unknown option": ("study.toml", ["--bogus"], "--bogus"),
    "unknown agent label": ("study.toml", ["--agents", "random,nope"], "'nope'"),
    "address without ray": ("study.toml", ["--address", "auto"], "--address needs --executor ray"),
    "gpus without ray": ("study.toml", ["--gpus-per-run", "1"], "--gpus-per-run needs --executor ray"),
    "negative gpus": ("study.toml", ["--executor", "ray", "--gpus-per-run", "-1"], "--gpus-per-run"),
    "missing study file": ("nope.toml", [], "no such study file"),
}


@pytest.mark.parametrize(("study", "arguments", "fragment"), list(BAD_ARGUMENTS.values()), ids=list(BAD_ARGUMENTS))
def test_bad_arguments_give_exit_2_one_line_and_write_nothing(
    study: str,
    arguments: list[str],
    fragment: str,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY)
    assert main(["compare", study, "--no-report", *arguments]) == 2  # default --runs-dir: runs
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert fragment in lines[0]
    assert files_under(tmp_path) == ["study.toml"]


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        (["--seeds", "a-b"], "invalid seeds 'a-b'"),
        (["--jobs", "0"], "--jobs"),
        (["--agents", "nope"], "unknown label 'nope'"),
        (["--address", "auto"], "--address needs --executor ray"),
    ],
    ids=["seeds", "jobs", "agents", "address"],
)
@pytest.mark.e2e
def test_bad_input_in_a_real_process_gives_exit_2_one_line_no_traceback(
    arguments: list[str], fragment: str, tmp_path: pathlib.Path
):
    (tmp_path / "study.toml").write_text(STUDY)
    result = harness("compare", "study.toml", "--no-report", *arguments, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]
    assert result.stdout == ""
    assert files_under(tmp_path) == ["study.toml"]


@pytest.mark.e2e
def test_a_bad_study_file_in_a_real_process(tmp_path: pathlib.Path):
    (tmp_path / "bad.toml").write_text(BAD_STUDIES["unknown kind"][0])
    result = harness("compare", "bad.toml", "--no-report", "--runs-dir", "my_runs", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "bad.toml: agents.random.kind: unknown kind 'ppo'; allowed: random, tabular_q, tabular_sarsa, custom_dqn, "
        "sb3_dqn, or an import path 'package.module:Class' / 'path/to/file.py:Class'"
    ]
    assert files_under(tmp_path) == ["bad.toml"]


@pytest.mark.parametrize(
    ("text", "seeds"),
    [
        ("0-4", [0, 1, 2, 3, 4]),
        ("0,3,7", [0, 3, 7]),
        ("0-2,5", [0, 1, 2, 5]),
        (" 2 , 1 ", [2, 1]),
        ("7", [7]),
    ],
)
def test_parse_seeds(text: str, seeds: list[int]):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["a-b", "3-1", "1,1", "0-2,2", "-1", "", "1.5"])
def test_parse_seeds_refuses(text: str):
    with pytest.raises(ValueError, match="invalid seeds"):
        parse_seeds(text)


# -- train ------------------------------------------------------------------------------------


def test_train_runs_one_pair_in_this_process(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY)
    assert main(["train", "random", "study.toml", "--seed", "1", "--total-timesteps", "200", "--runs-dir", "r"]) == 0
    out = capsys.readouterr().out
    assert "random/seed_1: complete" in out
    assert "ep_rew_mean" in out and "mean_reward" in out  # SB3-style log tables
    record = json.loads((tmp_path / "r" / "t" / "random" / "seed_1" / "run.json").read_text())
    assert (record["status"], record["total_timesteps"], record["steps_done"]) == ("complete", 200, 200)


def test_train_keeps_a_complete_pair_unless_fresh_and_records_the_study(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY)
    train = ["train", "random", "study.toml", "--seed", "0", "--total-timesteps", "200"]
    assert main(train) == 0
    run_json = tmp_path / "runs" / "t" / "random" / "seed_0" / "run.json"
    first = run_json.read_bytes()
    assert "random" in (tmp_path / "runs" / "t" / "study.toml").read_text()  # the report can read it
    capsys.readouterr()
    assert main(train) == 0  # complete already: nothing to do
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["random/seed_0: already complete in runs/t; add --fresh to train it again"]
    assert run_json.read_bytes() == first
    assert main([*train, "--fresh"]) == 0
    assert "random/seed_0: complete" in capsys.readouterr().out
    fresh = run_json.read_bytes()
    assert fresh != first

    # Another budget: the pair trains again, its run at 200 steps set aside ...
    other = ["train", "random", "study.toml", "--seed", "0", "--total-timesteps", "300"]
    assert main(other) == 0
    assert json.loads(run_json.read_text())["steps_done"] == 300
    aside = tmp_path / "runs" / "t" / ".superseded" / "random" / "seed_0"
    assert [(p / "run.json").read_bytes() for p in aside.iterdir()] == [fresh]
    # ... and back: it comes back without training.
    capsys.readouterr()
    assert main(train) == 0
    assert capsys.readouterr().out.strip() == (
        "random/seed_0: restored from the runs set aside in runs/t; add --fresh to train it again"
    )
    assert run_json.read_bytes() == fresh


@pytest.mark.parametrize("seed", ["-1", "x", "0-2"])
def test_train_refuses_a_bad_seed(seed: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY)
    assert main(["train", "random", "study.toml", "--seed", seed]) == 2
    assert files_under(tmp_path) == ["study.toml"]


@pytest.mark.e2e
def test_report_into_an_unusable_folder_is_one_line(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY)
    assert main(["compare", "study.toml", "--seeds", "0", "--no-report"]) == 0
    (tmp_path / "afile").write_text("x")
    capsys.readouterr()
    assert main(["report", "runs/t", "--out", "afile/report", "--no-video"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("harness report: ") and "afile" in err[0]


TUNED = (
    study_text("t", total_timesteps=300, eval_freq=100, n_eval_episodes=2, agents=agent_tables("tabular_q"))
    + "\n[tune]\ntrials = 1\nseeds = [100]\n"
)
"""STUDY's budget with tabular_q (its default search space), one trial on one tuning seed."""


@pytest.mark.parametrize(("command", "study"), [("compare", STUDY), ("tune", TUNED)], ids=["compare", "tune"])
def test_a_runs_folder_that_cannot_be_made_is_one_line(
    command: str,
    study: str,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.toml").write_text(study)
    (tmp_path / "afile").write_text("x")
    assert main([command, "study.toml", "--runs-dir", "afile/runs"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"harness {command}: ") and "afile" in err[0], err
    assert files_under(tmp_path) == ["afile", "study.toml"]


def test_train_refuses_an_unknown_label(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY)
    assert main(["train", "nope", "study.toml", "--seed", "0"]) == 2
    assert "unknown agent label 'nope'" in capsys.readouterr().err
    assert files_under(tmp_path) == ["study.toml"]


def test_train_takes_the_study_after_the_seed_as_design_md_writes_it(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "study.toml").write_text(STUDY)
    assert main(["train", "random", "--seed", "0", "study.toml", "--total-timesteps", "200"]) == 0


# -- compare quick, end to end ------------------------------------------------------------------

LEARNING_KINDS = ("tabular_q", "tabular_sarsa", "custom_dqn", "sb3_dqn")
MODEL_FILES = {
    "random": "model.zip",
    "tabular_q": "model.zip",
    "tabular_sarsa": "model.zip",
    "custom_dqn": "model.zip",
    "sb3_dqn": "model.zip",
}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, subprocess.CompletedProcess[str]]:
    """`harness compare quick` run once: the folder it ran in and its result."""
    root = tmp_path_factory.mktemp("quick")
    result = harness_here("compare", "quick", "--jobs", "2", "--no-report", "--runs-dir", "runs", cwd=root)
    return root, result


@pytest.fixture(scope="module")
def quick_pairs(quick: tuple[pathlib.Path, subprocess.CompletedProcess[str]]) -> dict[tuple[str, int], pathlib.Path]:
    root, _ = quick
    study = load_study("quick")
    return {
        (label, seed): root / "runs" / "quick" / label / f"seed_{seed}"
        for label in study.labels
        for seed in study.settings.seeds
    }


def read_csv(path: pathlib.Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    return rows[0], [dict(zip(rows[0], row)) for row in rows[1:]]


@pytest.mark.e2e
@pytest.mark.slow
def test_compare_quick_exits_0_and_completes_every_pair(quick, quick_pairs):
    root, result = quick
    assert result.returncode == 0, result.stderr
    assert "quick: 10 run(s) complete, 0 failed, 0 already complete" in result.stdout
    assert len(quick_pairs) == 10
    assert sorted(p.name for p in root.iterdir()) == ["runs"]  # --no-report: no reports folder
    assert {p.name for p in (root / "runs" / "quick").iterdir()} == {*MODEL_FILES, "study.toml", ".lock"}


@pytest.mark.e2e
@pytest.mark.slow
def test_compare_quick_leaves_every_file_of_design_md(quick, quick_pairs):
    study = resolve_study(load_study("quick"))
    for (label, seed), path in quick_pairs.items():
        names = {p.name for p in path.iterdir()}
        assert len([n for n in names if n.startswith("events.out.tfevents.")]) == 1, path
        assert {"episodes.csv", "evals.csv", "run.json", MODEL_FILES[label]} <= names, path
        assert not [n for n in names if n.startswith(".")], path

        record = json.loads((path / "run.json").read_text())
        assert record["status"] == "complete" and record["error"] is None
        assert (record["label"], record["seed"], record["kind"]) == (label, seed, study.agent(label).kind)
        assert record["model_file"] == MODEL_FILES[label]
        assert record["steps_done"] == study.settings.total_timesteps
        assert record["hyperparameters"] == dict(study.agent(label).hyperparameters)
        assert record["family"] == ("library" if label == "sb3_dqn" else "hand-written")
        assert record["class"] and record["class_file"]
        assert 0 <= record["timings"]["eval_share"] < 1
        assert set(record["versions"]) >= {"torch", "stable_baselines3", "gymnasium", "numpy", "python"}

    # study.toml: the resolved study (TOML has no None: such values are left out), which resolves
    # back to the same hyperparameters.
    recorded = parse_study((quick[0] / "runs" / "quick" / "study.toml").read_text(), "study.toml")
    assert recorded.settings == study.settings
    assert [(s.label, s.kind, dict(s.hyperparameters)) for s in recorded.agents] == [
        (s.label, s.kind, {k: v for k, v in s.hyperparameters.items() if v is not None}) for s in study.agents
    ]
    assert resolve_study(recorded).agents == study.agents


@pytest.mark.e2e
@pytest.mark.slow
def test_compare_quick_csv_columns_episodes_and_evaluation_points(quick_pairs):
    study = load_study("quick").settings
    points = [0, 1_000, 2_000, 3_000]
    eval_keys = None
    for (label, _seed), path in quick_pairs.items():
        columns, episodes = read_csv(path / "episodes.csv")
        assert tuple(columns) == EPISODE_COLUMNS
        assert [int(r["episode"]) for r in episodes] == list(range(len(episodes)))
        assert int(episodes[0]["start_step"]) == 0
        for previous, row in itertools.pairwise(episodes):
            assert row["start_step"] == previous["end_step"]
        for row in episodes:
            assert int(row["length"]) == int(row["end_step"]) - int(row["start_step"])
            assert float(row["return"]) == float(row["length"])
            for flag in ("terminated", "truncated", "success"):
                assert row[flag] in ("true", "false")
            assert (row["success"] == "true") == (row["truncated"] == "true" and row["terminated"] == "false")
        assert int(episodes[-1]["end_step"]) <= study.total_timesteps
        record = json.loads((path / "run.json").read_text())
        assert record["n_episodes"] == len(episodes)

        columns, evals = read_csv(path / "evals.csv")
        assert tuple(columns) == EVAL_COLUMNS
        steps = [int(r["eval_step"]) for r in evals]
        assert steps == sorted(steps)
        assert sorted(set(steps)) == points, label  # at 0, every eval_freq and the end, once each
        for point in points:
            rows = [r for r in evals if int(r["eval_step"]) == point]
            assert [int(r["episode"]) for r in rows] == list(range(study.n_eval_episodes))
        keys = [(r["eval_step"], r["episode"], r["eval_seed"]) for r in evals]
        assert [int(r["eval_seed"]) for r in evals] == [study.eval_seed + int(r["episode"]) for r in evals]
        eval_keys = eval_keys or keys
        assert keys == eval_keys, f"{label}: other evaluation episodes"
        final = [float(r["return"]) for r in evals if int(r["eval_step"]) == points[-1]]
        assert record["final_eval_mean_return"] == pytest.approx(sum(final) / len(final))


@pytest.mark.e2e
@pytest.mark.slow
def test_compare_quick_tensorboard_events_hold_the_same_tags_for_every_agent(quick_pairs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags: dict[tuple[str, int], set[str]] = {}
    for key, path in quick_pairs.items():
        (events,) = path.glob("events.out.tfevents.*")
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        tags[key] = set(accumulator.Tags()["scalars"])
        evaluation = accumulator.Scalars("eval/mean_reward")
        assert [e.step for e in evaluation] == [0, 1_000, 2_000, 3_000], key
        _, evals = read_csv(path / "evals.csv")
        for event in evaluation:
            returns = [float(r["return"]) for r in evals if int(r["eval_step"]) == event.step]
            assert event.value == pytest.approx(sum(returns) / len(returns), rel=1e-6)

    learning = {tags[key] == tags[("tabular_q", 0)] for key in tags if key[0] in LEARNING_KINDS}
    assert learning == {True}, "the learning agents write different tags"
    learning_tags = tags[("tabular_q", 0)]
    shared = {
        "rollout/ep_rew_mean",
        "rollout/ep_len_mean",
        "rollout/exploration_rate",
        "rollout/success_rate",
        "eval/mean_reward",
        "eval/mean_ep_length",
        "eval/success_rate",
        "episode/return",
        "episode/length",
        "episode/success",
        "time/fps",
    }
    assert learning_tags == shared | {"train/learning_rate", "train/loss"}
    for seed in (0, 1):
        assert tags[("random", seed)] == {t for t in learning_tags if not t.startswith("train/")}


def test_an_interrupted_fresh_compare_says_to_resume_without_fresh(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    import harness.api

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(harness.api, "compare", interrupted)
    assert main(["compare", "quick", "--fresh"]) == 130
    assert "run the same command without --fresh again to resume" in capsys.readouterr().err
    assert main(["compare", "quick"]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err


@pytest.mark.e2e
def test_train_keeps_the_declared_pairs_of_the_recorded_study(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.toml").write_text(
        STUDY.replace("n_eval_episodes = 2", 'n_eval_episodes = 2\npaired = [["random", "other"]]')
        + '\n[agents.other]\nkind = "random"\n'
    )
    assert main(["compare", "p.toml", "--no-report", "--jobs", "1"]) == 0
    assert main(["train", "random", "--seed", "2", "p.toml"]) == 0
    recorded = parse_study((tmp_path / "runs" / "t" / "study.toml").read_text(), "study.toml")
    assert recorded.settings.paired == (("random", "other"),)
    assert recorded.settings.seeds == (0, 1, 2)


@pytest.mark.e2e
def test_report_needs_the_run_files_not_the_agents_code(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch):
    """A runs folder whose study names a user's file still reports after the file is gone."""
    import shutil

    monkeypatch.chdir(tmp_path)
    code = tmp_path / "code"
    code.mkdir()
    shutil.copy(pathlib.Path(__file__).parent.parent / "examples" / "my_agents.py", code / "gone_agents.py")
    (code / "s.toml").write_text(STUDY + '\n[agents.mine]\nkind = "gone_agents.py:ExpectedSarsaAgent"\n')
    assert main(["compare", "code/s.toml", "--no-report", "--jobs", "1"]) == 0
    (code / "gone_agents.py").unlink()
    assert main(["report", "runs/t", "--out", "rep", "--no-video"]) == 0
    assert "| mine " in (tmp_path / "rep" / "README.md").read_text()
