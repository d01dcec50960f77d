"""cartpole-compare's harness: studies, seeding, env factory, callbacks, runner, results, report, CLI."""

__version__ = "0.1.0"
