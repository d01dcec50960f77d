"""`harness tune`: the same Optuna budget for every agent, on seeds kept apart from the test seeds
(docs/design.md, "Tuning").

The `[tune]` table and search spaces and their bad input; the median rule; a tiny tune end to end
(tuned.toml reads back as a study, compare reports a Tuning section); the same tune twice proposes
the same parameters; a tune killed midway resumes to exactly the asked trials, none repeated, with
the parameters an uninterrupted tune found; failed trials; a tune on a loopback Ray instance.
"""

from __future__ import annotations

import io
import pathlib
import tomllib

import pandas as pd
import pytest
from helpers import harness_here, kill_group, read_csv, run_json, script_on_each_executor, start, study_text, wait_for

from harness.errors import StudyError
from harness.studies import DEFAULT_SEARCH, default_search, load_study, parse_study, to_toml

TUNED = """
[tune]
trials = 4
seeds = [100, 101]
concurrent_trials = 2

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
    assert study.tune is not None
    assert (study.tune.trials, study.tune.seeds, study.tune.total_timesteps) == (4, (100, 101), 3000)
    assert (study.tune.sampler, study.tune.pruner, study.tune.eval_seed) == ("tpe", "median", 2_000_000)
    space = study.agent("tabular_q").search
    assert space is not None and [d.key for d in space] == ["min_learning_rate", "decay", "num_bins"]
    assert space[0].log and not space[0].integer and space[2].choices == ([3, 3, 6, 6], [1, 1, 6, 12])
    again = parse_study(to_toml(study), "written")
    assert again.tune == study.tune and again.agent("tabular_q").search == space


def test_the_default_spaces_are_the_kinds_own_and_the_dqns_are_the_zoos():
    assert set(DEFAULT_SEARCH) == {"tabular_q", "tabular_sarsa", "custom_dqn", "sb3_dqn"}
    zoo = DEFAULT_SEARCH["sb3_dqn"]
    assert zoo["train_freq"] == [1, 4, 8, 16, 128, 256, 1_000]
    assert zoo["gradient_steps"] == {"divide": "train_freq", "by": [1, 2, 4, 8]}
    assert zoo["learning_rate"] == {"low": 1e-5, "high": 1.0, "log": True}
    assert zoo["policy_kwargs"] == [{"net_arch": [64]}, {"net_arch": [64, 64]}, {"net_arch": [256, 256]}]
    assert DEFAULT_SEARCH["custom_dqn"]["net_arch"] == [[64], [64, 64], [256, 256]]


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
        (TUNED.replace("concurrent_trials = 2", 'sampler = "grid"'), AGENTS, (), "tune.sampler: must be one of tpe"),
        (TUNED + "[tune.eval]\n", AGENTS, (), "tune.eval: unknown key"),
        (TUNED.replace("[tune]", "[tune]\neval_seed = 1000003"), AGENTS, (), "tune.eval_seed: the trials' evaluation"),
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


def test_the_median_rule_is_the_median_of_complete_trials_after_the_warm_up():
    from harness.experiments import MEDIAN_STARTUP, median_rule

    class Trial:
        def __init__(self, curve: dict[int, float]) -> None:
            self.intermediate_values = curve

    history = [Trial({0: 10.0, 1000: v, 2000: 2 * v, 3000: 3 * v}) for v in (10.0, 20.0, 30.0, 40.0, 50.0)]
    assert MEDIAN_STARTUP == 5
    assert median_rule("median", history, 3000) == ((1000, 30.0), (2000, 60.0))  # not before 1/3, not the end
    assert median_rule("median", history[:4], 3000) == ()
    assert median_rule("none", history, 3000) == ()


def test_a_run_stops_at_the_first_evaluation_below_the_rule(tmp_path: pathlib.Path):
    import dataclasses

    from harness.execution import PairTask, run_pair
    from harness.studies import resolve_study

    study = resolve_study(load_study(str(tune_study(tmp_path))).select(labels=["tabular_q"]))
    stopped = dataclasses.replace(study, stop_below=((1000, 1e9), (2000, 1e9)))
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


@pytest.mark.e2e
def test_a_tiny_tune_writes_a_tuned_study_that_compares_with_a_tuning_section(tmp_path: pathlib.Path):
    path = tune_study(tmp_path)
    done = harness_here("tune", path, "--runs-dir", "runs", "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tabular_q: trials 0-1 (trials 0-3)" in done.stdout and "tabular_q: trials 2-3 (trials 0-3)" in done.stdout
    assert "tabular_q: tuned: 4 complete, 0 pruned, 0 failed; best" in done.stdout
    trials = trials_of(tmp_path / "runs")
    assert [(n, state) for n, state, _ in trials] == [(n, "COMPLETE") for n in range(4)]
    tune_runs = tmp_path / "runs" / "tuned" / "tune" / "tabular_q"
    for n in range(4):
        for seed in (100, 101):
            record = run_json(tune_runs / f"trial_{n:04d}" / f"seed_{seed}")
            assert record["status"] == "complete" and record["evaluation"]["eval_seed"] == 2_000_000
    assert not (tmp_path / "runs" / "tuned" / "tabular_q").exists()  # nothing on the study's seeds

    tuned = load_study(str(tmp_path / "runs" / "tuned" / "tuned.toml"))
    record = tuned.agent("tabular_q").tuned
    assert record is not None and record["trials"] == 4 and record["seeds"] == [100, 101]
    assert record["total_timesteps"] == 3000 and record["complete"] == 4 and record["env_steps"] == 4 * 2 * 3000
    best = trials[record["best_trial"]][2]
    assert tuned.agent("tabular_q").hyperparameters["decay"] == best["decay"]
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
    assert "## Tuning" in readme and "4 Optuna trials x 2 seeds x 3,000 env steps" in readme
    assert "| tabular_q | here: harness tune (Optuna)" in readme
    assert "| random    | not tuned" in readme
    assert "| tabular_q | decay             | 25        |" in readme
    status = harness_here("prune", tmp_path / "runs" / "tuned", cwd=tmp_path)
    assert status.returncode == 0 and (tune_runs / "trial_0000" / "seed_100" / "run.json").exists()

    again = harness_here("tune", path, "--runs-dir", "runs", cwd=tmp_path)
    assert again.returncode == 0 and "trials 0-1" not in again.stdout  # nothing left to run
    assert len(trials_of(tmp_path / "runs")) == 4


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


@pytest.mark.e2e
@pytest.mark.slow
def test_a_tune_killed_midway_resumes_to_the_asked_trials_with_the_same_parameters(tmp_path: pathlib.Path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    slower = TUNED.replace("[tune]", "[tune]\ntotal_timesteps = 20_000")
    for folder in (reference, killed):
        folder.mkdir()
        tune_study(folder, slower)
    assert harness_here("tune", "study.toml", "--runs-dir", "runs", "--jobs", "2", cwd=reference).returncode == 0
    process = start(["tune", "study.toml", "--runs-dir", "runs", "--jobs", "1"], cwd=killed)
    try:
        runs = killed / "runs" / "tuned" / "tune" / "tabular_q"
        wait_for(lambda: len([r for r in runs.glob("trial_*/seed_*") if run_json(r)]) >= 3, "three runs", process)
    finally:
        kill_group(process)
    assert len(trials_of(killed / "runs")) in (2, 4)  # a batch asked, not all told
    resumed = harness_here("tune", "study.toml", "--runs-dir", "runs", "--jobs", "2", cwd=killed)
    assert resumed.returncode == 0, resumed.stderr
    assert trials_of(killed / "runs") == trials_of(reference / "runs")  # 4 trials, none repeated, same values
    assert tuned_values(killed / "runs") == tuned_values(reference / "runs")


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
    assert tuned_values(tmp_path / "runs")["flaky"]["fail"] is False


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
trials = 10
seeds = [100, 101]
total_timesteps = 3000

[tuned.tabular_q]
trials = 20
seeds = [100, 101]
total_timesteps = 3000
"""
    study = parse_study(study_text(agents={**AGENTS, "zoo": 'kind = "sb3_dqn"\npreset = "zoo"'}) + records, "s")
    assert budgets_differ(study)
    table = tuning_table(study).set_index("agent")
    assert table.loc["zoo", "tuned"] == "RL Zoo preset: tuning budget not recorded"
    assert table.loc["random", "trials"] == 10 and table.loc["tabular_q", "trials"] == 20
    same = parse_study(study_text(agents=AGENTS) + records.replace("trials = 20", "trials = 10"), "s")
    assert not budgets_differ(same)
    with pytest.raises(StudyError, match=r"tuned\.nobody: not an agent label"):
        parse_study(study_text(agents=AGENTS) + "[tuned.nobody]\ntrials = 1\nseeds = [5]\ntotal_timesteps = 9\n", "s")


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
    assert list(table["hyperparameter"]) == [d.key for d in default_search("tabular_q")]
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
