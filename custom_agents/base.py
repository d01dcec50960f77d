"""`BaseAgent`: Stable-Baselines3's algorithm surface written once, and the extension point for
hand-written agents (the project's own and yours).

`BaseAgent` owns the counters, the training loop and the order in which callbacks are called; a
subclass fills in a few small hooks and gets, unchanged, everything the harness and SB3's tools
use: stock callbacks (`EvalCallback`, `CheckpointCallback`, `ProgressBarCallback`,
`StopTrainingOnRewardThreshold`, `CallbackList`, plain functions), `evaluate_policy`, SB3's logger
keys, `save`/`load` (with `exclude`/`include`, `custom_objects`, `force_reset`),
`get_parameters`/`set_parameters`, `set_env`, the hyperparameters as live attributes, and `harness
check-agent`, which checks all of it.

Writing an agent (see `examples/my_agents.py` for a whole one):

    @dataclass(frozen=True)
    class MyConfig:                      # the hyperparameter schema: the study's keys
        learning_rate: float = 0.1
        # one line of docstring under each field says what it is

    class MyAgent(BaseAgent):
        config_class = MyConfig          # required: a frozen dataclass (an empty one if none)
        save_suffix = ".zip"             # what save("model") appends (SB3's, the default)

        def _setup_model(self): ...                    # required: build tables or networks
        def _sample_actions(self, obs): ...            # required: the behaviour policy
        def _predict(self, obs, deterministic): ...    # required: actions for a batch
        def _on_transition(self, obs, actions, rewards, new_obs, dones, infos): ...  # learn per step
        def _state(self): ...  /  def _load_state(self, state): ...                 # what save keeps

The order `learn(total_timesteps, callback)` calls them in (SB3's off-policy loop):

    init_callback -> on_training_start(locals, globals)
    repeat until num_timesteps >= total_timesteps or a callback returns False:
        on_rollout_start
        until _rollout_complete(n_steps, n_episodes):        (default: one episode)
            actions = _sample_actions(obs)
            env.step(actions); num_timesteps += n_envs
            callback.update_locals(locals()); callback.on_step()   (False stops training here)
            _on_transition(obs, actions, rewards, new_obs, dones, infos)
            at an episode end: episode statistics, _episode_num += 1, _on_episode_end(), log dump
        on_rollout_end
        _train(n_steps)                                      (default: nothing)
    on_training_end

What a subclass may rely on:

- `self.config`: its `config_class` instance, checked (unknown keys, wrong types and whatever the
  dataclass's `__post_init__` refuses raise `ValueError` naming the field, before anything runs):
  the record of what was asked; each field is also an attribute of the agent (`self.gamma`, but
  `not_live` ones), which SB3's code may set between two `learn` calls: read those at each use;
- `self.observation_space` (a 1-D `Box` or a `Discrete`), `self.action_space` (a `Discrete`),
  `self.env` (a `VecEnv` of one env, of `n_envs` for a class that sets `multi_env = True`, or None
  for a prediction-only agent), `self.env_id` (the env's
  gymnasium id when it has one: `make_config(values, env_id=...)` sees it too, for env-dependent
  defaults and presets);
- `self.rng`: a numpy `Generator` seeded from `seed`, for training; `self.predict_rng`: another,
  for `predict(deterministic=False)` (so evaluating an agent never changes its training);
  `random`, `numpy` and `torch` are seeded too, as SB3's `set_random_seed` does;
- `self.num_timesteps` (env steps so far), `self._episode_num` (finished episodes),
  `self._total_timesteps` (this `learn`'s budget), `self.logger` (SB3's `Logger`);
- in `_on_transition`: arrays of each env (shape (n_envs, ...)); when `dones[0]`, `new_obs` is already
  the next episode's first observation and the last one is `infos[0]["terminal_observation"]`;
  `infos[0]["TimeLimit.truncated"]` tells a time-limit cut (bootstrap) from a termination.

Optional hooks: `_on_episode_end()` (per-episode schedules), `_rollout_complete(n_steps,
n_episodes)` and `_train(n_steps)` (learn from a rollout, as a DQN does), `_record_logs()`
(agent-specific `logger.record` calls at each log dump), `_write_file`/`_read_file` (another
save format), `_saved_hyperparameters()` (what `load` rebuilds with, e.g. bounds resolved from
the env), `_parameter_objects()` (what `get_parameters` names) and `run_info()` (what the
harness keeps in `run.json` as `agent_info`). The loop-local names stock callbacks read
(`dones`, `infos`, `rewards`, `new_obs`, `actions`, `total_timesteps`) are SB3's; episode
statistics come from the `Monitor` info (`info["episode"]`) and `info["is_success"]`, as SB3
reads them.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import platform
import random
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Self

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.utils import configure_logger, get_device
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize, unwrap_vec_normalize

from custom_agents.config import build_config, plain_value, to_plain
from custom_agents.sb3_loop import record_rollout_logs, wrap_callback
from custom_agents.spaces import space_from_plain, space_to_plain

FORMAT_VERSION = 1
SAVED_ATTRIBUTES = ("verbose", "tensorboard_log")
"""Attributes besides the hyperparameters that `save` records (and `exclude` may leave out)."""
RESERVED = frozenset(
    {"env", "n_envs", "env_id", "config", "seed", "verbose", "tensorboard_log", "observation_space", "action_space"}
    | {"num_timesteps", "rng", "predict_rng", "start_time", "ep_info_buffer", "ep_success_buffer", "policy"}
)
"""Attributes of every agent that a config field of the same name does not replace."""


class UnsupportedSpaceError(ValueError, AssertionError):
    """A space an agent cannot take: a `ValueError` (the project's refusals) that is also SB3's
    `AssertionError` for an unsupported space, so code written for either catches it."""


def system_info() -> str:
    """The versions a saved agent records (SB3's `print_system_info` shows them)."""
    return (
        f"- OS: {platform.platform()}\n- Python: {platform.python_version()}\n- PyTorch: {torch.__version__}\n"
        f"- Numpy: {np.__version__}\n- Gymnasium: {gym.__version__}"
    )


def wrap_env(env: gym.Env | VecEnv | str) -> VecEnv:
    """Wrap an env as SB3 does: `Monitor` unless already monitored, then a one-env `DummyVecEnv`."""
    if isinstance(env, str):
        env = gym.make(env)
    if isinstance(env, VecEnv):
        return env
    if not _is_monitored(env):
        env = Monitor(env)
    return DummyVecEnv([lambda: env])


def env_id_of(env: gym.Env | VecEnv) -> str | None:
    """The gymnasium id of an env (of the first env of a VecEnv), or None when it was not made
    from the registry."""
    try:
        spec = env.get_attr("spec", [0])[0] if isinstance(env, VecEnv) else env.spec
    except (AttributeError, IndexError):
        return None
    return getattr(spec, "id", None)


def _is_monitored(env: gym.Env) -> bool:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, Monitor):
            return True
        env = env.env
    return False


class BaseAgent(ABC):
    """An agent with Stable-Baselines3's algorithm surface (see the module docstring).

    :param env: a gymnasium `Env`, an SB3 `VecEnv` with one env, an env id, or None (prediction
        only; then give `observation_space` and `action_space`). A plain env is wrapped in
        `Monitor` and a one-env `DummyVecEnv`, as SB3 does.
    :param seed: seeds `random`, `numpy`, `torch`, the action space and the env's next reset, as
        SB3's `set_random_seed` does; also the agent's own generators: `rng` for training and
        `predict_rng` for `predict(deterministic=False)`, so that evaluating an agent never
        changes what it does in training.
    :param verbose: 0 silent, 1 prints the SB3 log tables when no logger was set.
    :param tensorboard_log: folder for TensorBoard events when no logger was set.
    :param stats_window_size: episodes averaged in `rollout/ep_rew_mean` and friends.
    :param observation_space: the observation space when `env` is None.
    :param action_space: the action space when `env` is None.
    :param env_id: the env's gymnasium id when `env` is None (read from the env otherwise).
    :param hyperparameters: fields of `config_class`; a bad one raises `ValueError` naming it.
    """

    config_class: ClassVar[type]
    save_suffix: ClassVar[str] = ".zip"
    multi_env: ClassVar[bool] = False
    """Whether the agent trains on a VecEnv of several envs (its hooks then see arrays of
    `n_envs` rows); otherwise one env only."""
    not_live: ClassVar[frozenset[str]] = frozenset({"device"})
    """Config fields not mirrored as live attributes (SB3's `device` is the resolved device)."""

    def __init__(
        self,
        env: gym.Env | VecEnv | str | None,
        *,
        seed: int | None = None,
        verbose: int = 0,
        tensorboard_log: str | None = None,
        stats_window_size: int = 100,
        observation_space: spaces.Space | None = None,
        action_space: spaces.Space | None = None,
        env_id: str | None = None,
        **hyperparameters: Any,
    ) -> None:
        self.env: VecEnv | None = None
        self.n_envs = 1
        if env is not None:
            self.env = wrap_env(env)
            self.n_envs = self.env.num_envs
            if self.n_envs != 1 and not self.multi_env:
                raise ValueError(f"{type(self).__name__} trains on one env; got a VecEnv with {self.n_envs} envs")
            observation_space, action_space = self.env.observation_space, self.env.action_space
            env_id = env_id_of(self.env) or env_id
        self.env_id = env_id
        self.config = self.make_config(hyperparameters, env_id=env_id)
        for name in self.live_hyperparameters():
            setattr(self, name, getattr(self.config, name))
        if observation_space is None or action_space is None:
            raise ValueError("give an env, or both observation_space and action_space")
        box = isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 1
        if not (box or isinstance(observation_space, spaces.Discrete)):
            raise UnsupportedSpaceError(
                f"{type(self).__name__} needs a 1-D Box or a Discrete observation space, got {observation_space}"
            )
        if not isinstance(action_space, spaces.Discrete):
            raise UnsupportedSpaceError(f"{type(self).__name__} needs a Discrete action space, got {action_space}")
        self.observation_space: spaces.Box | spaces.Discrete = observation_space
        self.action_space: spaces.Discrete = action_space
        self.seed = seed
        self.verbose = verbose
        self.tensorboard_log = tensorboard_log
        self._stats_window_size = stats_window_size

        self.num_timesteps = 0
        self._total_timesteps = 0
        self._num_timesteps_at_start = 0
        self._episode_num = 0
        self.start_time = time.time_ns()
        self.ep_info_buffer: deque[dict[str, float]] = deque(maxlen=stats_window_size)
        self.ep_success_buffer: deque[bool] = deque(maxlen=stats_window_size)
        self._last_obs: np.ndarray | None = None
        self._logger: Logger | None = None
        self._custom_logger = False

        self.rng = np.random.default_rng(seed)
        self.predict_rng = np.random.default_rng(None if seed is None else [seed, 1])
        self.set_random_seed(seed)
        self._setup_model()

    @classmethod
    def live_hyperparameters(cls) -> list[str]:
        """The config fields mirrored as attributes of the agent (`agent.gamma`, ...): what SB3's
        code reads and sets on a model, and what the agent reads at each use; `config` stays the
        record of what was asked. A field whose name the agent already uses (`seed`, `env`, a
        method) is not mirrored, unless the class defines it as a property with a setter."""
        live = []
        for field in dataclasses.fields(cls.config_class):
            attribute = getattr(cls, field.name, None)
            settable = isinstance(attribute, property) and attribute.fset is not None
            if field.name in cls.not_live or (field.name in RESERVED and not settable):
                continue
            if attribute is not None and not settable:
                continue
            live.append(field.name)
        return live

    def hyperparameters(self) -> dict[str, Any]:
        """The live hyperparameters, as plain values (what `save` records)."""
        return {name: plain_value(getattr(self, name)) for name in self.live_hyperparameters()}

    @classmethod
    def make_config(cls, hyperparameters: Mapping[str, Any], env_id: str | None = None) -> Any:
        """The checked `config_class` instance for these hyperparameters (`ValueError` naming a bad
        one). `env_id` (the env's gymnasium id, when known) is for configs whose defaults or
        presets depend on the env."""
        return build_config(cls.config_class, hyperparameters)

    # -- hooks ------------------------------------------------------------------------------

    @abstractmethod
    def _setup_model(self) -> None:
        """Build tables or networks; random sources are already seeded."""

    @abstractmethod
    def _sample_actions(self, obs: np.ndarray) -> np.ndarray:
        """The behaviour policy: actions (shape (n_envs,)) for observations (n_envs, *obs_shape)."""

    @abstractmethod
    def _predict(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        """Actions, shape (n,), for a batch of observations, shape (n, *obs_shape)."""

    def _on_transition(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        new_obs: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """Learn from one env step. `new_obs` is already the next episode's first observation
        when `dones[0]`; the last observation is `infos[0]["terminal_observation"]`."""

    def _on_episode_end(self) -> None:
        """Called after each finished training episode (after `_episode_num` was increased)."""

    def _rollout_complete(self, n_steps: int, n_episodes: int) -> bool:
        """Whether the current rollout has collected enough (default: one episode)."""
        return n_episodes >= 1

    def _train(self, n_steps: int) -> None:
        """Learn after a rollout of `n_steps` env steps (default: nothing)."""

    def _record_logs(self) -> None:
        """Agent-specific `self.logger.record(...)` calls, made at every log dump."""

    def _state(self) -> dict[str, Any]:
        """What `save` keeps besides the hyperparameters and counters."""
        return {}

    def _load_state(self, state: dict[str, Any]) -> None:
        """Restore what `_state` returned."""

    def _saved_hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters `save` records and `load` rebuilds the agent with (default: the
        live ones, with the config's value of the fields that are not live; an agent that resolves
        a value from its env, e.g. bounds estimated from it, records the resolved value, so a
        loaded agent needs no env)."""
        return {**to_plain(self.config), **self.hyperparameters()}

    def _parameter_objects(self) -> dict[str, Any]:
        """Name -> object with `state_dict`/`load_state_dict` (SB3's `get_parameters` names:
        "policy", "policy.optimizer"); {} for an agent without any."""
        return {}

    def run_info(self) -> dict[str, Any]:
        """What the agent resolved for itself and a record of the run should keep (JSON-ready;
        the harness writes it to `run.json` as `agent_info`), e.g. bounds estimated from the env."""
        return {}

    # -- SB3's algorithm surface ----------------------------------------------------------

    @property
    def logger(self) -> Logger:
        """The SB3 logger (set by `set_logger`, else configured at the start of `learn`)."""
        if self._logger is None:
            self._logger = configure_logger(self.verbose, self.tensorboard_log, type(self).__name__, True)
        return self._logger

    def set_logger(self, logger: Logger) -> None:
        """Use `logger` instead of configuring one in `learn` (as SB3's `set_logger`)."""
        self._logger = logger
        self._custom_logger = True

    def get_env(self) -> VecEnv | None:
        """The training env, as a `VecEnv`."""
        return self.env

    def get_vec_normalize_env(self) -> VecNormalize | None:
        """The `VecNormalize` wrapper of the training env, if any."""
        return unwrap_vec_normalize(self.env) if self.env is not None else None

    def set_env(self, env: gym.Env | VecEnv, force_reset: bool = True) -> None:
        """Train on another env with the same spaces and number of envs (SB3's: `AssertionError`
        for another number); `force_reset` (default) makes the next `learn` reset it, otherwise
        training goes on from the last observation."""
        venv = wrap_env(env)
        if venv.observation_space != self.observation_space or venv.action_space != self.action_space:
            raise ValueError("the new env's spaces differ from the agent's")
        assert venv.num_envs == self.n_envs, (
            "The number of environments to be set is different from the number of environments in the model: "
            f"({venv.num_envs} != {self.n_envs}), whereas `set_env` requires them to be the same. To load a model "
            "with a different number of environments, you must use `load(path, env)` instead"
        )
        self.env = venv
        if force_reset:
            self._last_obs = None

    def get_parameters(self) -> dict[str, dict[str, Any]]:
        """SB3's `get_parameters`: name -> state dict of each learned object."""
        return {name: obj.state_dict() for name, obj in self._parameter_objects().items()}

    def set_parameters(
        self, load_path_or_dict: str | pathlib.Path | Mapping[str, Any], exact_match: bool = True, device: Any = "auto"
    ) -> None:
        """SB3's `set_parameters`: load state dicts (a dict as `get_parameters` returns, or a saved
        agent's file) into the learned objects; `ValueError` for an unknown name, or (with
        `exact_match`) a missing one; a state dict missing an entry raises torch's `RuntimeError`
        with `exact_match`."""
        params = load_path_or_dict
        if not isinstance(params, Mapping):
            other = type(self).load(params)
            params = other.get_parameters()
        objects = self._parameter_objects()
        unknown = sorted(set(params) - set(objects))
        if unknown:
            raise ValueError(f"no learned object named {unknown[0]!r}; {type(self).__name__} has {', '.join(objects)}")
        missing = sorted(set(objects) - set(params))
        if exact_match and missing:
            raise ValueError(f"the parameters miss {', '.join(missing)} (exact_match=True)")
        for name, state in params.items():
            obj = objects[name]
            if isinstance(obj, torch.optim.Optimizer):
                obj.load_state_dict(state)
            else:
                obj.load_state_dict(state, strict=exact_match)

    def set_random_seed(self, seed: int | None = None) -> None:
        """Seed `random`, `numpy`, `torch`, the action space and the env's next reset (as SB3)."""
        if seed is None:
            return
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        self.action_space.seed(seed)
        if self.env is not None:
            self.env.seed(seed)
        self.rng = np.random.default_rng(seed)
        self.predict_rng = np.random.default_rng([seed, 1])

    def predict(
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, None]:
        """Actions (arrays, as SB3's) for one observation (shape obs_shape -> shape ()) or a batch
        ((n, *obs_shape) -> (n,))."""
        obs = np.asarray(observation)
        shape = self.observation_space.shape
        if obs.shape == shape:
            return np.asarray(self._predict(obs.reshape(1, *shape), deterministic)[0]), None
        if obs.ndim == len(shape) + 1 and obs.shape[1:] == shape:
            return self._predict(obs, deterministic), None
        raise ValueError(f"observation of shape {obs.shape} does not fit the observation space {shape}")

    def learn(
        self,
        total_timesteps: int,
        callback: Any = None,
        log_interval: int | None = 4,
        tb_log_name: str | None = None,
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> Self:
        """Train for `total_timesteps` env steps, calling `callback` as SB3 does; returns self."""
        if self.env is None:
            raise ValueError("this agent has no env: pass one to the constructor, load or set_env")
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name or type(self).__name__, progress_bar
        )
        callback.on_training_start(locals(), globals())
        while self.num_timesteps < total_timesteps:
            if not self._collect_rollout(callback, log_interval, total_timesteps):
                break
        callback.on_training_end()
        return self

    def dump_logs(self) -> None:
        """Write the SB3 rollout and time keys plus the agent's own, at `num_timesteps`."""
        record_rollout_logs(
            self.logger,
            num_timesteps=self.num_timesteps,
            timesteps_at_start=self._num_timesteps_at_start,
            start_time_ns=self.start_time,
            episodes=self._episode_num,
            episode_infos=self.ep_info_buffer,
            successes=self.ep_success_buffer,
        )
        self._record_logs()
        self.logger.dump(step=self.num_timesteps)

    def save(
        self,
        path: str | pathlib.Path,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
    ) -> None:
        """Save hyperparameters (the live ones), counters, spaces and learned state (no pickled
        code). A path without a suffix gets `save_suffix`; any other path is written as given.

        `exclude` leaves hyperparameters or attributes (`verbose`, `tensorboard_log`) out (a
        loaded agent has their defaults), `include` keeps them in whatever `exclude` says (SB3's
        meaning)."""
        path = pathlib.Path(path)
        if not path.suffix:
            path = path.with_suffix(self.save_suffix)
        path.parent.mkdir(parents=True, exist_ok=True)
        left_out = set(exclude or ()) - set(include or ())
        data = {**self._saved_hyperparameters(), **{name: getattr(self, name) for name in SAVED_ATTRIBUTES}}
        meta = {
            "format_version": FORMAT_VERSION,
            "class": type(self).__name__,
            "hyperparameters": {k: v for k, v in data.items() if k not in left_out and k not in SAVED_ATTRIBUTES},
            "attributes": {k: v for k, v in data.items() if k not in left_out and k in SAVED_ATTRIBUTES},
            "env_id": self.env_id,
            "seed": self.seed,
            "num_timesteps": self.num_timesteps,
            "episode_num": self._episode_num,
            "observation_space": space_to_plain(self.observation_space),
            "action_space": space_to_plain(self.action_space),
            "system_info": system_info(),
        }
        state = self._state()
        if self._last_obs is not None:
            state = {**state, "_last_obs": np.asarray(self._last_obs)}
        self._write_file(path, meta, state)

    @classmethod
    def load(
        cls,
        path: str | pathlib.Path,
        env: gym.Env | VecEnv | None = None,
        device: Any = "auto",
        custom_objects: Mapping[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> Self:
        """Rebuild an agent saved by `save` (SB3's arguments): `env` (optional) is where it trains
        next, any number of envs the class takes; `device` the torch device of an agent that has
        one ("auto", or "cuda" where there is none, is the CPU, as SB3's `get_device`);
        `custom_objects` replaces saved values it names (and only those); `force_reset=False` goes
        on from the saved last observation; `kwargs` are hyperparameters that override the saved
        ones."""
        path = pathlib.Path(path)
        if not path.exists() and not path.suffix:
            path = path.with_suffix(cls.save_suffix)
        meta, state = cls._read_file(path)
        if meta.get("class") != cls.__name__:
            raise ValueError(f"{path} holds a {meta.get('class')}, not a {cls.__name__}")
        if print_system_info:
            print("== Saved model's system info ==")
            print(meta.get("system_info", "not recorded"))
            print("== Current system info ==")
            print(system_info())
        hyperparameters = dict(meta["hyperparameters"])
        attributes = dict(meta.get("attributes", {}))
        for key, value in (custom_objects or {}).items():
            if key in hyperparameters:
                hyperparameters[key] = value
            elif key in attributes:
                attributes[key] = value
        config_fields = {f.name for f in dataclasses.fields(cls.config_class)}
        if "device" in config_fields:
            hyperparameters["device"] = get_device(device).type
        agent = cls(
            env=env,
            seed=meta["seed"],  # reseeded as SB3's load does
            observation_space=space_from_plain(meta["observation_space"]),
            action_space=space_from_plain(meta["action_space"]),
            env_id=meta.get("env_id") if env is None else None,
            **{k: attributes[k] for k in ("verbose", "tensorboard_log") if k in attributes},
            **{**hyperparameters, **kwargs},
        )
        agent.num_timesteps = meta["num_timesteps"]
        agent._episode_num = meta["episode_num"]
        last_obs = state.pop("_last_obs", None)
        if env is not None and not force_reset and last_obs is not None and len(last_obs) == agent.n_envs:
            agent._last_obs = np.asarray(last_obs)
        agent._load_state(state)
        return agent

    @classmethod
    def _write_file(cls, path: pathlib.Path, meta: dict[str, Any], state: dict[str, Any]) -> None:
        """Write `meta` (JSON-ready) and `state` (numpy arrays) as an uncompressed npz archive."""
        with open(path, "wb") as file:
            np.savez(file, __meta__=np.array(json.dumps(meta)), **state)

    @classmethod
    def _read_file(cls, path: pathlib.Path) -> tuple[dict[str, Any], dict[str, Any]]:
        """Inverse of `_write_file`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            state = {key: data[key] for key in data.files if key != "__meta__"}
        return meta, state

    # -- the loop --------------------------------------------------------------------------

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: Any = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        """Reset counters and buffers, configure the logger, wrap the callback (as SB3)."""
        if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, (int, np.integer)):
            raise ValueError(f"total_timesteps must be an integer, got {total_timesteps!r}")
        self.start_time = time.time_ns()
        if reset_num_timesteps:
            self.ep_info_buffer = deque(maxlen=self._stats_window_size)
            self.ep_success_buffer = deque(maxlen=self._stats_window_size)
            self.num_timesteps = 0
            self._episode_num = 0
        else:
            total_timesteps += self.num_timesteps
        self._total_timesteps = int(total_timesteps)
        self._num_timesteps_at_start = self.num_timesteps
        if reset_num_timesteps or self._last_obs is None:
            assert self.env is not None
            self._last_obs = self.env.reset()
        if not self._custom_logger:
            name = tb_log_name or type(self).__name__
            self._logger = configure_logger(self.verbose, self.tensorboard_log, name, reset_num_timesteps)
        callback = wrap_callback(callback, progress_bar)
        callback.init_callback(self)  # type: ignore[arg-type]
        return self._total_timesteps, callback

    def _episode_ended(self, info: Mapping[str, Any], log_interval: int | None) -> None:
        """A training episode ended (its env's `info`): statistics, counters, the agent's hook, a
        log dump every `log_interval` episodes."""
        episode = info.get("episode")
        if episode is not None:
            self.ep_info_buffer.append(episode)
        success = info.get("is_success")
        if success is not None:
            self.ep_success_buffer.append(bool(success))
        self._episode_num += 1
        self._on_episode_end()
        if log_interval is not None and self._episode_num % log_interval == 0:
            self.dump_logs()

    def _collect_rollout(self, callback: BaseCallback, log_interval: int | None, total_timesteps: int) -> bool:
        """One rollout (until `_rollout_complete`), then `_train`. False when a callback stopped it."""
        env = self.env
        assert env is not None
        sample_actions = self._sample_actions
        on_transition = self._on_transition
        rollout_complete = self._rollout_complete
        n_envs = self.n_envs
        n_steps = n_episodes = 0
        obs = self._last_obs
        callback.on_rollout_start()
        while not rollout_complete(n_steps, n_episodes):
            actions = sample_actions(obs)
            new_obs, rewards, dones, infos = env.step(actions)
            self.num_timesteps += n_envs
            n_steps += 1
            callback.update_locals(locals())
            if not callback.on_step():
                self._last_obs = new_obs
                return False
            on_transition(obs, actions, rewards, new_obs, dones, infos)
            if n_envs == 1:
                if dones[0]:
                    n_episodes += 1
                    self._episode_ended(infos[0], log_interval)
            else:
                for i in np.flatnonzero(dones):
                    n_episodes += 1
                    self._episode_ended(infos[i], log_interval)
            obs = new_obs
        self._last_obs = obs
        callback.on_rollout_end()
        self._train(n_steps)
        return True
