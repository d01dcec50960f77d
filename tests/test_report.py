"""The report on a synthetic runs folder made here, with known numbers: the numbers model
(`harness.model`), the README text (`harness.markdown`), the report folder (`harness.report`) and
how it is put in place (`harness.publish`)."""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import re
from collections.abc import Mapping, Sequence

import pandas as pd
import pytest

from harness import analysis
from harness.analysis import StudyResults
from harness.cli import main
from harness.errors import ReportError
from harness.report import Results, check_out, markdown, picture_names, publish, write_report
from harness.schema import EPISODE_COLUMNS, EPISODES, EVAL_COLUMNS, EVALS, EpisodeRow, EvalRow
from harness.studies import parse_study, resolve_study, run_settings, to_toml

ENV_ID = "CartPole-v1"
EVAL_SEED = 1_000_000
BUDGET = 1_000
REPS = 200
"""Bootstrap resamples in these tests (the report's default is 2,000): enough for the checks, fast."""
PICTURES = ("eval_return.png", "train_return.png", "success_rate.png", "final_return.png")
NOW = datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.UTC)
"""A fixed date for README text built here."""

# Final evaluation mean return of each seed: mean 275.0, IQM (middle two) 250.0.
FINAL = {0: 100.0, 1: 200.0, 2: 300.0, 3: 500.0}


def study_toml(agents: Mapping[str, str], seeds: Sequence[int], n_eval_episodes: int = 2) -> str:
    """A resolved study (as `compare` writes it) with a command on its first line; custom_dqn and
    sb3_dqn, when both are there, are declared a pair."""
    lines = [
        "[study]",
        'name = "synthetic"',
        f'env_id = "{ENV_ID}"',
        f"seeds = {list(seeds)}",
        f"total_timesteps = {BUDGET}",
        "eval_freq = 500",
        f"n_eval_episodes = {n_eval_episodes}",
        f"eval_seed = {EVAL_SEED}",
    ]
    if {"custom_dqn", "sb3_dqn"} <= set(agents):
        lines.append('paired = [["custom_dqn", "sb3_dqn"]]')
    for label, kind in agents.items():
        lines += ["", f"[agents.{label}]", f'kind = "{kind}"']
        if kind in ("custom_dqn", "sb3_dqn"):
            lines.append('preset = "zoo"')
    study = resolve_study(parse_study("\n".join(lines) + "\n", "test"))
    return "# The resolved study, as run by: harness compare synthetic.toml --runs-dir runs\n" + to_toml(study)


def write_run(
    study_dir: pathlib.Path,
    label: str,
    kind: str,
    seed: int,
    evals: Mapping[int, Sequence[float]],
    train_returns: Sequence[float] = (10.0, 20.0, 500.0),
    wall_time_s: float = 2.0,
) -> pathlib.Path:
    """A complete run folder: `evals` maps eval_step -> the returns of its episodes. CartPole's
    rule: an episode of 500 (the time limit) is truncated and a success; a shorter one terminated."""
    path = study_dir / label / f"seed_{seed}"
    path.mkdir(parents=True)
    episodes, step = [], 0
    for i, ret in enumerate(train_returns):
        episodes.append(
            EpisodeRow(
                episode=i,
                start_step=step,
                end_step=step + int(ret),
                episode_return=ret,
                length=int(ret),
                terminated=ret < 500,
                truncated=ret >= 500,
                success=ret >= 500,
                wall_time_s=0.1 * i,
            )
        )
        step += int(ret)
    (path / EPISODES.file).write_bytes(EPISODES.csv_bytes(episodes))
    eval_rows = [
        EvalRow(eval_step=s, episode=i, eval_seed=EVAL_SEED + i, episode_return=r, length=int(r), success=r >= 500)
        for s in sorted(evals)
        for i, r in enumerate(evals[s])
    ]
    (path / EVALS.file).write_bytes(EVALS.csv_bytes(eval_rows))
    record = {
        "status": "complete",
        "error": None,
        "study": "synthetic",
        "label": label,
        "seed": seed,
        "versions": {"python": "3.11.0", "torch": "2.0"},
        "machine": {"cpu": "Test CPU", "cores": 4, "torch_threads": 1},
        "model_file": "model.zip",
        "steps_done": BUDGET,
        "timings": {"wall_time_s": wall_time_s, "train_steps_per_s": 1000.0},
    }
    # kind, env, profile, budget, evaluation and resolved hyperparameters, as study.toml reads back.
    record.update(run_settings(parse_study((study_dir / "study.toml").read_text(), "test"), label))
    (path / "run.json").write_text(json.dumps(record))
    return path


