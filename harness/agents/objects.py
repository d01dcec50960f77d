"""Class objects as kinds: an agent class handed over from Python (`study.with_agent(label, cls)`),
defined in a notebook cell, a script's `__main__`, or anywhere.

- A class whose module is a file or an installed package is named by import path, as a study file
  would name it (`"/abs/path/my_agents.py:MyAgent"`, `"package.module:MyAgent"`).
- A class that workers cannot import by name (a notebook's, `__main__`'s) is an **in-memory**
  kind: `"__main__.CartPoleQAgent (in memory, 3c33d142df55824e)"`. The hexadecimal part is a
  fingerprint of its source: the class, the in-memory classes it derives from, the functions and
  classes of the same notebook it refers to, the plain constants (numbers, strings, tuples) it
  reads from the notebook's globals, and the code identity of the files or libraries it derives
  from. A changed cell is a changed kind, so the store retrains that agent only.

An in-memory class travels to the processes that train it by value: `ShippedClass` pickles it
with cloudpickle (code and all), and unpickling it registers it in the receiving process, where
`resolve_kind` then finds it. Unpickling runs code, as any pickle does: it is the caller's own
class, shipped to its own workers.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib.metadata
import importlib.util
import inspect
import pathlib
import re
import sys
import types
from collections.abc import Callable
from typing import Any

import cloudpickle

from harness.errors import KindError

IN_MEMORY = re.compile(r"^(?P<name>[A-Za-z_][\w.<>]*) \(in memory, (?P<fingerprint>[0-9a-f]{16})\)$")
"""The form of an in-memory kind."""
_CLASSES: dict[str, type] = {}
"""In-memory kind -> its class, in this process."""
_PLAIN = (bool, int, float, complex, str, bytes, type(None))


def is_in_memory(kind: str) -> bool:
    """Whether `kind` names a class handed over from Python that no import path reaches."""
    return bool(IN_MEMORY.match(kind))


def fingerprint_of(kind: str) -> str:
    """The source fingerprint an in-memory kind carries."""
    match = IN_MEMORY.match(kind)
    if match is None:
        raise KindError(f"{kind!r} is not an in-memory kind")
    return match.group("fingerprint")


def registered(kind: str) -> type | None:
    """The class of an in-memory kind in this process (None when it was never handed over here)."""
    return _CLASSES.get(kind)


def kind_of(cls: type, code_identity: Callable[[str], dict[str, Any]]) -> str:
    """The kind that names `cls`: an import path when a worker can import it by name, else an
    in-memory kind (registered here). `code_identity(import_path)` gives the identity of a class's
    file or library, for the fingerprint of an in-memory class derived from one."""
    if not isinstance(cls, type):
        raise KindError(f"{cls!r} is not a class; give a class, a built-in kind or an import path")
    path = import_path(cls)
    if path is not None:
        return path
    kind = f"{cls.__module__}.{cls.__qualname__} (in memory, {source_fingerprint(cls, code_identity)})"
    _CLASSES[kind] = cls
    return kind


def import_path(cls: type) -> str | None:
    """`"file.py:Class"` (absolute) or `"package.module:Class"` for a class a worker can import by
    name; None for one of `__main__` (a notebook's, or a script's, which must not run again in a
    worker), a nested class, or a module that is no file."""
    module = sys.modules.get(cls.__module__)
    if cls.__module__ == "__main__" or module is None or "<locals>" in cls.__qualname__:
        return None
    file = getattr(module, "__file__", None)
    if not file or not file.endswith(".py") or _by_name(module, cls.__qualname__) is not cls:
        return None  # not the class its module holds under its name (made by type(), or redefined)
    path = pathlib.Path(file).resolve()
    spec = importlib.util.find_spec(cls.__module__)
    importable = spec is not None and spec.origin is not None and pathlib.Path(spec.origin).resolve() == path
    if importable and _is_installed(cls.__module__, path):
        return f"{cls.__module__}:{cls.__qualname__}"  # an installed package's: importable by name in workers
    return f"{path}:{cls.__qualname__}"  # a user's file: workers import it by path (Ray ships it)


def _by_name(module: types.ModuleType, qualname: str) -> Any:
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def _is_installed(module: str, path: pathlib.Path) -> bool:
    """Whether a module comes from an installed distribution (site-packages, or an editable
    install such as this project's `custom_agents`)."""
    if "site-packages" in path.parts or "dist-packages" in path.parts:
        return True
    return module.split(".")[0] in importlib.metadata.packages_distributions()


def source_fingerprint(cls: type, code_identity: Callable[[str], dict[str, Any]]) -> str:
    """A short hash of what decides an in-memory class's behaviour (see the module docstring)."""
    digest = hashlib.sha256()
    seen: set[int] = set()
    for part in _source_parts(cls, code_identity, seen):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def _source_parts(cls: type, code_identity: Callable[[str], dict[str, Any]], seen: set[int]) -> list[str]:
    parts: list[str] = []
    for klass in cls.__mro__:
        if klass is object or id(klass) in seen:
            continue
        seen.add(id(klass))
        path = import_path(klass)
        if path is not None:  # a file's or a library's class: its code identity
            parts.append(f"{klass.__qualname__}={sorted(code_identity(path).items())}")
            continue
        parts.append(_source(klass))
        for value in vars(klass).values():
            function = getattr(value, "__func__", value)
            if isinstance(function, types.FunctionType):
                parts += _globals_read(function, code_identity, seen)
    return parts


def _globals_read(function: types.FunctionType, code_identity: Callable, seen: set[int]) -> list[str]:
    """The notebook's functions, classes and plain constants a function reads by global name."""
    parts: list[str] = []
    names: set[str] = set()
    codes = [function.__code__]
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    for name in sorted(names):
        if name not in function.__globals__ or hasattr(builtins, name):
            continue
        value = function.__globals__[name]
        if id(value) in seen:
            continue
        if isinstance(value, type) and import_path(value) is None:
            parts += _source_parts(value, code_identity, seen)
        elif isinstance(value, types.FunctionType) and value.__module__ == function.__module__:
            seen.add(id(value))
            parts.append(_source(value))
            parts += _globals_read(value, code_identity, seen)
        elif _is_plain(value):
            parts.append(f"{name}={value!r}")
    return parts


def _is_plain(value: Any, depth: int = 0) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (tuple, list, frozenset)) and depth < 3 and len(value) < 1_000:
        return all(_is_plain(v, depth + 1) for v in value)
    if isinstance(value, dict) and depth < 3 and len(value) < 1_000:
        return all(_is_plain(k, depth + 1) and _is_plain(v, depth + 1) for k, v in value.items())
    return False


