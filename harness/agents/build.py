"""Building a model the one way every run and every contract check builds it: seed everything with
the seed, make the training env, build the agent on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.agents.families import AgentKind
from harness.conditions import EpisodeRules, make_training_env, seed_everything


def build_model(
    kind: AgentKind, env_id: str, seed: int, hyperparameters: Mapping[str, Any], rules: EpisodeRules | None = None
) -> tuple[Any, Any]:
    """Seed everything with `seed`, make the training env (under the env profile's `rules`),
    build the model on it: (env, model)."""
    seed_everything(seed)
    env = make_training_env(env_id, seed, rules)
    return env, kind.build(env, seed, hyperparameters)