def make_study(root: pathlib.Path, with_problems: bool = False) -> pathlib.Path:
    """Three agents x four seeds. custom_dqn's final returns are FINAL (two episodes, +-10 around
    it); sb3_dqn's are 50 lower on every episode; random's are 20. With `with_problems`, random's
    seed 3 failed and sb3_dqn's seed 2 has no folder."""
    agents = {"random": "random", "custom_dqn": "custom_dqn", "sb3_dqn": "sb3_dqn"}
    study_dir = root / "runs" / "synthetic"
    study_dir.mkdir(parents=True)
    (study_dir / "study.toml").write_text(study_toml(agents, sorted(FINAL)))
    for seed, final in FINAL.items():
        # custom_dqn: 0 at step 0, 250 at 500 (seed 3: 480), then its final return: seed 3 reaches 475 at 500.
        middle = 480.0 if seed == 3 else 250.0
        write_run(
            study_dir,
            "custom_dqn",
            "custom_dqn",
            seed,
            {0: [0.0, 0.0], 500: [middle, middle], 1000: [final - 10, final + 10]},
        )
        if not (with_problems and seed == 2):
            write_run(
                study_dir,
                "sb3_dqn",
                "sb3_dqn",
                seed,
                {0: [0.0, 0.0], 500: [10.0, 10.0], 1000: [final - 60, final - 40]},
            )
        if with_problems and seed == 3:
            (study_dir / "random" / "seed_3").mkdir(parents=True)
            (study_dir / "random" / "seed_3" / "run.json").write_text(
                json.dumps({"status": "failed", "error": "ValueError: boom", "label": "random", "seed": 3})
            )
        else:
            write_run(study_dir, "random", "random", seed, {0: [20.0, 20.0], 500: [20.0, 20.0], 1000: [20.0, 20.0]})
    return study_dir


BEFORE_ENV_PROFILES = (
    "agent,kind,runs_complete,runs_planned,final_return_mean,final_return_mean_low,final_return_mean_high,final_return_iqm,final_return_iqm_low,final_return_iqm_high,eval_success_rate,eval_success_rate_low,eval_success_rate_high,train_success_rate,threshold,steps_to_threshold_median,seeds_reaching_threshold,auc_normalised,wall_time_s_per_run,env_steps_per_s,failed_or_missing\n"
    "random,random,4,4,20.0000,20.0000,20.0000,20.0000,20.0000,20.0000,0.0000,0.0000,0.0000,0.3333,475.0000,,0,0.0400,2.0000,1000.0000,\n"
    "custom_dqn,custom_dqn,4,4,275.0000,150.0000,425.0000,250.0000,100.0000,500.0000,0.1250,0.0000,0.3750,0.3333,475.0000,500.0000,1,0.4450,2.0000,1000.0000,\n"
    "sb3_dqn,sb3_dqn,4,4,225.0000,100.0000,375.0000,200.0000,50.0000,450.0000,0.0000,0.0000,0.0000,0.3333,475.0000,,0,0.1225,2.0000,1000.0000,\n"
)
"""The synthetic study's summary.csv as the report wrote it before env profiles."""


def summary_row(out: pathlib.Path, agent: str) -> pd.Series:
    summary = pd.read_csv(out / "summary.csv")
    return summary.set_index("agent").loc[agent]


def section(readme: str, heading: str) -> str:
    """The text under a heading up to the next heading, table padding squeezed to one space."""
    lines = readme.splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("#")), len(lines))
    return "\n".join(re.sub(" +", " ", line) for line in lines[start:end])


def readme_row(text: str, first_cells: str) -> str:
    """The first table row of `text` starting with these cells (padding squeezed)."""
    rows = (re.sub(" +", " ", line) for line in text.splitlines())
    return next(row for row in rows if row.startswith(f"| {first_cells} |"))


def tree(root: pathlib.Path) -> list[pathlib.Path]:
    """The files and folders under `root`, but for the study folder's own bookkeeping (the store's
    `.lock`, the report's `.cache/`), which a report may leave even when it refuses its `out`."""
    return sorted(
        p.relative_to(root) for p in root.rglob("*") if not {".lock", ".cache"} & set(p.relative_to(root).parts)
    )


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The synthetic study's runs folder, made once for the tests that only read it."""
    return make_study(tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="module")
def results(study_dir: pathlib.Path) -> StudyResults:
    """The synthetic study's numbers model (default resamples, as the report)."""
    return analysis.load(study_dir)


@pytest.fixture(scope="module")
def report(results: StudyResults, tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, str]:
    """The synthetic study's report (default resamples), built once for the tests that only read it:
    (its folder, its README text)."""
    out = tmp_path_factory.mktemp("report") / "reports" / "synthetic"
    readme_path = write_report(results.study_dir, out, video=False)
    assert readme_path == out / "README.md"
    return out, readme_path.read_text()


# -- the numbers model --------------------------------------------------------------------------


def test_a_one_env_study_has_one_env_and_no_aggregate(results: StudyResults) -> None:
    assert list(results.envs) == [ENV_ID]
    assert not results.across_envs and results.aggregate is None
    env = results.envs[ENV_ID]
    assert env.profile.success == "truncated" and env.profile.return_range == (0.0, 500.0)
    assert env.profile.threshold == 475.0
    assert env.labels == ["random", "custom_dqn", "sb3_dqn"]
    assert results.command == "harness compare synthetic.toml --runs-dir runs"


