"""A study across envs end to end, as a user runs it: `harness compare` (CartPole-v1 and
Acrobot-v1, random and tabular_q, 2 seeds, small budgets), then `harness report`, the results model
(`harness.load`'s), a second compare, `harness train` on one env, and the resolved study's TOML
round trip. A one-env study keeps the flat layout. The commands run in this process
(`harness.cli.main`): tests/test_compare.py and tests/test_byo_agent.py run them as processes.

The study sets one per-env budget (Acrobot-v1: 900 steps, CartPole-v1: the study's 600) and one
per-agent per-env hyperparameter (tabular_q's grid on Acrobot-v1); each env is measured by its
own profile (CartPole: lasting to the time limit; Acrobot: reaching the goal before it).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess

import pytest
from helpers import agent_tables, harness_here, read_csv, study_text

from harness import analysis
from harness.studies import load_study, parse_study, resolve_study, to_toml

ENVS = ("CartPole-v1", "Acrobot-v1")
LABELS = ("random", "tabular_q")
SEEDS = (0, 1)
BUDGET = {"CartPole-v1": 600, "Acrobot-v1": 900}
LIMIT = {"CartPole-v1": 500, "Acrobot-v1": 500}
ACROBOT_BINS = [4, 4, 4, 4, 4, 4]

STUDY = f"""
[study]
name = "across"
env_ids = ["CartPole-v1", "Acrobot-v1"]
seeds = [0, 1]
total_timesteps = {BUDGET["CartPole-v1"]}
eval_freq = 300
n_eval_episodes = 2

[envs."Acrobot-v1"]
total_timesteps = {BUDGET["Acrobot-v1"]}

[agents.random]
kind = "random"

[agents.tabular_q]
kind = "tabular_q"

