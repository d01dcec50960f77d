"""Small test helpers shared by several test files (imported as `helpers`)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback


class EpisodeStarts(BaseCallback):
    """Keeps the first observation of every training episode: the one before training starts,
    then `new_obs` of each step that ended an episode (the VecEnv has already reset)."""

    def __init__(self) -> None:
        super().__init__()
        self.starts: list[np.ndarray] = []

    def _on_training_start(self) -> None:
        self.starts.append(np.array(self.model._last_obs[0], copy=True))

    def _on_step(self) -> bool:
        if self.locals["dones"][0]:
            self.starts.append(np.array(self.locals["new_obs"][0], copy=True))
        return True


class ResetRecorder(gym.Wrapper):
    """Keeps every observation its env was reset to."""

    def __init__(self, env: gym.Env, resets: list[np.ndarray]) -> None:
        super().__init__(env)
        self.resets = resets

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = super().reset(**kwargs)
        self.resets.append(np.array(obs, copy=True))
        return obs, info


def run_json(run_dir: pathlib.Path) -> dict[str, Any] | None:
    """A run folder's `run.json` as the JSON object on disk (None when missing or unreadable): the
    tests check the file itself, not its typed reading."""
    try:
        return json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None
