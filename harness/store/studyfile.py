"""`runs/<study>/study.toml`: the resolved study, as run, under the command that ran it.

    # The resolved study, as run by: harness compare quick --seeds 0-4
    [study]
    ...

`compare` and `train` write it (`write_study_file`), merged with what the folder recorded before,
so a study run in parts (`--seeds 0-4`, then `--seeds 5-9`) is reported whole; `status`, `prune`
and the report read it back (`read_study_file`).
"""

from __future__ import annotations

import dataclasses
import pathlib
from dataclasses import dataclass

from harness.errors import StoreError, StudyError, one_line
from harness.schema import STUDY_FILE
from harness.store.files import write_atomic
from harness.studies import Study, parse_study, to_toml

COMMAND_PREFIX = "# The resolved study, as run by: "
"""The first line of `study.toml`, before the command line that wrote it."""


@dataclass(frozen=True)
class StudyFile:
    """A runs folder's `study.toml`, read back."""

    study: Study
    command: str
    """The command that wrote it (its first line), or ''."""


def read_study_file(study_dir: pathlib.Path) -> StudyFile:
    """The study recorded in a runs folder; `StoreError` (one line) for a missing folder, a missing
    or unreadable file, or a study that does not parse. Kinds naming files are not checked: the
    run files are what is read, not the code."""
    path = study_dir / STUDY_FILE
    if not study_dir.is_dir():
        raise StoreError(f"{study_dir}: no such folder")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"{path}: missing; is {study_dir} a study's runs folder (RUNS_DIR/STUDY)?") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StoreError(f"{path}: cannot read: {one_line(error)}") from None
    try:
        study = parse_study(text, str(path), check_files=False)
    except StudyError as error:
        raise StoreError(one_line(error)) from None
    first = text.splitlines()[0] if text else ""
    command = first[len(COMMAND_PREFIX) :].strip() if first.startswith(COMMAND_PREFIX) else ""
    return StudyFile(study, command)


def merge_recorded(study: Study, study_dir: pathlib.Path) -> Study:
    """`study` grown by the seeds, agents and declared pairs an earlier `compare` recorded in
    `study_dir` (a study run in parts, e.g. `--seeds 0-4` then `--seeds 5-9`, or `--agents a` then
    `--agents b`, is reported whole)."""
    if not (study_dir / STUDY_FILE).exists():
        return study
    try:
        old = read_study_file(study_dir).study
    except StoreError:
        return study
    if old.env_ids != study.env_ids:
        return study
    agents = study.agents + tuple(spec for spec in old.agents if spec.label not in study.labels)
    seeds = sorted(set(study.settings.seeds) | set(old.settings.seeds))
    paired = list(study.settings.paired) + [pair for pair in old.settings.paired if pair not in study.settings.paired]
    settings = dataclasses.replace(study.settings, paired=tuple(paired))
    return dataclasses.replace(study, settings=settings, agents=agents).select(seeds=seeds)


def write_study_file(study: Study, study_dir: pathlib.Path, command: str) -> None:
    """Write `study.toml`: `study` merged with what the folder recorded before."""
    recorded = merge_recorded(study, study_dir)
    header = f"{COMMAND_PREFIX}{command}\n" if command else ""
    write_atomic(study_dir / STUDY_FILE, (header + to_toml(recorded)).encode())
