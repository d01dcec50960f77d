"""`harness compare` as a user runs it: resume after a kill or Ctrl-C, failure isolation, a
changed study (only the changed pairs run again), and running a study in parts (always with
`--no-report`). A run that is killed or interrupted, or whose stderr is checked as a terminal
shows it, goes through `python -m harness` in a subprocess; the others run the command in this
process (`harness.cli.main`), which saves each a new process's imports of torch and SB3."""

from __future__ import annotations

import json
import pathlib
import shutil
import signal
import time

import pytest
from helpers import (
    AGENT_TABLES,
    agent_tables,
    harness,
    harness_here,
    pair_dirs,
    read_csv,
    run_json,
    start,
    stop_group,
    study_text,
    wait_for,
    without_wall_time,
)

from harness.store import LOCK_FILE, is_complete, merge_recorded, study_status
from harness.studies import load_study, parse_study, resolve_study, to_toml

TINY = study_text()
"""quick.toml's agents with a small budget: two seeds, 1,500 steps."""
TINY_PAIRS = [f"{label}/seed_{seed}" for label in AGENT_TABLES for seed in (0, 1)]


def compare_args(study: str, runs: str = "runs", *extra: object) -> list[object]:
    return ["compare", study, "--no-report", "--runs-dir", runs, *extra]


def complete_records(study_dir: pathlib.Path) -> dict[str, bytes]:
    """`run.json` bytes of the complete pairs, by pair."""
    return {key: (path / "run.json").read_bytes() for key, path in pair_dirs(study_dir).items() if is_complete(path)}


def in_progress(path: pathlib.Path) -> bool:
    return path.is_dir() and not (path / "run.json").exists()


