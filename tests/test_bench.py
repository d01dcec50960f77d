"""The pieces of `make bench` (`benchmarks/speed.py`) that are arithmetic or decisions, not timings: the evaluation
share and its floor, and a contender left out when its library is not installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks import speed as bench
from benchmarks.speed import EvalShare, Timing


def test_the_evaluation_share_and_its_floor():
    share = EvalShare(eval_s=3.0, run_s=10.0, eval_steps=100_000, free_policy_us=10.0)
    assert share.share == pytest.approx(0.3)
    # a free policy: the evaluation costs 100,000 x 10 us = 1 s, beside the 7 s of training
    assert share.floor == pytest.approx(1.0 / 8.0)


def test_a_timing_row_shows_the_median_min_and_max():
    timing = Timing("custom", (1_000.0, 3_000.0, 2_000.0), update_ms=(0.5, 0.7, 0.6), other_us_per_step=(9, 11, 10))
    assert timing.median == 2_000.0
    fields = timing.row().split()
    assert fields == ["custom", "2,000", "1,000", "3,000", "0.600", "10.0"]


def test_a_contender_whose_library_is_missing_is_left_out_with_a_line():
    lines: list[str] = []
    assert not bench.available("no_such_library_here:DQN", lines.append)
    assert len(lines) == 1 and "no_such_library_here:DQN left out" in lines[0]
    assert bench.available("sb3_dqn", lines.append) and len(lines) == 1


def test_the_balancer_keeps_cartpoles_pole_up_in_long_episodes():
    """The free policy of the share's floor must play episodes as long as a trained agent's."""
    from harness.conditions import make_eval_envs, profile_for, run_episodes

    envs = make_eval_envs(bench.ENV_ID, 3, profile_for(bench.ENV_ID).episode_rules)
    results = run_episodes(bench.Balancer(), envs, [0, 1, 2])
    assert min(r.length for r in results) >= 200
    actions, _ = bench.Balancer().predict(np.array([[0, 0, 0.1, 0.0], [0, 0, -0.1, 0.0]], dtype=np.float32))
    assert actions.tolist() == [1, 0]
    assert not math.isnan(results[0].episode_return)


@pytest.mark.e2e  # runs a tiny study through compare
def test_bench_parity_runs_a_tiny_study_and_prints_both_agents(tmp_path, capsys):
    from benchmarks import parity

    assert parity.main(["--seeds", "0", "--total-timesteps", "1200", "--jobs", "1", "--runs-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| custom_dqn") or line.startswith("| sb3_dqn")]
    assert len(rows) == 2, out
    assert all(" 0/1 " in row or " 1/1 " in row for row in rows), rows


def test_bench_tabular_runs_and_prints_both_tabular_agents(capsys):
    from benchmarks import tabular_episodes

    assert tabular_episodes.main(["--seeds", "0", "--episodes", "5"]) == 0
    out = capsys.readouterr().out
    assert "tabular_q" in out and "tabular_sarsa" in out


def test_makespan_starts_each_duration_on_the_first_free_worker():
    from benchmarks.iterate import makespan

    assert makespan([1, 1, 4], 2) == 5  # 1 | 1, then 4 after the first 1
    assert makespan([4, 1, 1], 2) == 4  # longest first: 4 | 1 + 1
    assert makespan([2, 2, 2], 1) == 6


@pytest.mark.slow  # trains every contender a little
def test_make_bench_runs_end_to_end_and_prints_every_ratio(monkeypatch, capsys):
    """`run_bench` whole, shrunk: the tabular rows, both DQN tables with their ratios, the share."""
    monkeypatch.setattr(bench, "TABULAR_EPISODES", 5)
    monkeypatch.setattr(bench, "WARM_UP_STEPS", 300)
    monkeypatch.setattr(bench, "EVAL_RUN", {"total_timesteps": 1_000, "eval_freq": 500, "n_eval_episodes": 2})
    bench.run_bench(repeats=1, dqn_steps=300)
    out = capsys.readouterr().out
    assert "tabular_sarsa" in out and "cost relative to raw stepping" in out
    assert out.count("custom_dqn (fast) / sb3_dqn") == 1 and "target >= 3.00x" in out
    assert "the assignment's preset" in out and "evaluation" in out
