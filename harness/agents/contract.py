"""The agent contract: what the harness relies on from any agent class, checked property by property.

`harness check-agent KIND` runs it on any kind, built-in or import path, the way gymnasium's
`check_env` checks an env; the project's own contract tests run the same checks on every built-in
kind (`tests/test_agent_contract.py`). Each check builds fresh agents through the harness's own
sequence (`build_model`: seed everything, make the training env, build) and either passes
or says what failed and how to fix it:

- `surface`: SB3's algorithm surface (`learn`, `predict`, `num_timesteps`, `logger`/`set_logger`,
  `get_env`, `get_vec_normalize_env`, `save`, classmethod `load`);
- `callback order`: callbacks called in SB3's order (init, training start, per rollout: start,
  each step, end; training end), one `on_step` per env step, with the loop-local names stock
  callbacks read;
- `log keys`: SB3's `rollout/ep_rew_mean`, `rollout/ep_len_mean` and `time/fps` reach the logger;
- `EvalCallback`: with `StopTrainingOnRewardThreshold`, it evaluates, saves a loadable best model
  and stops training;
- `CheckpointCallback`: checkpoints are written at their steps and load;
- `CallbackList`: a `CallbackList` and a plain list call every callback at every step;
- `function callback`: a plain function is called each step with `(locals, globals)` and stops
  training by returning False;
- `ProgressBarCallback`: it and `progress_bar=True` run and count every step;
- `evaluate_policy`: SB3's `evaluate_policy` runs the agent;
- `exact budget`: under the harness's `RunGuard`, training stops at exactly the budget;
- `batched predict`: one observation or a batch, one valid action each, the same alone or in a
  batch;
- `save/load`: a saved and loaded agent takes the same deterministic actions;
- `determinism`: the same seed twice gives the same actions and episodes, and evaluating during
  training changes nothing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import pathlib
import re
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    EvalCallback,
    ProgressBarCallback,
    StopTrainingOnRewardThreshold,
)
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure
from stable_baselines3.common.monitor import Monitor

from harness.agents.assignment import FINDINGS
from harness.agents.build import build_model
from harness.agents.families import AgentKind
from harness.agents.objects import where_raised
from harness.conditions import EpisodeRecorder, Evaluator, RunGuard, single_thread
from harness.errors import one_line

LOCAL_NAMES = ("dones", "infos", "rewards", "new_obs", "actions")
"""Loop-local names stock SB3 callbacks read at each step (`total_timesteps` comes from `learn`)."""
LOG_KEYS = ("rollout/ep_rew_mean", "rollout/ep_len_mean", "time/fps")


class ContractFailure(AssertionError):
    """A property that does not hold: what failed, and how to fix it."""

    def __init__(self, what: str, fix: str) -> None:
        super().__init__(f"{what}; fix: {fix}")


@dataclass(frozen=True)
class Subject:
    """What the contract is run on: a resolved kind, its resolved hyperparameters, an env."""

    kind: AgentKind
    hyperparameters: Mapping[str, Any]
    env_id: str = "CartPole-v1"
    total_timesteps: int = 3_000
    """The budget of the checks that train for a while (others train for a few dozen steps)."""
    seed: int = 0

    def build(self, seed: int | None = None) -> Any:
        """A fresh agent, built as the harness builds one (seeded, on the training env)."""
        return build_model(self.kind, self.env_id, self.seed if seed is None else seed, self.hyperparameters)[1]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str
    ok: bool
    message: str = ""
    """What failed and how to fix it ('' when it holds)."""

    @property
    def finding(self) -> str:
        """What failed, without how to fix it (checks that fail alike share it)."""
        return self.message.partition("; fix: ")[0]

    def line(self, as_above: bool = False) -> str:
        """'ok    name', or 'FAIL  name: what; fix: how' ('FAIL  name: as above' with `as_above`,
        for a finding said by an earlier line)."""
        if self.ok:
            return f"ok    {self.name}" + (f" ({self.message})" if self.message else "")
        return f"FAIL  {self.name}: {'as above' if as_above else self.message}"


class ContractNote(Exception):
    """A check that holds, with something worth saying (e.g. what it could not check)."""


class _Recorder(BaseCallback):
    """Records the hooks called, one letter each (I init, T training start, R rollout start, S
    step, E rollout end, X training end), and what each step's locals hold."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.steps: list[dict[str, Any]] = []

    def _init_callback(self) -> None:
        self.calls.append("I")

    def _on_training_start(self) -> None:
        self.calls.append("T")

    def _on_rollout_start(self) -> None:
        self.calls.append("R")

    def _on_step(self) -> bool:
        self.calls.append("S")
        step = {name: self.locals.get(name, _MISSING) for name in (*LOCAL_NAMES, "total_timesteps")}
        step = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in step.items()}
        step["num_timesteps"] = self.num_timesteps
        step["model_num_timesteps"] = self.model.num_timesteps
        self.steps.append(step)
        return True

    def _on_rollout_end(self) -> None:
        self.calls.append("E")

    def _on_training_end(self) -> None:
        self.calls.append("X")

    @property
    def order(self) -> str:
        return "".join(self.calls)

    def actions(self) -> list[Any]:
        return [np.asarray(step["actions"]).reshape(-1).tolist() for step in self.steps]


