"""Studies with a `[decide]` table: seeds added in rounds until each comparison is decided
(AdaStop; docs/design.md, "Deciding").

The decisions on hand-made scores (no training), the table's bad input, and end to end: a tiny
study decided in its first round, one that runs every round, a compare killed mid-round and
resumed, and the same decisions through the Ray executor from `harness.compare`.
"""

from __future__ import annotations

import pathlib
import subprocess

import numpy as np
import pytest
from helpers import (
    harness,
    harness_here,
    kill_group,
    read_csv,
    run_json,
    script_on_each_executor,
    start,
    study_text,
    wait_for,
)

from harness.analysis import columns as col
from harness.analysis import decision_random_state, replay, sentence
from harness.errors import StudyError
from harness.studies import load_study, with_options

# -- the decisions on hand-made scores ----------------------------------------------------------


def scores(mean: float, count: int = 20, spread: float = 1.0, seed: int = 0) -> list[float]:
    return list(np.random.default_rng(seed).normal(mean, spread, count))


def verdicts(state) -> dict[tuple[str, str], tuple[str, int, int, int]]:
    return {
        (row[col.AGENT], row[col.VERSUS]): (
            row[col.VERDICT],
            row[col.ROUND],
            row[col.SEEDS_AGENT],
            row[col.SEEDS_VERSUS],
        )
        for _, row in state.table.iterrows()
    }


def test_a_clear_difference_is_decided_in_round_one_on_n_seeds_each():
    state = replay({"a": scores(500), "b": scores(20, seed=1)}, [("a", "b")], n=5, K=4, alpha=0.05, random_state=0)
    assert verdicts(state) == {("a", "b"): ("larger", 1, 5, 5)}
    assert state.rounds_done == 1 and state.finished and state.seeds_used == {"a": 5, "b": 5}
    flipped = replay({"a": scores(500), "b": scores(20, seed=1)}, [("b", "a")], n=5, K=4, alpha=0.05, random_state=0)
    assert verdicts(flipped) == {("b", "a"): ("smaller", 1, 5, 5)}


def test_two_identical_agents_end_equal_after_the_last_round_on_n_times_k_seeds():
    same = scores(100, spread=30)
    state = replay({"a": same, "b": list(same)}, [("a", "b")], n=5, K=3, alpha=0.05, random_state=0)
    assert verdicts(state) == {("a", "b"): ("equal", 3, 15, 15)}
    assert state.rounds_done == 3 and state.finished


def test_each_agent_trains_n_seeds_per_round_it_takes():
    """`ref` against a far worse agent (decided in round 1) and a twin (open to the end): the
    worse agent's seeds stop after round 1, the twins go on to n x K."""
    twin = scores(100, spread=30, seed=3)
    given = {"ref": twin, "worse": scores(-1_000, seed=4), "twin": list(twin)}
    state = replay(given, [("ref", "worse"), ("ref", "twin")], n=5, K=3, alpha=0.05, random_state=0)
    assert verdicts(state) == {("ref", "worse"): ("larger", 1, 5, 5), ("ref", "twin"): ("equal", 3, 15, 15)}
    assert state.seeds_used == {"ref": 15, "worse": 5, "twin": 15}


def test_the_rounds_stop_where_the_scores_end_and_name_the_agents_the_next_round_needs():
    twin = scores(100, spread=30, seed=3)
    given = {"ref": twin[:7], "worse": scores(-1_000, seed=4)[:5], "twin": twin[:12]}
    state = replay(given, [("ref", "worse"), ("ref", "twin")], n=5, K=3, alpha=0.05, random_state=0)
    assert state.rounds_done == 1 and not state.finished
    assert state.needed == ("ref", "twin")  # round 2 needs 10 seeds of each; ref has 7
    assert verdicts(state)[("ref", "twin")] == ("open", 1, 5, 5)
    assert "not decided yet" in sentence(state.table.iloc[1], 3)


def test_the_same_scores_give_the_same_decisions_and_the_random_state_is_fixed():
    close = {"a": scores(100, spread=40, seed=5), "b": scores(130, spread=40, seed=6)}
    first = replay(close, [("a", "b")], n=5, K=4, alpha=0.05, random_state=decision_random_state())
    again = replay(close, [("a", "b")], n=5, K=4, alpha=0.05, random_state=decision_random_state())
    assert first.table.equals(again.table)
    assert decision_random_state() == decision_random_state()
    assert decision_random_state("CartPole-v1") != decision_random_state("Acrobot-v1")


