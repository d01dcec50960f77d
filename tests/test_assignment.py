"""The assignment's agent family (`harness.agents.assignment`) and classes handed over from Python
(`Study.with_agent`): a class with `train()` and `act(observation, reward, done)`, written as the
course notebook asks, runs under the same conditions as every other agent.

The classes here are defined inside functions, so that no worker can import them by name: they
are in-memory kinds, shipped to the workers by value, as a notebook's are.
"""

from __future__ import annotations

import io
import pathlib
import random
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from helpers import run_json

import harness
from harness.agents import AssignmentKind, is_in_memory, kind_of, resolve_kind
from harness.studies import Study, StudyError

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def course_classes() -> dict[str, type]:
    """The course's base class and a student's agents, as notebook cells define them."""

    class RenderFrame(gym.Wrapper):
        def pause(self):
            pass

        def resume(self):
            pass

        def release(self):
            pass

        def play(self):
            pass

    class CartPoleBase:
        def __init__(self):
            self.env = RenderFrame(gym.make("CartPole-v1", render_mode="rgb_array"))

        def act(self, observation, reward, done):
            return self.env.action_space.sample()

        def train(self):
            pass

    class Wanderer(CartPoleBase):
        """Steps forever (until the harness stops it) with random actions of three sources, and
        keeps every start state it met and every action it drew."""

        def __init__(self, mix: float = 0.5):
            super().__init__()
            self.mix = mix
            self.starts: list[list[float]] = []

        def act(self, observation, reward, done):
            return int(observation[2] > 0)

        def train(self):
            while True:
                observation, _ = self.env.reset()
                self.starts.append([float(x) for x in observation])
                self.env.pause()
                self.env.resume()
                done = False
                while not done:
                    if np.random.random() < self.mix:
                        action = self.env.action_space.sample()
                    elif random.random() < 0.5:
                        action = self.act(observation, 0.0, False)
                    else:
                        action = int(np.random.randint(2))
                    observation, _, terminated, truncated, _ = self.env.step(action)
                    done = terminated or truncated
                self.env.release()
                self.env.play()

    class FewEpisodes(CartPoleBase):
        def __init__(self, episodes: int = 3):
            super().__init__()
            self.episodes = episodes

        def train(self):
            for _ in range(self.episodes):
                self.env.reset()
                done = False
                while not done:
                    _, _, terminated, truncated, _ = self.env.step(self.env.action_space.sample())
                    done = terminated or truncated

    class BadActor(Wanderer):
        def train(self):
            self.env.reset()
            for _ in range(5):
                self.env.step(0)
            self.env.step(2)

    class Crasher(Wanderer):
        def train(self):
            self.env.reset()
            self.env.step(0)
            raise ValueError("the student's bug\nwith a traceback's worth of lines")

    class Swallower(Wanderer):
        """Catches every Exception in its loop: the end of the budget still ends it."""

        def train(self):
            while True:
                try:
                    super().train()
                except Exception:
                    pass

    return {cls.__name__: cls for cls in (CartPoleBase, Wanderer, FewEpisodes, BadActor, Crasher, Swallower)}


CLASSES = course_classes()


def study(seeds: tuple[int, ...] = (0,), budget: int = 600, eval_freq: int = 200) -> Study:
    return (
        harness.study("quick")
        .select(labels=["tabular_q"])
        .replace(name="course", seeds=list(seeds), total_timesteps=budget, eval_freq=eval_freq, n_eval_episodes=3)
    )


def compare(s: Any, runs: pathlib.Path, **options: Any) -> Any:
    return harness.compare(s, jobs=2, runs_dir=runs, report=False, stream=io.StringIO(), **options)


def lines(path: pathlib.Path) -> list[str]:
    return path.read_text().splitlines()


# -- the family -----------------------------------------------------------------------------------


def test_a_class_with_train_and_act_is_of_the_assignments_family():
    kind = kind_of(CLASSES["Wanderer"])
    assert is_in_memory(kind)
    resolved = resolve_kind(kind)
    assert isinstance(resolved, AssignmentKind) and resolved.family == "assignment"
    assert resolved.resolve({}) == {"mix": 0.5}
    assert resolved.resolve({"mix": 0.25}) == {"mix": 0.25}


