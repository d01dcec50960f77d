"""The assignment's shape: an agent class as the course notebook has students write it.

    class CartPoleQAgent(CartPoleBase):
        def __init__(self, num_bins=(3, 3, 6, 6), ...):   # keyword arguments: hyperparameters
            super().__init__()                           # makes self.env (CartPole-v1, RenderFrame)
        def act(self, observation, reward, done): ...   # 0 or 1
        def train(self): ...                             # loops over episodes on self.env

Any class with `train()` and `act(observation, reward, done)` that is neither a
`custom_agents.BaseAgent` nor an SB3 `BaseAlgorithm` is of this family. The harness builds it as
`Class(**hyperparameters)` (after seeding `random`, numpy, torch and the action space from the
run's seed), replaces its `self.env` with the run's env (`CourseEnv`) and calls `train()` once.
`AssignmentAgent` wraps it in the algorithm surface the rest of the harness uses (`learn`,
`predict`, `save`, `load`), so the runner, the callbacks, the evaluations and the contract treat it
like any other agent:

- every `self.env.step` is one env step of the run: the callbacks see it (episode records,
  evaluations on the study's schedule, the exact budget); the step after the budget is spent
  raises `BudgetSpent`, which the harness catches, so the student's loop needs no change (it
  derives from `BaseException`, so an `except Exception` in the loop does not swallow it);
- a loop that goes on after that (a bare `except:` swallowed the stop: it steps or resets the env
  again, or `train()` has not returned `RUNAWAY_GRACE_S` seconds later) is reported to the
  process's runaway handler (`on_runaway`: the harness's worker tells its driver, which stops the
  process and fails the run with `RUNAWAY`);
- an env the agent made itself (from its construction to the end of `train()`) and stepped fails
  the run (`harness.agents.envwatch`: agents of a study learn on `self.env`);
- an action outside the action space fails the run, naming the step and the value;
- `train()` returning before the budget is spent ends the run with the steps it used; the final
  evaluation is always of the policy the agent ended with (its loop may learn after its last step);
- evaluations call `act` as the student wrote it, on a copy of the agent per episode (so `act`
  keeps no state across episodes and changes nothing in training), with the reward of the step
  that led to each observation (0.0 after a reset) and `done=False`;
- `pause`, `resume`, `release` and `play` of the course's `RenderFrame` exist and do nothing.

The saved model is a cloudpickle of the agent (`model.pkl`, the env left out): loading it runs
code, as loading any pickle does, so load only runs you made.
"""

from __future__ import annotations

import copy
import pathlib
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Self

import cloudpickle
import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.utils import configure_logger
from stable_baselines3.common.vec_env import VecEnv

from custom_agents.sb3_loop import record_rollout_logs, wrap_callback
from harness.agents.envwatch import EnvWatch, OwnEnvStepped
from harness.conditions import isolated_random_state

SAVE_SUFFIX = ".pkl"
RECORDING_CONTROLS = ("pause", "resume", "release", "play")
"""The course's `RenderFrame` methods a student's loop may call; the harness records nothing."""


class BudgetSpent(BaseException):
    """Raised by `CourseEnv.step` once the run's budget of env steps is spent (or a callback
    stopped training): it ends the student's `train()` where it is."""


class InvalidAction(ValueError):
    """The agent chose an action outside the env's action space."""

    fix = "act(observation, reward, done) must return an action of the env's action space"


class OwnEnvError(RuntimeError):
    """The agent stepped an env it made itself (`harness.agents.envwatch`)."""

    fix = "step self.env, the env the harness gives every agent (the same seeds and start states for all)"


FINDINGS = (InvalidAction, OwnEnvError)
"""The harness's own findings on an agent: their message says it all (no exception type to add),
their `fix` how to mend it."""
RUNAWAY_FIX = (
    "catch only the exceptions you expect (`except ValueError:`): a bare `except:` catches the harness's stop too"
)
RUNAWAY = "train() went on after its budget was spent: did a bare `except:` catch the harness's stop?"
"""Why a run whose loop swallowed the harness's stop is stopped."""
RUNAWAY_GRACE_S = 10.0
"""Seconds `train()` has to return once the harness stopped it (a `finally:` that saves, say)."""
_RUNAWAY_HANDLER: list[Callable[[str], None]] = []


