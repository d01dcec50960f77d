"""A study's runs folder as a store: one writer at a time, each pair's current run in its slot,
superseded runs set aside by identity, nothing complete deleted but on request.

    runs/<study>/
        study.toml                        the resolved study, as last run
        .lock                             who holds the folder (`lock`)
        [<env_id>/]<label>/seed_<s>/      a pair's slot: its current run
        .superseded/[<env_id>/]<label>/seed_<s>/<identity hash>/
                                          earlier complete runs of the pair, kept by identity
        .cache/                           the report's cache (`cache.py`)

A run is *complete* when its slot holds a `run.json` with status complete (written last, see
`harness.store.files`). When the pair's identity (`harness.studies.identity`) changes, `compare` moves the
complete run out of the slot into `.superseded/` under the hash of the identity it was made with;
when the identity becomes that again, it moves it back: the very same files, no training. Each
move is one `rename` of a whole folder, so a process killed at any moment leaves every run either
in its slot or set aside, never half of it. A slot whose `run.json` is missing, truncated or
corrupt holds no run (it is cleared before the pair runs again).

Only `fresh` (the pairs asked for) and `prune` (what no current setting refers to) delete
complete runs.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import pathlib
import shutil
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from harness.agents import code_identity
from harness.errors import StoreBusy, StoreError, one_line
from harness.schema import RUN_FILE
from harness.store.cache import CACHE_FOLDER
from harness.store.files import pair_dir
from harness.store.record import RunRecord, read_record
from harness.store.studyfile import read_study_file
from harness.studies import TUNE_FOLDER, Study, changed, identity_hash, pair_identity

LOCK_FILE = ".lock"
SUPERSEDED = ".superseded"


@dataclass(frozen=True)
class SlotState:
    """What a pair's slot holds, measured against the identity the pair has now."""

    status: str
    """complete (its run has this identity), stale (a complete run of another identity), failed
    (a failed run of this identity), incomplete (a run.json missing, truncated or corrupt: no
    run), missing (no folder)."""
    path: pathlib.Path
    record: RunRecord | None = None
    why: str = ""
    """For stale: what changed; for failed: the error; for incomplete: what is wrong."""


def slot_state(path: pathlib.Path, identity: Mapping[str, Any]) -> SlotState:
    """The state of the slot at `path` for a pair whose identity is now `identity`."""
    if not path.is_dir():
        return SlotState("missing", path)
    if not (path / RUN_FILE).exists():
        return SlotState("incomplete", path, why=f"no {RUN_FILE} (interrupted, or running)")
    record = read_record(path)
    if record is None or not (record.complete or record.failed):
        return SlotState("incomplete", path, why=f"{RUN_FILE} is truncated or corrupt")
    difference = changed(record.identity(), identity)
    if record.failed:
        if difference is None:
            return SlotState("failed", path, record, one_line(record.error or "failed"))
        return SlotState("incomplete", path, record, f"a failed run of other settings ({difference})")
    if difference is not None:
        return SlotState("stale", path, record, difference)
    return SlotState("complete", path, record)


class StudyStore:
    """The runs folder of one study (RUNS_DIR/STUDY)."""

    def __init__(self, study_dir: pathlib.Path) -> None:
        self.study_dir = pathlib.Path(study_dir)

    # -- one writer ------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, holder: str, exclusive: bool = True) -> Iterator[None]:
        """Hold the folder for the block: exclusively to write (compare, train, prune), shared
        to read (report), with `fcntl.flock`, released when the process ends however it ends.
        `StoreBusy` (one line naming the holder) at once when another process holds it."""
        self.study_dir.mkdir(parents=True, exist_ok=True)
        path = self.study_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreBusy(
                    f"{self.study_dir}: in use by {_holder(path)}; wait for it to end or use another --runs-dir"
                ) from None
            note = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "command": holder,
            }
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(note) + "\n").encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock

    # -- slots and set-aside runs -------------------------------------------------------------

    def superseded_dir(self, slot: pathlib.Path) -> pathlib.Path:
        """Where the set-aside runs of the pair whose slot is `slot` live."""
        return self.study_dir / SUPERSEDED / slot.relative_to(self.study_dir)

    def set_aside(self, state: SlotState) -> pathlib.Path:
        """Move a stale slot's complete run to `.superseded/`, under the hash of the identity it
        was made with (one rename). Returns where it went."""
        assert state.record is not None
        name = identity_hash(state.record.identity())
        target = self.superseded_dir(state.path) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        n = 1
        while target.exists():  # the same identity set aside before: keep both
            n += 1
            target = target.with_name(f"{name}.{n}")
        os.rename(state.path, target)
        return target

    def restore(self, slot: pathlib.Path, identity: Mapping[str, Any]) -> bool:
        """Move a set-aside complete run of `identity` back into the (empty or cleared) slot (one
        rename); False when there is none."""
        folder = self.superseded_dir(slot)
        name = identity_hash(identity)
        for candidate in sorted(folder.glob(f"{name}*")) if folder.is_dir() else []:
            record = read_record(candidate)
            if record is None or not record.complete or changed(record.identity(), identity) is not None:
                continue
            clear(slot)
            slot.parent.mkdir(parents=True, exist_ok=True)
            os.rename(candidate, slot)
            return True
        return False

    def superseded_runs(self) -> list[pathlib.Path]:
        """Every set-aside run folder."""
        root = self.study_dir / SUPERSEDED
        return sorted(path.parent for path in root.rglob(RUN_FILE)) if root.is_dir() else []

    def slot_folders(self) -> list[pathlib.Path]:
        """Every folder of the study that looks like a pair's slot (`.../seed_<s>`)."""
        return sorted(
            path
            for path in self.study_dir.rglob("seed_*")
            if path.is_dir()
            and not any(part.startswith(".") for part in path.relative_to(self.study_dir).parts)
            and path.relative_to(self.study_dir).parts[0] != TUNE_FOLDER  # harness tune's, kept by it
        )


