"""In-memory kinds: agent classes handed over from Python that no worker can import by name (a
notebook cell's, a script's `__main__`'s), kept in this process under their kind.

    "__main__.CartPoleQAgent (in memory, 3c33d142df55824e)"

The hexadecimal part fingerprints what runs (`harness.agents.classes`). Such a class travels to
the processes that train it by value: `ShippedClass` pickles it with cloudpickle (code and all),
and unpickling it registers it in the receiving process, where `resolve_kind` then finds it.
Unpickling runs code, as any pickle does: it is the caller's own class, shipped to its own workers.
With it travel the names of the notebook cells its code was written in, so that an error in a
worker names `In [5], line 12` rather than a kernel's temporary file.
"""

from __future__ import annotations

import pathlib
import re
import sys
import sysconfig
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

import cloudpickle

from harness.errors import KindError

IN_MEMORY = re.compile(r"^(?P<name>[A-Za-z_][\w.<>]*) \(in memory, (?P<fingerprint>[0-9a-f]{16})\)$")
"""The form of an in-memory kind."""


@dataclass
class _Entry:
    cls: type
    unhashable: str | None = None
    """What of the class could not be fingerprinted (its runs are trained again on every compare)."""
    cells: dict[str, str] = field(default_factory=dict)
    """`code_location` of each of its functions written in a notebook cell -> the cell ('In [5]')."""


_CLASSES: dict[str, _Entry] = {}
"""In-memory kind -> its class, in this process."""
_CELLS: dict[str, str] = {}
"""`code_location` of every function of a shipped class written in a notebook cell -> 'In [n]'."""


def is_in_memory(kind: str) -> bool:
    """Whether `kind` names a class handed over from Python that no import path reaches."""
    return bool(IN_MEMORY.match(kind))


def fingerprint_of(kind: str) -> str:
    """The fingerprint an in-memory kind carries."""
    match = IN_MEMORY.match(kind)
    if match is None:
        raise KindError(f"{kind!r} is not an in-memory kind")
    return match.group("fingerprint")


def register(kind: str, cls: type, unhashable: str | None = None, cells: Mapping[str, str] | None = None) -> None:
    """Keep `cls` under its in-memory kind in this process (the newest class of a kind wins: a cell
    run again with the same code)."""
    _CLASSES[kind] = _Entry(cls, unhashable, dict(cells or {}))
    _CELLS.update(cells or {})


def registered(kind: str) -> type | None:
    """The class of an in-memory kind in this process (None when it was never handed over here)."""
    entry = _CLASSES.get(kind)
    return entry.cls if entry is not None else None


def unhashable_reason(kind: str) -> str | None:
    """What of an in-memory kind's class could not be fingerprinted, when something could not
    (None for a class fully fingerprinted, or one never handed over here)."""
    entry = _CLASSES.get(kind)
    return entry.unhashable if entry is not None else None


def code_location(code: CodeType) -> str:
    """What names a function's code wherever it runs: its qualified name and first line (cloudpickle
    ships a notebook's code under the file name `<dynamic-code>`, keeping both)."""
    return f"{code.co_qualname}:{code.co_firstlineno}"


def cell_name(code: CodeType) -> str | None:
    """'In [5]' for code written in a notebook cell (one of this kernel's cells, or of the kernel a
    shipped class came from), the script's file name for the code of a shipped class of a script's
    `__main__`; None for any other code."""
    return notebook_cells().get(code.co_filename) or _CELLS.get(code_location(code))


def notebook_cells() -> dict[str, str]:
    """The cells of the IPython kernel running this process: their files -> 'In [n]' ({} outside
    IPython). IPython compiles each cell under a file name of its own and keeps the map."""
    ipython_module = sys.modules.get("IPython")
    if ipython_module is None:
        return {}
    shell = ipython_module.get_ipython()
    names = getattr(getattr(shell, "compile", None), "_filename_map", None)
    if not isinstance(names, dict):
        return {}
    return {str(filename): f"In [{number}]" for filename, number in names.items()}


_NOT_USERS = (
    str(pathlib.Path(__file__).resolve().parents[1]),  # the harness (this file is harness/agents/objects.py)
    *{sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")},
)


def where_raised(error: BaseException) -> str | None:
    """Where the user's code raised `error` (or called the library that did): its innermost frame
    that is neither the harness's, a library's nor the standard library's, as 'In [5], line 12, in
    act' for a notebook cell's code (shipped to a worker too) and 'my_agents.py, line 12, in act'
    for a file's; None when no frame is, or when the harness itself raised it (a finding of its own)."""
    frames = list(traceback.walk_tb(error.__traceback__))
    if frames and frames[-1][0].f_code.co_filename.startswith(_NOT_USERS[0]):
        return None  # the harness's own finding (a NaN loss its guard saw): where the agent was says nothing
    for frame, line in reversed(frames):
        code = frame.f_code
        if code.co_filename.startswith(_NOT_USERS) or code.co_filename.startswith("<frozen"):
            continue
        cell = cell_name(code)
        if cell is not None:
            return f"{cell}, line {line}, in {code.co_name}"
        return f"{pathlib.Path(code.co_filename).name}, line {line}, in {code.co_name}"
    return None


class ShippedClass:
    """An in-memory class that pickles by value (cloudpickle), and registers itself under its kind
    where it is unpickled, with the names of the cells it was written in."""

    def __init__(self, kind: str, cls: type) -> None:
        self.kind = kind
        self.cls = cls

    def __reduce__(self) -> tuple[Any, ...]:
        entry = _CLASSES.get(self.kind)
        cells = entry.cells if entry is not None else {}
        return (_unpickled, (self.kind, cloudpickle.dumps(self.cls), cells))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ShippedClass) and (other.kind, other.cls) == (self.kind, self.cls)

    def __hash__(self) -> int:
        return hash(self.kind)

    def __repr__(self) -> str:
        return f"ShippedClass({self.kind!r})"


def _unpickled(kind: str, data: bytes, cells: Mapping[str, str] | None = None) -> ShippedClass:
    if kind not in _CLASSES:
        register(kind, cloudpickle.loads(data), cells=cells)
    else:
        _CELLS.update(cells or {})
    return ShippedClass(kind, _CLASSES[kind].cls)


def shipped(kind: str) -> ShippedClass | None:
    """What a study carries to its workers for `kind`: the class of an in-memory kind, else None."""
    cls = registered(kind)
    return ShippedClass(kind, cls) if cls is not None else None


def class_bytes(kind: str) -> bytes:
    """The class of an in-memory kind, pickled by value: what a run folder keeps of it, so that a
    later process (`harness report`, `harness play`) can load the run's model."""
    cls = registered(kind)
    if cls is None:
        raise KindError(f"{kind!r}: {NOT_HERE}")
    return cloudpickle.dumps(cls)


def register_pickled(kind: str, data: bytes) -> type:
    """Unpickle (running its code, as any pickle) and register the class of an in-memory kind
    that a run folder kept; the class already registered wins."""
    if kind not in _CLASSES:
        register(kind, cloudpickle.loads(data))
    return _CLASSES[kind].cls


NOT_HERE = (
    "a class handed over from Python (a notebook's, or a script's __main__) is known only to the process "
    "that handed it over and its workers: a study naming it (a tuned.toml written from a notebook) runs only "
    "from there (harness.study(...).with_agent(...), harness.tune(...).study); elsewhere, name the class by "
    "import path"
)
