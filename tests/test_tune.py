"""`harness tune`: the same budget in env steps for every agent, a start from the agent's own
values, stop rules that spend it on more configurations, the tuned values chosen on validation
seeds (docs/design.md, "Tuning").

The `[tune]` table and search spaces and their bad input; the stop rules' thresholds; a space made
to hold the start; a tiny tune end to end (trial 0 is the start, tuned.toml reads back as a study
with the start beside the tuned agent, compare reports a Tuning section); a tune whose start is
best returns the start; the same tune twice proposes the same parameters; a tune killed midway
(also between the start's enqueueing and its run, and under each stop rule) resumes to the trials
an uninterrupted tune runs, none repeated, the same runs stopped whatever --jobs; failed trials; a
tune on a loopback Ray instance.
"""

from __future__ import annotations

import io
import pathlib
import re
import tomllib

import pandas as pd
import pytest
from helpers import harness_here, kill_group, read_csv, run_json, script_on_each_executor, start, study_text, wait_for

from harness.agents import search_table
from harness.errors import StudyError
from harness.studies import default_search, load_study, parse_study, to_toml

TUNED = """
[tune]
trials = 4
seeds = [100, 101]
concurrent_trials = 2
pruner = "none"
finalists = 2

[agents.tabular_q.search]
min_learning_rate = { low = 0.01, high = 0.5, log = true }
decay = { low = 5.0, high = 50.0 }
num_bins = [[3, 3, 6, 6], [1, 1, 6, 12]]
"""
AGENTS = {"random": 'kind = "random"', "tabular_q": 'kind = "tabular_q"'}


def tune_study(
    folder: pathlib.Path, tune: str = TUNED, agents: dict[str, str] = AGENTS, name: str = "tuned"
) -> pathlib.Path:
    path = folder / "study.toml"
    text = study_text(name=name, seeds=(0, 1), total_timesteps=3000, eval_freq=500, n_eval_episodes=5, agents=agents)
    path.write_text(text + tune)
    return path


# -- the tables ---------------------------------------------------------------------------------


def test_the_tune_table_and_search_space_read_back_and_write_out(tmp_path: pathlib.Path):
    study = load_study(str(tune_study(tmp_path)))
    tune = study.tune
    assert tune is not None
    assert (tune.trials, tune.budget_env_steps, tune.seeds, tune.total_timesteps) == (4, None, (100, 101), 3000)
    assert (tune.sampler, tune.pruner, tune.eval_seed, tune.objective) == ("tpe", "none", 2_000_000, "last_quarter")
    assert (tune.validation_seeds, tune.validation_eval_seed, tune.finalists) == ((102, 103), 3_000_000, 2)
    space = study.agent("tabular_q").search
    assert space is not None and [d.key for d in space] == ["min_learning_rate", "decay", "num_bins"]
    assert space[0].log and not space[0].integer and space[2].choices == ([3, 3, 6, 6], [1, 1, 6, 12])
    again = parse_study(to_toml(study), "written")
    assert again.tune == study.tune and again.agent("tabular_q").search == space


def test_the_default_spaces_are_data_on_the_registrys_kinds_and_the_dqns_are_the_zoos():
    zoo = search_table("sb3_dqn")
    assert zoo is not None and zoo["train_freq"] == [1, 4, 8, 16, 128, 256, 1_000]
    assert zoo["gradient_steps"] == {"divide": "train_freq", "by": [1, 2, 4, 8]}
    assert zoo["learning_rate"] == {"low": 1e-5, "high": 1.0, "log": True}
    assert zoo["policy_kwargs"] == [{"net_arch": [64]}, {"net_arch": [64, 64]}, {"net_arch": [256, 256]}]
    assert search_table("custom_dqn")["net_arch"] == [[64], [64, 64], [256, 256]]  # type: ignore[index]
    assert search_table("random") is None and search_table("my_file.py:Agent") is None
    assert [d.key for d in default_search("tabular_q") or ()] == list(search_table("tabular_q") or {})