def clear(slot: pathlib.Path) -> None:
    """Remove a slot that holds no complete run (an interrupted or corrupt attempt)."""
    if slot.exists():
        shutil.rmtree(slot)


def size_of(path: pathlib.Path) -> int:
    """Bytes of the files under `path`."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _holder(path: pathlib.Path) -> str:
    try:
        note = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        note = {}
    if not note:
        return "another process"
    return f"pid {note.get('pid')} on {note.get('host')} since {note.get('since')} ({note.get('command') or 'harness'})"


# -- status and prune ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PairStatus:
    """One pair of the study as `harness status` shows it."""

    env_id: str
    label: str
    seed: int
    status: str
    """complete, missing or stale, or failed, incomplete (see `SlotState`)."""
    why: str
    """What changed (stale), the error (failed), what is wrong (incomplete)."""
    set_aside: int
    """Runs of this pair kept in `.superseded/`."""


def study_status(study_dir: pathlib.Path, study: Study | None = None) -> list[PairStatus]:
    """Each pair of the study recorded in `study_dir` (or of `study`, a resolved study, e.g. the
    file a `compare` would run) against the identity it has now (the settings, the agent's code
    as it is now, the library versions installed)."""
    if not study_dir.is_dir():
        raise StoreError(f"{study_dir}: no such folder")
    study = study if study is not None else read_study_file(study_dir).study
    store = StudyStore(study_dir)
    rows = []
    for view in study.split():
        codes = {spec.label: code_identity(spec.kind, view.code_dir) for spec in view.agents}
        for label in view.labels:
            for seed in sorted(view.settings.seeds):
                slot = pair_dir(study_dir.parent, view, label, seed)
                state = slot_state(slot, pair_identity(view, label, seed, codes[label]))
                aside = store.superseded_dir(slot)
                n_aside = len([p for p in aside.iterdir() if p.is_dir()]) if aside.is_dir() else 0
                rows.append(PairStatus(view.env_id, label, seed, state.status, state.why, n_aside))
    return rows


def prune(study_dir: pathlib.Path) -> tuple[list[pathlib.Path], int]:
    """Delete what no current setting of the study refers to: runs set aside whose identity is
    not the pair's now, slots holding a stale, interrupted or corrupt run, and folders of agents,
    seeds or envs the study no longer has. Returns (what was deleted, bytes freed). Call with the
    store held."""
    study = read_study_file(study_dir).study
    store = StudyStore(study_dir)
    keep: set[pathlib.Path] = set()
    removed: list[pathlib.Path] = []
    for view in study.split():
        codes = {spec.label: code_identity(spec.kind, view.code_dir) for spec in view.agents}
        for label in view.labels:
            for seed in view.settings.seeds:
                slot = pair_dir(study_dir.parent, view, label, seed)
                wanted = pair_identity(view, label, seed, codes[label])
                state = slot_state(slot, wanted)
                if state.status in ("complete", "failed"):
                    keep.add(slot)
                aside = store.superseded_dir(slot)
                for run in sorted(aside.iterdir()) if aside.is_dir() else []:
                    record = read_record(run)
                    if record is not None and record.complete and changed(record.identity(), wanted) is None:
                        keep.add(run)
    for path in [*store.slot_folders(), *store.superseded_runs()]:
        if path not in keep:
            removed.append(path)
    freed = 0
    for path in removed:
        freed += size_of(path)
        shutil.rmtree(path, ignore_errors=True)
    _remove_empty_folders(study_dir)
    return removed, freed


def _remove_empty_folders(study_dir: pathlib.Path) -> None:
    """Every empty folder of the study, but the report's cache (not the links of its views)."""
    folders = (p for p in study_dir.rglob("*") if p.is_dir() and not p.is_symlink())
    for folder in sorted(folders, key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()) and folder.name != CACHE_FOLDER:
            folder.rmdir()
