"""A replay memory of preallocated arrays: O(1) add, one gather per sampled batch."""

from __future__ import annotations

import numpy as np
import torch


class ReplayMemory:
    """A ring buffer of transitions (s, a, r, s', terminated), oldest overwritten first.

    Storage is allocated once: one float32 table whose rows are [s, s', r, 1 - terminated] and
    one int64 array of actions, so adding a transition is two row writes and sampling a batch
    is two `index_select`s on tensor views of them. Batches are moved to `device`.

    :param capacity: transitions kept.
    :param obs_dim: length of an observation vector.
    :param device: where sampled batches go.
    """

    def __init__(self, capacity: int, obs_dim: int, device: torch.device | str = "cpu") -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.obs_dim = obs_dim
        self.device = torch.device(device)
        self._rows = np.zeros((capacity, 2 * obs_dim + 2), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self._rows_t = torch.from_numpy(self._rows)
        self._actions_t = torch.from_numpy(self.actions)
        self.pos = 0
        self.full = False

    @property
    def observations(self) -> np.ndarray:
        """Stored s, shape (capacity, obs_dim) (a view)."""
        return self._rows[:, : self.obs_dim]

    @property
    def next_observations(self) -> np.ndarray:
        """Stored s', shape (capacity, obs_dim) (a view)."""
        return self._rows[:, self.obs_dim : 2 * self.obs_dim]

    @property
    def rewards(self) -> np.ndarray:
        """Stored r, shape (capacity,) (a view)."""
        return self._rows[:, -2]

    @property
    def terminated(self) -> np.ndarray:
        """Stored termination flags as 0/1, shape (capacity,)."""
        return 1.0 - self._rows[:, -1]

    def __len__(self) -> int:
        return self.capacity if self.full else self.pos

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray, terminated: bool) -> None:
        """Store one transition; `terminated` is False for a time-limit truncation."""
        row = self._rows[self.pos]
        d = self.obs_dim
        row[:d] = obs
        row[d : 2 * d] = next_obs
        row[-2] = reward
        row[-1] = 0.0 if terminated else 1.0
        self.actions[self.pos] = action
        self.pos += 1
        if self.pos == self.capacity:
            self.pos = 0
            self.full = True

    def sample_indices(self, batch_size: int, rng: np.random.Generator, n_batches: int | None = None) -> np.ndarray:
        """Uniform indices of stored transitions: shape (batch_size,), or (n_batches, batch_size)."""
        if len(self) == 0:
            raise ValueError("cannot sample from an empty replay memory")
        shape = batch_size if n_batches is None else (n_batches, batch_size)
        return rng.integers(0, len(self), size=shape)

    def gather(self, indices: np.ndarray) -> tuple[torch.Tensor, ...]:
        """The transitions at `indices` (shape (batch,)) as tensors on `device`:
        obs (batch, obs_dim), actions (batch,) int64, rewards (batch,), next_obs (batch, obs_dim),
        not_terminated (batch,): 0 where the episode terminated, 1 elsewhere (truncation included)."""
        idx = torch.from_numpy(np.ascontiguousarray(indices))
        rows = self._rows_t.index_select(0, idx)
        actions = self._actions_t.index_select(0, idx)
        if self.device.type != "cpu":
            rows, actions = rows.to(self.device, non_blocking=True), actions.to(self.device, non_blocking=True)
        d = self.obs_dim
        return rows[:, :d], actions, rows[:, -2], rows[:, d : 2 * d], rows[:, -1]

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        """A uniform batch (with replacement), as `gather` returns it."""
        return self.gather(self.sample_indices(batch_size, rng))
