"""The study's TensorBoard views (docs/design.md, "TensorBoard"), read by a real TensorBoard process
on loopback through its HTTP API: the comparison view's HParams experiment (every agent's
hyperparameters and `agent`, `kind`, `seed`, `env_id`; the report's per-run figures as metrics), a
session per run whose metrics are the report's figures, the custom-scalars layout's margin charts,
one `<label>/across_seeds` band per agent equal to the report's curves to float32; a tiny tune's
trials as sessions of the tune view and absent from the comparison view; `harness tensorboard`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import pathlib
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from helpers import harness_here, study_text

import harness
from harness.analysis import columns as col
from harness.conditions import tensorboard

pytestmark = pytest.mark.e2e

TUNE = """
[tune]
trials = 2
seeds = [100]
concurrent_trials = 2
pruner = "none"
finalists = 1
total_timesteps = 600
"""
AGENTS = {"random": 'kind = "random"', "tabular_q": 'kind = "tabular_q"\ngamma = 0.95'}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def board(logdir: pathlib.Path, expected_runs: set[str]) -> Iterator[str]:
    """A TensorBoard process on loopback over `logdir`, once it lists `expected_runs`; its URL."""
    port = free_port()
    binary = pathlib.Path(sys.executable).with_name("tensorboard")
    process = subprocess.Popen(
        [str(binary), "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port), "--reload_interval", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(OSError):
                if expected_runs <= set(get(url, "/data/runs")):
                    break
            assert process.poll() is None, "tensorboard exited"
            assert time.monotonic() < deadline, "tensorboard did not list the runs"
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def get(url: str, path: str) -> Any:
    with urllib.request.urlopen(url + path, timeout=30) as response:
        return json.loads(response.read())


def post(url: str, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def session_groups(url: str, metric: str) -> list[dict[str, Any]]:
    body = {
        "experimentName": "",
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        "colParams": [{"metric": {"tag": metric}}],
        "startIndex": 0,
        "sliceSize": 1000,
    }
    return post(url, "/data/plugin/hparams/session_groups", body)["sessionGroups"]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A compared study of 2 agents x 2 seeds, with its report, and a tiny tune in its folder."""
    folder = tmp_path_factory.mktemp("board")
    text = study_text(name="board", seeds=(0, 1), total_timesteps=1500, eval_freq=500, agents=AGENTS)
    (folder / "study.toml").write_text(text + TUNE)
    done = harness_here("compare", "study.toml", "--runs-dir", "runs", "--reports-dir", "reports", cwd=folder)
    assert done.returncode == 0, done.stderr
    tuned = harness_here("tune", "study.toml", "--runs-dir", "runs", "--agents", "tabular_q", cwd=folder)
    assert tuned.returncode == 0, tuned.stderr
    return folder


COMPARISON_RUNS = {
    *(f"{label}/seed_{seed}" for label in AGENTS for seed in (0, 1)),
    *(f"{label}/across_seeds" for label in AGENTS),
    ".",
}


def test_the_experiment_has_every_hyperparameter_and_the_reports_figures(study: pathlib.Path):
    results = harness.load(study / "runs" / "board")
    with board(study / "runs" / "board" / ".tensorboard" / "comparison", COMPARISON_RUNS) as url:
        experiment = post(url, "/data/plugin/hparams/experiment", {"experimentName": ""})
    columns = {info["name"]: info for info in experiment["hparamInfos"]}
    view = results.study
    expected = {"agent", "kind", "seed", "env_id"}
    for spec in view.agents:
        expected |= set(spec.hyperparameters)
    assert set(columns) == expected
    assert columns["agent"]["domainDiscrete"] == ["random", "tabular_q"]
    assert columns["seed"]["type"] == "DATA_TYPE_FLOAT64"
    assert columns["kind"]["type"] == "DATA_TYPE_STRING" and columns["gamma"]["type"] == "DATA_TYPE_FLOAT64"
    metrics = [info["name"]["tag"] for info in experiment["metricInfos"]]
    assert metrics == [
        "hparams/final_return",
        "hparams/final_success_rate",
        "hparams/auc_normalised",
        "hparams/env_steps_to_threshold",
        "hparams/env_steps_per_s",
    ]


def test_a_session_per_run_whose_metrics_are_the_reports_per_run_figures(study: pathlib.Path):
    results = harness.load(study / "runs" / "board")
    runs = results.envs["CartPole-v1"].runs.set_index([col.AGENT, col.SEED])
    with board(study / "runs" / "board" / ".tensorboard" / "comparison", COMPARISON_RUNS) as url:
        groups = session_groups(url, "hparams/final_return")
    assert sorted(group["name"] for group in groups) == sorted(f"{a}/seed_{s}" for a in AGENTS for s in (0, 1))
    figures = {
        "hparams/final_return": col.FINAL_RETURN,
        "hparams/final_success_rate": col.FINAL_SUCCESS,
        "hparams/auc_normalised": col.AUC,
        "hparams/env_steps_per_s": col.STEPS_PER_S,
    }
    for group in groups:
        label, seed = group["hparams"]["agent"], int(group["hparams"]["seed"])
        assert group["name"] == f"{label}/seed_{seed}" and group["hparams"]["env_id"] == "CartPole-v1"
        values = {metric["name"]["tag"]: metric["value"] for metric in group["metricValues"]}
        for tag, column in figures.items():
            assert values[tag] == np.float32(runs.loc[(label, seed), column]), (group["name"], tag)
    tabular = next(group for group in groups if group["hparams"]["agent"] == "tabular_q")
    assert tabular["hparams"]["gamma"] == 0.95 and tabular["hparams"]["kind"] == "tabular_q"


