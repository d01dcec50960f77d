"""One visible seeding block for every run, the way Stable-Baselines3 seeds an algorithm."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np

EVAL_SEED_BASE = 1_000_000
"""Evaluation episode i of every study starts from `env.reset(seed=EVAL_SEED_BASE + i)`: far from
any training seed, and the same for every agent and every evaluation point."""


def seed_everything(seed: int) -> None:
    """Seed Python's `random`, numpy's global generator and torch (as SB3's `set_random_seed`).

    The env and its action space are seeded by `harness.conditions.envs.make_training_env`; agents seed
    their own generators from the same `seed`.
    """
    import torch  # here: this module is read by light commands (the evaluation seeds)

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def single_thread() -> None:
    """One thread per process for torch and for numpy's BLAS: runs are compared one core each,
    and parallel runs don't fight over cores."""
    # here: this module is read by light commands (the evaluation seeds)
    import threadpoolctl
    import torch

    threadpoolctl.threadpool_limits(1)
    torch.set_num_threads(1)
    if torch.get_num_interop_threads() != 1:
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # can only be set before the first parallel work in the process
            pass


def evaluation_seeds(n_episodes: int, base: int = EVAL_SEED_BASE) -> list[int]:
    """The reset seeds of the `n_episodes` evaluation episodes: `base, base + 1, ...`."""
    return [base + i for i in range(n_episodes)]


@contextlib.contextmanager
def isolated_random_state(seed: int) -> Iterator[None]:
    """Within the block, `random`, numpy's global generator and torch's CPU generator start from
    `seed`; after it, they are back where they were. An evaluation draws from these (an agent
    whose policy explores, the assignment's `act`) without changing what training draws next."""
    import torch  # here: this module is read by light commands (the evaluation seeds)

    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])