def test_the_sentences_say_who_ends_higher_after_which_round_on_how_many_seeds():
    row = {
        col.AGENT: "custom_dqn",
        col.VERSUS: "sb3_dqn",
        col.VERDICT: "larger",
        col.ROUND: 2,
        col.SEEDS_AGENT: 10,
        col.SEEDS_VERSUS: 10,
        col.ALPHA: 0.05,
    }
    assert sentence(row, 4) == (
        "**custom_dqn ends higher than sb3_dqn**: AdaStop, family-wise error <= 0.05, decided after round 2, "
        "10 seeds each."
    )
    row = {**row, col.VERDICT: "equal", col.ROUND: 4, col.SEEDS_AGENT: 20, col.SEEDS_VERSUS: 20}
    assert sentence(row, 4) == "**custom_dqn and sb3_dqn are not shown different** after 4 rounds, 20 seeds each."


# -- the [decide] table -------------------------------------------------------------------------

AGENTS = {"random": 'kind = "random"', "tabular_q": 'kind = "tabular_q"'}


def decide_study(
    folder: pathlib.Path,
    decide: str = 'compare_to = "tabular_q"\nseeds_per_round = 5\nmax_rounds = 2',
    seeds: int = 10,
    agents: dict[str, str] = AGENTS,
    name: str = "decided",
    total_timesteps: int = 3000,
) -> pathlib.Path:
    path = folder / "study.toml"
    text = study_text(
        name=name, seeds=range(seeds), total_timesteps=total_timesteps, eval_freq=1000, n_eval_episodes=5, agents=agents
    )
    path.write_text(text + "\n[decide]\n" + decide + "\n")
    return path