def running(path: pathlib.Path) -> bool:
    """In progress, and its worker is in the run: it has opened the run's `output.log`."""
    return in_progress(path) and (path / "output.log").exists()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """An uninterrupted run of the tiny study (all five kinds, two seeds): its study folder."""
    root = tmp_path_factory.mktemp("reference")
    (root / "tiny.toml").write_text(TINY)
    result = harness_here(*compare_args("tiny.toml", "runs", "--jobs", "2"), cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "runs" / "tiny"


@pytest.mark.e2e
@pytest.mark.slow
def test_an_uninterrupted_run_completes_every_pair(reference: pathlib.Path):
    assert list(pair_dirs(reference)) == sorted(TINY_PAIRS)
    assert sorted(complete_records(reference)) == sorted(TINY_PAIRS)
    # Every agent is evaluated on the same episodes.
    seeds = {
        key: [(r["eval_step"], r["episode"], r["eval_seed"]) for r in read_csv(path / "evals.csv")]
        for key, path in pair_dirs(reference).items()
    }
    assert len(set(map(tuple, seeds.values()))) == 1
    assert seeds["random/seed_0"][:3] == [("0", "0", "1000000"), ("0", "1", "1000001"), ("0", "2", "1000002")]


@pytest.mark.e2e
@pytest.mark.slow
def test_a_killed_study_resumes_to_the_result_of_an_uninterrupted_run(
    reference: pathlib.Path, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HARNESS_SCHEDULE", "study-order")  # random's pairs first, sb3_dqn's later
    (tmp_path / "tiny.toml").write_text(TINY)
    study_dir = tmp_path / "runs" / "tiny"
    process = start(compare_args("tiny.toml", "runs", "--jobs", "1"), cwd=tmp_path)
    try:
        wait_for(
            lambda: bool(complete_records(study_dir)) and in_progress(study_dir / "sb3_dqn" / "seed_0"),
            "a pair completed and a later one started",
            process,
            timeout=240,
            every=0.02,
        )
    finally:
        stop_group(process, signal.SIGKILL)
    before = complete_records(study_dir)
    assert 0 < len(before) < len(TINY_PAIRS)

    result = harness_here(*compare_args("tiny.toml", "runs", "--jobs", "2"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{len(before)} pair(s) already complete" in result.stdout
    assert f"{len(TINY_PAIRS) - len(before)} to run" in result.stdout

    after = complete_records(study_dir)
    assert sorted(after) == sorted(TINY_PAIRS)
    for key in before:  # not rerun
        assert after[key] == before[key], key
    for key, path in pair_dirs(study_dir).items():
        ref = reference / key
        assert (path / "evals.csv").read_bytes() == (ref / "evals.csv").read_bytes(), key
        assert without_wall_time(read_csv(path / "episodes.csv")) == without_wall_time(
            read_csv(ref / "episodes.csv")
        ), key
        assert len(list(path.glob("events.out.tfevents.*"))) == 1, f"{key}: two attempts in one folder"
        assert json.loads(after[key])["steps_done"] == 1500


@pytest.mark.e2e
@pytest.mark.slow
def test_ctrl_c_stops_with_exit_130_keeps_complete_pairs_and_resumes(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HARNESS_SCHEDULE", "study-order")  # random first, then sb3_dqn
    agents = agent_tables("random", "sb3_dqn")
    (tmp_path / "sig.toml").write_text(study_text("sig", seeds=(0,), total_timesteps=3000, agents=agents))
    assert parse_study((tmp_path / "sig.toml").read_text(), "sig.toml").labels == ("random", "sb3_dqn")
    study_dir = tmp_path / "runs" / "sig"
    process = start(compare_args("sig.toml", "runs", "--jobs", "1"), cwd=tmp_path)
    try:
        # sb3_dqn running: its worker has begun the run (its output.log is open), not only been started
        wait_for(
            lambda: is_complete(study_dir / "random" / "seed_0") and running(study_dir / "sb3_dqn" / "seed_0"),
            "random complete and sb3_dqn running",
            process,
            timeout=240,
            every=0.02,
        )
    finally:
        code = stop_group(process, signal.SIGINT)
    stderr = (tmp_path / "stderr.txt").read_text()
    assert code == 130, stderr
    assert "interrupted" in stderr.strip().splitlines()[-1]
    before = complete_records(study_dir)
    assert list(before) == ["random/seed_0"]
    assert not (study_dir / "sb3_dqn" / "seed_0" / "run.json").exists()

    result = harness_here(*compare_args("sig.toml", "runs", "--jobs", "1"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 pair(s) already complete" in result.stdout
    after = complete_records(study_dir)
    assert sorted(after) == ["random/seed_0", "sb3_dqn/seed_0"]
    assert after["random/seed_0"] == before["random/seed_0"]


@pytest.mark.e2e
@pytest.mark.slow
def test_a_failing_agent_leaves_the_others_complete_and_exit_1(tmp_path: pathlib.Path):
    # Passes validation (a finite, positive learning rate) but diverges at run time, where RunGuard
    # catches the NaN loss.
    diverging = AGENT_TABLES["custom_dqn"] + "\nlearning_rate = 1e30"
    agents = {**agent_tables("random", "tabular_q"), "custom_dqn": diverging}
    (tmp_path / "fail.toml").write_text(study_text("fail", seeds=(0,), agents=agents))
    study_dir = tmp_path / "runs" / "fail"

    result = harness(*compare_args("fail.toml", "runs", "--jobs", "2"), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "failed: custom_dqn/seed_0: NonFiniteLossError" in result.stderr
    assert "Traceback" not in result.stderr
    assert "2 run(s) complete, 1 failed" in result.stdout
    failed = run_json(study_dir / "custom_dqn" / "seed_0")
    assert failed is not None
    assert failed["status"] == "failed"
    assert failed["error"].startswith("NonFiniteLossError: train/loss is ")
    assert "NonFiniteLossError" in failed["traceback"]
    assert 500 < failed["steps_done"] < 1500
    names = {p.name for p in (study_dir / "custom_dqn" / "seed_0").iterdir()}
    assert not names & {"model.zip", "episodes.csv", "evals.csv"}
    complete = complete_records(study_dir)
    assert sorted(complete) == ["random/seed_0", "tabular_q/seed_0"]

    again = harness_here(*compare_args("fail.toml", "runs", "--jobs", "2"), cwd=tmp_path)
    assert again.returncode == 1
    assert "2 pair(s) already complete" in again.stdout and "1 to run" in again.stdout
    assert "[1/1] custom_dqn/seed_0: FAILED" in again.stdout
    assert complete_records(study_dir) == complete


@pytest.mark.e2e
def test_a_study_whose_every_run_fails_exits_1_without_a_report(tmp_path: pathlib.Path):
    agents = {"custom_dqn": AGENT_TABLES["custom_dqn"] + "\nlearning_rate = 1e30"}
    (tmp_path / "fail.toml").write_text(study_text("allfail", seeds=(0,), agents=agents))
    result = harness_here("compare", "fail.toml", "--runs-dir", "runs", "--reports-dir", "reports", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "no run folder holds a complete run.json" in result.stderr and "(no report)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "reports").exists()


@pytest.mark.e2e
def test_agents_run_in_parts_with_other_settings_run_only_the_selected_pairs(tmp_path: pathlib.Path):
    """Running one agent, then another with a different budget: the second runs at the new budget,
    the first agent's run is kept as it is, and `status` says it is stale (study.toml records the
    new budget)."""
    (tmp_path / "tiny.toml").write_text(TINY)
    first = harness_here(*compare_args("tiny.toml", "runs", "--agents", "random", "--seeds", "0"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    study_dir = tmp_path / "runs" / "tiny"
    random_0 = complete_records(study_dir)["random/seed_0"]
    again = harness_here(
        *compare_args("tiny.toml", "runs", "--agents", "tabular_q", "--seeds", "1", "--total-timesteps", "300"),
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    assert "1 run(s) complete, 0 failed, 0 already complete" in again.stdout
    records = complete_records(study_dir)
    assert sorted(records) == ["random/seed_0", "tabular_q/seed_1"]
    assert records["random/seed_0"] == random_0  # not touched: it was not selected
    assert json.loads(records["tabular_q/seed_1"])["steps_done"] == 300
    assert not (study_dir / ".superseded").exists()
    rows = {(row.label, row.seed): row for row in study_status(study_dir)}
    assert (rows["random", 0].status, rows["random", 0].why) == ("stale", "total_timesteps: 1500 -> 300")
    assert rows["tabular_q", 1].status == "complete"


@pytest.mark.e2e
@pytest.mark.slow
def test_a_changed_study_reruns_the_changed_pairs_and_changing_back_restores_them(
    reference: pathlib.Path, tmp_path: pathlib.Path
):
    shutil.copytree(reference.parent, tmp_path / "runs")
    (tmp_path / "tiny.toml").write_text(TINY)
    study_dir = tmp_path / "runs" / "tiny"
    before = complete_records(study_dir)

    changed = harness_here(
        *compare_args("tiny.toml", "runs", "--total-timesteps", "1000", "--agents", "random", "--seeds", "0"),
        cwd=tmp_path,
    )
    assert changed.returncode == 0, changed.stderr
    assert "1 run(s) of other settings or code set aside" in changed.stdout
    assert "tiny: 1 run(s) complete, 0 failed, 0 already complete" in changed.stdout
    after = complete_records(study_dir)
    assert sorted(after) == sorted(TINY_PAIRS)
    assert {key for key in TINY_PAIRS if after[key] != before[key]} == {"random/seed_0"}
    assert json.loads(after["random/seed_0"])["steps_done"] == 1000
    (aside,) = (study_dir / ".superseded" / "random" / "seed_0").iterdir()
    assert (aside / "run.json").read_bytes() == before["random/seed_0"]

    back = harness_here(*compare_args("tiny.toml", "runs", "--agents", "random", "--seeds", "0"), cwd=tmp_path)
    assert back.returncode == 0, back.stderr
    assert "0 pair(s) already complete in runs/tiny, 1 restored from runs set aside, 0 to run" in back.stdout
    assert "0 run(s) complete, 0 failed, 0 already complete, 1 restored" in back.stdout
    assert complete_records(study_dir) == before

    fresh = harness_here(
        *compare_args("tiny.toml", "runs", "--fresh", "--agents", "random", "--seeds", "0"), cwd=tmp_path
    )
    assert fresh.returncode == 0, fresh.stderr
    assert list(pair_dirs(study_dir)) == sorted(TINY_PAIRS)  # only the selected pair was cleared
    again = complete_records(study_dir)
    assert {key for key in TINY_PAIRS if again[key] != before[key]} == {"random/seed_0"}
    record = json.loads(again["random/seed_0"])
    assert (record["status"], record["total_timesteps"], record["steps_done"]) == ("complete", 1500, 1500)


@pytest.mark.e2e
def test_status_names_what_changed(reference: pathlib.Path):
    study = resolve_study(parse_study(TINY, "tiny.toml"))
    assert {row.status for row in study_status(reference, study)} == {"complete"}  # as run
    changes = [
        (TINY.replace("eval_freq = 500", "eval_freq = 250"), "evaluation: eval_freq 500 -> 250", TINY_PAIRS),
        (
            TINY.replace('kind = "tabular_q"', 'kind = "tabular_q"\ngamma = 0.9'),
            "hyperparameters: gamma 1.0 -> 0.9",
            ["tabular_q/seed_0", "tabular_q/seed_1"],
        ),
        (
            TINY.replace('kind = "tabular_sarsa"', 'kind = "tabular_q"'),
            "kind: tabular_sarsa -> tabular_q",
            ["tabular_sarsa/seed_0", "tabular_sarsa/seed_1"],
        ),
    ]
    for text, why, pairs in changes:
        rows = study_status(reference, resolve_study(parse_study(text, "tiny.toml")))
        stale = {f"{row.label}/seed_{row.seed}": row.why for row in rows if row.status != "complete"}
        assert stale == dict.fromkeys(pairs, why)


@pytest.mark.e2e
@pytest.mark.slow
def test_seeds_and_agents_run_only_those_pairs_and_study_toml_records_the_union(tmp_path: pathlib.Path):
    agents = agent_tables("random", "tabular_q")
    (tmp_path / "parts.toml").write_text(
        study_text("parts", seeds=(0, 1, 2), total_timesteps=500, eval_freq=250, agents=agents)
    )
    study_dir = tmp_path / "runs" / "parts"

    first = harness_here(*compare_args("parts.toml", "runs", "--seeds", "0", "--agents", "random"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert list(pair_dirs(study_dir)) == ["random/seed_0"]
    recorded = parse_study((study_dir / "study.toml").read_text(), "study.toml")
    assert (recorded.labels, recorded.settings.seeds) == (("random",), (0,))
    random_0 = complete_records(study_dir)["random/seed_0"]

    second = harness_here(*compare_args("parts.toml", "runs", "--seeds", "1-2", "--agents", "tabular_q"), cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "2 run(s) complete" in second.stdout
    assert sorted(complete_records(study_dir)) == ["random/seed_0", "tabular_q/seed_1", "tabular_q/seed_2"]
    assert complete_records(study_dir)["random/seed_0"] == random_0
    recorded = parse_study((study_dir / "study.toml").read_text(), "study.toml")
    assert sorted(recorded.labels) == ["random", "tabular_q"]
    assert recorded.settings.seeds == (0, 1, 2)


@pytest.mark.e2e
def test_agents_run_in_parts_with_the_same_settings_are_accepted(tmp_path: pathlib.Path):
    """An agent whose resolved hyperparameters hold a None (tabular_q's `bounds`), run first, does
    not make a later `compare` of another agent of the same study refuse the folder."""
    agents = agent_tables("random", "tabular_q")
    (tmp_path / "parts.toml").write_text(
        study_text("parts", seeds=(0,), total_timesteps=300, eval_freq=150, agents=agents)
    )
    first = harness_here(*compare_args("parts.toml", "runs", "--agents", "tabular_q"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = harness_here(*compare_args("parts.toml", "runs", "--agents", "random"), cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert sorted(complete_records(tmp_path / "runs" / "parts")) == ["random/seed_0", "tabular_q/seed_0"]


def test_merge_recorded_grows_the_study_by_what_the_folder_recorded(tmp_path: pathlib.Path):
    quick = load_study("quick")
    (tmp_path / "study.toml").write_text(to_toml(quick.select(labels=["random", "tabular_q"], seeds=[0, 3])))
    merged = merge_recorded(quick.select(labels=["sb3_dqn"], seeds=[1]), tmp_path)
    assert merged.labels == ("sb3_dqn", "random", "tabular_q")
    assert merged.settings.seeds == (0, 1, 3)

    assert merge_recorded(quick, tmp_path / "nowhere") == quick
    (tmp_path / "study.toml").write_text("not = [valid")
    assert merge_recorded(quick, tmp_path) == quick


@pytest.mark.e2e
@pytest.mark.parametrize("delay", [0.0, 1.0, 2.5])
def test_ctrl_c_while_the_workers_start_is_one_line(tmp_path: pathlib.Path, delay: float):
    """A Ctrl-C in the first seconds, while the fork server and the workers import torch, reaches
    every process of the terminal's group: only the driver reacts (one line, exit 130). The delay
    counts from the driver taking the study folder (its lock), so the Ctrl-C lands after the
    driver's own imports however loaded the machine is (the workers start later, not sooner)."""
    (tmp_path / "early.toml").write_text(study_text("early", seeds=(0, 1), total_timesteps=3000))
    process = start(compare_args("early.toml", "runs", "--jobs", "2"), cwd=tmp_path)
    wait_for((tmp_path / "runs" / "early" / LOCK_FILE).exists, "the driver's lock", process, every=0.005)
    time.sleep(delay)
    code = stop_group(process, signal.SIGINT)
    stderr = (tmp_path / "stderr.txt").read_text()
    assert code == 130, stderr
    assert stderr.strip().splitlines() == [
        "harness: interrupted; complete runs are kept, run the same command again to resume"
    ], stderr
