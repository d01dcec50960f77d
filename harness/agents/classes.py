"""Class objects as kinds: an agent class handed over from Python (`study.with_agent(label, cls)`,
`harness.check_agent(cls)`), defined in a notebook cell, a script's `__main__`, or anywhere.

- A class whose module is a file or an installed package is named by import path, as a study file
  would name it (`"/abs/path/my_agents.py:MyAgent"`, `"package.module:MyAgent"`); its code
  identity is its files' or its library's (`harness.agents.identity`), as for any such kind.
- A class that workers cannot import by name (a notebook's, `__main__`'s, one made by `type()`) is
  an **in-memory** kind, `"__main__.CartPoleQAgent (in memory, 3c33d142df55824e)"`, whose
  hexadecimal part fingerprints what runs (`class_fingerprint`):

      the source of each of its methods (properties, static and class methods included), and of
      every in-memory class in its MRO; its class-level values; the functions, classes and
      constants of the notebook's namespace its methods read by global name (recursively); the
      code identity of the files and libraries it derives from or reads (a module, a class of a
      file).

  Never line numbers, a kernel's temporary file names or anything holding a memory address: the
  same source gives the same fingerprint in any kernel and process, any edit another one, and
  building, checking or training the class changes nothing of it. A value it reads that cannot be
  fingerprinted (an env object, a network held by the class) is named in one line, and that
  agent's runs are trained again on every compare rather than reused on a guess.
"""

from __future__ import annotations
import __future__

import builtins
import dis
import functools
import hashlib
import importlib.util
import operator
import pathlib
import sys
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.agents.identity import code_identity, distribution, has_distribution, is_installed, module_identity
from harness.agents.objects import code_location, notebook_cells, register
from harness.errors import KindError

_PLAIN = (bool, int, float, complex, str, bytes, type(None))
_FUTURE_FLAGS = functools.reduce(
    operator.or_, (getattr(__future__, name).compiler_flag for name in __future__.all_feature_names), 0
)
"""`from __future__` flags a code object carries: a notebook that imported one in an earlier cell
compiles the same source with them, and what runs is the same."""
_IGNORED_ATTRIBUTES = frozenset(
    {"__dict__", "__weakref__", "__module__", "__qualname__", "__firstlineno__", "__slotnames__", "_abc_impl"}
)
"""Class attributes that say where a class was written, or cache what Python learnt of it since
(`copy`'s `__slotnames__`, `abc`'s registry), not what it does."""
_STABLE_REPR = {("torch", "device"), ("torch", "dtype"), ("numpy", "dtype")}
"""(module, type name) of objects whose repr says all they are."""
_HOLDERS = ("numpy.", "torch.", "tensorflow.", "jax.")
_REPORTED: set[str] = set()
"""In-memory kinds whose unhashable part was said already in this process (once each)."""


@dataclass(frozen=True)
class Fingerprint:
    """What runs, hashed (`class_fingerprint`)."""

    digest: str
    """16 hexadecimal digits."""
    unhashable: str | None = None
    """What could not be fingerprinted, in words (None when everything could)."""
    cells: Mapping[str, str] = field(default_factory=dict)
    """Where its in-memory code was written, for messages: `code_location(code)` -> 'In [5]' for
    a function written in a notebook cell, the file's name for one of a script's `__main__`
    (cloudpickle ships both under the file name `<dynamic-code>`)."""


def kind_of(cls: type) -> str:
    """The kind that names `cls`: an import path when a worker can import it by name, else an
    in-memory kind (registered here, with the notebook cells its code came from). A class of
    which something cannot be fingerprinted is said so, once, on stderr."""
    if not isinstance(cls, type):
        raise KindError(f"{cls!r} is not a class; give a class, a built-in kind or an import path")
    path = import_path(cls)
    if path is not None:
        return path
    found = class_fingerprint(cls)
    kind = f"{cls.__module__}.{cls.__qualname__} (in memory, {found.digest})"
    register(kind, cls, found.unhashable, found.cells)
    if found.unhashable and kind not in _REPORTED:
        _REPORTED.add(kind)
        print(
            f"harness: {cls.__qualname__} reads {found.unhashable}, which cannot be fingerprinted: its runs are "
            "trained again on every compare (make it a plain constant, or a hyperparameter)",
            file=sys.stderr,
            flush=True,
        )
    return kind