_MISSING = object()
_SUBCLASS_FIX = "subclass custom_agents.BaseAgent, whose learn() owns the loop, or SB3's BaseAlgorithm"


def _ended_early(subject: Subject, agent: Any, needed: int) -> None:
    """An agent of the assignment's shape whose `train()` returned before the check's steps: say
    so, rather than what the missing steps would have shown."""
    if subject.kind.family == "assignment" and agent.num_timesteps < needed:
        raise ContractFailure(
            f"train() returned after {agent.num_timesteps:,} env steps",
            f"this check needs {needed:,}: let train() run that long (more episodes), or check it with a "
            "smaller budget (total_timesteps)",
        )


def check_surface(subject: Subject, tmp: pathlib.Path) -> None:
    agent = subject.build()
    missing = [
        name
        for name in ("learn", "predict", "save", "set_logger", "get_env", "get_vec_normalize_env", "num_timesteps")
        if not hasattr(agent, name)
    ]
    if not callable(getattr(type(agent), "load", None)):
        missing.append("load (a classmethod)")
    if missing:
        raise ContractFailure(f"missing {', '.join(missing)}", _SUBCLASS_FIX)
    if agent.num_timesteps != 0:
        raise ContractFailure(f"num_timesteps is {agent.num_timesteps} before training", "start counting at 0")
    if agent.get_env() is None or agent.get_env().num_envs != 1:
        raise ContractFailure("get_env() is not the one-env VecEnv it was built on", _SUBCLASS_FIX)


def check_callback_order(subject: Subject, tmp: pathlib.Path) -> None:
    recorder = _Recorder()
    agent = subject.build()
    budget = min(subject.total_timesteps, 400)
    agent.learn(budget, callback=recorder)
    _ended_early(subject, agent, 1)
    fix = "call the callback as SB3's learn does; " + _SUBCLASS_FIX
    if not re.fullmatch(r"IT(RS+E)+X", recorder.order):
        raise ContractFailure(f"hooks called in the order {_abbreviate(recorder.order)}, not IT(RS+E)+X", fix)
    if recorder.order.count("S") != agent.num_timesteps:
        raise ContractFailure(f"{recorder.order.count('S')} on_step calls for {agent.num_timesteps} env steps", fix)
    obs_shape = agent.get_env().observation_space.shape
    for n, step in enumerate(recorder.steps, start=1):
        absent = [name for name, value in step.items() if value is _MISSING]
        if absent:
            raise ContractFailure(f"step {n}: the callback's locals lack {', '.join(absent)}", fix)
        if step["num_timesteps"] != n or step["model_num_timesteps"] != n:
            raise ContractFailure(f"num_timesteps is {step['model_num_timesteps']} at env step {n}", fix)
        if np.asarray(step["dones"]).shape != (1,) or np.asarray(step["rewards"]).shape != (1,):
            raise ContractFailure(f"step {n}: dones and rewards must have shape (1,)", fix)
        if np.asarray(step["new_obs"]).shape != (1, *obs_shape):
            raise ContractFailure(f"step {n}: new_obs has shape {np.asarray(step['new_obs']).shape}", fix)
        if not isinstance(step["infos"], (list, tuple)) or len(step["infos"]) != 1:
            raise ContractFailure(f"step {n}: infos must be a list of one dict", fix)
        if step["dones"][0] and "episode" not in step["infos"][0]:
            raise ContractFailure(f"step {n}: an episode ended without Monitor's info['episode']", fix)


