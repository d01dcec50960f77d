"""Golden runs: every hand-written built-in kind (the random agent, both tabular agents, the DQN's
fast and reference updates and its assignment preset), 2 seeds of 3,000 env steps, trained again
and compared with the files the code before issue 25 made (`tests/data/golden/`): its evaluations,
its training episodes and its SB3 log (every `train/loss` to 17 digits), bit for bit but for the
wall times. Edits of `custom_agents/` that change no result keep these; the DQN's float rounding
depends on the CPU, so the files are this project's machine's (an Intel Xeon, 2 cores).
"""

from __future__ import annotations

import json
import pathlib
import shutil

import pandas as pd
import pytest
from helpers import harness_here

GOLDEN = pathlib.Path(__file__).parent / "data" / "golden"

pytestmark = pytest.mark.e2e


def progress_of(run: pathlib.Path) -> pd.DataFrame:
    """SB3's log of a run, but its times (fps, elapsed), in one column order."""
    progress = pd.read_csv(run / "progress.csv", float_precision="round_trip")
    return progress[sorted(c for c in progress.columns if not c.startswith("time/"))]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    folder = tmp_path_factory.mktemp("golden")
    shutil.copy(GOLDEN / "golden.toml", folder / "golden.toml")
    done = harness_here("compare", "golden.toml", "--runs-dir", "runs", "--no-report", "--jobs", "2", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "runs" / "golden"


@pytest.mark.parametrize(
    "pair", sorted(str(p.relative_to(GOLDEN / "runs")) for p in (GOLDEN / "runs").glob("*/seed_*"))
)
def test_a_built_in_kind_gives_the_golden_runs_files(trained: pathlib.Path, pair: str):
    golden, run = GOLDEN / "runs" / pair, trained / pair
    assert (run / "evals.csv").read_bytes() == (golden / "evals.csv").read_bytes()
    episodes = pd.read_csv(run / "episodes.csv", float_precision="round_trip").drop(columns=["wall_time_s"])
    expected_episodes = pd.read_csv(golden / "episodes.csv", float_precision="round_trip")
    pd.testing.assert_frame_equal(episodes, expected_episodes, check_exact=True)
    expected_progress = pd.read_csv(golden / "progress.csv", float_precision="round_trip")
    pd.testing.assert_frame_equal(progress_of(run), expected_progress, check_exact=True)
    record, expected = json.loads((run / "run.json").read_text()), json.loads((golden / "run.json").read_text())
    assert (record["steps_done"], record["final_eval_mean_return"]) == (
        expected["steps_done"],
        expected["final_eval_mean_return"],
    )
    assert record["hyperparameters"] == expected["hyperparameters"]
    # The code identity the runs before issue 25 recorded: its rewrite is declared neutral
    # (`harness.agents.NEUTRAL_REWRITES`), so those runs are reused, not made again.
    assert record["code"] == expected["code"]
