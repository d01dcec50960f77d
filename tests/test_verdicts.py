"""No verdict the seeds cannot support (`harness.analysis.verdicts`, printed by `harness.report.markdown`).

A comparison names the agent that ends higher only where an exact test on the seeds could reach
95% with the seeds there are: unpaired (P(X > Y), the summary's ordering, the aggregate across
envs) C(n + m, n) >= 40, paired (a declared pair's per-seed differences) 2^n >= 40.

First the rule on tiny hand-made inputs with exact expected values (and against scipy's exact
permutation tests, the tests the rule stands for); then whole reports: the quick study (2 seeds a
side, its runs kept in tests/data/before-layers) names no winner anywhere; a synthetic study of 5
well-separated seeds a side gets an unpaired verdict but not a paired one, and of 6 seeds a
paired one too; the aggregate across envs follows the unpaired rule on the seeds complete on
every env.
"""

from __future__ import annotations

import datetime
import json
import math
import pathlib
import re
import shutil

import helpers
import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from harness import analysis
from harness.analysis import stats, verdicts
from harness.report import markdown
from harness.schema import EPISODES, EVALS, STUDY_FILE, EpisodeRow, EvalRow
from harness.store import pair_dir, write_atomic
from harness.studies import Study, parse_study, run_settings, to_toml

REPS = 200
NOW = datetime.datetime(2024, 1, 2, 3, 4, tzinfo=datetime.UTC)
QUICK_RUNS = pathlib.Path(__file__).parent / "data" / "before-layers" / "runs" / "quick"
QUICK_LABELS = ("random", "tabular_q", "tabular_sarsa", "custom_dqn", "sb3_dqn")

# ----------------------------------------------------------------------------------------------
# The rule on tiny inputs


@pytest.mark.parametrize(
    ("n_x", "n_y", "arrangements", "suffice"),
    [
        (1, 1, 2, False),
        (2, 2, 6, False),
        (3, 3, 20, False),
        (3, 4, 35, False),
        (4, 4, 70, True),
        (3, 5, 56, True),
        (2, 7, 36, False),
        (2, 8, 45, True),
        (1, 39, 40, True),
        (5, 5, 252, True),
        (0, 10, 1, False),
    ],
)
def test_unpaired_rule_counts_the_splits_of_the_seeds(n_x: int, n_y: int, arrangements: int, suffice: bool) -> None:
    assert verdicts.unpaired_arrangements(n_x, n_y) == arrangements
    assert verdicts.unpaired_seeds_suffice(n_x, n_y) is suffice
    assert verdicts.unpaired_seeds_suffice(n_y, n_x) is suffice


@pytest.mark.parametrize(
    ("n", "arrangements", "suffice"), [(0, 1, False), (2, 4, False), (5, 32, False), (6, 64, True)]
)
def test_paired_rule_counts_the_sign_patterns(n: int, arrangements: int, suffice: bool) -> None:
    assert verdicts.paired_arrangements(n) == arrangements
    assert verdicts.paired_seeds_suffice(n) is suffice


def test_the_rule_needs_40_arrangements_4_seeds_each_or_6_paired() -> None:
    assert verdicts.MIN_ARRANGEMENTS == 40
    assert verdicts.unpaired_seeds_needed() == 4
    assert verdicts.paired_seeds_needed() == 6
    assert verdicts.too_few_unpaired(2, 2) == "too few seeds (2, 2) to order at 95%; 4 each would do"
    assert verdicts.too_few_unpaired(3, 1) == "too few seeds (3, 1) to order at 95%; 4 each would do"
    assert verdicts.too_few_paired(5) == "too few seeds (5) to order at 95%; 6 would do"


@pytest.mark.parametrize(("n_x", "n_y"), [(2, 2), (3, 3), (3, 4), (4, 4), (3, 5), (2, 7), (2, 8)])
def test_the_unpaired_rule_is_whether_an_exact_permutation_test_can_reach_5_percent(n_x: int, n_y: int) -> None:
    """Seeds as far apart as they can be give the test its smallest p-value, 2 / C(n + m, n)."""
    x, y = np.arange(n_x) + 100.0, np.arange(n_y)
    result = scipy_stats.permutation_test(
        (x, y), lambda a, b: np.mean(a) - np.mean(b), permutation_type="independent", n_resamples=np.inf
    )
    assert result.pvalue == pytest.approx(2 / math.comb(n_x + n_y, n_x))
    assert bool(result.pvalue <= 0.05) is verdicts.unpaired_seeds_suffice(n_x, n_y)