@pytest.mark.parametrize(
    ("methods", "says"),
    [
        ({"train": lambda self: None}, "has train() but no act(observation, reward, done)"),
        ({"act": lambda self, o, r, d: 0}, "has act(observation, reward, done) but no train()"),
        ({}, "is of no agent family"),
        ({"train": lambda self: None, "act": lambda self, o: 0}, "must take (observation, reward, done)"),
    ],
)
def test_a_class_of_no_family_is_refused_saying_what_it_lacks(methods, says):
    cls = type("Thing", (), methods)
    with pytest.raises(StudyError) as error:
        study().with_agent("thing", cls)
    assert says in str(error.value)
    assert "\n" not in str(error.value)


def test_with_agent_refuses_a_taken_label_and_a_keyword_the_constructor_does_not_take():
    s = study().with_agent("mine", CLASSES["Wanderer"])
    with pytest.raises(StudyError, match=r"with_agent\('mine'\): the study has an agent labelled 'mine' already"):
        s.with_agent("mine", CLASSES["FewEpisodes"])
    with pytest.raises(StudyError, match=r"unknown hyperparameter 'mixx': Wanderer\(\) takes mix"):
        s.with_agent("other", CLASSES["Wanderer"], mixx=1)
    with pytest.raises(StudyError, match=r"hyperparameter 'mix' must be a number"):
        s.with_agent("other", CLASSES["Wanderer"], mix="a lot")
    with pytest.raises(StudyError, match=r"hyperparameter 'seed' cannot be set"):
        s.with_agent(
            "other", type("Seeded", (CLASSES["Wanderer"],), {"__init__": lambda self, seed=None: None}), seed=1
        )
    with pytest.raises(StudyError, match="a label must be"):
        s.with_agent("no/slash", CLASSES["Wanderer"])


@pytest.mark.e2e
def test_every_family_and_kind_form_goes_in_through_with_agent(tmp_path: pathlib.Path):
    from stable_baselines3 import DQN

    from custom_agents import RandomAgent

    s = (
        study()
        .with_agent("built_in", "random")
        .with_agent("by_path", "custom_agents.tabular:TabularSarsaAgent")
        .with_agent("hand_written", RandomAgent)
        .with_agent("library", DQN, learning_starts=100, policy_kwargs={"net_arch": [16]})
        .with_agent("course", CLASSES["FewEpisodes"])
    )
    kinds = {spec.label: spec.kind for spec in s.agents}
    assert kinds["hand_written"] == "custom_agents.random_agent:RandomAgent"
    assert kinds["library"] == "stable_baselines3.dqn.dqn:DQN"
    assert is_in_memory(kinds["course"])
    outcome = compare(s, tmp_path / "runs")
    assert outcome.ok and len(outcome.completed) == 6


# -- a run ----------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_the_budget_is_exact_and_the_loop_is_stopped_at_the_next_step(tmp_path: pathlib.Path):
    s = study(budget=537).with_agent("wanderer", CLASSES["Wanderer"]).with_agent("swallower", CLASSES["Swallower"])
    assert compare(s, tmp_path / "runs").ok
    for label in ("wanderer", "swallower"):
        folder = tmp_path / "runs" / "course" / label / "seed_0"
        record = run_json(folder)
        assert record["status"] == "complete" and record["family"] == "assignment", record.get("error")
        assert record["steps_done"] == 537
        assert record["model_file"] == "model.pkl" and (folder / "agent_class.pkl").is_file()
        evals = lines(folder / "evals.csv")[1:]
        assert sorted({int(row.split(",")[0]) for row in evals}) == [0, 200, 400, 537]


@pytest.mark.e2e
def test_a_train_that_returns_early_completes_with_the_steps_it_used(tmp_path: pathlib.Path):
    s = study(seeds=(0, 1), budget=2_000).with_agent("few", CLASSES["FewEpisodes"], episodes=3)
    assert compare(s, tmp_path / "runs").ok
    steps = []
    for seed in (0, 1):
        folder = tmp_path / "runs" / "course" / "few" / f"seed_{seed}"
        record = run_json(folder)
        episodes = lines(folder / "episodes.csv")[1:]
        assert record["status"] == "complete" and len(episodes) == 3
        assert record["steps_done"] == int(episodes[-1].split(",")[2]) < 2_000
        steps.append(record["steps_done"])
    results = harness.load(tmp_path / "runs" / "course")
    use = results.envs["CartPole-v1"].budget_use
    assert use.to_dict("records") == [
        {
            "agent": "few",
            "runs_complete": 2,
            "budget": 2_000,
            "steps_mean": np.mean(steps),
            "steps_min": min(steps),
            "steps_max": max(steps),
        }
    ]
    readme = results.write_report(tmp_path / "report", video=False).read_text()
    assert (
        f"few used {min(steps):,}–{max(steps):,} (mean {np.mean(steps):,.0f} over 2 seeds) of 2,000 env steps" in readme
    )


