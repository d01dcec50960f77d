"""`DQNConfig`: the hyperparameters of `DQNAgent`, a frozen record of what was asked (SB3's names),
and the presets they start from. Apart from the agent so that the agent and its updates
(`custom_agents.dqn_update`) both read it without importing each other."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from custom_agents.config import build_config, import_object, require, require_finite
from custom_agents.presets import PRESET_NAMES, dqn_preset

POLICY_KWARGS = (
    "net_arch",
    "activation_fn",
    "features_extractor_class",
    "features_extractor_kwargs",
    "normalize_images",
    "optimizer_class",
    "optimizer_kwargs",
)
"""The keys of SB3's `DQNPolicy` arguments that `policy_kwargs` may hold."""
REPLAY_BUFFER_KWARGS = ("handle_timeout_termination",)
"""The keys of SB3's `ReplayBuffer` arguments that `replay_buffer_kwargs` may hold."""
SINCE_ISSUE_25 = {"recorded_when_set": True}
"""Field metadata of the fields added after runs were recorded: a run's identity holds them only
when they differ from their default (so the runs made before them keep theirs)."""


def resolve_policy_kwargs(policy_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """`policy_kwargs` with import paths (strings, as a study file gives them) replaced by what
    they name; `ValueError` naming the key that cannot be imported."""
    resolved = dict(policy_kwargs or {})
    for key in ("activation_fn", "features_extractor_class", "optimizer_class"):
        if isinstance(resolved.get(key), str):
            try:
                resolved[key] = import_object(resolved[key])
            except ValueError as error:
                raise ValueError(f"hyperparameter 'policy_kwargs': {key} {error}") from None
    return resolved


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
    policy_kwargs: dict[str, Any] | None = None
    """SB3's policy arguments (`POLICY_KWARGS`): `net_arch` (then it is the network's, and
    `net_arch` above says so), `activation_fn`, `features_extractor_class` and `_kwargs`,
    `optimizer_class` and `_kwargs`, as objects or import paths. Anything but ReLU, the plain
    features and Adam with its defaults runs the reference update (`custom_agents.dqn_update`)."""
    optimize_memory_usage: bool = field(default=False, metadata=SINCE_ISSUE_25)
    """SB3's memory-efficient replay: s' is read from the next stored s, not stored (half the
    memory; a time-limit truncation then counts as a termination, as in SB3)."""
    replay_buffer_class: Any = None
    """SB3's argument; only its `ReplayBuffer` (or None): this agent keeps its own replay memory."""
    replay_buffer_kwargs: dict[str, Any] | None = None
    """SB3's `ReplayBuffer` arguments: `handle_timeout_termination` (default true: a time-limit
    truncation bootstraps; false: it counts as a termination)."""
    n_steps: int = field(default=1, metadata=SINCE_ISSUE_25)
    """SB3's n-step returns: 1 only (one-step targets)."""
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
        require(0.0 <= self.tau <= 1.0, "tau", "in [0, 1]", self.tau)
        require(0.0 <= self.gamma <= 1.0, "gamma", "in [0, 1]", self.gamma)
        require(self.train_freq[0] >= 1, "train_freq", "a count >= 1", list(self.train_freq))
        require(
            self.gradient_steps >= 0 or self.gradient_steps == -1, "gradient_steps", ">= 0 or -1", self.gradient_steps
        )
        require(self.target_update_interval >= 1, "target_update_interval", ">= 1", self.target_update_interval)
        require(0.0 < self.exploration_fraction <= 1.0, "exploration_fraction", "in (0, 1]", self.exploration_fraction)
        for name in ("exploration_initial_eps", "exploration_final_eps"):
            require(0.0 <= getattr(self, name) <= 1.0, name, "in [0, 1]", getattr(self, name))
        if self.exploration_decay is not None:
            require(0.0 < self.exploration_decay <= 1.0, "exploration_decay", "in (0, 1]", self.exploration_decay)
        require(self.max_grad_norm > 0, "max_grad_norm", "> 0 (inf disables clipping)", self.max_grad_norm)
        self._check_policy_kwargs()
        require(
            all(n >= 1 for n in self.net_arch),
            "net_arch",
            "a list of layer sizes >= 1",
            list(self.net_arch),
        )
        require(
            self.replay_buffer_class is None or _is_sb3_replay_buffer(self.replay_buffer_class),
            "replay_buffer_class",
            "left out (or SB3's ReplayBuffer): DQNAgent keeps its own replay memory",
            self.replay_buffer_class,
        )
        unknown = sorted(set(self.replay_buffer_kwargs or {}) - set(REPLAY_BUFFER_KWARGS))
        require(not unknown, "replay_buffer_kwargs", f"a table of {', '.join(REPLAY_BUFFER_KWARGS)}", unknown)
        handle = (self.replay_buffer_kwargs or {}).get("handle_timeout_termination", True)
        require(isinstance(handle, bool), "replay_buffer_kwargs", "handle_timeout_termination true or false", handle)
        require(
            not (self.optimize_memory_usage and handle),
            "optimize_memory_usage",
            "false with handle_timeout_termination (as SB3: give replay_buffer_kwargs = "
            "{handle_timeout_termination = false} with it)",
            self.optimize_memory_usage,
        )
        require(self.n_steps == 1, "n_steps", "1 (n-step returns are not implemented)", self.n_steps)
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

    def _check_policy_kwargs(self) -> None:
        """Refuse unknown keys; `policy_kwargs["net_arch"]`, when given, is `net_arch`."""
        if self.policy_kwargs is None:
            return
        unknown = sorted(set(self.policy_kwargs) - set(POLICY_KWARGS))
        require(not unknown, "policy_kwargs", f"a table of {', '.join(POLICY_KWARGS)}", unknown)
        if "net_arch" in self.policy_kwargs:
            net_arch = self.policy_kwargs["net_arch"]
            require(
                isinstance(net_arch, (list, tuple)) and all(isinstance(n, int) for n in net_arch),
                "policy_kwargs",
                "a net_arch that is a list of layer sizes",
                net_arch,
            )
            object.__setattr__(self, "net_arch", tuple(net_arch))
        for key in ("features_extractor_kwargs", "optimizer_kwargs"):
            value = self.policy_kwargs.get(key)
            require(value is None or isinstance(value, Mapping), "policy_kwargs", f"a table as {key}", value)
        resolve_policy_kwargs(self.policy_kwargs)  # an import path that names nothing is refused now


def _is_sb3_replay_buffer(value: Any) -> bool:
    from stable_baselines3.common.buffers import ReplayBuffer  # here: only to compare with

    return value is ReplayBuffer or value == "stable_baselines3.common.buffers:ReplayBuffer"


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
