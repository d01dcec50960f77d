"""`PolicyModule`: what SB3's `BasePolicy` gives a network, written for the DQN's policy and
Q-network: `predict` on raw observations, `set_training_mode`, `device`, and `save`/`load` of the
network alone, in this project's format (plain data and a state dict, loadable with
`torch.load(weights_only=True)`: no pickled code)."""

from __future__ import annotations

import pathlib
from abc import abstractmethod
from typing import Any, Self

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.utils import get_device
from torch import nn

from custom_agents.spaces import space_from_plain, space_to_plain

FORMAT_VERSION = 1


def preprocess(obs: torch.Tensor, space: spaces.Space) -> torch.Tensor:
    """SB3's `preprocess_obs` for the spaces an agent here takes: a Box as float32, a Discrete
    state one-hot encoded (shape (batch, n))."""
    if isinstance(space, spaces.Discrete):
        return nn.functional.one_hot((obs.reshape(-1) - int(space.start)).long(), int(space.n)).float()
    return obs.float()


class PolicyModule(nn.Module):
    """A network with SB3's policy surface (see the module docstring).

    :param observation_space: the raw observations' space (a 1-D Box or a Discrete).
    :param action_space: a Discrete space.
    """

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Discrete) -> None:
        super().__init__()
        self.observation_space = observation_space
        self.action_space = action_space

    @abstractmethod
    def _predict(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """Actions, shape (batch,), of preprocessed observations."""

    @abstractmethod
    def _constructor_data(self) -> dict[str, Any]:
        """What `load` rebuilds the module with (plain data, spaces as `space_to_plain`)."""

    @classmethod
    @abstractmethod
    def _from_data(cls, data: dict[str, Any], device: torch.device) -> Self:
        """The module `_constructor_data` describes, on `device`."""

    @property
    def device(self) -> torch.device:
        """Where the parameters are (the CPU for a module without any)."""
        for parameter in self.parameters():
            return parameter.device
        return torch.device("cpu")

    def set_training_mode(self, mode: bool) -> None:
        """Training mode (batch norm, dropout) on or off, as SB3's."""
        self.train(mode)

    def obs_to_tensor(self, observation: Any) -> tuple[torch.Tensor, bool]:
        """Preprocessed observations on the module's device, and whether one observation (not a
        batch) was given."""
        obs = np.asarray(observation)
        shape = self.observation_space.shape
        single = obs.shape == shape
        if not single and not (obs.ndim == len(shape) + 1 and obs.shape[1:] == shape):
            raise ValueError(f"observation of shape {obs.shape} does not fit the observation space {shape}")
        tensor = torch.as_tensor(obs.reshape(1, *shape) if single else obs, device=self.device)
        return preprocess(tensor, self.observation_space), single

    def predict(
        self,
        observation: Any,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, None]:
        """SB3's `predict`: actions for one observation (shape ()) or a batch (shape (n,)), in
        evaluation mode; the state is None (no recurrence)."""
        was_training = self.training
        self.set_training_mode(False)
        try:
            obs, single = self.obs_to_tensor(observation)
            with torch.no_grad():
                actions = self._predict(obs, deterministic=deterministic).cpu().numpy()
        finally:
            self.set_training_mode(was_training)
        return (actions.reshape(()) if single else actions), None

    def save(self, path: str | pathlib.Path) -> None:
        """The module's constructor data and state dict (`torch.save` of plain data)."""
        data = {"format_version": FORMAT_VERSION, "class": type(self).__name__, "data": self._constructor_data()}
        torch.save({**data, "state_dict": self.state_dict()}, path)

    @classmethod
    def load(cls, path: str | pathlib.Path, device: torch.device | str = "auto") -> Self:
        """A module saved by `save`, on `device` (SB3's meaning: "auto" and an unavailable "cuda"
        are the CPU)."""
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved.get("class") != cls.__name__:
            raise ValueError(f"{path} holds a {saved.get('class')}, not a {cls.__name__}")
        module = cls._from_data(saved["data"], get_device(device))
        module.load_state_dict(saved["state_dict"])
        return module


def plain_spaces(module: PolicyModule) -> dict[str, Any]:
    """The spaces of a module as constructor data."""
    return {
        "observation_space": space_to_plain(module.observation_space),
        "action_space": space_to_plain(module.action_space),
    }


def spaces_of(data: dict[str, Any]) -> tuple[spaces.Space, spaces.Discrete]:
    """Inverse of `plain_spaces`."""
    return space_from_plain(data["observation_space"]), space_from_plain(data["action_space"])  # type: ignore[return-value]