@pytest.mark.e2e
def test_the_same_start_states_and_evaluation_episodes_as_every_agent(tmp_path: pathlib.Path):
    """The student's loop meets the training start states of the run's seed (as any agent's env
    does) and is evaluated on the study's evaluation episodes."""
    s = study(seeds=(3,), budget=800).with_agent("wanderer", CLASSES["Wanderer"])
    assert compare(s, tmp_path / "runs").ok
    folder = tmp_path / "runs" / "course"
    model = resolve_kind(s.agent("wanderer").kind).load(folder / "wanderer" / "seed_3" / "model.pkl")
    starts = model.agent.starts
    env = gym.make("CartPole-v1")
    expected = [env.reset(seed=3)[0].tolist()] + [env.reset()[0].tolist() for _ in range(len(starts) - 1)]
    assert np.allclose(starts, expected) and len(starts) > 10
    ours = [row.split(",")[:3] for row in lines(folder / "wanderer" / "seed_3" / "evals.csv")[1:]]
    builtin = [row.split(",")[:3] for row in lines(folder / "tabular_q" / "seed_3" / "evals.csv")[1:]]
    assert ours == builtin  # eval_step, episode, eval_seed


@pytest.mark.e2e
def test_the_same_seed_twice_gives_the_same_files(tmp_path: pathlib.Path):
    """`random`, numpy's global generator and the action space are seeded from the run's seed,
    and evaluations in between change nothing."""
    s = study(seeds=(0, 1), budget=900).with_agent("wanderer", CLASSES["Wanderer"])
    for name in ("a", "b"):
        assert compare(s, tmp_path / name).ok
    for seed in (0, 1):
        first, second = (tmp_path / name / "course" / "wanderer" / f"seed_{seed}" for name in ("a", "b"))
        assert (first / "evals.csv").read_bytes() == (second / "evals.csv").read_bytes()
        strip = lambda path: [",".join(row.split(",")[:-1]) for row in lines(path)]  # noqa: E731 (wall time)
        assert strip(first / "episodes.csv") == strip(second / "episodes.csv")
    one = tmp_path / "a" / "course" / "wanderer"
    assert (one / "seed_0" / "episodes.csv").read_bytes() != (one / "seed_1" / "episodes.csv").read_bytes()


@pytest.mark.e2e
def test_an_action_outside_the_space_or_a_crash_fails_that_pair_alone(tmp_path: pathlib.Path):
    s = study(seeds=(0, 1), budget=300).with_agent("bad", CLASSES["BadActor"]).with_agent("crash", CLASSES["Crasher"])
    outcome = compare(s, tmp_path / "runs")
    failed = dict(outcome.failed)
    assert sorted(failed) == ["bad/seed_0", "bad/seed_1", "crash/seed_0", "crash/seed_1"]
    assert sorted(outcome.completed) == ["tabular_q/seed_0", "tabular_q/seed_1"]
    assert failed["bad/seed_0"] == ("act returned 2 at env step 6 of training, which is not an action of Discrete(2)")
    assert failed["crash/seed_1"].startswith(  # the error and where the student's code raised it
        "ValueError: the student's bug with a traceback's worth of lines (at test_assignment.py, line "
    )