def test_one_band_per_agent_equal_to_the_reports_curves_and_a_margin_chart_each(study: pathlib.Path):
    results = harness.load(study / "runs" / "board")
    curves = results.envs["CartPole-v1"].curves
    with board(study / "runs" / "board" / ".tensorboard" / "comparison", COMPARISON_RUNS) as url:
        layout = get(url, "/data/plugin/custom_scalars/layout")
        bands = {}
        for label in AGENTS:
            for curve, (tag, _) in (
                (col.EVAL_RETURN_CURVE, ("eval/mean_reward", "")),
                (col.SUCCESS_RATE_CURVE, ("eval/success_rate", "")),
                (col.TRAIN_RETURN_CURVE, ("episode/return", "")),
            ):
                for suffix, column in (("", col.MEAN), ("_lower", col.LOW), ("_upper", col.HIGH)):
                    query = f"/data/plugin/scalars/scalars?run={label}/across_seeds&tag={tag}{suffix}"
                    bands[(label, curve, column)] = {int(step): value for _, step, value in get(url, query)}
    (category,) = layout["category"]
    charts = {chart["title"]: chart["margin"]["series"][0] for chart in category["chart"]}
    assert charts["evaluation return"] == {
        "value": "eval/mean_reward",
        "lower": "eval/mean_reward_lower",
        "upper": "eval/mean_reward_upper",
    }
    assert len(charts) == 3
    for (label, curve, column), points in bands.items():
        rows = curves[(curves[col.AGENT] == label) & (curves[col.CURVE] == curve)].dropna(subset=[col.MEAN])
        expected = {int(step): np.float32(value) for step, value in zip(rows[col.STEP], rows[column])}
        assert points == expected, (label, curve, column)
        assert len(points) >= 3


def test_the_tunes_trials_are_sessions_of_the_tune_view_and_not_in_the_comparison(study: pathlib.Path):
    runs = study / "runs" / "board"
    with board(runs / ".tensorboard" / "comparison", COMPARISON_RUNS) as url:
        assert not [run for run in get(url, "/data/runs") if "trial_" in run]
    with board(runs / "tune", {"tabular_q/trial_0000", "tabular_q/trial_0001", "."}) as url:
        groups = session_groups(url, "tune/value")
        experiment = post(url, "/data/plugin/hparams/experiment", {"experimentName": ""})
    assert sorted(group["name"] for group in groups) == ["tabular_q/trial_0000", "tabular_q/trial_0001"]
    start = next(group for group in groups if group["name"] == "tabular_q/trial_0000")
    assert start["hparams"]["start"] is True and start["hparams"]["state"] == "complete"
    values = {metric["name"]["tag"]: metric["value"] for metric in start["metricValues"]}
    record = harness.study(str(runs / "tuned.toml")).agent("tabular_q").tuned
    assert record is not None
    assert values["tune/value"] == np.float32(record["start_value"])
    assert values["tune/validation_value"] == np.float32(record["validation_start"])
    names = {info["name"] for info in experiment["hparamInfos"]}
    assert {"agent", "trial", "state", "start", "finalist", "chosen", "gamma", "num_bins"} <= names


def test_a_rebuilt_report_rewrites_the_view_and_a_superseded_run_leaves_it(tmp_path: pathlib.Path):
    text = study_text(name="again", seeds=(0,), total_timesteps=600, eval_freq=300, agents=AGENTS)
    (tmp_path / "study.toml").write_text(text)
    assert harness_here("compare", "study.toml", "--runs-dir", "runs", "--no-report", cwd=tmp_path).returncode == 0
    assert not (tmp_path / "runs" / "again" / ".tensorboard").exists()  # written with a report only
    assert harness_here("report", "runs/again", "--out", "reports/again", "--no-video", cwd=tmp_path).returncode == 0
    session = tmp_path / "runs" / "again" / "tabular_q" / "seed_0" / f"{tensorboard.FILE_PREFIX}hparams"
    first = session.read_bytes()
    (tmp_path / "study.toml").write_text(text.replace("gamma = 0.95", "gamma = 0.9"))
    assert harness_here("compare", "study.toml", "--runs-dir", "runs", cwd=tmp_path).returncode == 0
    assert session.read_bytes() != first  # the new run's session
    aside = list((tmp_path / "runs" / "again" / ".superseded").rglob(f"{tensorboard.FILE_PREFIX}hparams"))
    assert aside  # the old run's went with it, out of the view
    view = tmp_path / "runs" / "again" / ".tensorboard" / "comparison"
    assert sorted(path.name for path in view.iterdir() if path.is_symlink()) == ["random", "tabular_q"]