def import_path(obj: type | types.FunctionType) -> str | None:
    """`"file.py:Name"` (absolute) or `"package.module:Name"` for a class or function a worker can
    import by name; None for one of `__main__` (a notebook's, or a script's, which must not run
    again in a worker), a nested one, or one whose module is no Python file."""
    module = sys.modules.get(obj.__module__)
    if obj.__module__ == "__main__" or module is None or "<locals>" in obj.__qualname__:
        return None
    file = getattr(module, "__file__", None)
    if not file or not file.endswith(".py") or _by_name(module, obj.__qualname__) is not obj:
        return None  # not what its module holds under its name (made by type(), or redefined)
    path = pathlib.Path(file).resolve()
    spec = importlib.util.find_spec(obj.__module__)
    importable = spec is not None and spec.origin is not None and pathlib.Path(spec.origin).resolve() == path
    if is_installed(path) or (importable and has_distribution(obj.__module__)):
        # An installed package's, or the standard library's (frozen ones too, such as abc's, whose
        # spec names no file): importable by name in workers.
        return f"{obj.__module__}:{obj.__qualname__}"
    return f"{path}:{obj.__qualname__}"  # a user's file: workers import it by path (Ray ships it)


def _by_name(module: types.ModuleType, qualname: str) -> Any:
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def class_fingerprint(cls: type) -> Fingerprint:
    """A short hash of what runs when an in-memory class runs (see the module docstring)."""
    hasher = _Hasher()
    hasher.klass(cls)
    notebook = notebook_cells()
    cells = {}
    for function in hasher.functions:
        file = function.__code__.co_filename
        written = notebook.get(file) or (pathlib.Path(file).name if not file.startswith("<") else None)
        if written is not None:
            cells[code_location(function.__code__)] = written
    return Fingerprint(hasher.digest.hexdigest()[:16], "; ".join(hasher.unhashable) or None, cells)


class _Hasher:
    """Walks a class and what it reads, feeding one digest; objects met twice are fed once."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.seen: set[int] = set()
        self.unhashable: list[str] = []
        self.functions: list[types.FunctionType] = []
        """The in-memory functions met (the class's methods and what they read)."""

    def feed(self, *parts: object) -> None:
        for part in parts:
            self.digest.update(str(part).encode() + b"\0")

    def klass(self, cls: type) -> None:
        for klass in cls.__mro__:
            if klass is object or self._again(klass, f"class {klass.__qualname__}"):
                continue
            if not _in_memory(klass):
                self.feed("class", klass.__qualname__, self._external(klass))
                continue
            self.feed("class", klass.__qualname__)
            for name, value in sorted(vars(klass).items()):
                if name not in _IGNORED_ATTRIBUTES:
                    self.value(f"{klass.__qualname__}.{name}", value)

    def value(self, name: str, value: Any) -> None:
        """One value a class holds or a function reads, under `name`."""
        self.feed("value", name)
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property):
            for accessor in (value.fget, value.fset, value.fdel):
                self.value(f"{name}.property", accessor)
        elif isinstance(value, functools.partial):
            self.value(f"{name}.func", value.func)
            self.value(f"{name}.args", value.args)
            self.value(f"{name}.keywords", value.keywords)
        elif isinstance(value, types.FunctionType):
            self.function(value)
        elif isinstance(value, type) and _in_memory(value):
            self.klass(value)
        elif isinstance(value, type):
            self.feed(self._external(value))
        elif isinstance(value, types.ModuleType):
            self.feed(self._module(value))
        elif _is_plain(value):
            self.feed(repr(_sorted_sets(value)))
        elif isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType)):
            self.feed(f"{getattr(value, '__module__', None)}.{getattr(value, '__qualname__', value.__name__)}")
        elif (type(value).__module__.split(".")[0], type(value).__name__) in _STABLE_REPR or type(
            value
        ).__module__ == "typing":  # a device, a dtype, a typing construct: its repr says all
            self.feed(repr(value))
        elif type(value).__module__ == "numpy" and hasattr(value, "tobytes"):  # an array, or a numpy scalar
            self.feed(value.dtype, value.shape, hashlib.sha256(value.tobytes()).hexdigest())
        elif callable(value) and getattr(value, "__module__", "").startswith(_HOLDERS):
            self.feed(f"{value.__module__}.{getattr(value, '__qualname__', type(value).__name__)}")  # np.argmax
        else:
            self.unhashable.append(f"`{name.rsplit('.', 1)[-1]}` (a {type(value).__name__})")

    def function(self, function: types.FunctionType) -> None:
        """Its code (without file names or line numbers), defaults, closure and the globals it reads."""
        if self._again(function, f"function {function.__qualname__}"):
            return
        if not _in_memory(function):
            self.feed("function", function.__qualname__, self._external(function))
            return
        self.feed("function", function.__qualname__, _code_text(function.__code__))
        self.functions.append(function)
        self.value(f"{function.__qualname__}.<defaults>", function.__defaults__)
        self.value(f"{function.__qualname__}.<keyword defaults>", function.__kwdefaults__)
        for cell_name, cell in zip(function.__code__.co_freevars, function.__closure__ or ()):
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell: a name assigned later in the enclosing function
                continue
            self.value(f"{function.__qualname__}.<closure>.{cell_name}", contents)
        namespace = function.__globals__
        for global_name in sorted(_global_names(function.__code__)):
            if global_name in namespace:
                self.value(global_name, namespace[global_name])
            elif not hasattr(builtins, global_name):
                self.feed("missing", global_name)  # defining it later is an edit

    def _again(self, obj: object, what: str) -> bool:
        if id(obj) in self.seen:
            self.feed("again", what)
            return True
        self.seen.add(id(obj))
        return False

    @staticmethod
    def _external(obj: type | types.FunctionType) -> str:
        """The code identity of a class or function that lives in a file or a library."""
        path = import_path(obj)
        if path is not None:
            return repr(sorted(code_identity(path, None).items()))
        module = obj.__module__
        return f"{module} ({distribution(module)})"  # a builtin, or an extension module's

    @staticmethod
    def _module(module: types.ModuleType) -> str:
        """A module a function reads by name, by `module_identity`, as an agent's module is."""
        name, file = module.__name__, getattr(module, "__file__", None) or ""
        identity = module_identity(name, pathlib.Path(file)) if file.endswith(".py") else {}
        if "library" in identity or not identity:  # installed, or no Python file (built in, compiled)
            return f"module {name} ({identity.get('library') or distribution(name)})"
        return f"module {name} {sorted(identity.items())}"


