"""Hand-written agents with Stable-Baselines3's algorithm surface.

    from custom_agents import TabularQAgent
    agent = TabularQAgent(gym.make("CartPole-v1"), seed=0).learn(50_000)

They depend on gymnasium, numpy, torch and SB3's small public pieces, never on `harness`.
"""

from custom_agents.base import BaseAgent
from custom_agents.dqn import DQNAgent
from custom_agents.random_agent import RandomAgent
from custom_agents.tabular import TabularQAgent, TabularSarsaAgent

__all__ = ["BaseAgent", "DQNAgent", "RandomAgent", "TabularQAgent", "TabularSarsaAgent"]