def test_harness_tensorboard_prints_the_url_coloured_by_agent_and_says_when_there_are_no_runs(
    study: pathlib.Path,
):
    done = harness_here("tensorboard", "runs/board", "--print-url", "--port", "6111", cwd=study)
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0] == (
        "TensorBoard of runs/board: http://127.0.0.1:6111/?runColorGroup=regex%3A%5E%28%5B%5E%2F%5D%2B%29%2F#timeseries"
    )
    colours = "runColorGroup=regex%3A%5E%28%5B%5E%2F%5D%2B%29%2F"
    assert lines[1] == f"  the bands alone: http://127.0.0.1:6111/?{colours}&runFilter=%2Facross_seeds%24#timeseries"
    # The margin charts' dashboard selects no run above 40: the URL selects every agent's band run.
    prefix = "  the bands as margin charts: http://127.0.0.1:6111/#custom_scalars&runSelectionState="
    assert lines[2].startswith(prefix)
    selected = json.loads(base64.b64decode(urllib.parse.unquote(lines[2].removeprefix(prefix))))
    view = study / "runs" / "board" / ".tensorboard" / "comparison"
    bands = {f"{path.parent.name}/{path.name}" for path in view.glob("*/across_seeds")}
    assert len(bands) == 2 and selected == dict.fromkeys(bands, True)
    assert lines[3] == "logdir: runs/board/.tensorboard/comparison"
    tune = harness_here("tensorboard", "runs/board", "--tune", "--print-url", cwd=study)
    assert tune.stdout.splitlines()[1] == "logdir: runs/board/tune"
    missing = harness_here("tensorboard", "runs/nothing", cwd=study)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.strip() == (
        "harness tensorboard: runs/nothing: no runs yet; harness compare STUDY (make compare) makes them"
    )


def test_a_column_of_mixed_types_is_a_string_column_and_none_lists_and_tables_are_strings():
    sessions = [
        {"gamma": 0.9, "net": [64, 64], "flag": True, "mixed": 1, "maybe": None},
        {"gamma": 1, "net": [64], "flag": False, "mixed": "a", "maybe": 3},
    ]
    types = tensorboard.column_types(sessions)
    assert types == {"gamma": float, "net": str, "flag": bool, "mixed": str, "maybe": str}
    assert [tensorboard.typed(v, types["mixed"]) for v in (1, "a")] == ["1", "a"]
    assert tensorboard.typed(None, str) == "none" and tensorboard.typed((1, 2), str) == "[1, 2]"
    assert tensorboard.typed({"net_arch": [64]}, str) == '{"net_arch": [64]}'


def test_writing_an_event_file_again_replaces_it(tmp_path: pathlib.Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    path = tensorboard.write_events(tmp_path, "bands", [(1, tensorboard.scalars({"x": 1.0, "y": float("nan")}))])
    tensorboard.write_events(tmp_path, "bands", [(2, tensorboard.scalars({"x": 2.0}))])
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert events.Tags()["scalars"] == ["x"]  # NaN left out
    assert [(e.step, e.value) for e in events.Scalars("x")] == [(2, 2.0)]


ACROSS_ENVS = """
[study]
name = "two_envs"
env_ids = ["CartPole-v0", "gymnasium.envs.classic_control.cartpole:CartPole-v1"]
seeds = [0]
total_timesteps = 300
eval_freq = 300
n_eval_episodes = 1

[agents.random]
kind = "random"
"""


def test_across_envs_the_view_links_each_envs_folder_and_the_printed_bands_are_its_runs(tmp_path: pathlib.Path):
    """An env named `module:Id` has the folder `Id` (the store's rule): the view links that folder,
    and the band runs the printed URL selects are the view's own."""
    (tmp_path / "study.toml").write_text(ACROSS_ENVS)
    done = harness_here("compare", "study.toml", "--runs-dir", "runs", "--reports-dir", "reports", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    view = tmp_path / "runs" / "two_envs" / ".tensorboard" / "comparison"
    links = sorted(path.name for path in view.iterdir() if path.is_symlink())
    assert links == ["CartPole-v0", "CartPole-v1"]
    assert all((view / link).is_dir() for link in links)  # none dangling
    bands = {path.relative_to(view).as_posix() for path in view.glob("*/*/across_seeds")}
    assert bands == {"CartPole-v0/random/across_seeds", "CartPole-v1/random/across_seeds"}
    printed = harness_here("tensorboard", "runs/two_envs", "--print-url", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    encoded = printed.stdout.splitlines()[2].split("runSelectionState=", 1)[1]
    assert json.loads(base64.b64decode(urllib.parse.unquote(encoded))) == dict.fromkeys(bands, True)
