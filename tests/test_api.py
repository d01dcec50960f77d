"""The harness from Python (`harness.compare`, `harness.load`): what a notebook gets back, the
results as long-format DataFrames matching the run files, and errors as exceptions."""

from __future__ import annotations

import io
import pathlib
import subprocess
import sys

import pandas as pd
import pytest
from helpers import agent_tables, study_text

import harness
from harness.analysis import StudyResults
from harness.api import CompareResult
from harness.schema import EPISODE_COLUMNS, EVAL_COLUMNS
from harness.studies import StudyError, with_options

LABELS = ("random", "tabular_q")
TINY = study_text("api-tiny", total_timesteps=500, eval_freq=250, n_eval_episodes=2, agents=agent_tables(*LABELS))
SEEDS = (0, 1)
PAIRS = sorted(f"{label}/seed_{seed}" for label in LABELS for seed in SEEDS)


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> tuple[pathlib.Path, CompareResult]:
    """`harness.compare` of the tiny study, report without video: (folder, result)."""
    root = tmp_path_factory.mktemp("api")
    (root / "tiny.toml").write_text(TINY)
    result = harness.compare(
        root / "tiny.toml",
        runs_dir=root / "runs",
        reports_dir=root / "reports",
        jobs=2,
        video=False,
        stream=io.StringIO(),
    )
    return root, result


@pytest.fixture(scope="module")
def results(compared: tuple[pathlib.Path, CompareResult]) -> StudyResults:
    root, _ = compared
    return harness.load(root / "runs" / "api-tiny")


@pytest.mark.e2e
def test_compare_returns_what_it_did(compared: tuple[pathlib.Path, CompareResult]):
    root, result = compared
    assert isinstance(result, CompareResult)
    assert result.ok and result.failed == ()
    assert sorted(result.completed) == PAIRS
    assert result.skipped == ()
    assert result.study_dir == root / "runs" / "api-tiny"
    assert result.wall_time_s > 0
    assert result.report == root / "reports" / "api-tiny" / "README.md"
    assert result.report.is_file() and (result.report.parent / "summary.csv").is_file()
    assert result.report_error == ""


@pytest.mark.e2e
def test_compare_again_skips_the_complete_pairs(compared: tuple[pathlib.Path, CompareResult]):
    root, _ = compared
    again = harness.compare(root / "tiny.toml", runs_dir=root / "runs", jobs=1, report=False, stream=io.StringIO())
    assert sorted(again.skipped) == PAIRS
    assert again.completed == () and again.failed == ()
    assert again.report is None


@pytest.mark.e2e
def test_summary_has_one_row_per_agent_with_the_reports_columns(
    compared: tuple[pathlib.Path, CompareResult], results: StudyResults
):
    root, _ = compared
    summary = results.summary
    report_summary = pd.read_csv(root / "reports" / "api-tiny" / "summary.csv")
    # a one-env study's summary.csv has no env_id column; the model's summary starts with it
    assert "env_id" not in report_summary.columns
    assert list(summary.columns) == ["env_id", *report_summary.columns]
    assert set(summary["env_id"]) == {"CartPole-v1"}
    assert list(summary["agent"]) == list(LABELS) == list(report_summary["agent"])
    assert list(summary["runs_complete"]) == [len(SEEDS)] * len(LABELS)


@pytest.mark.e2e
@pytest.mark.parametrize(("which", "columns"), [("evals", EVAL_COLUMNS), ("episodes", EPISODE_COLUMNS)])
def test_evals_and_episodes_are_long_format_with_env_agent_and_seed_first(
    results: StudyResults, which: str, columns: tuple[str, ...]
):
    frame = getattr(results, which)
    assert list(frame.columns) == ["env_id", "agent", "seed", *columns]
    assert set(frame["env_id"]) == {"CartPole-v1"}
    total = 0
    for label in LABELS:
        for seed in SEEDS:
            from_csv = pd.read_csv(results.study_dir / label / f"seed_{seed}" / f"{which}.csv")
            part = frame[(frame["agent"] == label) & (frame["seed"] == seed)]
            assert len(part) == len(from_csv) > 0, (label, seed)
            # The CSV's values, row for row.
            pd.testing.assert_frame_equal(
                part.drop(columns=["env_id", "agent", "seed"]).reset_index(drop=True), from_csv, check_dtype=False
            )
            rows = from_csv
            total += len(rows)
    assert len(frame) == total
    assert set(frame["agent"]) == set(LABELS) and set(frame["seed"]) == set(SEEDS)


