"""A pair's identity: everything that decides its result, so that a run is reused exactly while
nothing of it changed.

    settings   kind, env id, the env profile's rules (success, time limit), budget, evaluation
               protocol, resolved hyperparameters (`run_settings`: what study.toml says)
    seed       the pair's seed
    code       the agent's code (`harness.agents.code_identity`): a fingerprint of its source files
               (a hand-written or user class), of what runs (a class handed over from Python), or
               the library's name and version (a class installed from a package)
    libraries  the versions of torch, stable-baselines3, gymnasium and numpy

`run.json` records it; `compare` reruns a pair whose identity changed (setting the old run aside),
`status` says what changed. It is computed without importing the agent's class or torch: the
code identity reads files, versions come from the installed packages' metadata.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # type only: the study is what a pair's identity is read from
    from harness.studies.study import Study

LIBRARIES = ("torch", "stable-baselines3", "gymnasium", "numpy")
"""The packages whose versions are part of every pair's identity."""
LEGACY_SETTINGS: dict[str, Any] = {"profile": {"success": "truncated", "max_episode_steps": None}}
"""What a `run.json` written before a setting was recorded ran with: before env profiles, every
run marked success as an episode lasting to the env's own time limit (`RunRecord.identity` reads
it so)."""


def run_settings(study: Study, label: str) -> dict[str, Any]:
    """What decides a run of `label` besides its seed and code (`study`: a one-env study or
    view), as study.toml says it and `run.json` records it. Of the env's profile, what changes
    the run's files: its success rule and time limit (the return range and threshold only change
    the report's numbers)."""
    settings = study.settings
    spec = study.agent(label)
    return {
        "kind": spec.kind,
        "env_id": settings.env_id,
        "profile": dataclasses.asdict(study.episode_rules),
        "total_timesteps": settings.total_timesteps,
        "evaluation": {
            "eval_freq": settings.eval_freq,
            "n_eval_episodes": settings.n_eval_episodes,
            "eval_seed": settings.eval_seed,
            **({"stop_below": [[step, value] for step, value in spec.stop_below]} if spec.stop_below else {}),
        },
        "hyperparameters": dict(spec.hyperparameters),
    }


def changed_setting(recorded: Mapping[str, Any], study: Study, label: str) -> str | None:
    """The first of `run_settings` that `recorded` (the identity a `run.json` records) holds
    another value of, or None when the run was made with the settings `study` asks for (the
    report's test: its files alone, whatever the code is now)."""
    for key, value in run_settings(study, label).items():
        if recorded.get(key) != value:
            return key
    return None


def pair_identity(study: Study, label: str, seed: int, code: Mapping[str, Any]) -> dict[str, Any]:
    """The whole identity of a pair (`study`: a one-env study or view; `code`: `code_identity`
    of its agent's kind)."""
    return {**run_settings(study, label), "seed": seed, "code": dict(code), "libraries": library_versions()}


def changed(recorded: Mapping[str, Any], identity: Mapping[str, Any]) -> str | None:
    """What differs between the identity a run recorded and `identity`, in words
    ('hyperparameters: gamma 0.99 -> 0.95', 'code: its source changed', ...), or None when it is
    the same run."""
    for key, now in identity.items():
        then = recorded.get(key)
        if then == now:
            continue
        if then is None:
            return f"{key}: not recorded (a run from an earlier version of the harness)"
        if isinstance(now, Mapping) and isinstance(then, Mapping):
            keys = [k for k in dict.fromkeys([*then, *now]) if then.get(k) != now.get(k)]
            parts = [f"{k} {_short(then.get(k))} -> {_short(now.get(k))}" for k in keys[:3]]
            more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
            if key == "code" and "source" in now and "source" in then:
                return "code: its source changed"
            return f"{key}: {', '.join(parts)}{more}"
        return f"{key}: {_short(then)} -> {_short(now)}"
    return None


def identity_hash(identity: Mapping[str, Any]) -> str:
    """A short stable hash of an identity (the name its run is set aside under)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.cache
def library_versions() -> dict[str, str]:
    """The installed versions of `LIBRARIES` (from their metadata: nothing is imported)."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."
