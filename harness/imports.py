"""Import paths: the strings a study uses to name Python objects, turned into objects by import.

    "package.module:Class"      a module importable from the study's code folder or `sys.path`
    "path/to/file.py:Class"     a file, relative to the study's code folder (or absolute)

A string is only ever imported, never `eval`'d. A file is imported the way Python runs a script
next to it: its folder goes first on `sys.path` and the file is imported under its own name (so
`my_agents.py` is the module `my_agents`, sibling files import each other, and pickles of its
classes name `my_agents.Class`). A name that an already imported module of another file holds
(e.g. a file called `random.py`) is refused rather than shadowed.

Every failure raises `ImportPathError` with one line: what was asked for and why it failed.

Where code was shipped to another machine (a Ray worker), `shipped_roots` maps the folders it
came from to the folders it was unpacked in; the same study strings then import the copies.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import keyword
import os
import pathlib
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from types import ModuleType
from typing import Any

from harness.errors import ImportPathError, one_line

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_ROOTS: dict[pathlib.Path, pathlib.Path] = {}
"""Original folder -> where its shipped copy lives, in this process (see `shipped_roots`)."""


def split(text: str) -> tuple[str, str]:
    """("target", "Name") of "target:Name"; `ImportPathError` unless the form is right.

    target: a dotted module name or a path ending in `.py`; Name: an attribute, dots allowed
    (`Outer.Inner`).
    """
    if not isinstance(text, str) or text.count(":") != 1:
        raise ImportPathError(f"{text!r} is not an import path; write 'package.module:Name' or 'path/to/file.py:Name'")
    target, name = text.split(":")
    if not _MODULE.match(name) or any(keyword.iskeyword(part) for part in name.split(".")):
        raise ImportPathError(f"{text!r}: {name!r} is not a Python name")
    if is_file(target):
        if not target.endswith(".py"):
            raise ImportPathError(f"{text!r}: a file path must end in .py")
    elif not _MODULE.match(target):
        raise ImportPathError(f"{text!r}: {target!r} is neither a module name (a.b.c) nor a path to a .py file")
    return target, name


def is_file(target: str) -> bool:
    """Whether an import path's target is a file path (it has a slash or ends in .py)."""
    return "/" in target or os.sep in target or target.endswith(".py")


def file_of(text: str, code_dir: pathlib.Path | None) -> pathlib.Path | None:
    """The absolute file an import path names (None for a module name); `ImportPathError` when it
    is relative and there is no code folder."""
    target, _ = split(text)
    if not is_file(target):
        return None
    path = pathlib.Path(target).expanduser()
    if not path.is_absolute():
        if code_dir is None:
            raise ImportPathError(f"{text!r}: a relative file path needs a study file (give an absolute path)")
        path = code_dir / path
    return _remap(path)


def import_object(text: str, code_dir: pathlib.Path | None = None) -> Any:
    """The object an import path names; `ImportPathError` (one line) when it cannot be had."""
    target, name = split(text)
    if is_file(target):
        path = file_of(text, code_dir)
        assert path is not None
        module = import_file(path)
    else:
        module = import_module(target, code_dir)
    obj: Any = module
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            where = module.__file__ or module.__name__
            raise ImportPathError(f"{text!r}: {target} has no {name!r} (looked in {where})") from None
    return obj


def import_file(path: pathlib.Path) -> ModuleType:
    """Import a .py file as a script's neighbour would: its folder first on `sys.path`, then the
    module of its name."""
    if not path.is_file():
        raise ImportPathError(f"{path}: no such file")
    name = path.stem
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ImportPathError(f"{path}: the file name must be a Python module name (letters, digits, '_')")
    loaded = sys.modules.get(name)
    if loaded is not None:
        if _same_file(getattr(loaded, "__file__", None), path):
            return loaded
        where = getattr(loaded, "__file__", None) or "built in"
        raise ImportPathError(f"{path}: the module name {name!r} is taken by {where}; rename the file")
    _put_first_on_path(path.parent)
    module = _import(name, str(path))
    if not _same_file(getattr(module, "__file__", None), path):
        raise ImportPathError(f"{path}: the module name {name!r} is taken by {module.__file__}; rename the file")
    return module


