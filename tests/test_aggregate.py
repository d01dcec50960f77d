"""The statistics across envs, on small hand-made arrays with exact expected values.

`harness.stats`: `aggregate_intervals` (rliable's IQM, mean and optimality gap of a (runs x tasks)
matrix), `performance_profile` (the share of scores above each tau), `probability_of_improvement`
on (runs x tasks) matrices (the mean over tasks of P(x > y), ties half), `normalised_auc` with a
non-zero low end of the range. Then `harness.analysis.aggregate` on a synthetic study across envs
written with the schema's rows: only the seeds an agent completed on every env count, the others
are listed in `left_out`.

rliable's IQM is `scipy.stats.trim_mean(scores, 0.25, axis=None)`: the flattened scores sorted,
`int(0.25 * n)` cut from each end, the rest averaged.
"""

from __future__ import annotations

import json
import math
import pathlib
from fractions import Fraction

import helpers
import numpy as np
import pandas as pd
import pytest

from harness import analysis
from harness.analysis import stats
from harness.schema import EPISODES, EVALS, STUDY_FILE, EpisodeRow, EvalRow
from harness.store import pair_dir, write_atomic
from harness.studies import Study, parse_study, run_settings, to_toml

REPS = 300

SCORES = np.array([[0.0, 0.5], [1.0, 0.5], [0.25, 0.75], [1.0, 1.0]])
"""4 runs x 2 tasks. Flattened and sorted: 0, 0.25, 0.5, 0.5, 0.75, 1, 1, 1."""
SCORES_IQM = (0.5 + 0.5 + 0.75 + 1.0) / 4  # 8 scores: the lowest 2 and the highest 2 cut
SCORES_MEAN = 5.0 / 8
SCORES_GAP = 1.0 - 5.0 / 8


# ----------------------------------------------------------------------------------------------
# harness.stats


def test_aggregate_point_values_are_the_hand_computed_ones() -> None:
    estimates = stats.aggregate_intervals(SCORES, random_state=0, reps=REPS)
    assert list(estimates) == ["IQM", "mean", "optimality gap"]
    assert estimates["IQM"].value == pytest.approx(0.6875)
    assert SCORES_IQM == 0.6875
    assert estimates["mean"].value == pytest.approx(SCORES_MEAN)
    assert estimates["optimality gap"].value == pytest.approx(SCORES_GAP)


def test_iqm_trims_a_quarter_of_the_flattened_scores_at_each_end() -> None:
    # 12 scores: 3 cut at each end, across tasks (not per task).
    scores = np.array([[0.0, 0.9, 0.1], [0.2, 0.3, 1.0], [0.4, 0.5, 0.6], [0.7, 0.8, 0.95]])
    middle = sorted(scores.ravel())[3:9]  # 0.3 .. 0.7
    estimate = stats.aggregate_intervals(scores, random_state=1, reps=REPS)["IQM"]
    assert estimate.value == pytest.approx(sum(middle) / 6)
    assert estimate.value == pytest.approx((0.3 + 0.4 + 0.5 + 0.6 + 0.7 + 0.8) / 6)


def test_optimality_gap_caps_scores_at_one() -> None:
    scores = np.array([[1.2, 0.4], [0.8, 0.6]])
    estimates = stats.aggregate_intervals(scores, random_state=0, reps=REPS)
    assert estimates["optimality gap"].value == pytest.approx(1 - (1.0 + 0.4 + 0.8 + 0.6) / 4)
    assert estimates["mean"].value == pytest.approx((1.2 + 0.4 + 0.8 + 0.6) / 4)


def test_aggregate_intervals_contain_the_point_and_are_reproducible() -> None:
    first = stats.aggregate_intervals(SCORES, random_state=7, reps=REPS)
    again = stats.aggregate_intervals(SCORES, random_state=7, reps=REPS)
    assert first == again
    for estimate in first.values():
        assert estimate.low <= estimate.value <= estimate.high
        assert estimate.low < estimate.high  # the runs differ: a real interval
    state = np.random.get_state()[1].copy()
    stats.aggregate_intervals(SCORES, random_state=8, reps=REPS)
    assert np.array_equal(np.random.get_state()[1], state)  # the global generator is restored
    constant = stats.aggregate_intervals(np.full((3, 2), 0.4), random_state=0, reps=REPS)
    for name, estimate in constant.items():
        expected = 0.6 if name == "optimality gap" else 0.4
        assert (estimate.value, estimate.low, estimate.high) == pytest.approx((expected,) * 3)
    empty = stats.aggregate_intervals(np.zeros((0, 2)), random_state=0, reps=REPS)
    assert all(math.isnan(estimate.value) for estimate in empty.values())