@pytest.mark.parametrize("n", [2, 4, 5, 6, 7])
def test_the_paired_rule_is_whether_an_exact_sign_flip_test_can_reach_5_percent(n: int) -> None:
    differences = np.arange(n) + 1.0  # every seed's difference on the same side
    result = scipy_stats.permutation_test((differences,), np.mean, permutation_type="samples", n_resamples=np.inf)
    assert result.pvalue == pytest.approx(2 / 2**n)
    assert bool(result.pvalue <= 0.05) is verdicts.paired_seeds_suffice(n)


def improvement_frame(rows: list[tuple[str, str, float, float, int, int]]) -> pd.DataFrame:
    """A probability-of-improvement table: (x, y, low, high, n_x, n_y) per row, p in the middle."""
    return pd.DataFrame(
        [(x, y, (low + high) / 2, low, high, n_x, n_y) for x, y, low, high, n_x, n_y in rows],
        columns=list(analysis.columns.IMPROVEMENT_NUMBERS),
    )


def test_improvement_verdicts_on_hand_made_rows() -> None:
    table = verdicts.improvement_verdicts(
        improvement_frame(
            [
                ("a", "b", 1.0, 1.0, 2, 2),  # 1.00 [1.00, 1.00] on 2 seeds a side: no verdict
                ("a", "b", 0.8, 1.0, 4, 4),
                ("a", "b", 0.0, 0.2, 5, 5),
                ("a", "b", 0.3, 0.7, 4, 4),
                ("a", "b", 0.5, 0.9, 4, 4),  # the interval touches 0.50: it includes it
                ("a", "b", 1.0, 1.0, 3, 4),  # 35 splits
                ("a", "b", 1.0, 1.0, 3, 5),  # 56 splits
            ]
        )
    )
    assert list(table.columns) == list(analysis.columns.IMPROVEMENT_COLUMNS)
    assert list(table["seeds_suffice"]) == [False, True, True, True, True, False, True]
    assert list(table["order"]) == ["too few seeds", "x", "y", "neither", "neither", "too few seeds", "x"]
    assert list(table["in_words"]) == [
        "too few seeds (2, 2) to order at 95%; 4 each would do",
        "a",
        "b",
        "neither: the interval includes 0.50",
        "neither: the interval includes 0.50",
        "too few seeds (3, 4) to order at 95%; 4 each would do",
        "a",
    ]
    empty = verdicts.improvement_verdicts(improvement_frame([]))
    assert empty.empty and list(empty.columns) == list(analysis.columns.IMPROVEMENT_COLUMNS)


def test_paired_verdicts_on_hand_made_rows() -> None:
    rows = [("a", "b", 5, 50.0, 50.0), ("a", "b", 6, 1.0, 9.0), ("a", "b", 6, -9.0, -1.0), ("a", "b", 6, 0.0, 9.0)]
    frame = pd.DataFrame(rows, columns=["x", "y", "n_runs", "low", "high"])
    table = verdicts.paired_verdicts(frame)
    assert list(table["seeds_suffice"]) == [False, True, True, True]
    assert list(table["order"]) == ["too few seeds", "x", "y", "neither"]
    assert list(table["in_words"]) == [
        "too few seeds (5) to order at 95%; 6 would do",
        "the interval lies above 0 (a scores higher)",
        "the interval lies below 0 (b scores higher)",
        "the interval includes 0",
    ]


E = stats.Estimate


