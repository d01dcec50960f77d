"""The facts a report's header states about how a study was run, computed from its run records:
wall time, the longest run, the harness's commits, the library versions and the machines.

Computed once here (`study_facts`); the Markdown only formats them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.store import Machine, RunRecord, StudyFiles


@dataclass(frozen=True)
class LongestRun:
    """The complete run that took longest."""

    label: str
    env_id: str
    seed: int
    wall_time_s: float


@dataclass(frozen=True)
class StudyFacts:
    """How a study's complete runs were made."""

    n_pairs: int
    """The study's pairs (agents x seeds x envs)."""
    n_complete: int
    """Of them, those with a complete run counted in the report."""
    wall_time_s: float
    """Summed over the complete runs that recorded it."""
    n_timed: int
    """The complete runs that recorded their wall time."""
    longest: LongestRun | None
    commits: tuple[tuple[str, int], ...]
    """The harness's git commit that made the runs, with how many runs each, most common first."""
    versions: tuple[tuple[Mapping[str, str], int], ...]
    """Distinct library versions (git commit left out) with how many runs each, most common first."""
    machines: tuple[tuple[Machine, int], ...]
    """Distinct machines with how many runs each, most common first."""


def study_facts(files: StudyFiles) -> StudyFacts:
    """The facts of the complete runs of a study's files."""
    records = [pair.run.record for pair in files.pairs if pair.run is not None]
    timed = [record for record in records if record.wall_time_s is not None]
    slowest = max(timed, key=_wall_time, default=None)
    longest = (
        LongestRun(str(slowest.label), str(slowest.env_id), int(slowest.seed or 0), _wall_time(slowest))
        if slowest is not None
        else None
    )
    versions = [{k: v for k, v in (record.versions or {}).items() if k != "git_commit"} for record in records]
    return StudyFacts(
        n_pairs=len(files.pairs),
        n_complete=len(records),
        wall_time_s=sum(_wall_time(record) for record in timed),
        n_timed=len(timed),
        longest=longest,
        commits=_counted([record.git_commit for record in records]),
        versions=_counted(versions),
        machines=_counted([record.machine or Machine() for record in records]),
    )


def _wall_time(record: RunRecord) -> float:
    return float(record.wall_time_s or 0.0)


def _counted(values: Sequence[Any]) -> tuple[tuple[Any, int], ...]:
    """Distinct values with how many times each occurs, most common first (ties in order of first
    appearance)."""
    seen: list[list[Any]] = []
    for value in values:
        for entry in seen:
            if entry[0] == value:
                entry[1] += 1
                break
        else:
            seen.append([value, 1])
    return tuple((value, count) for value, count in sorted(seen, key=lambda entry: -entry[1]))
