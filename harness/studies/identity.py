"""A pair's identity: everything that decides its result, so that a run is reused exactly while
nothing of it changed.

    settings   kind, env id, the env profile's rules (success, time limit), budget, evaluation
               protocol, resolved hyperparameters (`run_settings`: what study.toml says)
    seed       the pair's seed
    code       the agent's code: a fingerprint of its source files (a hand-written or user class:
               the module's file and the local files it imports, `harness.studies.sources`), or the
               library's name and version (a class installed from a package)
    libraries  the versions of torch, stable-baselines3, gymnasium and numpy

`run.json` records it; `compare` reruns a pair whose identity changed (setting the old run aside),
`status` says what changed. It is computed without importing the agent's class or torch: the
code is found by path (`imports.local_origin`, `importlib.util.find_spec`) and read, versions come
from the installed packages' metadata.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import pathlib
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness import imports
from harness.agents import fingerprint_of, is_in_memory, target
from harness.errors import ImportPathError, SourceError, one_line
from harness.studies.sources import fingerprint, local_sources

if TYPE_CHECKING:  # type only: study.py does not import this module, but keeps it light to read
    from harness.studies.study import Study

LIBRARIES = ("torch", "stable-baselines3", "gymnasium", "numpy")
"""The packages whose versions are part of every pair's identity."""
PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]
"""The folder holding `custom_agents/` and `harness/` (this file is harness/studies/identity.py): a
user's agent that imports `custom_agents` depends on its files too."""
LEGACY_SETTINGS: dict[str, Any] = {"profile": {"success": "truncated", "max_episode_steps": None}}
"""What a `run.json` written before a setting was recorded ran with: before env profiles, every
run marked success as an episode lasting to the env's own time limit (`RunRecord.identity` reads
it so)."""


@dataclass(frozen=True)
class NeutralEdit:
    """An edit of this project's own agent code that changes no run's result, declared so that the
    runs made before it keep their identity: the code fingerprint reads `file` as it was before
    (`now` replaced by `before`). Only for edits that provably leave every run's files the same;
    `tests/test_identity.py` checks that each is still in its file."""

    file: str
    """Relative to `PROJECT_ROOT`."""
    now: str
    before: str
    why: str


_TENSORBOARD_NAME = (
    "issue 16: `BaseAgent.learn`'s TensorBoard folder is named after the class (SB3's `DQN_1`), not `run_1`; "
    "a run of the harness sets its own logger, so the name is never used there"
)
NEUTRAL_EDITS: tuple[NeutralEdit, ...] = (
    NeutralEdit(
        "custom_agents/base.py",
        "configure_logger(self.verbose, self.tensorboard_log, type(self).__name__, True)",
        'configure_logger(self.verbose, self.tensorboard_log, "run", True)',
        _TENSORBOARD_NAME,
    ),
    NeutralEdit(
        "custom_agents/base.py", "tb_log_name: str | None = None,", 'tb_log_name: str = "run",', _TENSORBOARD_NAME
    ),
    NeutralEdit(
        "custom_agents/base.py",
        "reset_num_timesteps, tb_log_name or type(self).__name__, progress_bar",
        "reset_num_timesteps, tb_log_name, progress_bar",
        _TENSORBOARD_NAME,
    ),
)
"""The neutral edits of this project's agent code, oldest first."""


def as_before_neutral_edits(path: pathlib.Path) -> bytes:
    """A source file's bytes with the `NEUTRAL_EDITS` of it undone (what the fingerprint reads)."""
    data = path.read_bytes()
    try:
        name = path.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return data
    for edit in reversed(NEUTRAL_EDITS):
        if edit.file == name:
            data = data.replace(edit.now.encode(), edit.before.encode())
    return data


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
            **({"stop_below": [[step, value] for step, value in study.stop_below]} if study.stop_below else {}),
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


def code_identity(kind: str, code_dir: pathlib.Path | None) -> dict[str, Any]:
    """What identifies the code of an agent kind: {"source": fingerprint, "files": n} for a class
    whose source is the user's or this project's, {"library": "name version"} for one installed
    from a package, {"unknown": why} when its module cannot be found (the import will say why)."""
    if is_in_memory(kind):  # a class handed over from Python: the fingerprint of its source is in its name
        return {"source": fingerprint_of(kind)}
    class_path = target(kind)
    try:
        origin = imports.local_origin(class_path, code_dir)
        if origin is None:
            module = class_path.split(":")[0]
            spec = importlib.util.find_spec(module)
            if spec is None or spec.origin is None:
                return {"unknown": f"no module {module!r}"}
            path = pathlib.Path(spec.origin).resolve()
            if _installed(path):
                return {"library": _distribution(module)}
            depth = module.count(".") + (1 if path.name == "__init__.py" else 0)
            origin = (path.parents[depth], path)  # the folder holding its top-level package
        root, start = origin
        roots = [root.resolve(), PROJECT_ROOT]
        files = local_sources(start, roots)
        return {"source": fingerprint(files, roots, as_before_neutral_edits), "files": len(files)}
    except (ImportPathError, SourceError, ValueError, ImportError) as error:
        return {"unknown": one_line(error)}


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


@functools.cache
def _site_folders() -> tuple[pathlib.Path, ...]:
    paths = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    return tuple(pathlib.Path(p).resolve() for p in paths)


def _installed(path: pathlib.Path) -> bool:
    """Whether a module file belongs to an installed package (not to this project or the user)."""
    if any(folder in path.parents for folder in _site_folders()):
        return True
    return "site-packages" in path.parts or "dist-packages" in path.parts


def _distribution(module: str) -> str:
    top = module.split(".")[0]
    names = importlib.metadata.packages_distributions().get(top) or [top]
    try:
        return f"{names[0]} {importlib.metadata.version(names[0])}"
    except importlib.metadata.PackageNotFoundError:
        return top


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."
