"""The report's cache: figures kept in `runs/<study>/.cache/` under a key made of everything they
are computed from, so that a report rebuilt after one agent changed recomputes only what that
agent's runs enter (its bootstrap intervals, its episode video) and reads the rest back.

A cached value is the computed one to the last bit (floats are stored in Python's shortest
round-trip form), so a report built from the cache is the report built from scratch. Deleting the
folder (or `harness prune`) only costs time.

    cache = Cache.of_study(study_dir)        # runs/<study>/.cache
    estimate = cache.numbers("iqm", [scores], random_state, reps, lambda: [...floats...])
    cache.save()
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from harness.store.files import write_atomic

CACHE_FOLDER = ".cache"
"""The cache's folder in a study's runs folder."""
NUMBERS_FILE = "numbers.json"
MEDIA = "media"


class Cache:
    """A folder of cached figures (None: nothing is cached)."""

    def __init__(self, folder: pathlib.Path | None) -> None:
        self.folder = folder
        self._numbers: dict[str, Any] = {}
        self._used: set[str] = set()
        self._dirty = False
        if folder is not None and (folder / NUMBERS_FILE).is_file():
            try:
                self._numbers = json.loads((folder / NUMBERS_FILE).read_text())
            except (OSError, ValueError):  # a corrupt cache is an empty one
                self._numbers = {}

    @classmethod
    def of_study(cls, study_dir: pathlib.Path) -> Cache:
        """The cache of the study in `study_dir` (RUNS_DIR/STUDY): its `.cache` folder."""
        return cls(pathlib.Path(study_dir) / CACHE_FOLDER)

    def numbers(self, name: str, arrays: Sequence[Any], *params: Any, compute: Callable[[], Any]) -> Any:
        """The value of `compute()` (nested lists of floats), computed once for `name`, the
        contents of `arrays` and `params` (random state, resamples, ...)."""
        key = key_of(name, arrays, params)
        self._used.add(key)
        if key in self._numbers:
            return self._numbers[key]
        value = compute()
        self._numbers[key] = value
        self._dirty = True
        return value

    def save(self) -> None:
        """Keep what this report computed or used (entries of runs no longer reported go)."""
        if self.folder is None:
            return
        if self._dirty or set(self._numbers) != self._used:
            kept = {key: value for key, value in self._numbers.items() if key in self._used}
            text = json.dumps(kept, separators=(",", ":"))
            write_atomic(self.folder / NUMBERS_FILE, text.encode())

    def media(self, key: str) -> pathlib.Path | None:
        """The folder of a cached rendering, or None when there is no cache or none is kept."""
        if self.folder is None:
            return None
        folder = self.folder / MEDIA / key
        return folder if (folder / "done.json").is_file() else None

    def keep_media(self, key: str, files: Mapping[str, pathlib.Path], facts: dict[str, Any]) -> None:
        """Keep copies of a rendering's files (name in the cache -> file) and the facts about it
        (e.g. the episode's return)."""
        if self.folder is None:
            return
        folder = self.folder / MEDIA / key
        folder.mkdir(parents=True, exist_ok=True)
        for name, file in files.items():
            shutil.copyfile(file, folder / name)
        write_atomic(folder / "done.json", json.dumps(facts).encode())  # last: marks it whole


def key_of(name: str, arrays: Sequence[Any], params: Sequence[Any]) -> str:
    """A hash of a computation's name, inputs (arrays by dtype, shape and bytes) and parameters."""
    digest = hashlib.sha256(name.encode())
    for array in arrays:
        a = np.ascontiguousarray(np.asarray(array, dtype=np.float64))
        digest.update(repr(a.shape).encode() + b"\0" + a.tobytes())
    digest.update(json.dumps(list(params), default=str).encode())
    return digest.hexdigest()[:24]


def file_key(*parts: Any, files: Sequence[pathlib.Path] = ()) -> str:
    """A hash of `parts` and the contents of `files` (e.g. a saved model)."""
    digest = hashlib.sha256(json.dumps(list(parts), default=str, sort_keys=True).encode())
    for file in files:
        digest.update(file.read_bytes())
    return digest.hexdigest()[:24]