def check_log_keys(subject: Subject, tmp: pathlib.Path) -> None:
    agent = subject.build()
    logger = configure(str(tmp / "log"), ["csv"])
    agent.set_logger(logger)
    agent.learn(subject.total_timesteps, log_interval=1)
    logger.close()
    _ended_early(subject, agent, 1)
    with open(tmp / "log" / "progress.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    keys = {key for row in rows for key, value in row.items() if value not in ("", None)}
    missing = [key for key in LOG_KEYS if key not in keys]
    if missing:
        raise ContractFailure(
            f"{', '.join(missing)} never logged in {subject.total_timesteps} steps",
            "record SB3's rollout/time keys (BaseAgent.dump_logs does) or give a larger budget",
        )


def check_eval_callback(subject: Subject, tmp: pathlib.Path) -> None:
    agent = subject.build()
    eval_freq = max(1, min(subject.total_timesteps // 2, 200))
    callback = EvalCallback(
        Monitor(gym.make(subject.env_id)),
        callback_on_new_best=StopTrainingOnRewardThreshold(reward_threshold=-math.inf, verbose=0),
        eval_freq=eval_freq,
        n_eval_episodes=2,
        log_path=str(tmp / "eval"),
        best_model_save_path=str(tmp / "best"),
        verbose=0,
    )
    agent.learn(subject.total_timesteps, callback=callback)
    _ended_early(subject, agent, eval_freq)
    if callback.evaluations_timesteps != [eval_freq]:
        raise ContractFailure(f"evaluated at {callback.evaluations_timesteps}, expected [{eval_freq}]", _SUBCLASS_FIX)
    if agent.num_timesteps != eval_freq:
        raise ContractFailure(
            f"trained on to step {agent.num_timesteps} after the callback stopped it at {eval_freq}",
            "stop when on_step() returns False",
        )
    best = sorted((tmp / "best").glob("best_model*"))
    if not best:
        raise ContractFailure("no best model was saved", "save(path) must write a file at path (plus a suffix)")
    subject.kind.load(best[0])


def check_checkpoint_callback(subject: Subject, tmp: pathlib.Path) -> None:
    agent = subject.build()
    agent.learn(60, callback=CheckpointCallback(save_freq=20, save_path=str(tmp), name_prefix="agent"))
    _ended_early(subject, agent, 60)
    for step in (20, 40, 60):
        files = list(tmp.glob(f"agent_{step}_steps*"))
        if not files:
            raise ContractFailure(f"no checkpoint at step {step}", "save(path) must write a file at path")
    loaded = subject.kind.load(next(tmp.glob("agent_40_steps*")))
    if loaded.num_timesteps != 40:
        raise ContractFailure(f"the checkpoint of step 40 loads with num_timesteps {loaded.num_timesteps}", "save it")


def check_callback_list(subject: Subject, tmp: pathlib.Path) -> None:
    for wrap in (CallbackList, list):
        first, second = _Recorder(), _Recorder()
        agent = subject.build()
        agent.learn(40, callback=wrap([first, second]))
        if first.order != second.order or first.order.count("S") != agent.num_timesteps:
            raise ContractFailure(f"a {wrap.__name__} of two callbacks was not called at every step", _SUBCLASS_FIX)


def check_function_callback(subject: Subject, tmp: pathlib.Path) -> None:
    calls: list[tuple[dict, dict]] = []

    def callback(locals_: dict[str, Any], globals_: dict[str, Any]) -> bool:
        calls.append((locals_, globals_))
        return len(calls) < 10

    agent = subject.build()
    agent.learn(max(subject.total_timesteps, 100), callback=callback)
    _ended_early(subject, agent, 10)
    if len(calls) != 10 or agent.num_timesteps != 10:
        raise ContractFailure(
            f"a function returning False at call 10 was called {len(calls)} times, training stopped at step "
            f"{agent.num_timesteps}",
            "wrap a plain function in SB3's ConvertCallback and stop when it returns False",
        )
    if not set(LOCAL_NAMES) <= set(calls[-1][0]) or not isinstance(calls[-1][1], dict):
        raise ContractFailure("the function did not get the loop's locals and globals", _SUBCLASS_FIX)


def check_progress_bar(subject: Subject, tmp: pathlib.Path) -> None:
    agent = subject.build()
    progress = ProgressBarCallback()
    agent.learn(64, callback=progress)
    if progress.pbar is None or progress.pbar.n != agent.num_timesteps:
        raise ContractFailure("ProgressBarCallback did not count every step", _SUBCLASS_FIX)
    agent = subject.build()
    agent.learn(64, progress_bar=True)
    _ended_early(subject, agent, 64)
    if agent.num_timesteps < 64:
        raise ContractFailure(f"progress_bar=True trained {agent.num_timesteps} of 64 steps", _SUBCLASS_FIX)


def check_evaluate_policy(subject: Subject, tmp: pathlib.Path) -> None:
    agent = subject.build()
    agent.learn(100)
    env = Monitor(gym.make(subject.env_id))
    try:
        rewards, lengths = evaluate_policy(agent, env, n_eval_episodes=3, return_episode_rewards=True)
    finally:
        env.close()
    if len(rewards) != 3 or len(lengths) != 3 or not all(math.isfinite(float(r)) for r in rewards):
        raise ContractFailure(f"evaluate_policy gave {rewards!r}", "predict must give valid actions")


def check_exact_budget(subject: Subject, tmp: pathlib.Path) -> None:
    assignment = subject.kind.family == "assignment"
    # Odd, so that no rollout length divides it (a loop that finishes its rollout shows); the
    # assignment's loop has no rollouts: the harness counts its every step, so its budget is given.
    budget = subject.total_timesteps if assignment else subject.total_timesteps // 2 * 2 + 1
    agent = subject.build()
    agent.learn(budget, callback=RunGuard(budget))
    if agent.num_timesteps < budget and assignment:
        raise ContractNote(
            f"train() returned after {agent.num_timesteps:,} of {budget:,} env steps; a run records the steps used"
        )
    if agent.num_timesteps != budget:
        raise ContractFailure(
            f"the guard stopped training at step {budget}, but the agent took {agent.num_timesteps} steps",
            "count num_timesteps per env step and stop when a callback's on_step() returns False",
        )


def check_batched_predict(subject: Subject, tmp: pathlib.Path) -> None:
    agent = subject.build()
    agent.learn(50)
    batch = _observations(subject.env_id, 6)
    space = agent.get_env().action_space
    fix = "predict((n, *obs_shape)) must return (n actions, None); predict(obs_shape) one action"
    actions, state = agent.predict(batch, deterministic=True)
    actions = np.asarray(actions)
    if len(actions) != len(batch) or state is not None:
        raise ContractFailure(f"a batch of {len(batch)} observations gave actions of shape {actions.shape}", fix)
    invalid = [a for a in actions if not space.contains(_action(a, space))]
    if invalid:
        raise ContractFailure(f"actions {invalid[:3]} are not in {space}", fix)
    alone = [np.asarray(agent.predict(obs, deterministic=True)[0]) for obs in batch]
    if any(single.size != np.asarray(_action(actions[0], space)).size for single in alone):
        raise ContractFailure("one observation did not give one action", fix)
    again = np.asarray(agent.predict(batch, deterministic=True)[0])
    if not np.array_equal(again, actions):
        # A policy with no mode (the random agent) draws even when asked to be deterministic.
        raise ContractNote("deterministic=True draws random actions here, so consistency was not checked")
    if not all(np.array_equal(np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)) for a, b in zip(alone, actions)):
        raise ContractFailure("observations alone and in a batch gave different deterministic actions", fix)


def check_save_load(subject: Subject, tmp: pathlib.Path) -> None:
    agent = subject.build()
    agent.learn(subject.total_timesteps)
    batch = _observations(subject.env_id, 500)  # many: a lost part of the model shows somewhere
    before = np.asarray(agent.predict(batch, deterministic=True)[0])
    agent.save(tmp / "model")
    files = list(tmp.glob("model*"))
    if len(files) != 1:
        raise ContractFailure(f"save('model') wrote {len(files)} files", "write one file, at path plus a suffix")
    loaded = subject.kind.load(files[0])
    after = np.asarray(loaded.predict(batch, deterministic=True)[0])
    if not np.array_equal(before, after):
        differ = int(np.sum(before.reshape(len(batch), -1) != after.reshape(len(batch), -1)))
        raise ContractFailure(
            f"after save/load, {differ} of {len(batch)} deterministic actions differ",
            "save everything predict uses; load must restore it",
        )


def check_determinism(subject: Subject, tmp: pathlib.Path) -> None:
    budget = min(subject.total_timesteps, 1_000)

    def run(with_evaluation: bool) -> tuple[list[Any], list[tuple[float, int]]]:
        recorder, episodes = _Recorder(), EpisodeRecorder()
        callbacks: list[BaseCallback] = [recorder, episodes]
        evaluator = None
        if with_evaluation:
            evaluator = Evaluator(subject.env_id, max(1, budget // 4), 2, 1_000_000)
            callbacks.append(evaluator)
        agent = subject.build()
        agent.set_logger(configure(None, []))
        agent.learn(budget, callback=callbacks)
        if evaluator is not None:
            evaluator.close()
        return recorder.actions(), [(row.episode_return, row.length) for row in episodes.rows]

    first, second, evaluated = run(False), run(False), run(True)
    fix = "draw every random number from generators seeded by `seed` (BaseAgent's self.rng), none unseeded"
    if first != second:
        raise ContractFailure(f"the same seed gave other {_first_difference(first, second)}", fix)
    if first != evaluated:
        raise ContractFailure(
            f"evaluating during training changed {_first_difference(first, evaluated)}",
            "predict() must not draw from the training generators (BaseAgent gives it its own)",
        )


CHECKS: dict[str, Callable[[Subject, pathlib.Path], None]] = {
    "surface": check_surface,
    "callback order": check_callback_order,
    "log keys": check_log_keys,
    "EvalCallback": check_eval_callback,
    "CheckpointCallback": check_checkpoint_callback,
    "CallbackList": check_callback_list,
    "function callback": check_function_callback,
    "ProgressBarCallback": check_progress_bar,
    "evaluate_policy": check_evaluate_policy,
    "exact budget": check_exact_budget,
    "batched predict": check_batched_predict,
    "save/load": check_save_load,
    "determinism": check_determinism,
}


FIXES: dict[str, str] = {
    "surface": "build it as the harness does, Class(env, seed=seed, **hyperparameters), and read the traceback",
    "callback order": "train it for a few hundred steps outside the harness (agent.learn(...)) to see the traceback",
    "log keys": "train it outside the harness (agent.learn(...)) to see the traceback",
    "EvalCallback": "predict, save and load must work in the middle of training; try them outside the harness",
    "CheckpointCallback": "save(path) must write one file at path (plus a suffix) that load(file) reads",
    "CallbackList": "train it outside the harness (agent.learn(...)) to see the traceback",
    "function callback": "train it outside the harness (agent.learn(...)) to see the traceback",
    "ProgressBarCallback": "learn must accept progress_bar=True; train it so outside the harness",
    "evaluate_policy": "predict(obs) must return (valid actions for the env's action space, None)",
    "exact budget": "train it outside the harness (agent.learn(...)) to see the traceback",
    "batched predict": "predict((n, *obs_shape)) must return (n actions, None); predict(obs_shape) one action",
    "save/load": "save everything predict uses, load must restore it; try save/load outside the harness",
    "determinism": "train it twice outside the harness (agent.learn(...)) to see the traceback",
}
"""How to go on from a check that failed because something raised (an SB3-API or hand-written agent)."""
_TRY_IN_A_CELL = "make an instance in a cell and call its train() (and act()) to see the traceback"
ASSIGNMENT_FIXES: dict[str, str] = {
    **dict.fromkeys(CHECKS, _TRY_IN_A_CELL),
    "save/load": "the harness saves the agent with cloudpickle: keep no open file, env or thread of your own in it",
    "batched predict": "act(observation, reward, done) must return an action of the env's action space",
    "evaluate_policy": "act(observation, reward, done) must return an action of the env's action space",
    "determinism": "draw random numbers from random, numpy's global generator, torch or self.env.action_space "
    "(the harness seeds them), not from a generator of your own made without a seed",
}
"""The same, for an agent of the assignment's shape (`act`/`train`: nothing of SB3 to call)."""


def _raised_in(error: BaseException) -> str:
    """Who raised: the agent's own code ('In [5], line 12, in act' for a notebook cell's, else the
    file and line), else the library's frame ('the check' when every frame is the harness's)."""
    where = where_raised(error)
    if where is not None:
        return where
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if "site-packages" in frame.filename:
            return f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}"
    return "the check"


def run_check(name: str, subject: Subject) -> CheckResult:
    """Run one check in a temporary folder, its output (SB3's warnings, progress bars) swallowed."""
    single_thread()
    with tempfile.TemporaryDirectory(prefix="harness-check-") as tmp, _quiet():
        try:
            CHECKS[name](subject, pathlib.Path(tmp))
        except ContractFailure as failure:
            return CheckResult(name, False, str(failure))
        except ContractNote as note:
            return CheckResult(name, True, str(note))
        except FINDINGS as finding:  # the harness's own finding on the agent (an own env, a bad action)
            return CheckResult(name, False, f"{one_line(finding)}; fix: {finding.fix}")
        except Exception as error:
            text = " ".join(str(error).split())[:400]
            fix = _fixes(subject)[name]
            return CheckResult(name, False, f"{type(error).__name__}: {text} (at {_raised_in(error)}); fix: {fix}")
    return CheckResult(name, True)


def _fixes(subject: Subject) -> dict[str, str]:
    return ASSIGNMENT_FIXES if subject.kind.family == "assignment" else FIXES


def run_contract(
    subject: Subject, on_result: Callable[[CheckResult], None] | None = None, first: int = 0
) -> list[CheckResult]:
    """Every check from the `first` on, in order; `on_result` sees each result as it comes."""
    results = []
    for name in list(CHECKS)[first:]:
        result = run_check(name, subject)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        yield


def _observations(env_id: str, n: int) -> np.ndarray:
    """`n` observations of the env (first observations of seeded resets, then random steps)."""
    env = gym.make(env_id)
    env.action_space.seed(0)
    observations = []
    obs, _ = env.reset(seed=0)
    while len(observations) < n:
        observations.append(obs)
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    return np.stack(observations)


def _action(action: Any, space: gym.Space) -> Any:
    """An action as the space checks it (a Discrete action given as [a] unwrapped)."""
    array = np.asarray(action)
    if isinstance(space, gym.spaces.Discrete):
        return array.reshape(-1)[0]
    return array.reshape(space.shape)


def _abbreviate(order: str) -> str:
    return re.sub(r"S{4,}", lambda m: f"S..({len(m.group())})", order)[:80]


def _first_difference(a: tuple[list, list], b: tuple[list, list]) -> str:
    actions_a, episodes_a = a
    actions_b, episodes_b = b
    for i, (x, y) in enumerate(zip(actions_a, actions_b)):
        if x != y:
            return f"actions from env step {i + 1} on ({x} vs {y})"
    if len(actions_a) != len(actions_b):
        return f"step counts ({len(actions_a)} vs {len(actions_b)})"
    return f"episodes ({episodes_a[:3]} vs {episodes_b[:3]})"