def test_model_summary_holds_the_known_numbers(results: StudyResults) -> None:
    summary = results.envs[ENV_ID].summary.set_index("agent")
    row = summary.loc["custom_dqn"]
    assert row["final_return_mean"] == 275.0
    assert row["final_return_iqm"] == 250.0
    assert row["eval_success_rate"] == 0.125  # one episode of seed 3 (510: the time limit) of 8
    assert row["steps_to_threshold_median"] == 500.0 and row["seeds_reaching_threshold"] == 1
    assert row["threshold"] == 475.0  # CartPole's profile
    assert row["runs_complete"] == 4 and row["runs_planned"] == 4
    assert row["train_success_rate"] == pytest.approx(1 / 3)
    assert row["wall_time_s_per_run"] == 2.0 and row["env_steps_per_s"] == 1000.0
    assert row["failed_or_missing"] == ""
    assert summary.loc["random", "final_return_mean"] == 20.0
    assert summary.loc["random", "auc_normalised"] == 0.04  # 20 / 500 throughout
    assert summary.loc["sb3_dqn", "final_return_mean"] == 225.0
    # the model's summary is the env's, with env_id first
    assert list(results.summary.columns) == ["env_id", *results.envs[ENV_ID].summary.columns]
    assert set(results.summary["env_id"]) == {ENV_ID}


def test_model_runs_hold_each_seeds_numbers(results: StudyResults) -> None:
    runs = results.envs[ENV_ID].runs.set_index(["agent", "seed"])
    assert list(runs.reset_index().columns) == list(analysis.RUN_COLUMNS)
    first = runs.loc[("custom_dqn", 0)]
    assert first["status"] == "complete" and first["final_return"] == 100.0
    assert first["score"] == pytest.approx(0.2)  # 100 on [0, 500]
    # curve 0, 250, 100: ((0 + 250) / 2 * 500 + (250 + 100) / 2 * 500) / (1000 * 500)
    assert first["auc"] == pytest.approx(0.3)
    assert runs.loc[("custom_dqn", 3), "score"] == 1.0  # 500, the top of the range
    assert runs.loc[("custom_dqn", 3), "final_success"] == 0.5
    assert runs.loc[("custom_dqn", 3), "steps_to_threshold"] == 500.0
    assert runs.loc[("random", 2), "train_episodes"] == 3


def test_model_comparisons_hold_the_known_numbers(results: StudyResults) -> None:
    env = results.envs[ENV_ID]
    improvement = env.improvement.set_index(["x", "y"])
    assert list(improvement.index) == [("random", "custom_dqn"), ("random", "sb3_dqn"), ("custom_dqn", "sb3_dqn")]
    assert improvement.loc[("random", "custom_dqn"), "p"] == 0.0
    # custom_dqn 100, 200, 300, 500 against sb3_dqn 50, 150, 250, 450: 10 of 16 pairs higher
    assert improvement.loc[("custom_dqn", "sb3_dqn"), "p"] == 0.625
    paired = env.paired.set_index(["x", "y"]).loc[("custom_dqn", "sb3_dqn")]
    assert (paired["n_runs"], paired["n_pairs"]) == (4, 8)
    assert (paired["mean"], paired["low"], paired["high"]) == (50.0, 50.0, 50.0)
    assert (paired["wins"], paired["ties"], paired["losses"]) == (8, 0, 0)


def test_model_curves_are_means_across_seeds(results: StudyResults) -> None:
    curves = results.envs[ENV_ID].curves
    flat = curves[(curves["curve"] == "eval_return") & (curves["agent"] == "random")]
    assert list(flat["step"]) == [0.0, 500.0, 1000.0]
    assert list(flat["mean"]) == list(flat["low"]) == list(flat["high"]) == [20.0, 20.0, 20.0]
    custom = curves[(curves["curve"] == "eval_return") & (curves["agent"] == "custom_dqn")]
    assert list(custom["mean"]) == [0.0, (250.0 * 3 + 480.0) / 4, 275.0]
    success = curves[(curves["curve"] == "success_rate") & (curves["agent"] == "custom_dqn")]
    assert list(success["mean"]) == [0.0, 0.0, 0.125]
    assert set(curves["curve"]) == {"eval_return", "train_return", "success_rate"}


def test_model_long_tables_start_with_env_agent_and_seed(results: StudyResults) -> None:
    assert list(results.evals.columns) == ["env_id", "agent", "seed", *EVAL_COLUMNS]
    assert list(results.episodes.columns) == ["env_id", "agent", "seed", *EPISODE_COLUMNS]
    assert len(results.evals) == 3 * 4 * 3 * 2  # agents x seeds x evaluations x episodes
    assert len(results.episodes) == 3 * 4 * 3
    pairs = results.pairs
    assert list(pairs.columns) == ["env_id", "agent", "seed", "status", "error"]
    assert set(pairs["status"]) == {"complete"} and len(pairs) == 12


