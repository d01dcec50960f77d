"""`DQNPolicy`: the DQN's online and target Q-networks and its optimizer, with SB3's `DQNPolicy`
surface (`model.policy`: `q_net`, `q_net_target`, `optimizer`, `set_training_mode`, `predict`,
`save`/`load`)."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from gymnasium import spaces
from torch import nn

from custom_agents.config import import_object, plain_value
from custom_agents.qnetwork import QNetwork
from custom_agents.sb3_module import PolicyModule, plain_spaces, spaces_of

BETAS = (0.9, 0.999)
EPS = 1e-8
"""Adam's defaults, as `torch.optim.Adam` has them (and SB3's DQN uses)."""


def observation_inputs(space: spaces.Space) -> int:
    """The length of a preprocessed observation: a 1-D Box's, or a Discrete space's states."""
    return int(space.n) if isinstance(space, spaces.Discrete) else int(space.shape[0])


class DQNPolicy(PolicyModule):
    """The online network `q_net`, the target network `q_net_target` (built second, copied from
    the first, always in evaluation mode) and `optimizer` (over `q_net`'s parameters; set by the
    agent's update, see `custom_agents.dqn_update`).

    :param observation_space: the raw observations' space.
    :param action_space: a Discrete space.
    :param net_arch: hidden layer sizes.
    :param device: where the networks live.
    :param activation_fn: the activation's module class.
    :param features_extractor_class: SB3's features extractor class (None: flatten).
    :param features_extractor_kwargs: its keyword arguments.
    :param optimizer_class: the optimizer's class (recorded; the update builds it).
    :param optimizer_kwargs: its keyword arguments besides the learning rate.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Discrete,
        net_arch: tuple[int, ...],
        device: torch.device | str = "cpu",
        *,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[nn.Module] | None = None,
        features_extractor_kwargs: Mapping[str, Any] | None = None,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(observation_space, action_space)
        self.net_arch = tuple(net_arch)
        self.optimizer_class = optimizer_class
        self.optimizer_kwargs = dict(optimizer_kwargs or {})
        network = {
            "activation_fn": activation_fn,
            "observation_space": observation_space,
            "action_space": action_space,
            "features_extractor_class": features_extractor_class,
            "features_extractor_kwargs": dict(features_extractor_kwargs or {}),
        }
        n_inputs, n_actions = observation_inputs(observation_space), int(action_space.n)
        self.q_net = QNetwork(n_inputs, self.net_arch, n_actions, device, **network)
        self.q_net_target = QNetwork(n_inputs, self.net_arch, n_actions, device, **network)
        self.q_net_target.requires_grad_(False)
        self.q_net_target.load_state_dict(self.q_net.state_dict())
        self.set_training_mode(False)  # acting; the update turns it on while it trains
        self.q_net_target.set_training_mode(False)
        self.optimizer: torch.optim.Optimizer | None = None

    @property
    def plain(self) -> bool:
        """Whether the written-out training pass covers the networks (ReLU, flatten features)."""
        return self.q_net.plain

    @property
    def default_optimizer(self) -> bool:
        """Whether the optimizer asked for is Adam with its defaults (what the fast update runs)."""
        if self.optimizer_class is not torch.optim.Adam:
            return False
        defaults = inspect.signature(torch.optim.Adam).parameters
        for key, value in self.optimizer_kwargs.items():
            default = defaults[key].default if key in defaults else inspect.Parameter.empty
            if key == "betas":
                value = tuple(value)
            if value != default:
                return False
        return True

    def forward(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """Greedy actions of preprocessed observations."""
        return self._predict(obs, deterministic=deterministic)

    def _predict(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        return self.q_net._predict(obs, deterministic=deterministic)

    def set_training_mode(self, mode: bool) -> None:
        """The online network's training mode (the target network stays in evaluation mode)."""
        self.q_net.set_training_mode(mode)
        self.training = mode

    def make_optimizer(self, learning_rate: float) -> torch.optim.Optimizer:
        """`optimizer_class(q_net.parameters(), lr=learning_rate, **optimizer_kwargs)`, as SB3's."""
        return self.optimizer_class(self.q_net.parameters(), lr=learning_rate, **self.optimizer_kwargs)

    @torch.no_grad()
    def update_target(self, tau: float) -> None:
        """The target network towards the online one: copied (tau = 1) or Polyak-averaged
        (tau < 1; tau = 0 leaves its weights), and batch norm's running statistics copied always
        (as SB3's DQN)."""
        if self.q_net.plain:
            if tau >= 1.0:
                self.q_net_target.flat.copy_(self.q_net.flat)
            else:
                self.q_net_target.flat.lerp_(self.q_net.flat, tau)
            return
        for online, target in zip(self.q_net.parameters(), self.q_net_target.parameters(), strict=True):
            if tau >= 1.0:
                target.copy_(online)
            else:
                target.lerp_(online, tau)
        for (name, online), (_, target) in zip(
            self.q_net.named_buffers(), self.q_net_target.named_buffers(), strict=True
        ):
            if "running_" in name:
                target.copy_(online)

    def _constructor_data(self) -> dict[str, Any]:
        extractor, kwargs = self.q_net._extractor
        return {
            "net_arch": list(self.net_arch),
            "activation_fn": plain_value(self.q_net.activation_fn),
            "features_extractor_class": None if extractor is None else plain_value(extractor),
            "features_extractor_kwargs": plain_value(kwargs),
            "optimizer_class": plain_value(self.optimizer_class),
            "optimizer_kwargs": plain_value(self.optimizer_kwargs),
            **plain_spaces(self),
        }

    @classmethod
    def _from_data(cls, data: dict[str, Any], device: torch.device) -> DQNPolicy:
        observation_space, action_space = spaces_of(data)
        extractor = data["features_extractor_class"]
        return cls(
            observation_space,
            action_space,
            tuple(data["net_arch"]),
            device,
            activation_fn=import_object(data["activation_fn"]),
            features_extractor_class=None if extractor is None else import_object(extractor),
            features_extractor_kwargs=data["features_extractor_kwargs"],
            optimizer_class=import_object(data["optimizer_class"]),
            optimizer_kwargs=data["optimizer_kwargs"],
        )