@pytest.mark.parametrize(
    ("estimates", "seeds", "standing", "words"),
    [
        # enough seeds: the top, one overlapping, one below
        (
            [E(10.0, 8.0, 12.0), E(9.0, 7.0, 11.0), E(2.0, 1.0, 3.0)],
            [4, 4, 4],
            ["top", "overlaps", "below"],
            ["", "", ""],
        ),
        # 2 seeds a side: apart, but not ordered
        (
            [E(10.0, 8.0, 12.0), E(2.0, 1.0, 3.0)],
            [2, 2],
            ["top", "too few seeds"],
            ["", verdicts.too_few_unpaired(2, 2)],
        ),
        # the top's seeds suffice against 4, not against 2
        (
            [E(2.0, 1.0, 3.0), E(10.0, 8.0, 12.0), E(1.0, 0.0, 1.5)],
            [4, 4, 2],
            ["below", "top", "too few seeds"],
            ["", "", verdicts.too_few_unpaired(4, 2)],
        ),
        # equal at the digits shown: both top; the third must be ordered below each of them
        (
            [E(10.04, 9.0, 11.0), E(10.01, 9.5, 10.5), E(1.0, 0.0, 2.0)],
            [4, 3, 4],
            ["top", "top", "too few seeds"],
            ["", "", verdicts.too_few_unpaired(3, 4)],
        ),
    ],
)
def test_standing_on_hand_made_estimates(
    estimates: list[stats.Estimate], seeds: list[int], standing: list[str], words: list[str]
) -> None:
    labels = [f"agent_{i}" for i in range(len(estimates))]
    table = verdicts.standing_table(labels, estimates, seeds, digits=1)
    assert list(table.columns) == list(analysis.columns.STANDING_COLUMNS)
    assert list(table["agent"]) == labels and list(table["n_seeds"]) == seeds
    assert list(table["standing"]) == standing
    assert list(table["in_words"]) == words


def test_the_standing_sentence_orders_only_what_the_seeds_support() -> None:
    labels = ["a", "b", "c", "d"]
    estimates = [E(10.0, 8.0, 12.0), E(9.0, 7.0, 11.0), E(2.0, 1.0, 3.0), E(1.0, 0.0, 1.5)]
    sentence = markdown.standing_sentence(verdicts.standing_table(labels, estimates, [4, 4, 4, 2], 1), "return", 1)
    assert sentence == (
        "a has the highest IQM return (10.0 [8.0, 12.0]); its interval overlaps b's (9.0 [7.0, 11.0]); its interval "
        "lies above c's (2.0 [1.0, 3.0]); against d, too few seeds (4, 2) to order at 95%; 4 each would do (a study's "
        "`[decide]` table adds seeds in rounds until each comparison is decided)."
    )
    enough = markdown.standing_sentence(verdicts.standing_table(labels[:3], estimates[:3], [4, 4, 4], 1), "return", 1)
    assert enough == "a has the highest IQM return (10.0 [8.0, 12.0]); its interval overlaps b's (9.0 [7.0, 11.0])."
    apart = markdown.standing_sentence(verdicts.standing_table(["a", "c"], estimates[::2], [4, 4], 1), "return", 1)
    assert apart == "a has the highest IQM return (10.0 [8.0, 12.0]); its interval overlaps no other agent's."
    few = markdown.standing_sentence(verdicts.standing_table(["a", "c"], estimates[::2], [2, 2], 1), "return", 1)
    assert "overlaps no other agent's" not in few and "against c, too few seeds (2, 2) to order at 95%" in few


# ----------------------------------------------------------------------------------------------
# Whole reports


def readme_of(results: analysis.StudyResults, folder: pathlib.Path) -> str:
    return markdown.readme(results, folder / "reports" / results.study.name, NOW, None)


def cells(readme: str, heading: str, column: str) -> list[str]:
    """One column's cells of the first table under `heading` (padding stripped)."""
    lines = readme.splitlines()
    start = lines.index(heading)
    table = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            table.append([cell.strip() for cell in line.strip("|").split("|")])
        elif table:
            break
    header, rows = table[0], table[2:]
    return [row[header.index(column)] for row in rows]


WINNER_WORDS = (
    "overlaps no other agent's",
    "lies above",
    "lies below",
    "scores higher)",
    "intervals exclude 0.50",
    "interval excludes 0.50",
    "every pair of agents is ordered",
    "likelier to end higher, with that probability",
)
"""What the report says where it names the agent that ends higher."""


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[analysis.StudyResults, str]:
    """The quick study's runs (5 agents x 2 seeds) and its README."""
    folder = tmp_path_factory.mktemp("quick")
    shutil.copytree(QUICK_RUNS, folder / "runs" / "quick")
    results = analysis.load(folder / "runs" / "quick", reps=REPS, cache=False)
    return results, readme_of(results, folder)