def test_same_runs_give_the_same_numbers(study_dir: pathlib.Path) -> None:
    first, second = analysis.load(study_dir, REPS), analysis.load(study_dir, REPS)
    pd.testing.assert_frame_equal(first.summary, second.summary)
    env_a, env_b = first.envs[ENV_ID], second.envs[ENV_ID]
    for name in ("runs", "curves", "improvement", "paired"):
        pd.testing.assert_frame_equal(getattr(env_a, name), getattr(env_b, name))


# -- the README text ----------------------------------------------------------------------------


def test_readme_text_is_the_same_for_the_same_runs_and_date(results: StudyResults, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out"
    text = markdown.readme(results, out, NOW, None)
    assert text == markdown.readme(results, out, NOW, None)
    assert "- **date**: 2024-01-02 03:04 UTC" in text
    assert f"harness report {results.study_dir} --out {out}" in text


def test_header_states_the_env_profile(report: tuple[pathlib.Path, str]) -> None:
    readme = report[1]
    line = next(line for line in readme.splitlines() if line.startswith("- **environment**"))
    assert line.startswith(f"- **environment**: {ENV_ID}; success = the pole stays up until the time limit (500 steps)")
    assert "(rule: `truncated`)" in line
    assert "[0.0, 500.0]" in line and "threshold 475.0" in line
    assert "- **budget**: 1,000 env steps per run, the same for every agent" in readme
    assert "- **study**: synthetic (3 agents x 4 seeds = 12 runs, 12 complete)" in readme


def test_one_env_report_keeps_its_sections(report: tuple[pathlib.Path, str]) -> None:
    headings = [line for line in report[1].splitlines() if line.startswith("#")]
    assert headings == [
        "# synthetic: cartpole-compare report",
        "## Summary",
        "## Pictures",
        "## Pairwise comparison",
        "### Probability of improvement",
        "### Declared pairs on the same episodes",
        "## An episode of each agent",
        "## Hyperparameters",
        "## Reproduce",
        "## Appendix: every run",
    ]


def test_summary_holds_the_known_numbers(report: tuple[pathlib.Path, str]) -> None:
    out, readme = report
    row = summary_row(out, "custom_dqn")
    assert row["final_return_mean"] == 275.0
    assert row["final_return_iqm"] == 250.0
    assert row["eval_success_rate"] == 0.125  # one episode of seed 3 (510: the time limit) of 8
    assert row["steps_to_threshold_median"] == 500.0 and row["seeds_reaching_threshold"] == 1
    assert row["runs_complete"] == 4 and row["train_success_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary_row(out, "random")["final_return_mean"] == 20.0
    assert summary_row(out, "random")["auc_normalised"] == 0.04  # 20 / 500 throughout
    assert summary_row(out, "sb3_dqn")["final_return_mean"] == 225.0
    assert "275.0 [" in readme_row(readme, "custom_dqn") and "250.0 [" in readme_row(readme, "custom_dqn")
    assert "20.0 [20.0, 20.0]" in readme_row(readme, "random")
    assert "custom_dqn has the highest IQM final return (250.0 [" in readme
    assert "harness compare synthetic.toml --runs-dir runs" in readme


def test_summary_csv_of_a_one_env_study_has_no_env_id(report: tuple[pathlib.Path, str], results: StudyResults) -> None:
    summary = pd.read_csv(report[0] / "summary.csv")
    assert list(summary.columns) == list(results.envs[ENV_ID].summary.columns)
    assert summary.columns[0] == "agent" and "env_id" not in summary.columns
    assert not (report[0] / "aggregate.csv").exists()


def test_summary_numbers_are_unchanged_from_before_env_profiles(report: tuple[pathlib.Path, str]) -> None:
    """A one-env study's statistics keep their random states: summary.csv (2,000 resamples) is, byte
    for byte, the one the report wrote before studies could span envs."""
    assert (report[0] / "summary.csv").read_text() == BEFORE_ENV_PROFILES


def test_auc_of_a_seed_follows_the_trapezoid_rule(report: tuple[pathlib.Path, str]) -> None:
    # custom_dqn seed 0's curve 0, 250, 100: ((0 + 250) / 2 * 500 + (250 + 100) / 2 * 500) / (1000 * 500)
    appendix = section(report[1], "## Appendix: every run")
    assert "| 0.300 |" in readme_row(appendix, "custom_dqn | 0")
    assert "| 0.200 |" in readme_row(appendix, "custom_dqn | 0")  # the score: 100 on [0, 500]


def test_summary_csv_and_markdown_agree(report: tuple[pathlib.Path, str]) -> None:
    out, readme = report
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["agent"]) == ["random", "custom_dqn", "sb3_dqn"]
    for _, row in summary.iterrows():
        line = readme_row(readme, row["agent"])
        for key, digits in (("final_return_mean", 1), ("final_return_iqm", 1), ("eval_success_rate", 2)):
            cell = f"{row[key]:.{digits}f} [{row[key + '_low']:.{digits}f}, {row[key + '_high']:.{digits}f}]"
            assert cell in line, (key, cell, line)
        assert f"| {row['auc_normalised']:.3f} |" in line
        assert f"| {row['wall_time_s_per_run']:.1f} |" in line


def test_paired_dqn_comparison_uses_the_shared_episodes(report: tuple[pathlib.Path, str]) -> None:
    readme = report[1]
    row = readme_row(section(readme, "### Declared pairs on the same episodes"), "custom_dqn | sb3_dqn")
    assert "| 4 | 8 |" in row  # 4 seeds, 8 episode pairs
    assert "+50.0 [+50.0, +50.0]" in row and "8 / 0 / 0" in row
    # 4 seeds: a sign-flip test has 2^4 = 16 sign patterns, too few for 95%: no verdict, however wide the gap
    assert "on average; too few seeds (4) to order at 95%; 6 would do." in readme
    assert "scores higher)" not in readme


def test_probability_of_improvement_table(report: tuple[pathlib.Path, str]) -> None:
    table = section(report[1], "### Probability of improvement")
    assert "| 0.00 [0.00, 0.00] | custom_dqn |" in readme_row(table, "random | custom_dqn")
    # custom_dqn 100, 200, 300, 500 against sb3_dqn 50, 150, 250, 450: 10 of 16 pairs higher
    assert "2 of 3 intervals exclude 0.50; the one that includes it: custom_dqn vs sb3_dqn (0.62 [" in table


def test_pictures_are_written_and_non_empty(report: tuple[pathlib.Path, str]) -> None:
    out, readme = report
    assert tuple(picture_names(None).values()) == PICTURES  # a one-env study's names, as before
    for name in PICTURES:
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5_000
        assert f"]({name})" in readme
    assert sorted(p.name for p in out.iterdir()) == sorted(["README.md", "summary.csv", *PICTURES])


def test_without_video_no_episode_is_rendered(report: tuple[pathlib.Path, str]) -> None:
    assert "Not rendered" in section(report[1], "## An episode of each agent")
    assert not list(report[0].glob("episode_*"))


# -- runs that do not count ---------------------------------------------------------------------


def test_failed_and_missing_pairs_are_marked(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out"
    study_dir = make_study(tmp_path, with_problems=True)
    readme = write_report(study_dir, out, video=False, reps=REPS).read_text()
    assert summary_row(out, "random")["failed_or_missing"] == "seed 3 failed"
    assert summary_row(out, "random")["runs_complete"] == 3
    assert summary_row(out, "sb3_dqn")["failed_or_missing"] == "seed 2 missing"
    assert "ValueError: boom" in readme
    assert "| missing |" in readme_row(section(readme, "## Appendix: every run"), "sb3_dqn | 2")
    problems = section(readme, "## Failed, incomplete, stale and missing runs")
    assert "| random | 3 | failed | ValueError: boom |" in problems
    assert "| sb3_dqn | 2 | missing | no run folder |" in problems
    paired = readme_row(section(readme, "### Declared pairs on the same episodes"), "custom_dqn | sb3_dqn")
    assert "| 3 | 6 |" in paired  # the 3 seeds both completed
    statuses = analysis.load(study_dir, REPS).pairs.set_index(["agent", "seed"])["status"]
    assert statuses[("random", 3)] == "failed" and statuses[("sb3_dqn", 2)] == "missing"
    assert (statuses == "complete").sum() == 10


def test_an_interrupted_run_is_incomplete(tmp_path: pathlib.Path) -> None:
    study_dir = make_study(tmp_path)
    (study_dir / "random" / "seed_1" / "run.json").unlink()  # a run killed before it finished
    results = analysis.load(study_dir, REPS)
    pair = results.pairs.set_index(["agent", "seed"]).loc[("random", 1)]
    assert pair["status"] == "incomplete" and "run.json" in pair["error"]
    assert results.envs[ENV_ID].summary.set_index("agent").loc["random", "runs_complete"] == 3
    readme = write_report(study_dir, tmp_path / "out", video=False, reps=REPS).read_text()
    assert "| incomplete |" in readme_row(section(readme, "## Appendix: every run"), "random | 1")


def test_a_run_made_with_other_settings_is_not_counted(tmp_path: pathlib.Path) -> None:
    study_dir = make_study(tmp_path)
    path = study_dir / "custom_dqn" / "seed_0" / "run.json"
    record = json.loads(path.read_text())
    record["total_timesteps"] = 999
    path.write_text(json.dumps(record))
    readme = write_report(study_dir, tmp_path / "out", video=False, reps=REPS).read_text()
    assert re.search(r"\| custom_dqn +\| 0 +\| stale +\| run with another total_timesteps", readme), readme
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    row = summary.set_index("agent").loc["custom_dqn"]
    assert (row["runs_complete"], row["runs_planned"]) == (3, 4)


def test_a_run_measured_by_another_success_rule_is_stale(tmp_path: pathlib.Path) -> None:
    study_dir = make_study(tmp_path)
    path = study_dir / "random" / "seed_2" / "run.json"
    record = json.loads(path.read_text())
    assert record["profile"] == {"success": "truncated", "max_episode_steps": None}
    record["profile"] = {"success": "terminated", "max_episode_steps": None}
    path.write_text(json.dumps(record))
    pairs = analysis.load(study_dir, REPS).pairs.set_index(["agent", "seed"])
    assert pairs.loc[("random", 2), "status"] == "stale"
    assert "profile" in pairs.loc[("random", 2), "error"]


def test_a_run_from_before_env_profiles_counts_as_cartpoles(tmp_path: pathlib.Path) -> None:
    """A run.json without `profile` was measured by CartPole's rule (lasting to the time limit)."""
    study_dir = make_study(tmp_path)
    path = study_dir / "random" / "seed_2" / "run.json"
    record = json.loads(path.read_text())
    del record["profile"]
    path.write_text(json.dumps(record))
    pairs = analysis.load(study_dir, REPS).pairs.set_index(["agent", "seed"])
    assert pairs.loc[("random", 2), "status"] == "complete"


def test_a_run_recorded_by_the_runner_is_not_stale(tmp_path: pathlib.Path) -> None:
    """run.json holds the resolved hyperparameters as the runner records them (`run_settings` of
    the resolved study); study.toml is the resolved study as `to_toml` writes it. A field at an
    empty (None) default, which TOML cannot hold, must not make them differ: the report counts
    such a run."""
    study_dir = make_study(tmp_path)
    resolved = resolve_study(parse_study((study_dir / "study.toml").read_text(), "test"))
    assert "exploration_decay" not in resolved.agent("custom_dqn").hyperparameters  # None: left out
    for seed in FINAL:
        path = study_dir / "custom_dqn" / f"seed_{seed}" / "run.json"
        record = json.loads(path.read_text())
        record.update(run_settings(resolved, "custom_dqn"))
        path.write_text(json.dumps(record))
    out = tmp_path / "out"
    write_report(study_dir, out, video=False, reps=REPS)
    assert summary_row(out, "custom_dqn")["runs_complete"] == 4


# -- declared pairs -----------------------------------------------------------------------------


def test_a_declared_pair_is_the_only_paired_comparison(tmp_path: pathlib.Path) -> None:
    study_dir = make_study(tmp_path)
    text = (study_dir / "study.toml").read_text()
    (study_dir / "study.toml").write_text(text.replace('paired = [["custom_dqn", "sb3_dqn"]]', "paired = []"))
    assert analysis.load(study_dir, REPS).envs[ENV_ID].paired.empty
    readme = write_report(study_dir, tmp_path / "out", video=False, reps=REPS).read_text()
    assert "declares no pairs" in section(readme, "### Declared pairs on the same episodes")
    (study_dir / "study.toml").write_text(text.replace('[["custom_dqn", "sb3_dqn"]]', '[["sb3_dqn", "random"]]'))
    paired = analysis.load(study_dir, REPS).envs[ENV_ID].paired
    assert list(zip(paired["x"], paired["y"])) == [("sb3_dqn", "random")]
    readme = write_report(study_dir, tmp_path / "out", video=False, reps=REPS).read_text()
    row = readme_row(section(readme, "### Declared pairs on the same episodes"), "sb3_dqn | random")
    assert "| 4 | 8 |" in row and "8 / 0 / 0" in row
    assert "custom_dqn | sb3_dqn" not in section(readme, "### Declared pairs on the same episodes")


def test_a_declared_pair_without_a_shared_seed_says_so(tmp_path: pathlib.Path) -> None:
    study_dir = make_study(tmp_path)
    for seed in FINAL:
        path = study_dir / "sb3_dqn" / f"seed_{seed}" / "run.json"
        path.write_text(json.dumps({"status": "failed", "error": "RuntimeError: x", "label": "sb3_dqn", "seed": seed}))
    paired = analysis.load(study_dir, REPS).envs[ENV_ID].paired
    assert (paired["n_runs"].tolist(), paired["n_pairs"].tolist()) == ([0], [0])
    readme = write_report(study_dir, tmp_path / "out", video=False, reps=REPS).read_text()
    assert "custom_dqn and sb3_dqn have no seed that both completed." in readme


# -- the same runs, the same report -------------------------------------------------------------


def test_same_runs_give_the_same_report(tmp_path: pathlib.Path) -> None:
    study_dir = make_study(tmp_path)
    first, second = tmp_path / "a" / "synthetic", tmp_path / "b" / "synthetic"
    write_report(study_dir, first, video=False, reps=REPS)
    write_report(study_dir, second, video=False, reps=REPS)
    assert sorted(p.name for p in first.iterdir()) == sorted(p.name for p in second.iterdir())
    for path in first.iterdir():
        if path.name == "README.md":
            continue
        assert path.read_bytes() == (second / path.name).read_bytes(), path.name

    def without_date_and_out(text: str, out: pathlib.Path) -> list[str]:
        return [line.replace(str(out), "OUT") for line in text.splitlines() if not line.startswith("- **date**")]

    assert without_date_and_out((first / "README.md").read_text(), first) == without_date_and_out(
        (second / "README.md").read_text(), second
    )


def test_write_results_of_a_loaded_model_is_the_same_report(study_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    by_folder = write_report(study_dir, tmp_path / "a", video=False, reps=REPS).parent
    by_model = Results.from_folder(study_dir, REPS).write_report(tmp_path / "b", video=False).parent
    assert (by_folder / "summary.csv").read_bytes() == (by_model / "summary.csv").read_bytes()


# -- bad input ----------------------------------------------------------------------------------


def test_a_corrupt_csv_is_named_and_the_old_report_kept(tmp_path: pathlib.Path) -> None:
    study_dir = make_study(tmp_path)
    out = tmp_path / "reports" / "synthetic"
    write_report(study_dir, out, video=False, reps=REPS)
    before = (out / "summary.csv").read_bytes()
    bad = study_dir / "sb3_dqn" / "seed_1" / "evals.csv"
    bad.write_text("eval_step,episode,eval_seed,return,length,success\n0,0,1000000,lots,9,false\n")
    with pytest.raises(ReportError, match=re.escape(str(bad))) as error:
        write_report(study_dir, out, video=False, reps=REPS)
    assert "\n" not in str(error.value)
    assert (out / "summary.csv").read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["synthetic"]  # no temporary folder left


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("eval_step,episode\n0,0\n", "missing column"),
        ("eval_step,episode,eval_seed,return,length,success\n", "no rows"),
        ("eval_step,episode,eval_seed,return,length,success\n0,0,1,nan,9,false\n", "non-finite"),
        ("\x00\x01garbage\n1,2,3", "corrupt CSV"),
    ],
)
def test_corrupt_csv_variants(tmp_path: pathlib.Path, content: str, why: str) -> None:
    study_dir = make_study(tmp_path)
    (study_dir / "random" / "seed_0" / "evals.csv").write_text(content)
    with pytest.raises(ReportError, match=why):
        analysis.load(study_dir, REPS)
    with pytest.raises(ReportError, match=why):
        write_report(study_dir, tmp_path / "out", video=False, reps=REPS)
    assert not (tmp_path / "out").exists()


def test_a_missing_csv_of_a_complete_run_is_named(tmp_path: pathlib.Path) -> None:
    study_dir = make_study(tmp_path)
    (study_dir / "random" / "seed_0" / "episodes.csv").unlink()
    with pytest.raises(ReportError, match=r"episodes.csv: missing"):
        write_report(study_dir, tmp_path / "out", video=False, reps=REPS)


def test_empty_and_missing_folders_are_one_line_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ReportError, match=r"no such folder"):
        write_report(tmp_path / "nothing", tmp_path / "out", video=False, reps=REPS)
    (tmp_path / "bare").mkdir()
    with pytest.raises(ReportError, match=r"study.toml: missing"):
        write_report(tmp_path / "bare", tmp_path / "out", video=False, reps=REPS)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "study.toml").write_text(study_toml({"random": "random"}, [0, 1]))
    with pytest.raises(ReportError, match=r"empty"):
        write_report(empty, tmp_path / "out", video=False, reps=REPS)
    with pytest.raises(ReportError, match=r"empty"):
        analysis.load(empty, REPS)
    assert not (tmp_path / "out").exists()