@pytest.mark.parametrize(
    ("tune", "agents", "args", "message"),
    [
        (TUNED.replace("[100, 101]", "[1, 100]"), AGENTS, (), "tune.seeds: 1 also in study.seeds; tuning seeds"),
        (TUNED + "foo = [1, 2]\n", AGENTS, (), "agents.tabular_q.search.foo: unknown"),
        (
            TUNED.replace("low = 5.0, high = 50.0", "low = 50.0, high = 5.0"),
            AGENTS,
            (),
            "search.decay: low must be < high",
        ),
        (TUNED.replace("low = 0.01", "low = 0.0"), AGENTS, (), "search.min_learning_rate: log needs low > 0"),
        (TUNED.replace("[[3, 3, 6, 6], [1, 1, 6, 12]]", "[]"), AGENTS, (), "search.num_bins: an empty list"),
        (TUNED, AGENTS, ("--agents", "random"), "--agents: random (random) has nothing to tune; leave it out"),
        (
            TUNED,
            {**AGENTS, "ppo": 'kind = "stable_baselines3:PPO"'},
            ("--agents", "ppo"),
            "agents.ppo.search: missing; stable_baselines3:PPO has no default search space, so declare one",
        ),
        (TUNED.replace("trials = 4", "trials = 0"), AGENTS, (), "tune.trials: must be >= 1, got 0"),
        (TUNED.replace("trials = 4", ""), AGENTS, (), "tune.budget_env_steps: missing"),
        (TUNED.replace("concurrent_trials = 2", 'sampler = "grid"'), AGENTS, (), "tune.sampler: must be one of tpe"),
        (TUNED.replace('pruner = "none"', 'pruner = "asha"'), AGENTS, (), "tune.pruner: must be one of halving"),
        (TUNED + "[tune.eval]\n", AGENTS, (), "tune.eval: unknown key"),
        (TUNED.replace("[tune]", "[tune]\neval_seed = 1000003"), AGENTS, (), "tune.eval_seed: its evaluation"),
        (
            TUNED.replace("[tune]", "[tune]\nvalidation_seeds = [101, 200]"),
            AGENTS,
            (),
            "tune.validation_seeds: 101 is also in tune.seeds; the tuned values are chosen on seeds apart",
        ),
        (
            TUNED.replace("[tune]", "[tune]\nvalidation_seeds = [1]"),
            AGENTS,
            (),
            "tune.validation_seeds: 1 is also in study.seeds",
        ),
        (
            TUNED.replace("[tune]", "[tune]\nvalidation_eval_seed = 2000002"),
            AGENTS,
            (),
            "tune.validation_eval_seed: its evaluation episodes (2000002–2000006) must be kept apart from the trials'",
        ),
        (
            TUNED.replace("[tune]", "[tune]\nbudget_env_steps = 20000"),
            AGENTS,
            (),
            "tune.budget_env_steps: 20,000 cannot pay for the start trial and the validation runs (24,000 env steps",
        ),
        ("", AGENTS, (), "tune: no [tune] table"),
        (TUNED, {**AGENTS, "tune": 'kind = "random"'}, (), "agents.tune: reserved"),
    ],
)
def test_bad_input_is_refused_in_one_line_and_nothing_is_written(
    tmp_path: pathlib.Path, tune: str, agents: dict[str, str], args: tuple[str, ...], message: str
):
    path = tune_study(tmp_path, tune, agents)
    done = harness_here("tune", path, "--runs-dir", "runs", *args, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, done.stderr
    assert not (tmp_path / "runs").exists()


def test_compare_refuses_a_search_key_the_agent_does_not_take(tmp_path: pathlib.Path):
    path = tune_study(tmp_path, TUNED.replace("decay =", "learning_rate_decay ="))
    done = harness_here("compare", path, "--runs-dir", "runs", cwd=tmp_path)
    assert done.returncode == 2 and "agents.tabular_q.search.learning_rate_decay: unknown" in done.stderr
    assert not (tmp_path / "runs").exists()


# -- the start in the space ----------------------------------------------------------------------


def test_a_start_outside_the_space_is_added_to_it_and_said():
    from harness.studies import FIXED, search_space, start_of, with_start

    space = search_space(
        {
            "gamma": [0.9, 0.95],
            "target_update_interval": [1, 1_000],
            "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True},
            "net_arch": [[64]],
            "train_freq": [1, 4],
            "gradient_steps": {"divide": "train_freq", "by": [1, 2]},
        },
        "s",
    )
    start = {
        "gamma": 0.95,
        "target_update_interval": 10,
        "learning_rate": 0.05,
        "net_arch": [256, 256],
        "train_freq": 256,
        "gradient_steps": -1,
    }
    held, notes = with_start(space, start)
    assert [d.key for d in held] == [d.key for d in space]
    by_key = {d.key: d for d in held}
    assert by_key["gamma"] == space[0]  # 0.95 is a choice already
    assert by_key["target_update_interval"].choices == (1, 1_000, 10)
    assert (by_key["learning_rate"].low, by_key["learning_rate"].high) == (1e-4, 0.05)
    assert by_key["net_arch"].choices == ([64], [256, 256])
    assert by_key["train_freq"].choices == (1, 4, 256)
    assert by_key["gradient_steps"].choices == (1, 2, f"{FIXED}-1")
    assert notes == [
        "target_update_interval: 10 (the start's) added to the choices",
        "learning_rate: widened to [0.0001, 0.05] to hold the start's 0.05",
        "net_arch: [256, 256] (the start's) added to the choices",
        "train_freq: 256 (the start's) added to the choices",
        "gradient_steps: -1 (the start's; no divisor of train_freq gives it) added to the choices",
    ]
    chosen = start_of(held, start)
    assert chosen == {**start, "gradient_steps": f"{FIXED}-1"}
    assert by_key["gradient_steps"].value(chosen["gradient_steps"], start) == -1
    assert by_key["gradient_steps"].value(2, {"train_freq": 256}) == 128
    # a start a divisor gives: the divisor, nothing added
    again, notes = with_start(space, {**start, "train_freq": 4, "gradient_steps": 2})
    assert {d.key: d for d in again}["gradient_steps"].choices == (1, 2) and start_of(
        again, {**start, "train_freq": 4, "gradient_steps": 2}
    )["gradient_steps"] == 2


# -- the stop rules -------------------------------------------------------------------------------


def test_the_rules_thresholds_come_from_the_trials_told_before():
    from harness.experiments import MEDIAN_STARTUP, Told, brackets, median_rule, rungs, thresholds

    assert rungs(3000, 250, 3) == [250, 750, 2250] and rungs(50_000, 2_500, 3) == [2_500, 7_500, 22_500]
    assert brackets(50_000, 2_500, 3) == 4
    history = [Told(n, True, {0: 10.0, 1000: v, 2000: 2 * v, 3000: 3 * v}) for n, v in enumerate((10, 20, 30, 40, 50))]
    assert MEDIAN_STARTUP == 5
    assert median_rule(history, 3000) == ((1000, 30.0), (2000, 60.0))  # not before 1/3, not the end
    assert median_rule(history[:4], 3000) == ()
    assert thresholds("none", 7, history, 3000, 1000) == ()
    assert thresholds("median", 0, history, 3000, 1000) == ()  # the start is never stopped
    # halving: the least of the best 1/3 of the values the trials before reached at each rung
    rung_history = [Told(n, n % 2 == 0, {250: float(v), 750: float(2 * v)}) for n, v in enumerate(range(1, 8))]
    assert thresholds("halving", 9, rung_history, 3000, 250) == ((250, 6.0), (750, 12.0))
    assert thresholds("halving", 9, rung_history[:2], 3000, 250) == ()  # fewer than eta at every rung
    # hyperband: bracket n % 4, judged on its own bracket's trials, the later brackets start later
    spread = [Told(n, True, {250: float(n), 750: float(n), 2250: float(n)}) for n in range(1, 25)]
    assert thresholds("hyperband", 4, spread, 3000, 250) == ((250, 20.0), (750, 20.0), (2250, 20.0))
    assert thresholds("hyperband", 5, spread, 3000, 250) == ((750, 17.0), (2250, 17.0))
    assert thresholds("hyperband", 7, spread, 3000, 250) == ()  # the last bracket never stops a run


def test_a_run_stops_at_the_first_evaluation_below_the_rule(tmp_path: pathlib.Path):
    import dataclasses

    from harness.execution import PairTask, run_pair
    from harness.studies import resolve_study

    study = resolve_study(load_study(str(tune_study(tmp_path))).select(labels=["tabular_q"]))
    agent = dataclasses.replace(study.agent("tabular_q"), stop_below=((1000, 1e9), (2000, 1e9)))
    stopped = dataclasses.replace(study, agents=(agent,))
    record = run_pair(PairTask(stopped, "tabular_q", 0), tmp_path / "run")
    assert record.complete and record.stopped_at == 1000 and record.steps_done == 1000
    assert run_json(tmp_path / "run")["evaluation"]["stop_below"] == [[1000, 1e9], [2000, 1e9]]
    assert {row["eval_step"] for row in read_csv(tmp_path / "run" / "evals.csv")} == {"0", "500", "1000"}
    plain = run_pair(PairTask(study, "tabular_q", 0), tmp_path / "plain")
    assert plain.stopped_at is None and plain.steps_done == 3000
    assert "stop_below" not in run_json(tmp_path / "plain")["evaluation"]


# -- end to end ---------------------------------------------------------------------------------


def trials_of(runs: pathlib.Path, name: str = "tuned") -> list[tuple[int, str, dict]]:
    import optuna

    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(runs / name / "tune" / "optuna.journal"))
    )
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    return [(t.number, t.state.name, t.params) for t in study.get_trials(deepcopy=False)]