def _source(obj: Any) -> str:
    """The source of a class or function (Jupyter keeps cells' sources), else its compiled code."""
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        code = getattr(obj, "__code__", None)
        if code is not None:
            return repr((code.co_code, code.co_consts, code.co_names))
        return repr(sorted(name for name in vars(obj)))


class ShippedClass:
    """An in-memory class that pickles by value (cloudpickle), and registers itself under its kind
    where it is unpickled."""

    def __init__(self, kind: str, cls: type) -> None:
        self.kind = kind
        self.cls = cls

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickled, (self.kind, cloudpickle.dumps(self.cls)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ShippedClass) and (other.kind, other.cls) == (self.kind, self.cls)

    def __hash__(self) -> int:
        return hash(self.kind)

    def __repr__(self) -> str:
        return f"ShippedClass({self.kind!r})"


def _unpickled(kind: str, data: bytes) -> ShippedClass:
    cls = cloudpickle.loads(data)
    _CLASSES.setdefault(kind, cls)
    return ShippedClass(kind, _CLASSES[kind])


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
    return _CLASSES.setdefault(kind, cloudpickle.loads(data))


NOT_HERE = (
    "a class handed over from Python (a notebook's, or a script's __main__) is known only to the process "
    "that handed it over and its workers; run the study from there (harness.study(...).with_agent(...))"
)