def test_cli_report_exit_codes(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such folder" in err
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "study.toml").write_text(study_toml({"random": "random"}, [0]))
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert "empty" in capsys.readouterr().err


def test_cli_report_writes_the_report(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    study_dir = make_study(tmp_path)
    out = tmp_path / "out"
    assert main(["report", str(study_dir), "--out", str(out), "--no-video"]) == 0
    assert f"report: {out / 'README.md'}" in capsys.readouterr().out
    assert summary_row(out, "custom_dqn")["final_return_mean"] == 275.0


# -- the report folder (harness.publish) --------------------------------------------------------


def old_report(out: pathlib.Path) -> None:
    """A previous report in `out`, with a file the new one does not have."""
    out.mkdir()
    for name in ("README.md", "summary.csv", "stale.png"):
        (out / name).write_bytes(b"old")


def test_an_existing_report_is_replaced_whole(tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out"
    old_report(out)
    (tmp_path / ".out.tmp-999999999").mkdir()  # left by a build that was killed (no such process)
    write_report(make_study(tmp_path), out, video=False, reps=REPS)
    assert not (out / "stale.png").exists() and (out / "README.md").read_bytes() != b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "runs"]


def test_a_report_moved_aside_by_a_killed_build_comes_back(tmp_path: pathlib.Path) -> None:
    old_report(tmp_path / ".out.old-999999999")  # killed between moving the old report and the new one in
    study_dir = make_study(tmp_path)
    with pytest.raises(ReportError):  # this build fails too (its --out overlaps the runs) ...
        write_report(study_dir, study_dir, video=False, reps=REPS)
    write_report(study_dir, tmp_path / "other", video=False, reps=REPS)
    assert (tmp_path / ".out.old-999999999").exists()  # ... and a build of another folder leaves it alone
    write_report(study_dir, tmp_path / "out", video=False, reps=REPS)
    assert not (tmp_path / ".out.old-999999999").exists()
    assert (tmp_path / "out" / "README.md").read_bytes() != b"old"


def test_a_killed_builds_report_is_brought_back_before_a_failing_build(tmp_path: pathlib.Path) -> None:
    """The previous report was moved aside and the build killed: the next build of that folder
    puts it back first, so that a failing build still leaves the previous report in place."""
    old_report(tmp_path / ".out.old-999999999")
    runs = tmp_path / "runs"
    runs.mkdir()

    def fail(folder: pathlib.Path) -> None:
        (folder / "README.md").write_text("half")
        raise RuntimeError("killed midway")

    with pytest.raises(RuntimeError, match="killed midway"):
        publish(tmp_path / "out", runs, fail)
    assert (tmp_path / "out" / "README.md").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "runs"]