[agents.tabular_q.envs."Acrobot-v1"]
num_bins = {ACROBOT_BINS}
gamma = 0.99
"""

ONE_ENV = study_text(
    "flat", seeds=(0,), total_timesteps=300, eval_freq=300, n_eval_episodes=1, agents=agent_tables("random")
)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A user's folder holding the study, after `harness compare across.toml --jobs 2 --no-report`."""
    folder = tmp_path_factory.mktemp("across")
    (folder / "across.toml").write_text(STUDY)
    done = harness_here("compare", "across.toml", "--jobs", 2, "--no-report", "--runs-dir", "runs", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "across: 8 run(s) complete, 0 failed, 0 already complete" in done.stdout
    return folder


@pytest.fixture(scope="module")
def study_dir(work: pathlib.Path) -> pathlib.Path:
    return work / "runs" / "across"


def run_record(study_dir: pathlib.Path, env_id: str, label: str, seed: int) -> dict:
    return json.loads((study_dir / env_id / label / f"seed_{seed}" / "run.json").read_text())


@pytest.fixture(scope="module")
def reported(work: pathlib.Path, study_dir: pathlib.Path) -> tuple[subprocess.CompletedProcess[str], object]:
    """`harness report runs/across --out report --no-video` and the results model: `harness.load`
    is `harness.analysis.load` with 2,000 bootstrap resamples per interval; 200 here keep the test
    fast (the point values do not depend on them)."""
    done = harness_here("report", "runs/across", "--out", "report", "--no-video", cwd=work)
    return done, analysis.load(study_dir, reps=200)


# ----------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_run_folders_nest_by_env(study_dir: pathlib.Path) -> None:
    found = sorted(str(path.parent.relative_to(study_dir)) for path in study_dir.rglob("run.json"))
    expected = sorted(f"{env}/{label}/seed_{seed}" for env in ENVS for label in LABELS for seed in SEEDS)
    assert found == expected
    names = {p.name for p in study_dir.iterdir()} - {".lock", ".cache"}  # the store's lock, the report's cache
    assert sorted(names) == sorted([*ENVS, "study.toml"])
    for env in ENVS:
        for label in LABELS:
            for seed in SEEDS:
                run = study_dir / env / label / f"seed_{seed}"
                assert {"episodes.csv", "evals.csv", "model.zip", "run.json"} <= {p.name for p in run.iterdir()}


@pytest.mark.e2e
def test_each_run_has_its_envs_settings(study_dir: pathlib.Path) -> None:
    for env in ENVS:
        for label in LABELS:
            for seed in SEEDS:
                record = run_record(study_dir, env, label, seed)
                assert record["status"] == "complete"
                assert (record["env_id"], record["label"], record["seed"]) == (env, label, seed)
                assert record["total_timesteps"] == record["steps_done"] == BUDGET[env]
                assert record["profile"] == {
                    "success": "truncated" if env == "CartPole-v1" else "terminated",
                    "max_episode_steps": None,
                }
                assert record["evaluation"] == {"eval_freq": 300, "n_eval_episodes": 2, "eval_seed": 1_000_000}
                evals = read_csv(study_dir / env / label / f"seed_{seed}" / "evals.csv")
                steps = sorted({int(row["eval_step"]) for row in evals})
                assert steps == list(range(0, BUDGET[env] + 1, 300))


@pytest.mark.e2e
def test_the_per_agent_override_reached_the_acrobot_runs_only(study_dir: pathlib.Path) -> None:
    for seed in SEEDS:
        acrobot = run_record(study_dir, "Acrobot-v1", "tabular_q", seed)
        assert acrobot["hyperparameters"]["num_bins"] == ACROBOT_BINS
        assert acrobot["hyperparameters"]["gamma"] == 0.99
        assert acrobot["agent_info"]["num_bins"] == ACROBOT_BINS
        assert acrobot["agent_info"]["bounds_source"] == "the observation space's bounds"
        assert acrobot["agent_info"]["n_states"] == 4**6
        cartpole = run_record(study_dir, "CartPole-v1", "tabular_q", seed)
        assert "num_bins" not in cartpole["hyperparameters"]  # the default: the assignment's grid
        assert cartpole["hyperparameters"]["gamma"] == 1.0
        assert cartpole["agent_info"]["num_bins"] == [3, 3, 6, 6]
        assert cartpole["agent_info"]["bounds_source"] == "the assignment's CartPole bounds"


@pytest.mark.e2e
def test_success_follows_each_envs_rule(study_dir: pathlib.Path) -> None:
    limit_ends = {env: 0 for env in ENVS}
    for env in ENVS:
        for label in LABELS:
            for seed in SEEDS:
                run = study_dir / env / label / f"seed_{seed}"
                for row in read_csv(run / "episodes.csv"):
                    terminated, truncated = row["terminated"] == "true", row["truncated"] == "true"
                    expected = terminated if env == "Acrobot-v1" else truncated and not terminated
                    assert (row["success"] == "true") == expected
                evals = read_csv(run / "evals.csv")
                for row in evals:
                    # an evaluation episode ended by the env before the limit terminated; one of
                    # exactly the limit's length was cut by it (nothing terminates on the last step here)
                    at_limit = int(row["length"]) == LIMIT[env]
                    limit_ends[env] += at_limit
                    assert (row["success"] == "true") == (not at_limit if env == "Acrobot-v1" else at_limit)
                share = sum(row["success"] == "true" for row in evals) / len(evals)
                goal_or_limit = [int(r["length"]) < LIMIT[env] for r in evals]
                if env == "CartPole-v1":
                    goal_or_limit = [not ended_early for ended_early in goal_or_limit]
                assert share == sum(goal_or_limit) / len(evals)
    # the cases that tell the rules apart: Acrobot's time-limit ends are failures, and so are
    # CartPole's falls (its episodes here all end before the limit)
    assert limit_ends["Acrobot-v1"] > 0
    assert limit_ends["CartPole-v1"] == 0


@pytest.mark.e2e
def test_report_has_an_across_section_then_one_per_env(
    work: pathlib.Path, reported: tuple[subprocess.CompletedProcess[str], object]
) -> None:
    done, _ = reported
    assert done.returncode == 0, done.stderr
    out = work / "report"
    readme = (out / "README.md").read_text()
    headings = [line for line in readme.splitlines() if line.startswith("## ")]
    assert headings[:3] == ["## Across environments", "## CartPole-v1", "## Acrobot-v1"]
    for name in ("aggregate.csv", "performance_profile.png", "summary.csv"):
        assert (out / name).is_file(), name
    for env in ENVS:
        for picture in ("eval_return", "train_return", "success_rate"):
            assert (out / f"{env}_{picture}.png").stat().st_size > 0
    aggregate = read_csv(out / "aggregate.csv")
    assert sorted({(row["agent"], row["metric"]) for row in aggregate}) == sorted(
        (label, metric) for label in LABELS for metric in ("IQM", "mean", "optimality gap")
    )
    summary = read_csv(out / "summary.csv")
    assert sorted((row["env_id"], row["agent"]) for row in summary) == sorted((e, a) for e in ENVS for a in LABELS)
    # 2 seeds a side, across envs as on each: too few to order at 95%, so no agent is put above another
    across = readme.split("## CartPole-v1")[0]
    assert "| too few seeds (2, 2) to order at 95%; 4 each would do |" in across
    assert "overlaps no other agent's" not in readme and "every pair of agents is ordered" not in readme


@pytest.mark.e2e
def test_load_gives_the_aggregate_across_envs(
    work: pathlib.Path, reported: tuple[subprocess.CompletedProcess[str], object]
) -> None:
    done, results = reported
    assert list(results.envs) == list(ENVS)
    aggregate = results.aggregate
    metrics = aggregate.metrics
    assert sorted(zip(metrics["agent"], metrics["metric"])) == sorted(
        (label, metric) for label in LABELS for metric in ("IQM", "mean", "optimality gap")
    )
    for row in metrics.itertuples():
        assert row.low <= row.value <= row.high, row
        assert row.n_seeds == len(SEEDS)
    assert aggregate.left_out.empty
    assert len(aggregate.scores) == len(LABELS) * len(SEEDS) * len(ENVS)
    assert aggregate.scores["score"].between(0.0, 1.0).all()
    by_metric = metrics.set_index(["agent", "metric"])["value"]
    assert done.returncode == 0, done.stderr
    for row in read_csv(work / "report" / "aggregate.csv"):  # the report's point values (4 decimals)
        assert float(row["value"]) == pytest.approx(by_metric[(row["agent"], row["metric"])], abs=1e-4)
    for label in LABELS:
        assert by_metric[(label, "optimality gap")] == pytest.approx(1 - by_metric[(label, "mean")])
    # the aggregate's scores are the envs' own scores
    for env in ENVS:
        runs = results.envs[env].runs.set_index(["agent", "seed"])["score"]
        for row in aggregate.scores[aggregate.scores["env_id"] == env].itertuples():
            assert row.score == runs[(row.agent, row.seed)]
    evals = results.evals
    assert set(evals["env_id"]) == set(ENVS)
    acrobot = evals[evals["env_id"] == "Acrobot-v1"]
    assert (acrobot["success"] == (acrobot["length"] < LIMIT["Acrobot-v1"])).all()


@pytest.mark.e2e
def test_a_second_compare_skips_every_pair(work: pathlib.Path, study_dir: pathlib.Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in study_dir.rglob("run.json")}
    done = harness_here("compare", "across.toml", "--jobs", 2, "--no-report", "--runs-dir", "runs", cwd=work)
    assert done.returncode == 0, done.stderr
    assert "across: 0 run(s) complete, 0 failed, 8 already complete" in done.stdout
    assert {p: p.stat().st_mtime_ns for p in study_dir.rglob("run.json")} == before


@pytest.mark.e2e
def test_the_resolved_study_round_trips_through_toml(work: pathlib.Path, study_dir: pathlib.Path) -> None:
    resolved = resolve_study(load_study(str(work / "across.toml")))
    parsed = parse_study(to_toml(resolved), "round-trip.toml")
    assert parsed.env_ids == ENVS
    for view, again in zip(resolved.split(), parsed.split(), strict=True):
        assert view.settings == again.settings
        assert view.agents == again.agents
        assert view.profile == again.profile
    recorded = parse_study((study_dir / "study.toml").read_text(), "study.toml", check_files=False)
    assert [(v.settings, v.agents) for v in recorded.split()] == [(v.settings, v.agents) for v in resolved.split()]
    assert resolved.for_env("Acrobot-v1").agent("tabular_q").hyperparameters["num_bins"] == ACROBOT_BINS


@pytest.mark.e2e
def test_train_on_a_study_across_envs_needs_env(work: pathlib.Path) -> None:
    refused = harness_here("train", "tabular_q", "--seed", 0, "across.toml", cwd=work)
    assert refused.returncode == 2
    message = refused.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert "--env" in message and "CartPole-v1, Acrobot-v1" in message
    done = harness_here(
        "train", "tabular_q", "--seed", 0, "across.toml", "--env", "Acrobot-v1", "--runs-dir", "train_runs", cwd=work
    )
    assert done.returncode == 0, done.stderr
    run = work / "train_runs" / "across" / "Acrobot-v1" / "tabular_q" / "seed_0"
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete"
    assert (record["env_id"], record["total_timesteps"]) == ("Acrobot-v1", BUDGET["Acrobot-v1"])
    assert record["hyperparameters"]["num_bins"] == ACROBOT_BINS
    assert sorted(str(p.relative_to(work / "train_runs")) for p in (work / "train_runs").rglob("run.json")) == [
        os.path.join("across", "Acrobot-v1", "tabular_q", "seed_0", "run.json")
    ]


@pytest.mark.e2e
def test_a_one_env_study_keeps_the_flat_layout(tmp_path: pathlib.Path) -> None:
    (tmp_path / "flat.toml").write_text(ONE_ENV)
    done = harness_here("compare", "flat.toml", "--jobs", 1, "--no-report", "--runs-dir", "runs", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    study_dir = tmp_path / "runs" / "flat"
    assert sorted(str(p.relative_to(study_dir)) for p in study_dir.rglob("run.json")) == [
        os.path.join("random", "seed_0", "run.json")
    ]
    assert not (study_dir / "CartPole-v1").exists()
    record = json.loads((study_dir / "random" / "seed_0" / "run.json").read_text())
    assert (record["status"], record["env_id"]) == ("complete", "CartPole-v1")
