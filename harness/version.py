"""The harness's version: one place, read by the package, `pyproject.toml` and every `run.json`."""

__version__ = "0.1.0"