def test_the_quick_study_names_no_winner_anywhere(quick: tuple[analysis.StudyResults, str]) -> None:
    results, readme = quick
    env = results.envs["CartPole-v1"]
    assert list(env.summary["runs_complete"]) == [2] * 5
    assert set(env.improvement["order"]) == {"too few seeds"}
    assert set(env.paired["order"]) == {"too few seeds"}
    assert "below" not in set(env.standing["standing"])
    assert (env.improvement["p"] == 1.0).sum() >= 4  # the bootstrap alone would have ordered these
    for words in WINNER_WORDS:
        assert words not in readme, words
    likelier = cells(readme, "### Probability of improvement", "likelier to end higher")
    assert likelier == ["too few seeds (2, 2) to order at 95%; 4 each would do"] * 10
    assert "No pair has seeds enough to be ordered at 95%: each row says how many would do." in readme
    assert "against custom_dqn and sb3_dqn, too few seeds (2, 2) to order at 95%; 4 each would do" in readme
    assert "on average; too few seeds (2) to order at 95%; 6 would do." in readme
    assert "family-wise control is what a study's `[decide]` table gives" in readme


def test_the_quick_studys_notebook_summary_names_no_winner(quick: tuple[analysis.StudyResults, str]) -> None:
    page = markdown.summary_html(quick[0])
    assert "too few seeds (2, 2) to order at 95%; 4 each would do" in page
    for words in WINNER_WORDS:
        assert words not in page, words


def write_pair(runs_dir: pathlib.Path, view: Study, label: str, seed: int, returns: list[float]) -> None:
    """A complete pair's folder: run.json (of the view's settings), episodes.csv, evals.csv whose
    last evaluation (step 1,000) has `returns` (one per episode) and earlier ones the range's low end."""
    path = pair_dir(runs_dir, view, label, seed)
    low = view.profile.return_range[0]
    evals = [
        EvalRow(step, episode, 1_000_000 + episode, returns[episode] if step == 1000 else low, 10, False)
        for step in (0, 500, 1000)
        for episode in range(len(returns))
    ]
    write_atomic(path / EVALS.file, EVALS.csv_bytes(evals))
    write_atomic(path / EPISODES.file, EPISODES.csv_bytes([EpisodeRow(0, 0, 10, 10.0, 10, True, False, False, 0.01)]))
    record = {"status": "complete", "error": None, "study": view.name, "label": label, "seed": seed}
    record.update(run_settings(view, label))
    write_atomic(path / "run.json", json.dumps(record).encode())


def separated_study(root: pathlib.Path, name: str, seeds: dict[str, int], env_ids: tuple[str, ...]) -> pathlib.Path:
    """Agents `high` and `low` (random agents by kind), declared a pair, with `seeds[label]` seeds
    each and final returns far apart: on each of 2 evaluation episodes, high's 300 + 10 s +- 5 and
    low's 100 + 10 s +- 5 on CartPole-v1 (s the seed), their negatives minus 100 on Acrobot-v1."""
    text = helpers.study_text(
        name,
        seeds=range(max(seeds.values())),
        total_timesteps=1000,
        eval_freq=500,
        n_eval_episodes=2,
        agents=dict.fromkeys(("high", "low"), 'kind = "random"'),
        env_id=env_ids if len(env_ids) > 1 else env_ids[0],
        extra=['paired = [["high", "low"]]'],
    )
    study = parse_study(text, f"{name}.toml")
    runs_dir = root / "runs"
    write_atomic(runs_dir / name / STUDY_FILE, to_toml(study).encode())
    for view in study.split():
        for label, base in (("high", 300.0), ("low", 100.0)):
            for seed in range(seeds[label]):
                returns = [base + 10 * seed + 5, base + 10 * seed - 5]
                if view.env_id == "Acrobot-v1":
                    returns = [-500.0 + r for r in returns]
                write_pair(runs_dir, view, label, seed, returns)
    return runs_dir / name