def _in_memory(obj: type | types.FunctionType) -> bool:
    """Whether a class or function has no code identity of its own (a notebook's, `__main__`'s,
    a nested or dynamically made one), so that its own code is fingerprinted."""
    module = sys.modules.get(obj.__module__)
    file = getattr(module, "__file__", None)
    if obj.__module__ == "builtins" or (file is not None and not file.endswith(".py")):
        return False  # a builtin, or an extension module's
    return import_path(obj) is None


def _code_text(code: types.CodeType) -> str:
    """What a code object does, without where it was written: its bytecode, names and constants
    (docstrings included; nested functions' and comprehensions' code in turn), no file name and no
    line numbers. The same source compiles to the same text in any process of one Python version;
    a comment or a moved cell changes nothing, any change of what runs changes it."""
    consts = [_code_text(c) if isinstance(c, types.CodeType) else repr(_sorted_sets(c)) for c in code.co_consts]
    return repr(
        (
            code.co_name,
            code.co_code.hex(),
            code.co_names,
            code.co_varnames,
            code.co_freevars,
            code.co_cellvars,
            code.co_argcount,
            code.co_posonlyargcount,
            code.co_kwonlyargcount,
            code.co_flags & ~_FUTURE_FLAGS,
            consts,
        )
    )


def _global_names(code: types.CodeType) -> set[str]:
    """The names a code object (and the functions and comprehensions inside it) reads as globals."""
    names: set[str] = set()
    for inner in _codes(code):
        names.update(
            instruction.argval
            for instruction in dis.get_instructions(inner)
            if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(instruction.argval, str)
        )
    return names


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _is_plain(value: Any, depth: int = 0) -> bool:
    """Numbers, strings and None, and tuples, lists, sets and dicts of them (not too big or deep)."""
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (tuple, list, set, frozenset)) and depth < 4 and len(value) < 10_000:
        return all(_is_plain(v, depth + 1) for v in value)
    if isinstance(value, dict) and depth < 4 and len(value) < 10_000:
        return all(_is_plain(k, depth + 1) and _is_plain(v, depth + 1) for k, v in value.items())
    return False


def _sorted_sets(value: Any) -> Any:
    """A plain value with its sets sorted (a set's order changes between processes)."""
    if isinstance(value, (set, frozenset)):
        return (type(value).__name__, sorted((_sorted_sets(v) for v in value), key=repr))
    if isinstance(value, (tuple, list)):
        return type(value)(_sorted_sets(v) for v in value)
    if isinstance(value, dict):
        return {k: _sorted_sets(v) for k, v in value.items()}
    return value
