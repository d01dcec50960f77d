"""cartpole-compare's harness: studies, seeding, env factory, callbacks, runner, results, report, CLI.

From Python (a notebook): `harness.compare(study, **options)` runs a study as `harness compare`
does, `harness.load(study_dir)` gives its results as pandas DataFrames (see `harness.api`).
Both are imported on first use, so importing the package (or one of its modules) costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["compare", "load"]

if TYPE_CHECKING:
    from harness.api import compare, load


def __getattr__(name: str) -> Any:
    if name in __all__:
        from harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