def test_performance_profile_is_the_share_of_scores_above_tau() -> None:
    taus = np.array([0.0, 0.25, 0.5, 0.6, 0.75, 0.99, 1.0])
    fraction, low, high = stats.performance_profile(SCORES, taus, random_state=0, reps=REPS)
    # sorted scores 0, 0.25, 0.5, 0.5, 0.75, 1, 1, 1; strictly above tau
    assert fraction == pytest.approx([7 / 8, 6 / 8, 4 / 8, 4 / 8, 3 / 8, 3 / 8, 0.0])
    assert fraction == pytest.approx([np.mean(tau < SCORES) for tau in taus])
    assert np.all(low <= fraction + 1e-12) and np.all(fraction <= high + 1e-12)
    assert np.all(np.diff(fraction) <= 0)
    again = stats.performance_profile(SCORES, taus, random_state=0, reps=REPS)
    for a, b in zip((fraction, low, high), again):
        assert np.array_equal(a, b)


X = np.array([[0.2, 0.0], [0.5, 0.3], [0.9, 0.3]])
Y = np.array([[0.5, 0.3], [0.1, 0.6]])


def test_probability_of_improvement_is_the_mean_over_tasks_with_ties_half() -> None:
    # task 0: x 0.2, 0.5, 0.9 against y 0.5, 0.1 -> wins (0.2>0.1), (0.5>0.1), (0.9>0.5), (0.9>0.1),
    #   one tie (0.5=0.5), one loss: 4.5 / 6
    # task 1: x 0.0, 0.3, 0.3 against y 0.3, 0.6 -> no win, two ties (0.3=0.3 twice): 1 / 6
    expected = float((Fraction(9, 12) + Fraction(1, 6)) / 2)
    assert expected == pytest.approx(11 / 24)
    assert stats.improvement_probability(X, Y) == pytest.approx(expected)
    estimate = stats.probability_of_improvement(X, Y, random_state=0, reps=REPS)
    assert estimate.value == pytest.approx(expected)
    assert estimate.low <= estimate.value <= estimate.high
    assert estimate == stats.probability_of_improvement(X, Y, random_state=0, reps=REPS)
    # the other way round: 1 - p (ties count half each way)
    assert stats.improvement_probability(Y, X) == pytest.approx(1 - expected)


def test_probability_of_improvement_matches_rliable_on_matrices() -> None:
    from rliable import metrics

    assert stats.improvement_probability(X, Y) == pytest.approx(metrics.probability_of_improvement(X, Y))
    one_task = stats.probability_of_improvement(X[:, 0], Y[:, 0], random_state=0, reps=REPS)
    assert one_task.value == pytest.approx(4.5 / 6)


def test_normalised_auc_with_a_negative_range_and_clipping() -> None:
    low, high = -500.0, 0.0  # Acrobot's return range
    steps = np.array([0, 500, 1000])
    # normalised 0, 0.5, 1: trapezoids 500 * 0.25 + 500 * 0.75 = 500, over a budget of 1000
    assert stats.normalised_auc(steps, np.array([-500.0, -250.0, 0.0]), 1000, low, high) == pytest.approx(0.5)
    # below the range counts as 0, above as 1: normalised 0, 0, 1 -> 500 * 0.5 = 250
    assert stats.normalised_auc(steps, np.array([-700.0, -500.0, 40.0]), 1000, low, high) == pytest.approx(0.25)
    assert stats.normalised_auc(steps, np.full(3, -500.0), 1000, low, high) == 0.0
    assert stats.normalised_auc(steps, np.full(3, -2000.0), 1000, low, high) == 0.0
    assert stats.normalised_auc(steps, np.full(3, 0.0), 1000, low, high) == 1.0
    assert stats.normalised_auc(steps, np.full(3, 300.0), 1000, low, high) == 1.0
    # uneven steps: 0 -> 200 at 0.2, 200 -> 1000 at 0.2 -> 0.6: 200 * 0.2 + 800 * 0.4 = 360
    uneven = stats.normalised_auc(np.array([0, 200, 1000]), np.array([-400.0, -400.0, -200.0]), 1000, low, high)
    assert uneven == pytest.approx(0.36)
    assert math.isnan(stats.normalised_auc(np.array([0]), np.array([-1.0]), 1000, low, high))
    # CartPole's range starts at 0: the same curve shape gives the same area
    assert stats.normalised_auc(steps, np.array([0.0, 250.0, 500.0]), 1000, 0.0, 500.0) == pytest.approx(0.5)


