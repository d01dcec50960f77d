"""Env profiles: what success means on an env, and the scale its returns are normalised on.

One table of data (`PROFILES`), not branches in the report. Three kinds of task:

- **survival**: an episode succeeds by lasting until the time limit (truncated, not terminated):
  CartPole;
- **goal**: an episode succeeds by terminating at the goal before the time limit; reaching the
  limit is a failure: Acrobot, MountainCar, Taxi, CliffWalking (terminated), FrozenLake (its holes
  terminate too, so there success is reaching the goal's reward: return >= 1);
- **score**: an episode succeeds by reaching a return: LunarLander (return >= 200).

Each profile also gives the **return range** `[lo, hi]` that normalises returns to [0, 1]
((return - lo) / (hi - lo), clipped): the env's own bounds where they exist (CartPole: 0 to the
time limit at +1 per step; Acrobot: -1 per step for 500 steps up to 0), otherwise a documented
reference (LunarLander: the random policy's mean return, measured, to the env's `reward_threshold`); and the
**threshold**, the 'solved' level (the env spec's `reward_threshold` where it has one).

A study may declare its own (`success = "truncated" | "terminated" | "return >= X"`,
`return_range = [lo, hi]`, `threshold = X`, `max_episode_steps = N`), over the profile's or for an
env with none; an env with neither a profile nor a declaration is refused (`ProfileError`), never
measured by CartPole's rules. Imports gymnasium only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import ProfileError

SUCCESS_FORMS = ('"truncated"', '"terminated"', '"return >= X"')
_RETURN_RULE = re.compile(r"^\s*return\s*>=\s*([-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class SuccessRule:
    """When an episode counts as a success: "truncated" (lasted to the time limit),
    "terminated" (ended before it, at the goal), or "return >= X"."""

    text: str
    """The rule as written in a study: 'truncated', 'terminated' or 'return >= X'."""

    def __post_init__(self) -> None:
        if self.text not in ("truncated", "terminated") and not _RETURN_RULE.match(self.text):
            raise ProfileError(f"success must be one of {', '.join(SUCCESS_FORMS)}, got {self.text!r}")

    @property
    def min_return(self) -> float | None:
        """X of 'return >= X' (None for the other rules)."""
        match = _RETURN_RULE.match(self.text)
        return float(match.group(1)) if match else None

    def __call__(self, terminated: bool, truncated: bool, episode_return: float) -> bool:
        """Whether an episode that ended so is a success."""
        if self.text == "truncated":
            return bool(truncated and not terminated)
        if self.text == "terminated":
            return bool(terminated)
        return episode_return >= self.min_return  # type: ignore[operator]

    def describe(self) -> str:
        """The rule in words, for the report."""
        if self.text == "truncated":
            return "an episode that lasts until the time limit (truncated, not terminated)"
        if self.text == "terminated":
            return "an episode that terminates (reaches the goal) before the time limit; reaching the limit fails"
        return f"an episode whose return is at least {self.min_return:g}"


@dataclass(frozen=True)
class EpisodeRules:
    """What the harness applies to an env's episodes, so what a run's files depend on: the
    success rule and the time limit it sets (None: the env's own). `run.json` records them."""

    success: str
    max_episode_steps: int | None = None

    @property
    def rule(self) -> SuccessRule:
        return SuccessRule(self.success)


@dataclass(frozen=True)
class EnvProfile:
    """How episodes of one env are measured."""

    task: str
    """'survival', 'goal' or 'score' (or 'declared' for a study's own)."""
    success: str
    """The success rule (`SuccessRule` text)."""
    return_range: tuple[float, float]
    """(lo, hi): returns are normalised as (return - lo) / (hi - lo), clipped to [0, 1]."""
    range_source: str
    """Where the range comes from, in words."""
    threshold: float
    """The 'solved' level of a mean evaluation return."""
    max_episode_steps: int | None = None
    """A time limit for an env registered without one (None: the env's own)."""
    success_words: str = ""
    """What success means on this env, in words (e.g. 'the pole stays up for 500 steps')."""

    @property
    def rule(self) -> SuccessRule:
        return SuccessRule(self.success)

    @property
    def episode_rules(self) -> EpisodeRules:
        """The part of the profile the env factory applies (the rest is the report's)."""
        return EpisodeRules(self.success, self.max_episode_steps)


def _survival(limit: int, threshold: float) -> EnvProfile:
    return EnvProfile(
        "survival",
        "truncated",
        (0.0, float(limit)),
        f"the env's bounds: +1 per step up to the time limit of {limit} steps",
        threshold,
        success_words=f"the pole stays up until the time limit ({limit} steps)",
    )


PROFILES: dict[str, EnvProfile] = {
    "CartPole-v0": _survival(200, 195.0),
    "CartPole-v1": _survival(500, 475.0),
    "Acrobot-v1": EnvProfile(
        "goal",
        "terminated",
        (-500.0, 0.0),
        "the env's bounds: -1 per step for at most 500 steps, 0 on reaching the goal",
        -100.0,
        success_words="the tip swings above the bar before the time limit (500 steps)",
    ),
    "MountainCar-v0": EnvProfile(
        "goal",
        "terminated",
        (-200.0, 0.0),
        "the env's bounds: -1 per step for at most 200 steps",
        -110.0,
        success_words="the car reaches the flag before the time limit (200 steps)",
    ),
    "MountainCarContinuous-v0": EnvProfile(
        "goal",
        "terminated",
        (-99.9, 100.0),
        "the env's bounds: at most 0.1 of action cost per step for 999 steps, +100 at the flag",
        90.0,
        success_words="the car reaches the flag before the time limit (999 steps)",
    ),
    "FrozenLake-v1": EnvProfile(
        "goal",
        "return >= 1",
        (0.0, 1.0),
        "the env's bounds: 1 for reaching the goal, else 0",
        0.7,
        success_words="the agent reaches the goal (reward 1; a hole ends the episode with 0) within 100 steps",
    ),
    "FrozenLake8x8-v1": EnvProfile(
        "goal",
        "return >= 1",
        (0.0, 1.0),
        "the env's bounds: 1 for reaching the goal, else 0",
        0.85,
        success_words="the agent reaches the goal (reward 1; a hole ends the episode with 0) within 200 steps",
    ),
    "Taxi-v4": EnvProfile(
        "goal",
        "terminated",
        (-2000.0, 20.0),
        "the env's bounds: at worst -10 per step for 200 steps, at best +20 for the drop-off",
        8.0,
        success_words="the passenger is dropped off at the destination before the time limit (200 steps)",
    ),
    "CliffWalking-v1": EnvProfile(
        "goal",
        "terminated",
        (-10_000.0, -13.0),
        "the env's bounds under the harness's time limit of 100 steps: -100 per step at worst, "
        "-13 for the shortest path",
        -13.0,
        max_episode_steps=100,
        success_words="the agent reaches the goal within 100 steps (the env has no time limit; the harness sets one)",
    ),
    "LunarLander-v3": EnvProfile(
        "score",
        "return >= 200",
        (-185.5, 200.0),
        "a reference: the uniform random policy's mean return (-185.5 over 200 episodes, reset seeds 0-199, "
        "gymnasium 1.4.0) to the env's reward_threshold (200)",
        200.0,
        success_words="an episode scores at least 200 (a safe landing on the pad)",
    ),
}
"""Env id -> profile. Add an env here, or declare it in the study."""

DECLARABLE = ("success", "return_range", "threshold", "max_episode_steps")
"""The profile keys a study may declare (in `[study]`, or `[envs."<id>"]` of a study across envs)."""


def profile_for(env_id: str, declared: Mapping[str, Any] | None = None) -> EnvProfile:
    """The profile of `env_id` with the study's declarations over it; `ProfileError` (what to
    declare) when the env has no profile and the study does not declare `success` and
    `return_range`.

    declared: any of `DECLARABLE` (None values ignored).
    """
    declared = {key: value for key, value in (declared or {}).items() if value is not None}
    base = PROFILES.get(env_id)
    if base is None:
        missing = [key for key in ("success", "return_range") if key not in declared]
        if missing:
            raise ProfileError(
                f"the harness has no profile for {env_id!r}, so it cannot say what success or a good return is "
                f"there; declare {' and '.join(missing)} for it (success = {' | '.join(SUCCESS_FORMS)}; "
                f"return_range = [lo, hi], the returns that normalise to 0 and 1)"
            )
        lo, hi = _range(declared["return_range"])
        rule = SuccessRule(str(declared["success"]))
        threshold = declared.get("threshold", rule.min_return if rule.min_return is not None else hi)
        return EnvProfile(
            "declared",
            rule.text,
            (lo, hi),
            "declared by the study",
            float(threshold),
            declared.get("max_episode_steps"),
            rule.describe(),
        )
    same = {
        "success": lambda v: SuccessRule(str(v)).text == base.success,
        "return_range": lambda v: _range(v) == base.return_range,
        "threshold": lambda v: float(v) == base.threshold,
        "max_episode_steps": lambda v: int(v) == base.max_episode_steps,
    }
    declared = {key: value for key, value in declared.items() if not same[key](value)}  # the profile's own
    values: dict[str, Any] = {}
    if "success" in declared:
        rule = SuccessRule(str(declared["success"]))
        values.update(success=rule.text, success_words=rule.describe())
    if "return_range" in declared:
        values.update(return_range=_range(declared["return_range"]), range_source="declared by the study")
    if "threshold" in declared:
        values["threshold"] = float(declared["threshold"])
    if "max_episode_steps" in declared:
        values["max_episode_steps"] = int(declared["max_episode_steps"])
    return base if not values else EnvProfile(**{**base.__dict__, **values})


def _range(value: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ProfileError(f"return_range must be [lo, hi], two numbers, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ProfileError(f"return_range must be two finite numbers with lo < hi, got {list(value)}")
    return lo, hi