def test_a_failing_build_leaves_the_previous_report_and_no_temporary_folder(tmp_path: pathlib.Path) -> None:
    out, runs = tmp_path / "out", tmp_path / "runs"
    old_report(out)
    runs.mkdir()

    def fail(folder: pathlib.Path) -> None:
        (folder / "README.md").write_text("new")
        raise ValueError("a picture failed")

    with pytest.raises(ValueError, match="a picture failed"):
        publish(out, runs, fail)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "stale.png", "summary.csv"]
    assert (out / "README.md").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "runs"]

    def build(folder: pathlib.Path) -> None:
        (folder / "README.md").write_text("new")
        (folder / "summary.csv").write_text("agent\n")

    assert publish(out, runs, build) == out / "README.md"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "summary.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "runs"]


def test_a_build_running_in_another_process_keeps_its_folder(tmp_path: pathlib.Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    alive = tmp_path / f".out.tmp-{os.getppid()}"  # a process that is running: not a leftover
    alive.mkdir()
    publish(tmp_path / "out", runs, lambda folder: (folder / "README.md").write_text("new"))
    assert alive.is_dir()


@pytest.mark.parametrize("where", ["data folder", "runs folder", "inside runs", "around runs", "a file"])
def test_an_out_folder_that_is_not_a_report_is_refused_and_kept(tmp_path: pathlib.Path, where: str) -> None:
    study_dir = make_study(tmp_path)
    out = {
        "data folder": tmp_path / "data",
        "runs folder": study_dir,
        "inside runs": study_dir / "report",
        "around runs": tmp_path,
        "a file": tmp_path / "notes.txt",
    }[where]
    if where == "data folder":
        out.mkdir()
        (out / "precious.csv").write_text("keep me")
    if where == "a file":
        out.write_text("keep me")
    before = tree(tmp_path)
    with pytest.raises(ReportError) as error:
        write_report(study_dir, out, video=False, reps=REPS)
    assert "\n" not in str(error.value) and str(out) in str(error.value)
    assert tree(tmp_path) == before
    with pytest.raises(ReportError):
        check_out(out, study_dir)


def test_a_report_with_a_subfolder_is_not_replaced(tmp_path: pathlib.Path) -> None:
    study_dir = make_study(tmp_path)
    out = tmp_path / "out"
    old_report(out)
    (out / "notes").mkdir()  # someone's folder inside: the report would delete it
    before = tree(tmp_path)
    with pytest.raises(ReportError, match="not a report"):
        write_report(study_dir, out, video=False, reps=REPS)
    assert tree(tmp_path) == before


# -- episode videos (harness.media) -------------------------------------------------------------


def test_episodes_are_rendered_to_gif_and_mp4(tmp_path: pathlib.Path) -> None:
    from harness.agents import resolve_kind
    from harness.conditions import make_training_env

    study_dir = tmp_path / "runs" / "synthetic"
    study_dir.mkdir(parents=True)
    (study_dir / "study.toml").write_text(study_toml({"tabular_q": "tabular_q"}, [0, 1]))
    for seed, final in ((0, 9.0), (1, 11.0)):
        path = write_run(study_dir, "tabular_q", "tabular_q", seed, {0: [9.0, 9.0], 1000: [final, final]})
        env = make_training_env(ENV_ID, seed)
        kind = resolve_kind("tabular_q")
        kind.build(env, seed, kind.resolve({}, env_id=ENV_ID)).save(path / "model")
        env.close()
    out = tmp_path / "out"
    readme = write_report(study_dir, out, video=True, reps=REPS).read_text()
    for name in ("episode_tabular_q.gif", "episode_tabular_q.mp4"):
        assert (out / name).stat().st_size > 1_000
    row = readme_row(section(readme, "## An episode of each agent"), "tabular_q | 0")  # lower middle seed of two
    assert "![tabular_q](episode_tabular_q.gif)" in row and "(episode_tabular_q.mp4)" in row


def test_an_episode_that_cannot_be_rendered_is_a_row_not_a_failure(tmp_path: pathlib.Path) -> None:
    study_dir = make_study(tmp_path)  # no model files were saved
    out = tmp_path / "out"
    readme = write_report(study_dir, out, video=True, reps=REPS).read_text()
    episodes = section(readme, "## An episode of each agent")
    for label in ("random", "custom_dqn", "sb3_dqn"):
        assert "not rendered: " in readme_row(episodes, label)
    assert "model file missing" in episodes
    assert not list(out.glob("episode_*"))