# ----------------------------------------------------------------------------------------------
# harness.analysis.aggregate on a synthetic study

ENVS = ("CartPole-v1", "Acrobot-v1")
FINAL = {
    # (agent, env, seed) -> final evaluation returns; None: a failed run; absent: no folder
    ("a", "CartPole-v1", 0): [500.0, 500.0],  # score 1.0
    ("a", "CartPole-v1", 1): [400.0, 100.0],  # 0.5
    ("a", "CartPole-v1", 2): [0.0, 0.0],  # 0.0
    ("a", "Acrobot-v1", 0): [-100.0, -150.0],  # 0.75
    ("a", "Acrobot-v1", 1): [-500.0, -500.0],  # 0.0
    ("a", "Acrobot-v1", 2): [-250.0, -250.0],  # 0.5
    ("b", "CartPole-v1", 0): [100.0, 100.0],  # 0.2
    ("b", "CartPole-v1", 1): [500.0, 500.0],
    ("b", "CartPole-v1", 2): None,  # failed
    ("b", "Acrobot-v1", 0): [-400.0, -400.0],  # 0.2
    # ("b", "Acrobot-v1", 1): missing
    ("b", "Acrobot-v1", 2): [0.0, 0.0],
    ("c", "CartPole-v1", 0): [20.0, 20.0],
    ("c", "CartPole-v1", 1): [20.0, 20.0],
    ("c", "CartPole-v1", 2): [20.0, 20.0],
    # c never ran on Acrobot-v1
}
A_MATRIX = np.array([[1.0, 0.75], [0.5, 0.0], [0.0, 0.5]])
B_MATRIX = np.array([[0.2, 0.2]])


def study_text(name: str, env_ids: tuple[str, ...] = ENVS) -> str:
    """Three random agents a, b, c on `env_ids`, seeds 0-2, 1,000 steps."""
    return helpers.study_text(
        name, env_id=env_ids if len(env_ids) > 1 else env_ids[0], seeds=(0, 1, 2), total_timesteps=1000,
        n_eval_episodes=2, agents=dict.fromkeys(("a", "b", "c"), 'kind = "random"'),
    )  # fmt: skip


def write_pair(runs_dir: pathlib.Path, view: Study, label: str, seed: int, final: list[float] | None) -> None:
    """A pair's folder as a run leaves it: run.json (of the view's settings), episodes.csv, evals.csv."""
    path = pair_dir(runs_dir, view, label, seed)
    record = {"status": "complete", "error": None, "study": view.name, "label": label, "seed": seed}
    record.update(run_settings(view, label))
    if final is None:
        record.update(status="failed", error="RuntimeError: boom")
    else:
        low = view.profile.return_range[0]
        evals = [
            EvalRow(step, episode, 1_000_000 + episode, low if step < 1000 else final[episode], 10, False)
            for step in (0, 500, 1000)
            for episode in range(2)
        ]
        episodes = [EpisodeRow(0, 0, 10, 10.0, 10, True, False, False, 0.01)]
        write_atomic(path / EVALS.file, EVALS.csv_bytes(evals))
        write_atomic(path / EPISODES.file, EPISODES.csv_bytes(episodes))
    write_atomic(path / "run.json", json.dumps(record).encode())


def write_study(runs_dir: pathlib.Path, name: str, env_ids: tuple[str, ...] = ENVS) -> pathlib.Path:
    study = parse_study(study_text(name, env_ids), f"{name}.toml")
    study_dir = runs_dir / name
    write_atomic(study_dir / STUDY_FILE, to_toml(study).encode())
    for view in study.split():
        for (label, env_id, seed), final in FINAL.items():
            if env_id == view.env_id:
                write_pair(runs_dir, view, label, seed, final)
    return study_dir


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> analysis.StudyResults:
    runs = tmp_path_factory.mktemp("runs")
    return analysis.load(write_study(runs, "synthetic"), reps=REPS)


def test_the_synthetic_pairs_read_back_as_written(synthetic: analysis.StudyResults) -> None:
    status = synthetic.pairs.set_index(["env_id", "agent", "seed"]).sort_index()["status"]
    assert status[("CartPole-v1", "b", 2)] == "failed"
    assert status[("Acrobot-v1", "b", 1)] == "missing"
    assert (status[("Acrobot-v1", "c")] == "missing").all()
    assert (status == "complete").sum() == len([v for v in FINAL.values() if v is not None])
    scores = synthetic.envs["CartPole-v1"].runs.set_index(["agent", "seed"])["score"]
    assert scores[("a", 1)] == pytest.approx(0.5)


