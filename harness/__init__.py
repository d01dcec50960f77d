"""cartpole-compare's harness: studies, seeding, env factory, callbacks, runner, results, report, CLI.

From Python (a notebook): `harness.compare(study, **options)` runs a study as `harness compare`
does, `harness.load(study_dir)` gives its results as pandas DataFrames (see `harness.api`).
"""

__version__ = "0.1.0"

from harness.api import compare, load

__all__ = ["compare", "load"]
