"""Hand-written agents with Stable-Baselines3's algorithm surface.

    from custom_agents import TabularQAgent
    agent = TabularQAgent(gym.make("CartPole-v1"), seed=0).learn(50_000)

`BaseAgent` is the extension point for an agent of your own (see its docstring). The agents
depend on gymnasium, numpy, torch and SB3's small public pieces, never on `harness`. Names are
imported on first use, so `custom_agents.presets` and `custom_agents.config` can be read without
importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BaseAgent": "custom_agents.base",
    "DQNAgent": "custom_agents.dqn",
    "RandomAgent": "custom_agents.random_agent",
    "TabularQAgent": "custom_agents.tabular",
    "TabularSarsaAgent": "custom_agents.tabular",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'custom_agents' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
