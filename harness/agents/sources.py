"""The source files a user's (or a hand-written) agent class is made of, found without running it
(the code identity of `harness.agents.identity` and the code Ray ships are built on it).

Starting from the file of the class's module, every `import` and `from ... import` statement is
read (with `ast`, nothing is executed) and followed when it names a module whose file lies under
one of the given root folders; modules found anywhere else (the standard library, installed
packages) are left out. The parent packages' `__init__.py` files come along, because importing a
module runs them. The result is what must travel with a study to a worker that has none of the
user's files (`code_bundle`) and what a change of code is detected by (`fingerprint`).

Static reading misses an import done by `importlib` or `__import__` at run time, and data files
a module opens; such code is not shipped and not fingerprinted. A package that imports its names
lazily (`custom_agents`) declares them in a module-level dict literal `_EXPORTS = {"Name":
"package.module"}`, which is followed like an import.
"""

from __future__ import annotations

import ast
import hashlib
import pathlib
from collections.abc import Callable, Iterable, Sequence

from harness.errors import SourceError

MAX_FILES = 500
"""More local files than this in one closure is refused: probably a whole project, not an agent."""


def local_sources(start: pathlib.Path, roots: Sequence[pathlib.Path]) -> list[pathlib.Path]:
    """`start` and every .py file under `roots` that it imports, directly or not, sorted.

    start: the file of the class's module; roots: folders whose modules count as local (e.g. the
    folder of a user's file, the study's code folder).
    """
    roots = [root.resolve() for root in roots]
    start = start.resolve()
    found: set[pathlib.Path] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in found:
            continue
        found.add(path)
        if len(found) > MAX_FILES:
            raise SourceError(
                f"{start}: imports more than {MAX_FILES} local files; keep agents in a folder of their own"
            )
        todo += [p for p in _imported_files(path, roots) if p not in found]
        todo += [p for p in _package_inits(path, roots) if p not in found]
    return sorted(found)


def _package_inits(path: pathlib.Path, roots: Sequence[pathlib.Path]) -> list[pathlib.Path]:
    """The `__init__.py` of each package folder between `path` and the root it lies under (importing
    a module runs them)."""
    root = next((r for r in roots if r in path.parents), None)
    if root is None:
        return []
    inits = []
    folder = path.parent
    while folder != root:
        init = folder / "__init__.py"
        if init.is_file():
            inits.append(init)
        folder = folder.parent
    return inits


def fingerprint(
    files: Iterable[pathlib.Path],
    roots: Sequence[pathlib.Path] = (),
    content: Callable[[pathlib.Path], bytes] = pathlib.Path.read_bytes,
) -> str:
    """A short hash of the files' contents and their names (relative to the first of `roots` that
    holds them, else the file name): the same code gives the same fingerprint wherever it lives.
    `content` reads a file (by default its bytes as they are)."""
    digest = hashlib.sha256()
    named = []
    for path in files:
        root = next((r for r in roots if r in path.parents), None)
        named.append((path.relative_to(root).as_posix() if root is not None else path.name, path))
    for name, path in sorted(named):
        digest.update(name.encode() + b"\0" + content(path) + b"\0")
    return digest.hexdigest()[:16]


def _imported_files(path: pathlib.Path, roots: Sequence[pathlib.Path]) -> list[pathlib.Path]:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return []  # importing it fails with a better message than this could give
    names: list[str] = []
    relative: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = [alias.name for alias in node.names if alias.name != "*"]
            if node.level:
                relative.append((node.level, node.module or "", parts))
            elif node.module:
                names.append(node.module)
                names += [f"{node.module}.{part}" for part in parts]  # `from pkg import submodule`
                for root in _roots_for(path, roots):  # `from pkg import Name`, exported lazily
                    init = root.joinpath(*node.module.split("."), "__init__.py")
                    exports = _lazy_exports(init)
                    names += [exports[part] for part in parts if part in exports]
    files: list[pathlib.Path] = []
    for name in names:
        for root in _roots_for(path, roots):
            files += _module_files(root, name.split("."))
    for level, module, parts in relative:
        base = path.parent
        for _ in range(level - 1):
            base = base.parent
        dotted = module.split(".") if module else []
        files += _module_files(base, dotted, parents=False)
        files += [f for part in parts for f in _module_files(base, [*dotted, part], parents=False)]
    return files


def _lazy_exports(init: pathlib.Path) -> dict[str, str]:
    """A package's lazily imported names: its `__init__.py`'s module-level `_EXPORTS = {"Name":
    "package.module", ...}` (a dict literal of strings), {} when it has none."""
    if not init.is_file():
        return {}
    try:
        tree = ast.parse(init.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return {}
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in targets) and node.value is not None:
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                return {}
            if isinstance(value, dict):
                return {str(k): str(v) for k, v in value.items()}
    return {}


def _roots_for(path: pathlib.Path, roots: Sequence[pathlib.Path]) -> list[pathlib.Path]:
    """The roots an absolute import in `path` is looked up in: the given roots plus the folder of a
    top-level script (a file imported by path has its own folder first on sys.path)."""
    return [*roots, path.parent] if path.parent not in roots else list(roots)


def _module_files(root: pathlib.Path, parts: list[str], parents: bool = True) -> list[pathlib.Path]:
    """The files under `root` that importing the dotted module `parts` runs: each parent
    package's `__init__.py` (with `parents`) and the module's own file; [] if it is not there."""
    if not parts:
        init = root / "__init__.py"
        return [init] if init.is_file() else []
    files: list[pathlib.Path] = []
    folder = root
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        module, package = folder / f"{part}.py", folder / part / "__init__.py"
        if last:
            if module.is_file():
                files.append(module)
            elif package.is_file():
                files.append(package)
            elif not (folder / part).is_dir():
                return []
        else:
            if not (folder / part).is_dir():
                return []
            if package.is_file() and parents:
                files.append(package)
            folder = folder / part
    return [f.resolve() for f in files]
