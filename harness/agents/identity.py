"""The code identity of an agent kind: what identifies the code that runs when a study names it.

    a class of the user's or of this project   {"source": fingerprint of its files, "files": n}
    a class installed from a package            {"library": "name version"}
    a class handed over from Python (in memory) {"source": the fingerprint its kind carries}
                                                (+ "unhashable": what could not be fingerprinted)
    a module found nowhere                      {"unknown": why}

A file's fingerprint covers the module's file and the local files it imports (`sources`), read
without importing anything, so `status` stays light. An in-memory class is fingerprinted from what
runs (`harness.agents.classes`) when it is handed over; its kind carries the result. A pair's
identity (`harness.studies.pair_identity`) holds the code identity of its agent.

"Installed" has one meaning here: a file of a package installed into the interpreter's
site-packages (`is_installed`); such code is identified by its distribution's version, and
everything else (this project, an editable install, the user's files) by its source.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import pathlib
import sysconfig
from dataclasses import dataclass
from typing import Any

from harness import imports
from harness.agents.objects import fingerprint_of, is_in_memory, unhashable_reason
from harness.agents.registry import target
from harness.agents.sources import fingerprint, local_sources
from harness.errors import ImportPathError, SourceError, one_line

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]
"""The folder holding `custom_agents/` and `harness/` (this file is harness/agents/identity.py): a
user's agent that imports `custom_agents` depends on its files too."""


@dataclass(frozen=True)
class NeutralEdit:
    """An edit of this project's own agent code that changes no run's result, declared so that the
    runs made before it keep their identity: the code fingerprint reads `file` as it was before
    (`now` replaced by `before`). Only for edits that provably leave every run's files the same;
    `tests/test_neutral_edits.py` checks that each is still in its file."""

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


@dataclass(frozen=True)
class NeutralRewrite:
    """A rewrite of this project's agent code too large for `NeutralEdit`s that changes no run's
    result: the golden runs of every hand-written built-in kind (`tests/test_golden.py`) are the
    same bit for bit before and after it. The files of a kind as rewritten (fingerprint `now`)
    keep the identity they had before (`before`); any later edit changes `now`, and the
    declaration no longer applies (a user's file that imports `custom_agents` has a fingerprint of
    its own: its runs are made again)."""

    kind: str
    now: str
    before: dict[str, Any]
    why: str


_ISSUE_25 = (
    "issue 25: SB3's DQN surface on the hand-written agents (policy, live hyperparameters, several "
    "envs, Discrete observations, the config, TD helpers and callback wrapping in modules of their "
    "own); the golden runs are unchanged bit for bit"
)
NEUTRAL_REWRITES: tuple[NeutralRewrite, ...] = (
    NeutralRewrite("random", "147cad6a64ddd1e3", {"files": 4, "source": "eff21add4fea6026"}, _ISSUE_25),
    NeutralRewrite("tabular_q", "d96f13286c7cf47e", {"files": 5, "source": "3c33d142df55824e"}, _ISSUE_25),
    NeutralRewrite("tabular_sarsa", "d96f13286c7cf47e", {"files": 5, "source": "3c33d142df55824e"}, _ISSUE_25),
    NeutralRewrite("custom_dqn", "e2d222a4c9b4ca44", {"files": 8, "source": "81e8f56791c25cf3"}, _ISSUE_25),
)
"""The neutral rewrites of this project's agent code, oldest first."""


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


def code_identity(kind: str, code_dir: pathlib.Path | None) -> dict[str, Any]:
    """What identifies the code of an agent kind (see the module docstring). Computed without
    importing the class: its module is found by path and read."""
    if is_in_memory(kind):  # a class handed over from Python: the fingerprint of what runs is in its name
        why = unhashable_reason(kind)
        return {"source": fingerprint_of(kind), **({"unhashable": why} if why else {})}
    class_path = target(kind)
    try:
        origin = imports.local_origin(class_path, code_dir)
        if origin is None:
            module = class_path.split(":")[0]
            spec = importlib.util.find_spec(module)
            if spec is None or spec.origin is None:
                return {"unknown": f"no module {module!r}"}
            if not spec.has_location:  # frozen or built into the interpreter: the standard library's
                return {"library": distribution(module)}
            return module_identity(module, pathlib.Path(spec.origin))
        root, start = origin
        return file_identity(start, root)
    except (ImportPathError, SourceError, ValueError, ImportError) as error:
        return {"unknown": one_line(error)}


def module_identity(module: str, path: pathlib.Path) -> dict[str, Any]:
    """The code identity of module `module`, whose file is `path`: an installed one's distribution
    (`is_installed`: an editable install is not), else its file and the local files it imports,
    read from the folder holding its top-level package."""
    path = path.resolve()
    if is_installed(path):
        return {"library": distribution(module)}
    depth = module.count(".") + (1 if path.name == "__init__.py" else 0)
    return file_identity(path, path.parents[depth])


def file_identity(start: pathlib.Path, root: pathlib.Path) -> dict[str, Any]:
    """The code identity of the module file `start` (its package under `root`): a fingerprint of
    it and of the local files it imports, this project's included."""
    roots = [root.resolve(), PROJECT_ROOT]
    files = local_sources(start, roots)
    source = fingerprint(files, roots, as_before_neutral_edits)
    for rewrite in NEUTRAL_REWRITES:
        if rewrite.now == source:
            return dict(rewrite.before)
    return {"source": source, "files": len(files)}


@functools.cache
def _site_folders() -> tuple[pathlib.Path, ...]:
    paths = {sysconfig.get_paths()[key] for key in ("purelib", "platlib", "stdlib", "platstdlib")}
    return tuple(pathlib.Path(p).resolve() for p in paths)


def is_installed(path: pathlib.Path) -> bool:
    """Whether a module file belongs to a package installed into site-packages, or to the
    standard library (not this project, an editable install or the user's files): its
    distribution's version (or Python's) identifies it."""
    path = pathlib.Path(path).resolve()
    if any(folder in path.parents for folder in _site_folders()):
        return True
    return "site-packages" in path.parts or "dist-packages" in path.parts


def distribution(module: str) -> str:
    """'name version' of the distribution that provides the top-level package of `module` (the
    package's name alone when no distribution says it has it)."""
    top = module.split(".")[0]
    names = _packages().get(top) or [top]
    try:
        return f"{names[0]} {importlib.metadata.version(names[0])}"
    except importlib.metadata.PackageNotFoundError:
        return top


def has_distribution(module: str) -> bool:
    """Whether an installed distribution (an editable install too) provides the top-level package
    of `module`, so that any process of this interpreter imports it by name."""
    return module.split(".")[0] in _packages()


@functools.cache
def _packages() -> dict[str, list[str]]:
    """Top-level package -> the distributions that provide it (read once: it scans every one)."""
    return dict(importlib.metadata.packages_distributions())