def test_five_well_separated_seeds_a_side_get_an_unpaired_verdict(tmp_path: pathlib.Path) -> None:
    results = analysis.load(separated_study(tmp_path, "five", {"high": 5, "low": 5}, ("CartPole-v1",)), REPS)
    env = results.envs["CartPole-v1"]
    row = env.improvement.iloc[0]
    assert (row["x"], row["y"], row["p"], row["n_x"], row["n_y"]) == ("high", "low", 1.0, 5, 5)
    assert (row["seeds_suffice"], row["order"], row["in_words"]) == (True, "x", "high")
    assert list(env.standing["standing"]) == ["top", "below"]
    readme = readme_of(results, tmp_path)
    assert cells(readme, "### Probability of improvement", "likelier to end higher") == ["high"]
    assert "All 1 intervals exclude 0.50: every pair of agents is ordered." in readme
    assert "high has the highest IQM final return (320.0 [" in readme
    assert "]); its interval overlaps no other agent's." in readme
    # the same seeds paired: 2^5 = 32 sign patterns, too few
    assert (env.paired.iloc[0]["order"], env.paired.iloc[0]["in_words"]) == (
        "too few seeds",
        "too few seeds (5) to order at 95%; 6 would do",
    )
    assert "+200.0 [+200.0, +200.0] on average; too few seeds (5) to order at 95%; 6 would do." in readme


def test_six_seeds_get_a_paired_verdict(tmp_path: pathlib.Path) -> None:
    results = analysis.load(separated_study(tmp_path, "six", {"high": 6, "low": 6}, ("CartPole-v1",)), REPS)
    paired = results.envs["CartPole-v1"].paired.iloc[0]
    assert (paired["n_runs"], paired["mean"], paired["seeds_suffice"], paired["order"]) == (6, 200.0, True, "x")
    readme = readme_of(results, tmp_path)
    assert (
        "On 12 shared episodes over 6 seeds, high's return minus low's is +200.0 [+200.0, +200.0] on average; "
        "the interval lies above 0 (high scores higher)." in readme
    )


def test_unequal_seeds_are_ordered_only_where_the_splits_suffice(tmp_path: pathlib.Path) -> None:
    """3 seeds against 4 (35 splits) are not ordered; the summary says so instead of implying it."""
    results = analysis.load(separated_study(tmp_path, "unequal", {"high": 3, "low": 4}, ("CartPole-v1",)), REPS)
    env = results.envs["CartPole-v1"]
    assert env.improvement.iloc[0]["in_words"] == "too few seeds (3, 4) to order at 95%; 4 each would do"
    assert list(env.standing["standing"]) == ["top", "too few seeds"]
    readme = readme_of(results, tmp_path)
    assert "against low, too few seeds (3, 4) to order at 95%; 4 each would do" in readme
    for words in WINNER_WORDS:
        assert words not in readme, words


@pytest.mark.parametrize(("n", "order"), [(2, "too few seeds"), (3, "too few seeds"), (4, "x")])
def test_the_aggregate_across_envs_obeys_the_unpaired_rule(tmp_path: pathlib.Path, n: int, order: str) -> None:
    study_dir = separated_study(tmp_path, "across", {"high": n, "low": n}, ("CartPole-v1", "Acrobot-v1"))
    results = analysis.load(study_dir, REPS)
    aggregate = results.aggregate
    assert aggregate is not None
    row = aggregate.improvement.iloc[0]
    assert (row["x"], row["y"], row["p"], row["n_x"], row["n_y"]) == ("high", "low", 1.0, n, n)
    assert row["order"] == order
    standing = dict(zip(aggregate.standing["agent"], aggregate.standing["standing"], strict=True))
    assert standing == {"high": "top", "low": "below" if order == "x" else "too few seeds"}
    section = readme_of(results, tmp_path).split("## CartPole-v1")[0]
    likelier = cells(section, "### Probability of improvement across environments", "likelier to end higher")
    if order == "x":
        assert likelier == ["high"]
        assert "its interval overlaps no other agent's." in section
    else:
        assert likelier == [f"too few seeds ({n}, {n}) to order at 95%; 4 each would do"]
        for words in WINNER_WORDS:
            assert words not in section, words
    assert re.search(r"the level is per comparison, and family-wise control is what a study's `\[decide\]`", section)