def test_the_table_reads_back_and_names_its_comparisons(tmp_path: pathlib.Path):
    study = load_study(str(decide_study(tmp_path, 'pairs = [["random", "tabular_q"]]\nalpha = 0.1', seeds=20)))
    assert study.decide is not None
    assert study.decide.comparisons(study.labels) == [("random", "tabular_q")]
    assert (study.decide.seeds_per_round, study.decide.max_rounds, study.decide.alpha) == (5, 4, 0.1)
    every = load_study(str(decide_study(tmp_path, "seeds_per_round = 2\nmax_rounds = 5")))
    assert every.decide is not None and every.decide.comparisons(every.labels) == [("random", "tabular_q")]
    assert (every.decide.seeds_per_round, every.decide.max_rounds, every.decide.alpha) == (2, 5, 0.05)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'compare_to = "dqn"\nmax_rounds = 2',
            "decide.compare_to: 'dqn' is not an agent label; labels: random, tabular_q",
        ),
        (
            'pairs = [["random", "dqn"]]\nmax_rounds = 2',
            "decide.pairs: 'dqn' is not an agent label; labels: random, tabular_q",
        ),
        ("seeds_per_round = 1", "decide.seeds_per_round: must be >= 2 (a round compares seeds), got 1"),
        ("seeds_per_round = 2\nmax_rounds = 0", "decide.max_rounds: must be >= 1, got 0"),
        ("alpha = 1.0", "decide.alpha: must be in (0, 1), got 1.0"),
        ("alpha = 0", "decide.alpha: must be in (0, 1), got 0.0"),
        (
            "seeds_per_round = 5\nmax_rounds = 3",
            "decide.max_rounds: 3 rounds of 5 seeds need 15 seeds; study.seeds has 10",
        ),
        ("rounds = 3", "decide.rounds: unknown key"),
    ],
)
def test_bad_tables_are_refused_in_one_line_naming_the_file_and_key(tmp_path: pathlib.Path, table: str, message: str):
    path = decide_study(tmp_path, table)
    done = harness_here("compare", path, "--runs-dir", "runs", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    line = done.stderr.strip()
    assert "\n" not in line and line.startswith(f"{path}: ") and message in line, line
    assert not (tmp_path / "runs").exists() and not (tmp_path / "reports").exists()


def test_seeds_from_the_command_line_are_refused_with_decide(tmp_path: pathlib.Path):
    path = decide_study(tmp_path)
    done = harness_here("compare", path, "--seeds", "0-2", "--runs-dir", "runs", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert "decide: the study adds seeds in rounds of its own (seeds_per_round); drop --seeds" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()
    with pytest.raises(StudyError, match="drop --seeds"):
        with_options(load_study(str(path)), None, None, [0, 1])


# -- end to end ---------------------------------------------------------------------------------


def decisions_csv(folder: pathlib.Path, name: str = "decided") -> list[dict[str, str]]:
    return read_csv(folder / "reports" / name / "decisions.csv")


def trained_seeds(folder: pathlib.Path, label: str, name: str = "decided") -> list[int]:
    agent = folder / "runs" / name / label
    return sorted(int(run.name.removeprefix("seed_")) for run in agent.glob("seed_*") if run_json(run))


@pytest.mark.e2e
def test_random_against_tabular_q_is_decided_in_round_one_on_n_seeds(tmp_path: pathlib.Path):
    path = decide_study(tmp_path, seeds=12)  # 2 more than the rounds can take (n x K = 10)
    done = harness_here("compare", path, "--runs-dir", "runs", "--reports-dir", "reports", "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "round 1 of 2: seeds 0, 1, 2, 3, 4 of tabular_q, random; comparisons still open: tabular_q vs random" in (
        done.stdout
    )
    assert "round 2" not in done.stdout
    line = "tabular_q ends higher than random: AdaStop, family-wise error <= 0.05, decided after round 1, 5 seeds each."
    assert f"  {line}" in done.stdout.splitlines()
    assert trained_seeds(tmp_path, "random") == trained_seeds(tmp_path, "tabular_q") == [0, 1, 2, 3, 4]
    assert decisions_csv(tmp_path) == [
        {
            "env": "CartPole-v1",
            "agent": "tabular_q",
            "versus": "random",
            "verdict": "larger",
            "round": "1",
            "seeds_agent": "5",
            "seeds_versus": "5",
            "alpha": "0.05",
        }
    ]
    readme = (tmp_path / "reports" / "decided" / "README.md").read_text()
    assert readme.index("## Decision") < readme.index("## Summary")
    assert f"- **{line.split(':')[0]}**:{line.split(':', 1)[1]}" in readme
    assert "AdaStop compares the **mean** final return" in readme
    assert "(2 agents x up to 10 seeds, in rounds: 10 runs needed by the decisions, 10 complete)" in readme
    assert "- **seeds**: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9\n" in readme  # the seeds the rounds may take

    import harness

    loaded = harness.load(tmp_path / "runs" / "decided").decisions
    assert list(loaded.columns) == [
        "env",
        "agent",
        "versus",
        "verdict",
        "round",
        "seeds_agent",
        "seeds_versus",
        "alpha",
    ]
    assert loaded.iloc[0].to_dict() == {
        "env": "CartPole-v1",
        "agent": "tabular_q",
        "versus": "random",
        "verdict": "larger",
        "round": 1,
        "seeds_agent": 5,
        "seeds_versus": 5,
        "alpha": 0.05,
    }
    status = harness_here("status", tmp_path / "runs" / "decided", cwd=tmp_path)
    assert status.returncode == 0 and "10 complete, 14 not needed of 24 pairs" in status.stdout, status.stdout
    assert "random     5     not needed  beyond the rounds the decisions take" in status.stdout
    assert "random     11    not needed  beyond the rounds the decisions take" in status.stdout

    first = decisions_csv(tmp_path)
    (tmp_path / "reports" / "decided" / "decisions.csv").unlink()
    again = harness_here("compare", path, "--runs-dir", "runs", "--reports-dir", "reports", cwd=tmp_path)
    assert again.returncode == 0 and "0 run(s) complete, 0 failed, 10 already complete" in again.stdout
    assert decisions_csv(tmp_path) == first
    assert f"  {line}" in again.stdout.splitlines()


@pytest.mark.e2e
def test_an_open_comparison_runs_every_round_and_a_decided_agent_stops(tmp_path: pathlib.Path):
    """Two random agents (the same policy, the same seeds: identical scores) stay open to the
    last round and end `equal` on n x K seeds; tabular_q, decided against the reference in round
    1, trains n seeds only. Changing tabular_q then reruns only its pairs, and the decisions are
    redone on its new scores."""
    agents = {"ref": 'kind = "random"', "twin": 'kind = "random"', "tabular_q": 'kind = "tabular_q"'}
    path = decide_study(tmp_path, 'compare_to = "ref"\nseeds_per_round = 5\nmax_rounds = 3', seeds=15, agents=agents)
    done = harness_here("compare", path, "--runs-dir", "runs", "--reports-dir", "reports", "--no-report", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "round 2 of 3: seeds 5, 6, 7, 8, 9 of ref, twin; comparisons still open: ref vs twin" in done.stdout
    assert "round 3 of 3: seeds 10, 11, 12, 13, 14 of ref, twin; comparisons still open: ref vs twin" in done.stdout
    assert trained_seeds(tmp_path, "ref") == trained_seeds(tmp_path, "twin") == list(range(15))
    assert trained_seeds(tmp_path, "tabular_q") == list(range(5))
    assert "  ref and twin are not shown different after 3 rounds, 15 seeds each." in done.stdout.splitlines()
    assert "  ref ends lower than tabular_q" in done.stdout

    path.write_text(path.read_text().replace('kind = "tabular_q"', 'kind = "tabular_q"\ndecay = 5'))
    changed = harness_here("compare", path, "--runs-dir", "runs", "--no-report", cwd=tmp_path)
    assert changed.returncode == 0, changed.stderr
    assert "5 run(s) complete, 0 failed, 30 already complete" in changed.stdout, changed.stdout
    assert all(run_json(tmp_path / "runs" / "decided" / "tabular_q" / f"seed_{s}") for s in range(5))


def compare_in(folder: pathlib.Path, path: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return harness("compare", path, "--runs-dir", "runs", "--reports-dir", "reports", "--jobs", "1", cwd=folder)


@pytest.mark.e2e
@pytest.mark.slow
def test_a_compare_killed_mid_round_resumes_to_the_same_decisions(tmp_path: pathlib.Path):
    """SIGKILL to the whole process group once the first run of round 1 is complete; the
    compare run again trains only the missing pairs and decides as an uninterrupted one did."""
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    for folder in (reference, killed):
        folder.mkdir()
        decide_study(folder, total_timesteps=10_000)
    reference_run = harness_here(
        "compare", "study.toml", "--runs-dir", "runs", "--reports-dir", "reports", cwd=reference
    )
    assert reference_run.returncode == 0, reference_run.stderr
    process = start(["compare", "study.toml", "--runs-dir", "runs", "--jobs", "1", "--no-report"], cwd=killed)
    try:
        runs = killed / "runs" / "decided"
        wait_for(lambda: any(run_json(run) for run in runs.glob("*/seed_*")), "a complete run", process)
    finally:
        kill_group(process)
    complete = [run for run in runs.glob("*/seed_*") if (run_json(run) or {}).get("status") == "complete"]
    assert 1 <= len(complete) < 10
    resumed = compare_in(killed, killed / "study.toml")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{10 - len(complete)} run(s) complete, 0 failed, {len(complete)} already complete" in resumed.stdout
    assert decisions_csv(killed) == decisions_csv(reference)
    for label in ("random", "tabular_q"):
        for seed in range(5):
            key = pathlib.Path("runs") / "decided" / label / f"seed_{seed}" / "evals.csv"
            assert (killed / key).read_bytes() == (reference / key).read_bytes(), key


RAY_SCRIPT = """
import sys
import harness

study = harness.study(sys.argv[1])
result = harness.compare(study, jobs=2, runs_dir="runs-" + sys.argv[2], executor=sys.argv[2], report=False)
print("LINES", list(result.decision_lines))
print("DECISIONS", result.decisions.to_dict("records"))
"""


@pytest.mark.e2e
@pytest.mark.slow
def test_harness_compare_on_ray_decides_as_the_local_executor(tmp_path: pathlib.Path):
    decide_study(tmp_path)
    outputs = script_on_each_executor(tmp_path, RAY_SCRIPT, "study.toml", keep=("LINES", "DECISIONS"), timeout=300)
    assert outputs["local"] == outputs["ray"]
    assert "tabular_q ends higher than random" in outputs["ray"][0]
    for seed in range(5):
        key = pathlib.Path("decided") / "random" / f"seed_{seed}" / "evals.csv"
        assert (tmp_path / "runs-local" / key).read_bytes() == (tmp_path / "runs-ray" / key).read_bytes()
    assert not (tmp_path / "runs-ray" / "decided" / "random" / "seed_5").exists()
