"""The harness's architecture, checked (docs/design.md, "The layers"):

- imports point down the layers, and `custom_agents` imports nothing of the harness
  (import-linter's contracts in pyproject.toml, the same check `make lint` runs);
- each subpackage's `__init__` is the only way in from outside it, for tests and benchmarks too,
  and what is taken through it is in its `__all__`;
- no module imports another module's `_private` name;
- a deferred import (inside a function) and a `TYPE_CHECKING` block say why in a comment.
"""

from __future__ import annotations

import ast
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
HARNESS = ROOT / "harness"
SUBPACKAGES = sorted(path.parent.name for path in HARNESS.glob("*/__init__.py"))
CHECKED = sorted(
    [
        *HARNESS.rglob("*.py"),
        *(ROOT / "custom_agents").glob("*.py"),
        *(ROOT / "tests").glob("*.py"),
        *(ROOT / "benchmarks").glob("*.py"),
        *(ROOT / "examples").glob("*.py"),
    ]
)


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: pathlib.Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of each import statement; names empty for `import module`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module, [alias.name for alias in node.names]))
    return found


def door_violations(path: pathlib.Path) -> list[str]:
    """Imports of `path` that go into a subpackage other than through its `__init__`, or take
    through it a name it does not export."""
    importer = module_name(path)
    problems = []
    for line, module, names in imports_of(path):
        parts = module.split(".")
        if parts[0] != "harness" or len(parts) < 2 or parts[1] not in SUBPACKAGES:
            if module == "harness" and importer != "harness":
                exported = {*importlib.import_module("harness").__all__, *SUBPACKAGES, "errors", "imports", "schema"}
                problems += [f"{path.name}:{line}: harness.{n} is not exported" for n in names if n not in exported]
            continue
        package = ".".join(parts[:2])
        inside = importer == package or importer.startswith(package + ".")
        if inside:
            continue
        if len(parts) > 2:
            problems.append(f"{path.name}:{line}: imports {module}: go through {package}")
            continue
        exported = set(importlib.import_module(package).__all__)
        problems += [f"{path.name}:{line}: {package}.{n} is not in its __all__" for n in names if n not in exported]
    return problems


def private_imports(path: pathlib.Path) -> list[str]:
    return [
        f"{path.name}:{line}: imports {module}.{name}"
        for line, module, names in imports_of(path)
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]


def silent_deferred_imports(path: pathlib.Path) -> list[str]:
    """Imports inside functions, and `if TYPE_CHECKING:` blocks, without a comment on their line
    or the line above saying why."""
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines))

    def explained(lineno: int) -> bool:
        """A comment on the line, or on the line that opens the block of imports it belongs to."""
        i = lineno - 1
        while i >= 0 and lines[i].strip().startswith(("import ", "from ")):
            if "#" in lines[i]:
                return True
            i -= 1
        return "#" in lines[lineno - 1] or (i >= 0 and "#" in lines[i])

    problems = []
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)) and not explained(node.lineno):
                    problems.append(f"{path.name}:{node.lineno}: a deferred import without a comment")
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING") and not explained(node.lineno):
            problems.append(f"{path.name}:{node.lineno}: a TYPE_CHECKING block without a comment")
    return problems


def test_the_layers_contract_holds():
    from importlinter.cli import lint_imports

    assert lint_imports(str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def test_every_subpackage_has_a_door_with_all():
    assert SUBPACKAGES == ["agents", "analysis", "conditions", "execution", "experiments", "report", "store", "studies"]
    for name in SUBPACKAGES:
        package = importlib.import_module(f"harness.{name}")
        assert package.__doc__, name
        missing = [export for export in package.__all__ if not hasattr(package, export)]
        assert missing == [], (name, missing)


@pytest.mark.parametrize("path", CHECKED, ids=lambda path: str(path.relative_to(ROOT)))
def test_imports_go_through_the_doors_and_take_no_private_names(path: pathlib.Path):
    assert door_violations(path) == []
    assert private_imports(path) == []


@pytest.mark.parametrize("path", sorted(HARNESS.rglob("*.py")), ids=lambda path: str(path.relative_to(ROOT)))
def test_deferred_imports_say_why(path: pathlib.Path):
    assert silent_deferred_imports(path) == []


def test_the_checks_catch_what_they_look_for(tmp_path: pathlib.Path):
    """Each check finds its violation in a module written to break it."""
    bad = HARNESS / "conditions" / "_architecture_probe.py"
    try:
        bad.write_text(
            "from harness.store.record import RunRecord\n"
            "from harness.store import no_such_export\n"
            "from harness.imports import _remap\n"
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    pass\n"
            "def f():\n"
            "    import torch\n"
        )
        assert len(door_violations(bad)) == 2
        assert len(private_imports(bad)) == 1
        assert len(silent_deferred_imports(bad)) == 2
        from importlinter.cli import lint_imports

        assert lint_imports(str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 1
    finally:
        bad.unlink()