def on_runaway(handler: Callable[[str], None] | None) -> None:
    """Set what this process does when an agent's loop goes on after the harness stopped it
    (`handler(why)`: the harness's workers tell their driver, which stops the process); None:
    nothing (the loop is then stopped by nothing but its own end)."""
    _RUNAWAY_HANDLER[:] = [handler] if handler is not None else []


def _runaway(why: str) -> None:
    for handler in _RUNAWAY_HANDLER:
        handler(why)


def check_action(action: Any, space: gym.Space, where: str) -> Any:
    """`action` as the env takes it (a Discrete action given as a one-element array unwrapped);
    `InvalidAction` naming `where` and the value when the space does not contain it."""
    value = action
    if isinstance(space, gym.spaces.Discrete):
        array = np.asarray(action)
        if array.size == 1 and array.dtype.kind in "iu":
            value = int(array.reshape(()))
        elif array.size == 1 and array.dtype.kind == "b":
            value = action  # a bool is no action of a Discrete space
    if not space.contains(value) or isinstance(value, (bool, np.bool_)):
        raise InvalidAction(f"act returned {action!r} {where}, which is not an action of {space}")
    return value


class DetachedEnv:
    """What a saved or copied agent holds instead of the run's env: its spaces, the recording
    controls, and nothing to step."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def __getattr__(self, name: str) -> Any:
        if name in RECORDING_CONTROLS or name in ("render", "close"):
            return lambda *args, **kwargs: None
        raise AttributeError(f"the agent's env is detached (a saved or copied agent): no {name!r}")

    def reset(self, **kwargs: Any) -> Any:
        raise RuntimeError("the agent's env is detached (a saved or copied agent): it cannot be reset")

    def step(self, action: Any) -> Any:
        raise RuntimeError("the agent's env is detached (a saved or copied agent): it cannot be stepped")


class CourseEnv(gym.Wrapper):
    """The run's env as the student's `train()` sees it (`self.env`): gymnasium's `reset`/`step`
    on the training env of the run (the same factory, seed and start states as every agent's),
    each step counted and shown to the run's callbacks.

    The first `reset` is seeded with the run's seed; a `seed` the student passes is ignored (the
    harness seeds the env, so every agent meets the same start states).
    """

    def __init__(self, env: gym.Env, seed: int | None, owner: AssignmentAgent) -> None:
        super().__init__(env)
        self._seed = seed
        self._owner = owner
        self.seed_ignored = False

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        self._owner._check_stopped()
        if kwargs.pop("seed", None) is not None:
            self.seed_ignored = True
        seed, self._seed = self._seed, None
        return super().reset(seed=seed, **kwargs)

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        return self._owner._step(self.env, action)

    def __reduce__(self) -> tuple[Any, ...]:
        return (DetachedEnv, (self.observation_space, self.action_space))

    def __deepcopy__(self, memo: dict[int, Any]) -> DetachedEnv:
        # the spaces are copied too: a copy that samples actions must not move the run's generator
        return DetachedEnv(copy.deepcopy(self.observation_space, memo), copy.deepcopy(self.action_space, memo))

    def pause(self) -> None:
        """The course's recording control: the harness records nothing."""

    def resume(self) -> None:
        """The course's recording control: the harness records nothing."""

    def release(self) -> None:
        """The course's recording control: the harness records nothing."""

    def play(self) -> None:
        """The course's recording control: the harness records nothing."""