def tuned_values(runs: pathlib.Path, name: str = "tuned") -> dict:
    data = tomllib.loads((runs / name / "tuned.toml").read_text())
    return {label: {k: v for k, v in table.items() if k != "kind"} for label, table in data["agents"].items()}


def stopped_runs(runs: pathlib.Path, name: str = "tuned") -> dict[str, int | None]:
    """Every run of the tune: `trial_<n>/seed_<s>` -> where it stopped (None: it ran its budget)."""
    found = {}
    for run in sorted((runs / name / "tune").glob("*/trial_*/seed_*")):
        record = run_json(run)
        if record is not None:
            found[f"{run.parent.name}/{run.name}"] = record.get("stopped_at")
    return found


@pytest.mark.e2e
def test_a_tiny_tune_writes_a_tuned_study_that_compares_with_a_tuning_section(tmp_path: pathlib.Path):
    path = tune_study(tmp_path)
    done = harness_here("tune", path, "--runs-dir", "runs", "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tabular_q: trials 0-1 (the start)" in done.stdout and "tabular_q: trials 2-3" in done.stdout
    assert "tabular_q: tuned: 4 configurations (4 complete, 0 stopped early, 0 failed)" in done.stdout
    assert "random: skipped: nothing to tune" in done.stdout
    trials = trials_of(tmp_path / "runs")
    assert [(n, state) for n, state, _ in trials] == [(n, "COMPLETE") for n in range(4)]
    start = trials[0][2]  # trial 0: the agent's own values (decay 25, its kind's grid: None, added)
    assert (start["decay"], start["min_learning_rate"], start["num_bins"]) == (25.0, 0.1, None)
    tune_runs = tmp_path / "runs" / "tuned" / "tune" / "tabular_q"
    for n in range(4):
        for seed in (100, 101):
            record = run_json(tune_runs / f"trial_{n:04d}" / f"seed_{seed}")
            assert record["status"] == "complete" and record["evaluation"]["eval_seed"] == 2_000_000
    assert not (tmp_path / "runs" / "tuned" / "tabular_q").exists()  # nothing on the study's seeds

    tuned = load_study(str(tmp_path / "runs" / "tuned" / "tuned.toml"))
    record = tuned.agent("tabular_q").tuned
    assert record is not None and record["trials"] == 4 and record["seeds"] == [100, 101]
    assert record["validation_seeds"] == [102, 103] and record["start_value"] == pytest.approx(
        float(record["start_value"])
    )
    finalists = record["finalists"]
    assert len(finalists) == 2 and 0 not in finalists  # the 2 best complete trials other than the start
    validated = [0, *finalists]
    for n in validated:  # re-trained on the validation seeds, with their own evaluation episodes
        for seed in (102, 103):
            assert run_json(tune_runs / f"trial_{n:04d}" / f"seed_{seed}")["evaluation"]["eval_seed"] == 3_000_000
    assert record["env_steps"] == 4 * 2 * 3000 + 3 * 2 * 3000
    chosen = record["chosen_trial"]
    assert chosen in validated and record["validation_best"] >= record["validation_start"]
    if chosen == 0:
        assert "tabular_q_start" not in tuned.labels
    else:
        assert tuned.agent("tabular_q").hyperparameters["decay"] == trials[chosen][2]["decay"]
        assert tuned.agent("tabular_q_start").hyperparameters == {}  # the study's agent as it was: its start
        assert ["tabular_q", "tabular_q_start"] in [list(pair) for pair in tuned.settings.paired]
    assert tuned.agent("random").tuned is None and tuned.settings.seeds == (0, 1)

    compared = harness_here(
        "compare",
        tmp_path / "runs" / "tuned" / "tuned.toml",
        "--runs-dir",
        "runs",
        "--reports-dir",
        "reports",
        "--jobs",
        "2",
        cwd=tmp_path,
    )
    assert compared.returncode == 0, compared.stderr
    readme = (tmp_path / "reports" / "tuned" / "README.md").read_text()
    assert "## Tuning" in readme and "Trial 0 is the agent's own values, its **start**" in readme
    assert "| tabular_q | the study's values and the kind's defaults | harness tune:" in readme
    assert "| random    | the study's values and the kind's defaults | not tuned" in readme
    assert re.search(r"\| tabular_q \| decay +\| 25 +\|", readme)
    assert "num_bins: the kind's own choice on the env (the start's) added to the choices" in readme
    status = harness_here("prune", tmp_path / "runs" / "tuned", cwd=tmp_path)
    assert status.returncode == 0 and (tune_runs / "trial_0000" / "seed_100" / "run.json").exists()

    again = harness_here("tune", path, "--runs-dir", "runs", cwd=tmp_path)
    assert again.returncode == 0 and "trials 0-1" not in again.stdout  # nothing left to run
    assert len(trials_of(tmp_path / "runs")) == 4


BEST_START = """
class Lean:
    \"\"\"Pushes towards the pole's lean, as hard as `skill` says: 1 balances, 0 always pushes left.\"\"\"

    def __init__(self, skill=1.0):
        self.skill = skill
        self.env = None

    def act(self, observation, reward, done):
        return int(self.skill * (observation[2] + observation[3]) > 0)

    def train(self):
        observation, _ = self.env.reset()
        while True:
            observation, _, terminated, truncated, _ = self.env.step(self.act(observation, 0.0, False))
            if terminated or truncated:
                observation, _ = self.env.reset()
"""


@pytest.mark.e2e
def test_a_tune_whose_start_is_best_returns_the_start(tmp_path: pathlib.Path):
    (tmp_path / "lean.py").write_text(BEST_START)
    tune = '\n[tune]\ntrials = 3\nseeds = [100]\npruner = "none"\n\n[agents.lean.search]\nskill = [0.0, -1.0]\n'
    path = tune_study(tmp_path, tune, {"lean": 'kind = "lean.py:Lean"'})
    done = harness_here("tune", path, "--runs-dir", "runs", "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tuning found nothing better than the start on the validation seeds" in done.stdout
    assert trials_of(tmp_path / "runs")[0][2]["skill"] == 1.0  # the start, added to the choices
    tuned = load_study(str(tmp_path / "runs" / "tuned" / "tuned.toml"))
    record = tuned.agent("lean").tuned
    assert record is not None and record["chosen_trial"] == 0 and "lean_start" not in tuned.labels
    assert tuned.agent("lean").hyperparameters.get("skill", 1.0) == 1.0
    assert record["validation_best"] == record["validation_start"]


@pytest.mark.e2e
def test_the_same_tune_twice_proposes_the_same_parameters_whatever_the_jobs(tmp_path: pathlib.Path):
    for folder, jobs in (("a", "1"), ("b", "2")):
        (tmp_path / folder).mkdir()
        done = harness_here(
            "tune", tune_study(tmp_path / folder), "--runs-dir", "runs", "--jobs", jobs, cwd=tmp_path / folder
        )
        assert done.returncode == 0, done.stderr
    first, second = trials_of(tmp_path / "a" / "runs"), trials_of(tmp_path / "b" / "runs")
    assert first == second and len({str(params) for _, _, params in first}) == 4
    changed = tmp_path / "c"
    changed.mkdir()
    harness_here(
        "tune", tune_study(changed, TUNED.replace("[tune]", "[tune]\nseed = 1")), "--runs-dir", "runs", cwd=changed
    )
    assert trials_of(changed / "runs") != first


RULE_TUNE = """
[tune]
budget_env_steps = {budget}
seeds = [100, 101]
concurrent_trials = 2
pruner = "{rule}"
reduction_factor = {eta}
finalists = 2

[agents.tabular_q.search]
min_learning_rate = {{ low = 0.01, high = 0.5, log = true }}
decay = {{ low = 2.0, high = 100.0, log = true }}
exploration_final_eps = {{ low = 0.0, high = 0.3 }}
"""


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize(
    ("rule", "budget", "eta"),
    [("halving", 60_000, 3), ("hyperband", 100_000, 2), ("median", 60_000, 3)],  # hyperband: brackets fill slower
)
def test_a_tune_killed_midway_resumes_to_the_trials_and_stopped_runs_of_an_uninterrupted_one(
    tmp_path: pathlib.Path, rule: str, budget: int, eta: int
):
    """The same tune, uninterrupted with --jobs 2, and SIGKILLed midway with --jobs 1 then resumed
    with --jobs 2: the same trials (numbers, states, values), the same runs stopped at the same
    steps, none run twice, and the same tuned values."""
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    table = RULE_TUNE.format(rule=rule, budget=budget, eta=eta)
    for folder in (reference, killed):
        folder.mkdir()
        (folder / "study.toml").write_text(
            study_text(
                name="tuned", seeds=(0, 1), total_timesteps=3000, eval_freq=250, n_eval_episodes=3, agents=AGENTS
            )
            + table
        )
    done = harness_here("tune", "study.toml", "--runs-dir", "runs", "--jobs", "2", cwd=reference)
    assert done.returncode == 0, done.stderr
    expected = trials_of(reference / "runs")
    assert len(expected) >= 8 and any(state == "PRUNED" for _, state, _ in expected)  # the rule stopped some
    process = start(["tune", "study.toml", "--runs-dir", "runs", "--jobs", "1"], cwd=killed)
    try:
        runs = killed / "runs" / "tuned" / "tune" / "tabular_q"
        wait_for(lambda: len([r for r in runs.glob("trial_*/seed_*") if run_json(r)]) >= 9, "nine runs", process)
    finally:
        kill_group(process)
    assert len(trials_of(killed / "runs")) < len(expected)
    resumed = harness_here("tune", "study.toml", "--runs-dir", "runs", "--jobs", "2", cwd=killed)
    assert resumed.returncode == 0, resumed.stderr
    assert trials_of(killed / "runs") == expected
    assert stopped_runs(killed / "runs") == stopped_runs(reference / "runs")
    assert tuned_values(killed / "runs") == tuned_values(reference / "runs")


@pytest.mark.e2e
def test_a_tune_killed_between_the_starts_enqueueing_and_its_run_resumes_with_the_start(tmp_path: pathlib.Path):
    """Killed after trial 0 (the start) was enqueued and before it was asked: it is WAITING, its
    values in Optuna's `fixed_params`, not in its `params`. Run again, trial 0 is still the start."""
    import json

    import optuna

    import harness
    from harness.experiments import study_name
    from harness.studies import resolve_study, start_of, with_start

    path = tune_study(tmp_path)
    study = load_study(str(path))
    space, _ = with_start(study.agent("tabular_q").search, resolve_study(study).agent("tabular_q").hyperparameters)
    journal = tmp_path / "runs" / "tuned" / "tune" / "optuna.journal"
    journal.parent.mkdir(parents=True)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    ostudy = optuna.create_study(
        study_name=study_name(study, "tabular_q", space), storage=storage, direction="maximize"
    )
    chosen = start_of(space, resolve_study(study).agent("tabular_q").hyperparameters)
    ostudy.enqueue_trial({key: json.dumps(v) if isinstance(v, list) else v for key, v in chosen.items()})
    assert [(n, state) for n, state, _ in trials_of(tmp_path / "runs")] == [(0, "WAITING")]
    harness.tune(path, jobs=2, runs_dir=tmp_path / "runs", stream=io.StringIO())
    trials = trials_of(tmp_path / "runs")
    assert len(trials) == 4 and trials[0][1] == "COMPLETE"
    assert (trials[0][2]["decay"], trials[0][2]["min_learning_rate"], trials[0][2]["num_bins"]) == (25.0, 0.1, None)


FLAKY = '''
from dataclasses import dataclass

from custom_agents import RandomAgent


@dataclass(frozen=True)
class FlakyConfig:
    fail: bool = False


class FlakyAgent(RandomAgent):
    """A random agent whose training fails when told to (as a diverging learning rate would)."""

    config_class = FlakyConfig

    def learn(self, *args, **kwargs):
        if self.config.fail:
            raise FloatingPointError("train/loss is nan")
        return super().learn(*args, **kwargs)
'''


@pytest.mark.e2e
def test_a_failed_trial_is_recorded_as_failed_and_the_tune_goes_on(tmp_path: pathlib.Path):
    (tmp_path / "flaky.py").write_text(FLAKY)
    tune = '\n[tune]\ntrials = 6\nseeds = [100]\nsampler = "random"\n\n[agents.flaky.search]\nfail = [true, false]\n'
    path = tune_study(tmp_path, tune, {"flaky": 'kind = "flaky.py:FlakyAgent"'})
    done = harness_here("tune", path, "--runs-dir", "runs", "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    states = [(state, params["fail"]) for _, state, params in trials_of(tmp_path / "runs")]
    assert len(states) == 6 and {state for state, fail in states if fail} == {"FAIL"}
    assert {state for state, fail in states if not fail} == {"COMPLETE"} and len({f for _, f in states}) == 2
    assert "failed (seed_100: FloatingPointError: train/loss is nan (at flaky.py, line " in done.stdout
    assert tuned_values(tmp_path / "runs")["flaky"].get("fail", False) is False


RAY_SCRIPT = """
import sys
import harness

result = harness.tune(sys.argv[1], jobs=2, runs_dir="runs-" + sys.argv[2], executor=sys.argv[2])
print("BEST", result.best)
"""


@pytest.mark.e2e
@pytest.mark.slow
def test_a_tune_on_ray_finds_what_the_local_executor_finds(tmp_path: pathlib.Path):
    tune_study(tmp_path, TUNED.replace("trials = 4", "trials = 2"))
    best = script_on_each_executor(tmp_path, RAY_SCRIPT, "study.toml", keep=("BEST",))
    assert best["local"] == best["ray"] and best["ray"]
    assert trials_of(tmp_path / "runs-local") == trials_of(tmp_path / "runs-ray")


def test_a_study_with_tuning_records_of_different_budgets_says_so(tmp_path: pathlib.Path):
    from harness.analysis import budgets_differ, tuning_table

    records = """
[tuned.random]
budget_env_steps = 100000
seeds = [100, 101]
total_timesteps = 3000

[tuned.tabular_q]
budget_env_steps = 200000
seeds = [100, 101]
total_timesteps = 3000
"""
    study = parse_study(study_text(agents={**AGENTS, "zoo": 'kind = "sb3_dqn"\npreset = "zoo"'}) + records, "s")
    assert budgets_differ(study)
    table = tuning_table(study).set_index("agent")
    assert table.loc["zoo", "start"] == "RL Zoo preset, its own tuning budget not recorded"
    assert table.loc["zoo", "tuned"] == "not tuned"
    assert table.loc["random", "budget_env_steps"] == 100_000 and table.loc["tabular_q", "budget_env_steps"] == 200_000
    same = parse_study(study_text(agents=AGENTS) + records.replace("200000", "100000"), "s")
    assert not budgets_differ(same)
    with pytest.raises(StudyError, match=r"tuned\.nobody: not an agent label"):
        parse_study(study_text(agents=AGENTS) + "[tuned.nobody]\ntrials = 1\nseeds = [5]\ntotal_timesteps = 9\n", "s")


def test_a_record_written_before_budgets_in_env_steps_still_reads():
    """A `[tuned.<label>]` record of a tune before issue 23 (trials made its budget) reads, and its
    study's Tuning section shows it."""
    from harness.analysis import budgets_differ, objective_table, tuning_table

    records = """
[tuned.tabular_q]
trials = 24
seeds = [100, 101, 102]
total_timesteps = 50000
sampler = "tpe"
pruner = "median"
seed = 0
best_value = 500.0
best_trial = 7
complete = 9
pruned = 15
failed = 0
env_steps = 2515000
defaults = { min_learning_rate = 0.1 }
optuna = "5.1.0"
"""
    study = parse_study(study_text(agents=AGENTS) + records, "s")
    row = tuning_table(study).set_index("agent").loc["tabular_q"]
    assert (row["trials"], row["complete"], row["objective"]) == (24, 9, "final") and pd.isna(row["budget_env_steps"])
    assert not budgets_differ(study)
    assert objective_table(study, None).empty  # type: ignore[arg-type]  # no validation: nothing to show


def test_the_tuned_values_list_every_searched_key_with_none_where_the_kind_chooses_the_default():
    from harness.analysis import tuned_values as values_table

    # tabular_q's default space searches num_bins, whose value before tuning the kind picks per env
    records = """
[tuned.tabular_q]
trials = 4
seeds = [100, 101]
total_timesteps = 3000
defaults = { min_learning_rate = 0.1 }
"""
    table = values_table(parse_study(study_text(agents=AGENTS) + records, "s"))
    rows = table.set_index("hyperparameter")
    assert list(table["hyperparameter"]) == [d.key for d in default_search("tabular_q") or ()]
    assert pd.isna(rows.loc["num_bins", "default"])  # shown as "–"
    assert rows.loc["min_learning_rate", "default"] == 0.1


class InterruptAfter(io.StringIO):
    """A progress stream that raises KeyboardInterrupt (a Ctrl-C) once it is told `text`."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def write(self, s: str) -> int:
        if self.text in s:
            raise KeyboardInterrupt
        return super().write(s)


@pytest.mark.e2e
def test_a_tune_stopped_between_two_tells_resumes_without_telling_a_trial_twice(tmp_path: pathlib.Path):
    """A Ctrl-C right after the first trial of a batch was told (its line is printed after): run
    again, the tune tells the other trial of the batch only, and ends as an uninterrupted one."""
    import harness

    reference, stopped = tmp_path / "reference", tmp_path / "stopped"
    for folder in (reference, stopped):
        folder.mkdir()
        tune_study(folder)
    harness.tune(reference / "study.toml", jobs=2, runs_dir=reference / "runs", stream=io.StringIO())
    with pytest.raises(KeyboardInterrupt):
        harness.tune(stopped / "study.toml", jobs=2, runs_dir=stopped / "runs", stream=InterruptAfter("trial 0: "))
    assert [state for _, state, _ in trials_of(stopped / "runs")] == ["COMPLETE", "RUNNING"]
    harness.tune(stopped / "study.toml", jobs=2, runs_dir=stopped / "runs", stream=io.StringIO())
    assert trials_of(stopped / "runs") == trials_of(reference / "runs")
