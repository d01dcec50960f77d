"""The files a study leaves, and the rule that nothing half-written is ever taken for a result.

    runs/<study>/study.toml                  the resolved study, as run
    runs/<study>/<label>/seed_<s>/
        events.out.tfevents.*                TensorBoard (written live while training)
        progress.csv                         SB3's CSV log (written live)
        episodes.csv, evals.csv, model.*     written at the end, each to a temporary name, then renamed
        run.json                             written last; "status": "complete" marks the pair done

A pair without a complete `run.json` is cleared and rerun from scratch.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

from harness.schema import ACROSS_SEEDS, RUN_FILE


def env_folder(env_id: str) -> str:
    """An env's folder in a study across envs: its bare id (`module:Id` is `Id`)."""
    return env_id.rsplit(":", 1)[-1]


def pair_key_of(label: str, seed: int, env_id: str | None = None) -> str:
    """A pair's folder within its study's: `label/seed_S`, or `env/label/seed_S` across envs (see
    `env_folder`)."""
    key = f"{label}/seed_{seed}"
    return f"{env_folder(env_id)}/{key}" if env_id is not None else key


def pair_key(study: Any, label: str, seed: int) -> str:
    """`pair_key_of` a pair of `study` (a one-env study, or a single-env view of one across envs)."""
    return pair_key_of(label, seed, study.settings.env_id if study.across_envs else None)


def band_key(study: Any, label: str) -> str:
    """The band run of an agent of `study` (as `pair_key`) within its study's folder: its seeds'
    folder's sibling `across_seeds`."""
    return f"{pair_key(study, label, 0).rsplit('/', 1)[0]}/{ACROSS_SEEDS}"


def top_folders(study: Any) -> list[str]:
    """The top folders of a study's pairs: its agents' labels, or its envs' folders across envs."""
    return [env_folder(env_id) for env_id in study.env_ids] if study.across_envs else list(study.labels)


def pair_dir(runs_dir: str | os.PathLike[str], study: Any, label: str, seed: int) -> pathlib.Path:
    """The run folder of a pair of `study` (see `pair_key`)."""
    return pathlib.Path(runs_dir) / study.name / pair_key(study, label, seed)


def _file_mode() -> int:
    """The mode `open` gives a new file under this process's umask (`mkstemp` gives 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


def write_atomic(path: pathlib.Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename, so that
    `path` holds either its old content or all of the new. The temporary name is the writer's own
    (two processes may write one file at once: the last rename wins, neither fails)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with open(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def json_bytes(data: Mapping[str, Any]) -> bytes:
    """Indented JSON with a final newline."""
    return (json.dumps(data, indent=2, sort_keys=False) + "\n").encode()


def clear_run_dir(path: pathlib.Path) -> None:
    """Remove a run folder's files (an earlier, interrupted attempt) and recreate it empty."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def install_files(path: pathlib.Path, files: Mapping[str, bytes]) -> None:
    """Write a run's files (name -> content) into `path` atomically, `run.json` last: used by
    executors whose workers ran elsewhere."""
    clear_run_dir(path)
    for name, data in files.items():
        if name != RUN_FILE:
            write_atomic(path / name, data)
    if RUN_FILE in files:
        write_atomic(path / RUN_FILE, files[RUN_FILE])


def collect_files(path: pathlib.Path) -> dict[str, bytes]:
    """Every plain file of a run folder, by name (the inverse of `install_files`)."""
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".")}
