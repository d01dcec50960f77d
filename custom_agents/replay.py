"""A replay memory of preallocated arrays: O(1) add, one gather per sampled batch, and SB3's
`ReplayBuffer` surface (its arrays, `add`, `extend`, `size`, `device`) over the same storage."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

FORMAT_VERSION = 1


class ReplayMemory:
    """A ring buffer of transitions (s, a, r, s', terminated), oldest overwritten first.

    Storage is allocated once: one float32 table whose rows are [s, s', r, 1 - terminated] (or
    [s, r, 1 - terminated] with `optimize_memory_usage`) and one int64 array of actions, so adding
    a transition is a few row writes and sampling a batch is two `index_select`s on tensor views
    of them. Batches are moved to `device`.

    Like SB3's `ReplayBuffer`, it holds `capacity // n_envs` steps of `n_envs` envs (the
    transitions of one vector step in consecutive rows), and:

    - a Discrete observation is stored as its index (one float) and one-hot encoded per gathered
      batch (`n_states`);
    - with `optimize_memory_usage`, s' is not stored: it is the next step's s of the same env,
      and the step being written is never sampled (SB3's memory-efficient variant; the
      truncated episode's last observation is then lost, so `handle_timeout_termination` must be
      False and a truncation counts as a termination);
    - `handle_timeout_termination` (default): a time-limit truncation bootstraps (1 - terminated
      is 1); otherwise it counts as a termination;
    - its arrays read as SB3's do (`observations`, `next_observations`, `actions`, `rewards`,
      `dones`, `timeouts`: shape (steps, n_envs, ...), views of the storage).

    :param capacity: transitions kept (SB3's `buffer_size`).
    :param obs_dim: length of an observation vector (for a Discrete space: its number of states).
    :param device: where sampled batches go.
    :param n_envs: envs whose transitions are added per step.
    :param n_states: the number of states of a Discrete observation space (stored as indices);
        None for a Box.
    :param state_start: that space's first state (`Discrete.start`).
    :param optimize_memory_usage: see above.
    :param handle_timeout_termination: see above.
    """

    def __init__(
        self,
        capacity: int,
        obs_dim: int,
        device: torch.device | str = "cpu",
        *,
        n_envs: int = 1,
        n_states: int | None = None,
        state_start: int = 0,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if optimize_memory_usage and handle_timeout_termination:
            raise ValueError(
                "ReplayMemory does not support optimize_memory_usage = True and "
                "handle_timeout_termination = True simultaneously (as SB3's ReplayBuffer)"
            )
        self.n_envs = n_envs
        self.buffer_size = max(capacity // n_envs, 1)
        self.capacity = self.buffer_size * n_envs
        self.obs_dim = obs_dim
        self.n_states = n_states
        self.state_start = state_start
        self.optimize_memory_usage = optimize_memory_usage
        self.handle_timeout_termination = handle_timeout_termination
        self.device = torch.device(device)
        self._stored = 1 if n_states is not None else obs_dim
        width = (1 if optimize_memory_usage else 2) * self._stored + 2
        self._rows = np.zeros((self.capacity, width), dtype=np.float32)
        self._actions = np.zeros(self.capacity, dtype=np.int64)
        self._dones = np.zeros(self.capacity, dtype=np.float32)
        self._timeouts = np.zeros(self.capacity, dtype=np.float32)
        self._tensors()
        self.pos = 0
        self.full = False

    def _tensors(self) -> None:
        self._rows_t = torch.from_numpy(self._rows)
        self._actions_t = torch.from_numpy(self._actions)

    def __getstate__(self) -> dict[str, Any]:
        """Without the tensor views (a copy makes its own, of its own arrays)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("_rows_t", "_actions_t")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._tensors()

    # -- SB3's arrays (views of the storage) ------------------------------------------------

    def _steps(self, array: np.ndarray) -> np.ndarray:
        return array.reshape(self.buffer_size, self.n_envs, *array.shape[1:])

    @property
    def observations(self) -> np.ndarray:
        """Stored s, shape (steps, n_envs, obs_dim) (a Discrete state: (steps, n_envs, 1), its index)."""
        return self._steps(self._rows[:, : self._stored])

    @property
    def next_observations(self) -> np.ndarray | None:
        """Stored s', as `observations`; None with `optimize_memory_usage` (as SB3's)."""
        if self.optimize_memory_usage:
            return None
        return self._steps(self._rows[:, self._stored : 2 * self._stored])

    @property
    def actions(self) -> np.ndarray:
        """Stored a, shape (steps, n_envs, 1)."""
        return self._actions.reshape(self.buffer_size, self.n_envs, 1)

    @property
    def rewards(self) -> np.ndarray:
        """Stored r, shape (steps, n_envs)."""
        return self._steps(self._rows[:, -2])

    @property
    def dones(self) -> np.ndarray:
        """1 where the episode ended (terminated or truncated), shape (steps, n_envs)."""
        return self._steps(self._dones)

    @property
    def timeouts(self) -> np.ndarray:
        """1 where the episode was truncated by a time limit, shape (steps, n_envs)."""
        return self._steps(self._timeouts)

    @property
    def terminated(self) -> np.ndarray:
        """1 where the target does not bootstrap, shape (capacity,) (one row per transition)."""
        return 1.0 - self._rows[:, -1]

    def size(self) -> int:
        """Steps stored per env (SB3's `size()`)."""
        return self.buffer_size if self.full else self.pos

    def __len__(self) -> int:
        """Transitions stored."""
        return self.capacity if self.full else self.pos * self.n_envs

    # -- adding ------------------------------------------------------------------------------

    def add_transition(
        self,
        obs: np.ndarray,
        action: int,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
        truncated: bool = False,
    ) -> None:
        """Store one transition of a one-env memory (the training loop's path); `terminated` is
        False for a time-limit truncation (`truncated`), which bootstraps."""
        row = self._rows[self.pos]
        d = self._stored
        row[:d] = obs
        if self.optimize_memory_usage:
            self._rows[(self.pos + 1) % self.capacity, :d] = next_obs
        else:
            row[d : 2 * d] = next_obs
        row[-2] = reward
        terminal = terminated or (truncated and not self.handle_timeout_termination)
        row[-1] = 0.0 if terminal else 1.0
        self._actions[self.pos] = action
        self._dones[self.pos] = float(terminated or truncated)
        self._timeouts[self.pos] = float(truncated)
        self.pos += 1
        if self.pos == self.capacity:
            self.pos = 0
            self.full = True

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: Sequence[Mapping[str, Any]],
    ) -> None:
        """SB3's `ReplayBuffer.add`: one vector step's transitions, one per env (`obs`, `next_obs`:
        (n_envs, *obs_shape), a Discrete state as its index; `action` (n_envs,) or (n_envs, 1);
        `reward`, `done`: (n_envs,); `infos[i]["TimeLimit.truncated"]` marks a truncation)."""
        n, d = self.n_envs, self._stored
        obs = np.asarray(obs, dtype=np.float32).reshape(n, d)
        next_obs = np.asarray(next_obs, dtype=np.float32).reshape(n, d)
        done = np.asarray(done, dtype=np.float32).reshape(n)
        timeout = np.array([info.get("TimeLimit.truncated", False) for info in infos], dtype=np.float32).reshape(n)
        start = self.pos * n
        rows = self._rows[start : start + n]
        rows[:, :d] = obs
        if self.optimize_memory_usage:
            following = ((self.pos + 1) % self.buffer_size) * n
            self._rows[following : following + n, :d] = next_obs
        else:
            rows[:, d : 2 * d] = next_obs
        rows[:, -2] = np.asarray(reward, dtype=np.float32).reshape(n)
        kept = timeout if self.handle_timeout_termination else 0.0
        rows[:, -1] = 1.0 - done * (1.0 - kept)
        self._actions[start : start + n] = np.asarray(action).reshape(n)
        self._dones[start : start + n] = done
        self._timeouts[start : start + n] = timeout
        self.pos += 1
        if self.pos == self.buffer_size:
            self.pos = 0
            self.full = True

    def extend(self, *args: Any) -> None:
        """SB3's `extend`: `add` each step of arrays holding several (as `add`'s, one more axis)."""
        for data in zip(*args, strict=True):
            self.add(*data)

    def truncate_last_trajectory(self) -> None:
        """Mark the last stored step done (SB3 does it before a `learn` that resets the counters
        with `optimize_memory_usage`: that step's s' is about to be overwritten)."""
        if self.pos == 0 and not self.full:
            return
        last = ((self.pos - 1) % self.buffer_size) * self.n_envs
        self._dones[last : last + self.n_envs] = 1.0
        self._rows[last : last + self.n_envs, -1] = 0.0

    # -- sampling ----------------------------------------------------------------------------

    def sample_indices(self, batch_size: int, rng: np.random.Generator, n_batches: int | None = None) -> np.ndarray:
        """Uniform indices of stored transitions: shape (batch_size,), or (n_batches, batch_size)."""
        if len(self) == 0:
            raise ValueError("cannot sample from an empty replay memory")
        shape = batch_size if n_batches is None else (n_batches, batch_size)
        if self.optimize_memory_usage and self.full:
            # The step being written holds only the previous step's s': skip its rows.
            skip = self.pos * self.n_envs
            return (rng.integers(self.n_envs, self.capacity, size=shape) + skip) % self.capacity
        return rng.integers(0, len(self), size=shape)

    def gather(self, indices: np.ndarray) -> tuple[torch.Tensor, ...]:
        """The transitions at `indices` (shape (batch,)) as tensors on `device`:
        obs (batch, obs_dim), actions (batch,) int64, rewards (batch,), next_obs (batch, obs_dim),
        not_terminated (batch,): 0 where the episode terminated, 1 elsewhere (truncation included,
        with `handle_timeout_termination`). A Discrete state comes one-hot encoded."""
        idx = torch.from_numpy(np.ascontiguousarray(indices))
        rows = self._rows_t.index_select(0, idx)
        actions = self._actions_t.index_select(0, idx)
        d = self._stored
        if self.optimize_memory_usage:
            following = torch.remainder(idx + self.n_envs, self.capacity)
            next_obs = self._rows_t.index_select(0, following)[:, :d]
        else:
            next_obs = rows[:, d : 2 * d]
        obs = rows[:, :d]
        if self.n_states is not None:
            obs, next_obs = self._one_hot(obs), self._one_hot(next_obs)
        rewards, not_terminated = rows[:, -2], rows[:, -1]
        if self.device.type != "cpu":
            obs, next_obs = obs.to(self.device, non_blocking=True), next_obs.to(self.device, non_blocking=True)
            actions = actions.to(self.device, non_blocking=True)
            rewards, not_terminated = rewards.to(self.device), not_terminated.to(self.device)
        return obs, actions, rewards, next_obs, not_terminated

    def _one_hot(self, index: torch.Tensor) -> torch.Tensor:
        assert self.n_states is not None
        return torch.nn.functional.one_hot(index[:, 0].long() - self.state_start, self.n_states).float()

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """A uniform batch (with replacement), as `gather` returns it."""
        return self.gather(self.sample_indices(batch_size, rng))

    # -- saving ------------------------------------------------------------------------------

    def save(self, path: str | pathlib.Path | Any) -> None:
        """Write the memory as an uncompressed npz archive (arrays and a JSON header, no pickle)."""
        meta = {
            "format_version": FORMAT_VERSION,
            "capacity": self.capacity,
            "obs_dim": self.obs_dim,
            "n_envs": self.n_envs,
            "n_states": self.n_states,
            "state_start": self.state_start,
            "optimize_memory_usage": self.optimize_memory_usage,
            "handle_timeout_termination": self.handle_timeout_termination,
            "pos": self.pos,
            "full": self.full,
        }
        arrays = {"rows": self._rows, "actions": self._actions, "dones": self._dones, "timeouts": self._timeouts}
        if isinstance(path, (str, pathlib.Path)):
            with open(path, "wb") as file:
                np.savez(file, __meta__=np.array(json.dumps(meta)), **arrays)
        else:
            np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path: str | pathlib.Path | Any, device: torch.device | str = "cpu") -> ReplayMemory:
        """A memory written by `save`, its batches going to `device`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            memory = cls(
                meta["capacity"],
                meta["obs_dim"],
                device,
                n_envs=meta["n_envs"],
                n_states=meta["n_states"],
                state_start=meta.get("state_start", 0),
                optimize_memory_usage=meta["optimize_memory_usage"],
                handle_timeout_termination=meta["handle_timeout_termination"],
            )
            memory._rows[...] = data["rows"]
            memory._actions[...] = data["actions"]
            memory._dones[...] = data["dones"]
            memory._timeouts[...] = data["timeouts"]
        memory.pos, memory.full = int(meta["pos"]), bool(meta["full"])
        return memory
