"""The command line's options on a study, parsed once for the CLI and the Python API alike:
seeds ("0-4", "0,3,7"), agent labels ("a,b"), and a study narrowed to them."""

from __future__ import annotations

from collections.abc import Sequence

from harness.errors import StudyError
from harness.studies.study import Study


def parse_seeds(text: str) -> list[int]:
    """'0-4' -> [0..4], '0,3,7' -> [0, 3, 7], '0-2,5' -> [0, 1, 2, 5]; `ValueError` (one line)
    for anything else, or seeds that repeat or are negative."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                low, high = (int(x) for x in part.split("-", 1))
                if low > high:
                    raise ValueError
                seeds += range(low, high + 1)
            else:
                seeds.append(int(part))
    except ValueError:
        raise ValueError(f"invalid seeds {text!r}; e.g. 0-4 or 0,3,7") from None
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"invalid seeds {text!r}: they must be distinct and >= 0")
    return seeds


def parse_labels(text: str) -> list[str]:
    """'a,b' -> ['a', 'b']; `ValueError` when it names none."""
    labels = [t.strip() for t in text.split(",") if t.strip()]
    if not labels:
        raise ValueError("give at least one agent label")
    return labels


def with_options(
    study: Study,
    total_timesteps: int | None = None,
    agents: str | Sequence[str] | None = None,
    seeds: str | Sequence[int] | None = None,
) -> Study:
    """`study` with the command line's options applied: another budget, only some agents (a
    list or "a,b") and seeds (a list or "0-4" / "0,3,7"); `StudyError` for bad ones."""
    if isinstance(agents, str):
        try:
            agents = parse_labels(agents)
        except ValueError as error:
            raise StudyError(f"agents: {error}") from None
    if seeds is not None and study.decide is not None:
        raise StudyError(
            f"{study.source}: decide: the study adds seeds in rounds of its own (seeds_per_round); drop --seeds"
        )
    if isinstance(seeds, str):
        try:
            seeds = parse_seeds(seeds)
        except ValueError as error:
            raise StudyError(f"seeds: {error}") from None
    if total_timesteps is not None:
        study = study.replace(total_timesteps=total_timesteps)
    if agents is not None or seeds is not None:
        study = study.select(labels=agents, seeds=seeds)
    return study
