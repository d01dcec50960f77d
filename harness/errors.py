"""The harness's errors for bad input, each with a one-line message (the CLI prints it and exits 2).

Kept in a module that imports nothing heavy, so a command can catch them without loading torch.
`StudyError` lives with the study (`harness.study`), `KindError` with the registry.
"""


class ExecutorUnavailable(RuntimeError):
    """An executor cannot run here (a missing package, a cluster that cannot be reached); the
    message is one line saying what to do."""


class ReportError(Exception):
    """Input a report cannot be built from; the message is one line naming the folder or file."""
