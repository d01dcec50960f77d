"""cartpole-compare's harness: hand-written and library agents trained under identical conditions,
compared honestly.

From Python (a notebook): `harness.study(path)` reads a study file (`.with_agent(label, cls)` adds
an agent class, one defined in a notebook cell too), `harness.compare(study, **options)` runs it
as `harness compare` does, `harness.load(study_dir)` gives its results as pandas DataFrames and
matplotlib figures, `harness.check_agent(cls)` runs the agent contract, `harness.tune(study)` gives
every agent the same Optuna budget (see `harness.api`).
They are imported on first use, so importing the package costs nothing.

The package is in layers, each subpackage's `__init__` its only way in, imports pointing down
(`make lint` checks it; docs/design.md draws it):

    api, cli                    the Python API and the `harness` command
    report, experiments         renderers: Markdown, plots, media (read only the numbers model);
                                compare in rounds until decided (AdaStop), tune (Optuna)
    analysis                    the numbers model: every figure computed once
    execution                   running pairs: runner, scheduler, executors, progress (beside analysis)
    store                       the study folder: run files, lock, slots, cache
    studies                     study files, identity, sources, options
    agents                      registry, agent families, building a model, the contract
    conditions                  env profiles, env factory, seeding, evaluation, callbacks
    errors, imports, schema, version
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.version import __version__

__all__ = ["__version__", "check_agent", "compare", "load", "study", "tune"]

if TYPE_CHECKING:  # type only: the API is imported on first use (the top layer; it loads the others)
    from harness.api import check_agent, compare, load, study, tune


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        from harness import api  # deferred: the API imports the layers below it

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