@pytest.mark.e2e
def test_evals_are_the_same_episodes_for_every_agent(results: StudyResults):
    evals = results.evals
    per_run = {key: list(group["eval_seed"]) for key, group in evals.groupby(["agent", "seed"])}
    assert len(set(map(tuple, per_run.values()))) == 1
    assert sorted(evals["eval_step"].unique()) == [0, 250, 500]


@pytest.mark.e2e
def test_pairs_have_a_status(results: StudyResults):
    pairs = results.pairs
    assert list(pairs.columns) == ["env_id", "agent", "seed", "status", "error"]
    assert set(pairs["env_id"]) == {"CartPole-v1"}
    assert sorted(f"{a}/seed_{s}" for a, s in zip(pairs["agent"], pairs["seed"])) == PAIRS
    assert set(pairs["status"]) == {"complete"}


@pytest.mark.e2e
def test_write_report_writes_readme_and_summary(results: StudyResults, tmp_path: pathlib.Path):
    out = tmp_path / "report"
    readme = results.write_report(out, video=False)
    assert readme == out / "README.md"
    assert readme.is_file() and (out / "summary.csv").is_file()
    assert "api-tiny" in readme.read_text()
    assert list(pd.read_csv(out / "summary.csv")["agent"]) == list(LABELS)


def test_a_bad_study_raises_study_error_not_system_exit(tmp_path: pathlib.Path):
    (tmp_path / "bad.toml").write_text(TINY.replace('kind = "random"', 'kind = "no_such_kind"'))
    with pytest.raises(StudyError, match=r"bad\.toml: agents\.random\.kind"):
        harness.compare(tmp_path / "bad.toml", runs_dir=tmp_path / "runs", reports_dir=tmp_path / "reports")
    (tmp_path / "bad_class.toml").write_text(TINY.replace('kind = "random"', 'kind = "collections:OrderedDict"'))
    with pytest.raises(StudyError, match=r"bad_class\.toml: agents\.random\.kind"):
        harness.compare(tmp_path / "bad_class.toml", runs_dir=tmp_path / "runs", reports_dir=tmp_path / "reports")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml", "bad_class.toml"]


def test_an_unknown_executor_raises_study_error(tmp_path: pathlib.Path):
    (tmp_path / "tiny.toml").write_text(TINY)
    with pytest.raises(StudyError, match="executor"):
        harness.compare(tmp_path / "tiny.toml", executor="nope", runs_dir=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


@pytest.mark.e2e
def test_runs_of_an_agent_with_a_none_default_are_complete_when_loaded(tmp_path: pathlib.Path):
    (tmp_path / "tiny.toml").write_text(TINY.replace("bounds = ", "# bounds = "))
    result = harness.compare(
        tmp_path / "tiny.toml", agents=["tabular_q"], seeds=[0], total_timesteps=300, runs_dir=tmp_path / "runs",
        jobs=1, report=False, stream=io.StringIO(),
    )  # fmt: skip
    assert result.completed == ("tabular_q/seed_0",)
    pairs = harness.load(tmp_path / "runs" / "api-tiny").pairs
    assert list(pairs["status"]) == ["complete"], pairs.to_dict("records")


def test_import_harness_does_not_import_torch():
    code = "import sys, harness\nassert callable(harness.compare)\nprint('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.e2e
def test_a_script_calling_compare_without_a_main_guard_runs_once(tmp_path: pathlib.Path):
    """multiprocessing would run the main script again in each worker (which would start a study
    there); the local executor's workers do not rerun it."""
    (tmp_path / "s.toml").write_text(TINY)
    (tmp_path / "script.py").write_text(
        "import harness\n"
        "result = harness.compare('s.toml', jobs=2, report=False, stream=open('progress.txt', 'w'))\n"
        "print('COMPLETED', len(result.completed), 'FAILED', len(result.failed))\n"
    )
    done = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("COMPLETED") == 1
    assert f"COMPLETED {len(PAIRS)} FAILED 0" in done.stdout
    assert "Traceback" not in done.stderr


def test_seeds_and_agents_may_be_given_as_on_the_command_line(tmp_path: pathlib.Path):
    (tmp_path / "s.toml").write_text(TINY)
    loaded = harness.study(tmp_path / "s.toml")
    study = with_options(loaded, None, "tabular_q", "1-1")
    assert study.labels == ("tabular_q",)
    assert study.settings.seeds == (1,)
    with pytest.raises(StudyError, match="seeds: invalid seeds"):
        with_options(loaded, None, None, "zero")
    with pytest.raises(StudyError, match=r"^agents: unknown label 'nope'"):
        with_options(loaded, None, "random,nope", None)
