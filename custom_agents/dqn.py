"""A hand-written deep Q-network in PyTorch: the assignment's Exercise 3, done batched and right."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from custom_agents.base import BaseAgent
from custom_agents.config import build_config, require, require_finite
from custom_agents.dqn_update import UPDATES
from custom_agents.presets import DQN_PRESETS, PRESET_NAMES, dqn_preset
from custom_agents.qnetwork import NumpyForward, QNetwork
from custom_agents.replay import ReplayMemory

PRESETS = DQN_PRESETS
"""Preset name -> hyperparameters on CartPole-v1 (`custom_agents.presets`; `dqn_preset` for any env)."""


@dataclass(frozen=True)
class DQNConfig:
    """Hyperparameters of `DQNAgent`, named as SB3's `DQN` names them (defaults: SB3's, but for
    `net_arch`, the assignment's 3x256). Extra fields, not in SB3: `target_update_unit`,
    `exploration_decay`, `loss`, `device`, `preset`."""

    learning_rate: float = 1e-4
    """Adam's learning rate."""
    buffer_size: int = 1_000_000
    """Replay memory capacity, in transitions."""
    learning_starts: int = 100
    """Env steps of uniformly random actions before the first gradient update."""
    batch_size: int = 32
    """Transitions per gradient update."""
    tau: float = 1.0
    """Target network update coefficient: 1 copies the online network, < 1 is Polyak averaging."""
    gamma: float = 0.99
    """Discount factor."""
    train_freq: int | tuple[int, Literal["step", "episode"]] = (4, "step")
    """Train after every this many env steps or episodes: `[n, "step"]`, `[n, "episode"]`, or `n` (steps);
    always held as a pair."""
    gradient_steps: int = 1
    """Gradient updates after each rollout; -1 means as many as env steps in the rollout."""
    target_update_interval: int = 10_000
    """Update the target network every this many env steps (SB3's meaning) or gradient updates,
    as `target_update_unit` says."""
    target_update_unit: Literal["step", "update"] = "step"
    """What `target_update_interval` counts: env steps (as SB3) or gradient updates (the assignment)."""
    exploration_fraction: float = 0.1
    """Fraction of the training budget over which epsilon falls linearly to its final value."""
    exploration_initial_eps: float = 1.0
    """Epsilon at the start."""
    exploration_final_eps: float = 0.05
    """Epsilon at the end of the schedule."""
    exploration_decay: float | None = None
    """If set, epsilon = max(final, initial * exploration_decay ** n_updates) instead of the
    linear schedule (the assignment multiplies epsilon by 0.1 ** (1 / 500) at each update)."""
    max_grad_norm: float = 10.0
    """Clip the gradient's global norm to this; inf disables clipping."""
    loss: Literal["huber", "mse"] = "huber"
    """TD loss: Huber (SB3's smooth L1) or mean squared error (the assignment's)."""
    net_arch: tuple[int, ...] = (256, 256, 256)
    """Hidden layer sizes of the Q-network MLP (ReLU between layers)."""
    device: str = "cpu"
    """Torch device: "cpu", "cuda", "cuda:N" or "auto" (CUDA when available)."""
    preset: str | None = field(default=None)
    """The named preset (`"zoo"`, `"assignment"`) the other values start from, as given; explicit
    values override it (see `resolve_hyperparameters`)."""
    implementation: Literal["fast", "reference"] = "fast"
    """How each gradient update is computed (`custom_agents.dqn_update`): "reference", plain
    PyTorch autograd as the assignment writes it; "fast", the same arithmetic arranged for speed.
    Both give the same parameters to float rounding."""

    def __post_init__(self) -> None:
        if isinstance(self.train_freq, int):  # SB3 accepts `train_freq=4`
            object.__setattr__(self, "train_freq", (self.train_freq, "step"))
        for name in (
            "learning_rate",
            "tau",
            "gamma",
            "exploration_fraction",
            "exploration_initial_eps",
            "exploration_final_eps",
        ):
            require_finite(name, getattr(self, name))
        require(self.learning_rate > 0, "learning_rate", "> 0", self.learning_rate)
        require(self.buffer_size >= 1, "buffer_size", ">= 1", self.buffer_size)
        require(self.learning_starts >= 0, "learning_starts", ">= 0", self.learning_starts)
        require(self.batch_size >= 1, "batch_size", ">= 1", self.batch_size)
        require(0.0 < self.tau <= 1.0, "tau", "in (0, 1]", self.tau)
        require(0.0 <= self.gamma <= 1.0, "gamma", "in [0, 1]", self.gamma)
        require(self.train_freq[0] >= 1, "train_freq", "a count >= 1", list(self.train_freq))
        require(
            self.gradient_steps >= 1 or self.gradient_steps == -1, "gradient_steps", ">= 1 or -1", self.gradient_steps
        )
        require(self.target_update_interval >= 1, "target_update_interval", ">= 1", self.target_update_interval)
        require(0.0 < self.exploration_fraction <= 1.0, "exploration_fraction", "in (0, 1]", self.exploration_fraction)
        for name in ("exploration_initial_eps", "exploration_final_eps"):
            require(0.0 <= getattr(self, name) <= 1.0, name, "in [0, 1]", getattr(self, name))
        if self.exploration_decay is not None:
            require(0.0 < self.exploration_decay <= 1.0, "exploration_decay", "in (0, 1]", self.exploration_decay)
        require(self.max_grad_norm > 0, "max_grad_norm", "> 0 (inf disables clipping)", self.max_grad_norm)
        require(
            len(self.net_arch) >= 1 and all(n >= 1 for n in self.net_arch),
            "net_arch",
            "a non-empty list of layer sizes >= 1",
            list(self.net_arch),
        )
        try:
            device = torch.device("cpu" if self.device == "auto" else self.device)
        except RuntimeError:
            device = None
        require(
            device is not None and device.type in ("cpu", "cuda"),
            "device",
            '"cpu", "cuda", "cuda:N" or "auto"',
            self.device,
        )
        require(
            self.preset is None or self.preset in PRESET_NAMES,
            "preset",
            f"one of {', '.join(map(repr, PRESET_NAMES))}",
            self.preset,
        )