def test_aggregate_leaves_out_seeds_not_complete_on_every_env(synthetic: analysis.StudyResults) -> None:
    aggregate = synthetic.aggregate
    assert aggregate is not None
    left_out = dict(zip(aggregate.left_out["agent"], aggregate.left_out["seeds"]))
    assert left_out == {"b": "1, 2", "c": "0, 1, 2"}
    kept = aggregate.scores.groupby("agent")["seed"].unique().map(sorted).to_dict()
    assert kept == {"a": [0, 1, 2], "b": [0]}
    a = aggregate.scores[aggregate.scores["agent"] == "a"].pivot(index="seed", columns="env_id", values="score")
    assert a[list(ENVS)].to_numpy() == pytest.approx(A_MATRIX)
    assert aggregate.scores["score"].between(0, 1).all()
    assert set(aggregate.metrics["agent"]) == {"a", "b"}  # c has no seed complete on both envs
    assert set(aggregate.profiles["agent"]) == {"a", "b"}
    assert dict(zip(aggregate.metrics["agent"], aggregate.metrics["n_seeds"])) == {"a": 3, "b": 1}


def test_aggregate_metrics_are_the_hand_computed_ones(synthetic: analysis.StudyResults) -> None:
    metrics = synthetic.aggregate.metrics.set_index(["agent", "metric"])
    # a: 0, 0, 0.5, 0.5, 0.75, 1 -> IQM cuts one at each end
    assert metrics.loc[("a", "IQM"), "value"] == pytest.approx((0 + 0.5 + 0.5 + 0.75) / 4)
    assert metrics.loc[("a", "mean"), "value"] == pytest.approx(2.75 / 6)
    assert metrics.loc[("a", "optimality gap"), "value"] == pytest.approx(1 - 2.75 / 6)
    assert metrics.loc[("b", "mean"), "value"] == pytest.approx(0.2)
    assert metrics.loc[("b", "IQM"), "value"] == pytest.approx(0.2)
    for row in synthetic.aggregate.metrics.itertuples():
        assert row.low <= row.value + 1e-12 and row.value <= row.high + 1e-12
    expected = stats.aggregate_intervals(A_MATRIX, analysis.random_state("a", "aggregate"), REPS)
    for name, estimate in expected.items():
        got = metrics.loc[("a", name)]
        assert (got["value"], got["low"], got["high"]) == pytest.approx((estimate.value, estimate.low, estimate.high))
    improvement = synthetic.aggregate.improvement
    assert list(zip(improvement["x"], improvement["y"])) == [("a", "b")]
    # P(a > b): CartPole 1.0, 0.5, 0.0 against 0.2 -> 2/3; Acrobot 0.75, 0.0, 0.5 against 0.2 -> 2/3
    assert improvement["p"].iloc[0] == pytest.approx(2 / 3)


def test_aggregate_verdicts_follow_the_unpaired_rule_on_the_seeds_complete_on_every_env(
    synthetic: analysis.StudyResults,
) -> None:
    """a has 3 seeds complete on both envs, b 1: C(4, 1) = 4 splits, too few to order at 95%."""
    improvement = synthetic.aggregate.improvement.iloc[0]
    assert (improvement["n_x"], improvement["n_y"]) == (3, 1)
    assert (improvement["seeds_suffice"], improvement["order"]) == (False, "too few seeds")
    assert improvement["in_words"] == "too few seeds (3, 1) to order at 95%; 4 each would do"
    standing = synthetic.aggregate.standing.set_index("agent")
    assert standing.loc["a", "n_seeds"] == 3 and standing.loc["b", "n_seeds"] == 1
    assert set(standing["standing"]) <= {"top", "overlaps", "too few seeds"}


def test_model_aggregate_of_the_env_results_is_the_loaded_one(synthetic: analysis.StudyResults) -> None:
    direct = analysis.aggregate(synthetic.envs, REPS)
    for name in ("scores", "metrics", "improvement", "profiles", "left_out"):
        pd.testing.assert_frame_equal(getattr(direct, name), getattr(synthetic.aggregate, name))


def test_a_one_env_study_has_no_aggregate(tmp_path: pathlib.Path) -> None:
    results = analysis.load(write_study(tmp_path, "single", ("CartPole-v1",)), reps=REPS)
    assert results.aggregate is None
    assert list(results.envs) == ["CartPole-v1"]