class AssignmentAgent:
    """An agent of the assignment's shape behind SB3's algorithm surface (see the module
    docstring). `agent` is the student's object; `env` the run's one-env VecEnv (None for a loaded
    agent, which only predicts); `watch` what recorded the envs its construction made."""

    learns_after_its_last_step = True
    """Its loop may change the policy after the last env step (an update at the episode's end, a
    `train()` that returns early): the final evaluation is made again at the end (`Evaluator`)."""

    def __init__(
        self,
        agent: Any,
        env: VecEnv | None = None,
        seed: int | None = None,
        log_interval: int = 4,
        watch: EnvWatch | None = None,
    ) -> None:
        self.agent = agent
        self._watch = watch or EnvWatch(on_swallowed=_runaway)
        self._after_stop = 0
        self._grace: threading.Timer | None = None
        self.seed = seed
        self.num_timesteps = 0
        self._env = env
        self._logger: Logger | None = None
        self._custom_logger = False
        self._callback: BaseCallback | None = None
        self._budget = 0
        self._stopped = False
        self._in_episode = False
        self._episode_num = 0
        self._episode_info: deque[dict[str, float]] = deque(maxlen=100)
        self._successes: deque[bool] = deque(maxlen=100)
        self._log_interval = log_interval
        self._start = time.time_ns()
        self._at_start = 0
        self._policy: tuple[int, Any] | None = None
        if env is not None:
            self.observation_space, self.action_space = env.observation_space, env.action_space
            old = getattr(agent, "env", None)
            if old is not None and hasattr(old, "close"):
                try:
                    old.close()
                except Exception:  # the student's own env, replaced: a failure to close it is theirs
                    pass
            agent.env = CourseEnv(env.envs[0], seed, self)  # type: ignore[attr-defined]
        else:
            self.observation_space = agent.env.observation_space
            self.action_space = agent.env.action_space

    @classmethod
    def built(cls, agent_class: type, kwargs: Mapping[str, Any], env: VecEnv, seed: int | None) -> AssignmentAgent:
        """`agent_class(**kwargs)` wrapped on the run's env; the envs its constructor makes are
        its own (stepping one later fails the run)."""
        watch = EnvWatch(on_swallowed=_runaway)
        with watch.watching():
            agent = agent_class(**kwargs)
        return cls(agent, env, seed, watch=watch)

    # -- SB3's surface ---------------------------------------------------------------------------

    @property
    def logger(self) -> Logger:
        if self._logger is None:
            self._logger = configure_logger(0, None, type(self.agent).__name__, True)
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        self._logger = logger
        self._custom_logger = True

    def get_env(self) -> VecEnv | None:
        return self._env

    def get_vec_normalize_env(self) -> None:
        return None

    def learn(
        self,
        total_timesteps: int,
        callback: Any = None,
        log_interval: int | None = 4,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> Self:
        """Call the agent's `train()` once, until it returns or the budget is spent."""
        if self._env is None:
            raise ValueError("this agent has no env (a loaded agent): it can only predict")
        callback = wrap_callback(callback, progress_bar)
        if not self._custom_logger:
            self._logger = configure_logger(0, None, tb_log_name or type(self.agent).__name__, reset_num_timesteps)
        self.num_timesteps = 0 if reset_num_timesteps else self.num_timesteps
        self._at_start = self.num_timesteps
        self._budget = self.num_timesteps + int(total_timesteps)
        self._stopped = self.num_timesteps >= self._budget
        self._log_interval = log_interval or 0
        self._start = time.time_ns()
        self._callback = callback
        self._after_stop = 0
        callback.init_callback(self)  # type: ignore[arg-type]
        callback.on_training_start(locals(), globals())
        try:
            if not self._stopped:
                with self._watch.watching():
                    self.agent.train()
        except (BudgetSpent, OwnEnvStepped):
            pass
        finally:
            if self._grace is not None:
                self._grace.cancel()
                self._grace = None
            if self._in_episode:
                self._in_episode = False
                callback.on_rollout_end()
            self._callback = None
        if self._watch.stepped is not None:
            raise OwnEnvError(self._watch.stepped)
        callback.on_training_end()
        return self

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False
    ) -> tuple[np.ndarray, None]:
        """`act` of a copy of the agent as it is now, for one observation or a batch (each row on a
        copy of its own, as if alone), with the random sources seeded from the agent's seed: the
        same observations always give the same actions, and training is not disturbed. (The
        evaluations use `episode_policy`.)"""
        obs = np.asarray(observation)
        shape = self.observation_space.shape
        single = obs.shape == shape
        batch = obs.reshape(1, *shape) if single else obs
        policy = self._policy_copy()
        actions = []
        for row in batch:  # each as if alone: a fresh copy, the same random streams
            with isolated_random_state(self.seed or 0):
                action = copy.deepcopy(policy).act(row, 0.0, False)
            actions.append(check_action(action, self.action_space, "in predict"))
        return (np.array(actions)[0:1].reshape(()) if single else np.array(actions)), None

    def episode_policy(self) -> Callable[[Any, float], Any]:
        """A policy for one evaluation episode: `act` of a copy of the agent made now, called with
        each observation and the reward of the step that led to it."""
        agent = self._policy_copy(fresh=True)
        steps = [0]

        def act(observation: Any, reward: float) -> Any:
            steps[0] += 1
            where = f"at step {steps[0]} of an evaluation episode (after {self.num_timesteps} env steps of training)"
            return check_action(agent.act(observation, reward, False), self.action_space, where)

        return act

    def save(self, path: str | pathlib.Path) -> None:
        """A cloudpickle of the agent, its env left out (`DetachedEnv`); a path without a suffix
        gets `.pkl`."""
        path = pathlib.Path(path)
        if not path.suffix:
            path = path.with_suffix(SAVE_SUFFIX)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {"agent": self.agent, "seed": self.seed, "num_timesteps": self.num_timesteps}
        path.write_bytes(cloudpickle.dumps(state))

    @classmethod
    def load(cls, path: str | pathlib.Path, env: Any = None, **kwargs: Any) -> AssignmentAgent:
        """An agent saved by `save` (it unpickles: it runs the pickled code). It only predicts."""
        path = pathlib.Path(path)
        if not path.exists() and not path.suffix:
            path = path.with_suffix(SAVE_SUFFIX)
        state = cloudpickle.loads(path.read_bytes())
        loaded = cls(state["agent"], None, state["seed"])
        loaded.num_timesteps = state["num_timesteps"]
        return loaded

    def set_random_seed(self, seed: int | None = None) -> None:
        self.seed = seed

    def run_info(self) -> dict[str, Any]:
        env = getattr(self.agent, "env", None)
        return {"reset_seed_ignored": True} if getattr(env, "seed_ignored", False) else {}

    # -- the run's env ----------------------------------------------------------------------------

    def _check_stopped(self) -> None:
        """Raise `BudgetSpent` once training was stopped: the first time, the loop has
        `RUNAWAY_GRACE_S` to end; a loop that steps or resets the env again swallowed the stop."""
        if not self._stopped:
            return
        self._after_stop += 1
        if self._after_stop == 1:
            self._grace = threading.Timer(RUNAWAY_GRACE_S, _runaway, args=(RUNAWAY,))
            self._grace.daemon = True
            self._grace.start()
        else:
            _runaway(RUNAWAY)
        raise BudgetSpent

    def _step(self, env: gym.Env, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        """One env step of the student's loop, counted and shown to the callbacks."""
        self._check_stopped()
        callback = self._callback
        value = check_action(action, self.action_space, f"at env step {self.num_timesteps + 1} of training")
        if callback is not None and not self._in_episode:
            self._in_episode = True
            callback.on_rollout_start()
        obs, reward, terminated, truncated, info = env.step(value)
        self.num_timesteps += 1
        done = bool(terminated or truncated)
        if done:
            self._episode_ended(info)
        if callback is not None:
            callback.update_locals(
                {
                    "actions": np.array([value]),
                    "new_obs": np.asarray(obs)[None],
                    "rewards": np.array([float(reward)], dtype=np.float32),
                    "dones": np.array([done]),
                    "infos": [info],
                    "total_timesteps": self._budget,
                }
            )
            if not callback.on_step():
                self._stopped = True
            if done:
                self._in_episode = False
                callback.on_rollout_end()
        if self.num_timesteps >= self._budget:
            self._stopped = True
        return obs, reward, terminated, truncated, info

    def _episode_ended(self, info: Mapping[str, Any]) -> None:
        self._episode_num += 1
        if "episode" in info:
            self._episode_info.append(info["episode"])
        if "is_success" in info:
            self._successes.append(bool(info["is_success"]))
        if self._log_interval and self._episode_num % self._log_interval == 0:
            self._dump_logs()

    def _dump_logs(self) -> None:
        """SB3's rollout and time keys, at `num_timesteps` (`custom_agents.sb3_loop`, as every agent)."""
        record_rollout_logs(
            self.logger,
            num_timesteps=self.num_timesteps,
            timesteps_at_start=self._at_start,
            start_time_ns=self._start,
            episodes=self._episode_num,
            episode_infos=self._episode_info,
            successes=self._successes,
        )
        self.logger.dump(step=self.num_timesteps)

    def _policy_copy(self, fresh: bool = False) -> Any:
        """A deep copy of the agent (its env detached), kept until training goes on."""
        if fresh or self._policy is None or self._policy[0] != self.num_timesteps:
            self._policy = (self.num_timesteps, copy.deepcopy(self.agent))
        return self._policy[1]