def import_module(name: str, code_dir: pathlib.Path | None = None) -> ModuleType:
    """Import a module by name, from the code folder first (when it holds the module's top-level
    package) and otherwise from `sys.path`."""
    if code_dir is not None:
        folder = _remap(code_dir)
        top = name.split(".")[0]
        if (folder / f"{top}.py").is_file() or (folder / top).is_dir():
            loaded = sys.modules.get(top)
            if loaded is not None and not _comes_from(loaded, folder):
                where = getattr(loaded, "__file__", None) or list(getattr(loaded, "__path__", [])) or "built in"
                raise ImportPathError(f"{name}: the module name {top!r} is taken by {where}; rename it in {folder}")
            _put_first_on_path(folder)
    return _import(name, name, code_dir)


def _comes_from(module: ModuleType, folder: pathlib.Path) -> bool:
    """Whether an imported top-level module (or package) was loaded from `folder`."""
    places = [getattr(module, "__file__", None), *list(getattr(module, "__path__", []))]
    return any(place and folder in pathlib.Path(place).resolve().parents for place in places)


def _import(name: str, shown: str, code_dir: pathlib.Path | None = None) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is not None and (name == error.name or name.startswith(error.name + ".")):
            where = f"{code_dir} or sys.path" if code_dir is not None else "sys.path"
            raise ImportPathError(f"{shown}: no module named {error.name!r} (looked in {where})") from None
        raise ImportPathError(f"{shown}: does not import: {one_line(error, with_type=True)}") from None
    except (Exception, SystemExit) as error:  # the module's own code failed (or exited): say how
        raise ImportPathError(f"{shown}: does not import: {one_line(error, with_type=True)}") from None


def local_origin(text: str, code_dir: pathlib.Path | None) -> tuple[pathlib.Path, pathlib.Path] | None:
    """(root folder, module file) of an import path whose code is the user's own: a file (root: its
    folder) or a module found in the code folder (root: the code folder). None for a module that
    comes from `sys.path` (an installed package)."""
    target, _ = split(text)
    if is_file(target):
        path = file_of(text, code_dir)
        assert path is not None
        return path.parent, path
    if code_dir is None:
        return None
    folder = _remap(code_dir)
    parts = target.split(".")
    if not ((folder / f"{parts[0]}.py").is_file() or (folder / parts[0]).is_dir()):
        return None
    base = folder.joinpath(*parts)
    for candidate in (base.parent / f"{parts[-1]}.py", base / "__init__.py"):
        if candidate.is_file():
            return folder, candidate
    return None


@contextlib.contextmanager
def shipped_roots(mapping: Mapping[pathlib.Path, pathlib.Path]) -> Iterator[None]:
    """Within the block, files and code folders under an original folder (a key) are taken from
    its shipped copy (the value)."""
    saved = dict(_ROOTS)
    _ROOTS.update({pathlib.Path(k).resolve(): pathlib.Path(v) for k, v in mapping.items()})
    try:
        yield
    finally:
        _ROOTS.clear()
        _ROOTS.update(saved)


def original(path: str | pathlib.Path) -> pathlib.Path:
    """The file a shipped copy was made from (`path` itself when it is no copy)."""
    path = pathlib.Path(path).resolve()
    for source, copy in _ROOTS.items():
        copy = copy.resolve()
        if path == copy or copy in path.parents:
            return source / path.relative_to(copy)
    return path


def _remap(path: pathlib.Path) -> pathlib.Path:
    """The absolute, resolved `path`, or its shipped copy (see `shipped_roots`)."""
    path = path.resolve()
    for original, copy in sorted(_ROOTS.items(), key=lambda item: -len(item[0].parts)):
        if path == original or original in path.parents:
            return copy / path.relative_to(original)
    return path


def _put_first_on_path(folder: pathlib.Path) -> None:
    text = str(folder)
    if text in sys.path:
        sys.path.remove(text)
    sys.path.insert(0, text)
    importlib.invalidate_caches()


def _same_file(file: str | None, path: pathlib.Path) -> bool:
    if not file:
        return False
    try:
        return os.path.samefile(file, path)
    except OSError:
        return False


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for a package whose `__init__` exports some names without
    importing their modules until first use (PEP 562): `exports` maps a name to the module that
    defines it (or a submodule's own name to itself: the module is the name). A package uses this
    only for modules that import torch, SB3, Ray or TensorBoard, so that a light command never
    loads them."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            module = importlib.import_module(exports[name])
            return module if exports[name] == f"{package}.{name}" else getattr(module, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted([*vars(sys.modules[package]), *exports])

    return __getattr__, __dir__