def resolve_hyperparameters(values: Mapping[str, Any], env_id: str | None = "CartPole-v1") -> dict[str, Any]:
    """`values` on top of the preset they name for `env_id` (`preset = "zoo"`: the RL Zoo's DQN
    for that env), keeping the preset's name; `ValueError` for a preset the env has none of."""
    values = dict(values)
    preset = values.get("preset")
    every_field = {f.name for f in dataclasses.fields(DQNConfig)} - {"preset"}
    if preset is None or every_field <= set(values):  # a saved agent's values: all explicit already
        return values
    return {**dqn_preset(preset, env_id), **values}


def dqn_config(values: Mapping[str, Any], env_id: str | None = "CartPole-v1") -> DQNConfig:
    """A checked `DQNConfig` from plain values, the preset for `env_id` applied."""
    return build_config(DQNConfig, resolve_hyperparameters(values, env_id))


class DQNAgent(BaseAgent):
    """Deep Q-learning (Mnih et al. 2015) with a replay memory and a target network.

    Each env step stores (s, a, r, s', terminated) in a `ReplayMemory` of preallocated arrays,
    acting epsilon-greedily on the online network. After every `train_freq` steps (or episodes),
    once more than `learning_starts` steps were taken, `gradient_steps` updates each sample a
    batch uniformly and minimise the TD loss on it, all in one batched pass:

        y = r + gamma (1 - terminated) max_a' Q_target(s', a')
        loss = huber_or_mse(Q(s, a), y);  Adam step after clipping the gradient norm

    The target network is copied from (or Polyak-averaged towards) the online one every
    `target_update_interval` env steps (SB3's meaning) or gradient updates. A time-limit
    truncation keeps its bootstrap (only `terminated` zeroes it); the next state of the last
    transition is the env's terminal observation. Epsilon falls linearly from
    `exploration_initial_eps` to `exploration_final_eps` over `exploration_fraction` of the
    budget, as SB3's, or geometrically per update with `exploration_decay`.

    Hyperparameters (see `DQNConfig`) carry SB3's names; `preset="zoo"` starts from the RL Zoo's
    tuned values for the env (CartPole-v1, Acrobot-v1, MountainCar-v0, LunarLander-v3; another env
    is refused), `preset="assignment"` from the course assignment's choices: gamma
    0.9, Adam 1e-3, MSE loss, 3x256 ReLU, one batch of 64 after each episode, target copied every
    10 updates, epsilon 1.0 -> 0.1 multiplied by 0.1 ** (1/500) at each update, no gradient
    clipping. Where the assignment's own code does something else, this agent departs from it on
    purpose:

    - it computes current-state Q values with the target network; here they come from the
      online network, and only the bootstrap uses the target network;
    - it builds the batch's targets one sample at a time; here the batch is one tensor pass;
    - it treats a time-limit truncation as a termination; here truncation bootstraps;
    - its memory size is not fixed by the assignment; the preset uses 10,000 transitions and
      waits for one batch (64 transitions) before the first update.

    On CPU the same seed gives the same run bit for bit (one torch thread is advised).
    """

    config_class = DQNConfig
    save_suffix = ".pt"
    config: DQNConfig

    @classmethod
    def make_config(cls, hyperparameters: Mapping[str, Any], env_id: str | None = None) -> DQNConfig:
        """The checked config, on top of the preset the hyperparameters name, for the env."""
        return dqn_config(hyperparameters, env_id)

    def _setup_model(self) -> None:
        cfg = self.config
        if cfg.device == "auto":
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            self.device = torch.device(cfg.device)
            if self.device.type == "cuda" and not torch.cuda.is_available():
                raise ValueError(f"hyperparameter 'device' is {cfg.device!r} but CUDA is not available")
        if not isinstance(self.observation_space, spaces.Box):
            raise ValueError(
                f"DQNAgent needs a Box observation space, got {self.observation_space} "
                "(for Discrete states use a tabular agent, or one-hot them with an observation wrapper)"
            )
        obs_dim = self.observation_space.shape[0]
        self.n_actions = int(self.action_space.n)
        self.q_net = QNetwork(obs_dim, cfg.net_arch, self.n_actions, device=self.device)
        self.q_net_target = QNetwork(obs_dim, cfg.net_arch, self.n_actions, device=self.device)
        self.q_net_target.requires_grad_(False)
        self.q_net_target.flat.copy_(self.q_net.flat)
        # On CPU, observations are scored in numpy on views of the online weights (no torch
        # dispatch): one per training step, a batch per evaluation step.
        self._policy = NumpyForward(self.q_net) if self.device.type == "cpu" else None
        self.memory = ReplayMemory(cfg.buffer_size, obs_dim, device=self.device)
        self.update = UPDATES[cfg.implementation](self.q_net, self.q_net_target, self.memory, cfg)
        self.exploration_rate = cfg.exploration_initial_eps
        self._n_calls = 0
        self._n_updates = 0
        self._actions = np.zeros(1, dtype=np.int64)

    # -- acting -------------------------------------------------------------------------------

    @torch.no_grad()
    def q_values(self, obs: np.ndarray) -> torch.Tensor:
        """Online Q values, shape (n, n_actions), of observations, shape (n, obs_dim)."""
        return self.q_net.forward_cached(torch.as_tensor(obs, dtype=torch.float32, device=self.device), keep=False)[0]

    def _predict(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        if self._policy is not None:
            greedy = self._policy.greedy(obs)
        else:
            greedy = self.q_values(obs).argmax(dim=1).cpu().numpy()
        if deterministic:
            return greedy
        explore = self.predict_rng.random(len(obs)) < self.exploration_rate
        return np.where(explore, self.predict_rng.integers(0, self.n_actions, len(obs)), greedy)

    def _sample_actions(self, obs: np.ndarray) -> np.ndarray:
        if self.num_timesteps < self.config.learning_starts or self.rng.random() < self.exploration_rate:
            self._actions[0] = self.rng.integers(self.n_actions)
        elif self._policy is not None:
            self._actions[0] = self._policy.greedy(obs)[0]
        else:
            self._actions[0] = int(self.q_values(obs).argmax(dim=1)[0])
        return self._actions

    # -- learning -------------------------------------------------------------------------------

    def _on_transition(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        new_obs: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        if dones[0]:
            info = infos[0]
            next_obs = info["terminal_observation"]
            terminated = not info.get("TimeLimit.truncated", False)
        else:
            next_obs = new_obs[0]
            terminated = False
        self.memory.add(obs[0], int(actions[0]), float(rewards[0]), next_obs, terminated)
        self._n_calls += 1
        cfg = self.config
        if cfg.target_update_unit == "step" and self._n_calls % cfg.target_update_interval == 0:
            self._update_target()
        if cfg.exploration_decay is None:
            progress = self.num_timesteps / self._total_timesteps if self._total_timesteps else 0.0
            self.exploration_rate = linear_schedule(
                progress, cfg.exploration_initial_eps, cfg.exploration_final_eps, cfg.exploration_fraction
            )

    def _rollout_complete(self, n_steps: int, n_episodes: int) -> bool:
        count, unit = self.config.train_freq
        return (n_steps if unit == "step" else n_episodes) >= count

    def _train(self, n_steps: int) -> None:
        cfg = self.config
        if not (self.num_timesteps > 0 and self.num_timesteps > cfg.learning_starts):
            return
        gradient_steps = cfg.gradient_steps if cfg.gradient_steps >= 0 else n_steps
        batches = self.memory.sample_indices(cfg.batch_size, self.rng, n_batches=gradient_steps)
        errors = []
        done = 0
        while done < gradient_steps:
            # Updates run in chunks that end where the target network is updated (counted in
            # updates): within a chunk, the target network stays as it is.
            chunk = gradient_steps - done
            if cfg.target_update_unit == "update":
                chunk = min(chunk, cfg.target_update_interval - self._n_updates % cfg.target_update_interval)
            errors.append(self.update.train(batches[done : done + chunk]))
            done += chunk
            self._n_updates += chunk
            if cfg.target_update_unit == "update" and self._n_updates % cfg.target_update_interval == 0:
                self._update_target()
        if cfg.exploration_decay is not None:  # epsilon after each update; only the last one is used
            self.exploration_rate = max(
                cfg.exploration_final_eps, cfg.exploration_initial_eps * cfg.exploration_decay**self._n_updates
            )
        # As SB3: the mean loss of this call's updates, kept until the next log dump.
        self.logger.record("train/learning_rate", cfg.learning_rate)
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", self.loss_of(torch.cat(errors)).item())

    def loss_of(self, errors: torch.Tensor) -> torch.Tensor:
        """The configured loss (mean over all entries) of TD errors Q(s, a) - y."""
        if self.config.loss == "huber":
            return nn.functional.smooth_l1_loss(errors, torch.zeros_like(errors))
        return errors.square().mean()

    @torch.no_grad()
    def td_targets(self, rewards: torch.Tensor, next_obs: torch.Tensor, not_terminated: torch.Tensor) -> torch.Tensor:
        """y = r + gamma (1 - terminated) max_a' Q_target(s', a'); `not_terminated` is 1 - terminated
        (1 after a time-limit truncation, which bootstraps); all shapes (batch,)."""
        next_q = self.q_net_target.forward_cached(next_obs, keep=False)[0].amax(dim=1)
        return torch.addcmul(rewards, not_terminated, next_q, value=self.config.gamma)

    def td_loss(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_obs: torch.Tensor,
        not_terminated: torch.Tensor,
    ) -> torch.Tensor:
        """The TD loss of one batch (obs, next_obs: (batch, obs_dim); the rest: (batch,)),
        differentiable by autograd: the definition `gradient_step` computes by hand."""
        targets = self.td_targets(rewards, next_obs, not_terminated)
        q = self.q_net(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        return self.loss_of(q - targets)

    def _update_target(self) -> None:
        """Copy (tau = 1) or Polyak-average (tau < 1) the online weights into the target network."""
        if self.config.tau >= 1.0:
            self.q_net_target.flat.copy_(self.q_net.flat)
        else:
            self.q_net_target.flat.lerp_(self.q_net.flat, self.config.tau)

    @property
    def n_updates(self) -> int:
        """Gradient updates done so far."""
        return self._n_updates

    def _record_logs(self) -> None:
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

    # -- save / load ------------------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {
            "q_net": self.q_net.state_dict(),
            "q_net_target": self.q_net_target.state_dict(),
            "optimizer": self.update.state_dict(),
            "n_updates": self._n_updates,
            "n_calls": self._n_calls,
            "exploration_rate": self.exploration_rate,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self.q_net.load_state_dict(state["q_net"])
        self.q_net_target.load_state_dict(state["q_net_target"])
        self.update.load_state_dict(state["optimizer"])
        self._n_updates = int(state["n_updates"])
        self._n_calls = int(state["n_calls"])
        self.exploration_rate = float(state["exploration_rate"])

    @classmethod
    def _write_file(cls, path: Any, meta: dict[str, Any], state: dict[str, Any]) -> None:
        """`torch.save` of plain data and state dicts: loadable with `weights_only=True`."""
        torch.save({"meta": meta, "state": state}, path)

    @classmethod
    def _read_file(cls, path: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        data = torch.load(path, map_location="cpu", weights_only=True)
        return data["meta"], data["state"]


def linear_schedule(progress: float, start: float, end: float, end_fraction: float) -> float:
    """SB3's linear schedule: `start` at progress 0, `end` from `end_fraction` of training on."""
    if progress > end_fraction:
        return end
    return start + progress * (end - start) / end_fraction