@pytest.mark.e2e
def test_a_model_replays_its_final_evaluation_in_another_process(tmp_path: pathlib.Path):
    """The saved model (a cloudpickle, the class kept beside it) plays the final evaluation's
    episodes again, random draws included, from the command line."""
    import subprocess
    import sys

    s = study(budget=700).with_agent("wanderer", CLASSES["Wanderer"], mix=0.2)
    assert compare(s, tmp_path / "runs").ok
    folder = tmp_path / "runs" / "course" / "wanderer" / "seed_0"
    final = [row.split(",") for row in lines(folder / "evals.csv")[1:] if row.startswith("700,")]
    done = subprocess.run(
        [sys.executable, "-m", "harness", "play", str(folder), "--episodes", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    played = [line.split("return ")[1].split(",")[0] for line in done.stdout.splitlines()]
    assert played == [row[3] for row in final]


def test_check_agent_runs_the_contract_on_a_notebooks_class():
    out = io.StringIO()
    report = harness.check_agent(CLASSES["FewEpisodes"], total_timesteps=600, stream=out, episodes=100)
    assert report.ok, str(report)
    text = out.getvalue().splitlines()
    assert text[0].startswith("harness check-agent ") and "(in memory, " in text[0] and "(assignment: " in text[0]
    assert text[-1] == "13 of 13 checks hold"


@pytest.mark.e2e
def test_results_show_as_tables_and_figures(tmp_path: pathlib.Path):
    from matplotlib.figure import Figure

    assert compare(study(seeds=(0, 1), budget=400).with_agent("few", CLASSES["FewEpisodes"]), tmp_path / "runs").ok
    results = harness.load(tmp_path / "runs" / "course")
    html = results._repr_html_()
    assert "<table" in html and "few" in html and "tabular_q" in html
    figure = results.plot("eval_return")
    assert isinstance(figure, Figure) and figure._repr_png_().startswith(b"\x89PNG")
    assert set(results.figures()) == {"eval_return.png", "train_return.png", "success_rate.png", "final_return.png"}
    with pytest.raises(harness.errors.ReportError, match="no picture 'nope'"):
        results.plot("nope")


@pytest.mark.e2e
def test_a_changed_class_is_another_kind_and_reruns_only_its_agent(tmp_path: pathlib.Path):
    first = study(budget=300).with_agent("few", CLASSES["FewEpisodes"])
    assert compare(first, tmp_path / "runs").ok

    class FewEpisodes(CLASSES["FewEpisodes"]):  # the cell run again, changed
        def __init__(self, episodes: int = 4):
            super().__init__(episodes)

    second = study(budget=300).with_agent("few", FewEpisodes)
    assert second.agent("few").kind != first.agent("few").kind
    outcome = compare(second, tmp_path / "runs")
    assert outcome.completed == ("few/seed_0",) and outcome.skipped == ("tabular_q/seed_0",)
    again = compare(study(budget=300).with_agent("few", CLASSES["FewEpisodes"]), tmp_path / "runs")
    assert again.restored == ("few/seed_0",) and again.completed == ()
    assert (tmp_path / "runs" / "course" / "study.toml").read_text().count("(in memory, ") == 1


def test_the_contract_says_when_train_ends_before_a_check_could_run():
    out = io.StringIO()
    report = harness.check_agent(CLASSES["FewEpisodes"], total_timesteps=600, stream=out, episodes=2)
    assert not report.ok
    failed = {result.name: result.message for result in report.failed}
    assert set(failed) == {"EvalCallback", "CheckpointCallback", "ProgressBarCallback"}
    assert "train() returned after" in failed["EvalCallback"] and "this check needs 200" in failed["EvalCallback"]


SCRIPT = '''
import sys

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import harness

EPISODES = {episodes}


class CartPoleBase:
    def __init__(self):
        self.env = gym.make("CartPole-v1", render_mode="rgb_array")

    def act(self, observation, reward, done):
        return self.env.action_space.sample()

    def train(self):
        pass


class QAgent(CartPoleBase):
    def __init__(self, episodes=EPISODES):
        super().__init__()
        self.episodes = episodes
        self.q = np.zeros((6, 2))

    def state(self, observation):
        return int(np.clip((observation[2] + 0.21) / 0.07, 0, 5))

    def act(self, observation, reward, done):
        return int(np.argmax(self.q[self.state(observation)]))

    def train(self):
        for _ in range(self.episodes):
            observation, _ = self.env.reset()
            done = False
            while not done:
                action = self.env.action_space.sample() if np.random.random() < 0.3 else self.act(observation, 0, 0)
                new, reward, terminated, truncated, _ = self.env.step(action)
                s, s2 = self.state(observation), self.state(new)
                self.q[s, action] += 0.1 * (reward + 0.99 * self.q[s2].max() * (not terminated) - self.q[s, action])
                observation, done = new, terminated or truncated


class TorchDQN(CartPoleBase):
    """The assignment's Exercise 3 in miniature: a network, a replay memory, a target network,
    trained by episodes."""

    def __init__(self, hidden=16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))
        self.target = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 2))
        self.target.load_state_dict(self.net.state_dict())
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.memory = []

    def act(self, observation, reward, done):
        with torch.no_grad():
            return int(self.net(torch.as_tensor(observation, dtype=torch.float32)).argmax())

    def train(self):
        episode = 0
        while True:
            observation, _ = self.env.reset()
            done = False
            while not done:
                action = self.env.action_space.sample() if torch.rand(()) < 0.5 else self.act(observation, 0, 0)
                new, reward, terminated, truncated, _ = self.env.step(action)
                self.memory.append((observation, action, reward, new, terminated))
                observation, done = new, terminated or truncated
            batch = [self.memory[i] for i in np.random.randint(len(self.memory), size=32)]
            s, a, r, s2, d = (torch.as_tensor(np.array(x), dtype=torch.float32) for x in zip(*batch))
            with torch.no_grad():
                y = r + 0.9 * (1 - d) * self.target(s2).max(1).values
            loss = nn.functional.mse_loss(self.net(s).gather(1, a.long()[:, None])[:, 0], y)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            episode += 1
            if episode % 5 == 0:
                self.target.load_state_dict(self.net.state_dict())


study = (
    harness.study("quick")
    .select(labels=["random"])
    .replace(name="script", seeds=[0, 1], total_timesteps=800, eval_freq=400, n_eval_episodes=3)
    .with_agent("q", QAgent)
    .with_agent("dqn", TorchDQN)
)
result = harness.compare(study, jobs=2, runs_dir=sys.argv[1], executor=sys.argv[2], report=False)
print("COMPLETED", sorted(result.completed), "SKIPPED", sorted(result.skipped), "FAILED", result.failed)
'''


def run_script(folder: pathlib.Path, runs: pathlib.Path, executor: str = "local", episodes: int = 20) -> str:
    import subprocess
    import sys

    script = folder / "my_notebook_as_a_script.py"
    script.write_text(SCRIPT.format(episodes=episodes))
    done = subprocess.run(
        [sys.executable, str(script), str(runs), executor], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2_000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.e2e
def test_classes_of_a_scripts_main_run_and_a_changed_class_reruns_only_its_agent(tmp_path: pathlib.Path):
    """The assignment's classes in a script's `__main__` (a Q-agent, a torch DQN trained by
    episodes): they train and evaluate in worker processes; run again unchanged, nothing trains;
    a changed constant of the script retrains that agent only."""
    runs = tmp_path / "runs"
    first = run_script(tmp_path, runs)
    pairs = ["dqn/seed_0", "dqn/seed_1", "q/seed_0", "q/seed_1", "random/seed_0", "random/seed_1"]
    assert first == f"COMPLETED {pairs} SKIPPED [] FAILED ()"
    for label in ("q", "dqn"):
        record = run_json(runs / "script" / label / "seed_0")
        assert record["status"] == "complete" and record["family"] == "assignment"
        assert record["kind"].startswith(f"__main__.{'QAgent' if label == 'q' else 'TorchDQN'} (in memory, ")
    assert run_script(tmp_path, runs) == f"COMPLETED [] SKIPPED {pairs} FAILED ()"
    changed = run_script(tmp_path, runs, episodes=21)
    others = [pair for pair in pairs if not pair.startswith("q/")]
    assert changed == f"COMPLETED ['q/seed_0', 'q/seed_1'] SKIPPED {others} FAILED ()"


@pytest.mark.e2e
@pytest.mark.slow
def test_a_scripts_main_class_on_ray_gives_the_evaluations_of_local_workers(tmp_path: pathlib.Path):
    import os

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    local = run_script(tmp_path, tmp_path / "local")
    on_ray = run_script(tmp_path, tmp_path / "ray", executor="ray")
    assert local == on_ray and "FAILED ()" in on_ray
    for label in ("q", "dqn", "random"):
        for seed in (0, 1):
            key = pathlib.Path("script") / label / f"seed_{seed}" / "evals.csv"
            assert (tmp_path / "local" / key).read_bytes() == (tmp_path / "ray" / key).read_bytes(), key


@pytest.mark.e2e
def test_the_final_evaluation_at_a_multiple_of_eval_freq_is_played_once(tmp_path: pathlib.Path):
    """The last step of a budget that is a multiple of `eval_freq` is evaluated once, at the end
    of training (the agent may learn after its last step): one `eval/mean_reward` point there in
    the run's TensorBoard events, not a stale one before it."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    s = study(budget=600, eval_freq=200).with_agent("wanderer", CLASSES["Wanderer"])
    assert compare(s, tmp_path / "runs").ok
    folder = tmp_path / "runs" / "course" / "wanderer" / "seed_0"
    evals = lines(folder / "evals.csv")[1:]
    assert sorted({int(row.split(",")[0]) for row in evals}) == [0, 200, 400, 600]
    assert len(evals) == 4 * s.settings.n_eval_episodes  # each point's episodes once
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    assert [event.step for event in events.Scalars("eval/mean_reward")] == [0, 200, 400, 600]
