"""Every error the harness shows its user, in one module: one base class, one message form.

A `HarnessError` is bad input or a state the user can fix (a study file, an option, a runs
folder, a missing package); its message is one line that names what is wrong and where. The
command line prints it and exits with code 2; from Python it is an exception like any other.
Errors of a run itself (a NaN loss, an agent that raises) are not `HarnessError`s: they fail
that run, and `run.json` keeps them.

Kept at the bottom of the layers and free of heavy imports, so any command can catch these
without loading torch. Classes that callers also catch as `ValueError` derive from it too.
"""

from __future__ import annotations

from typing import ClassVar


class HarnessError(Exception):
    """Bad input or a fixable state; the message is one line (the CLI's exit code 2). In a notebook
    it shows as that line, not as a traceback."""

    located: ClassVar[bool] = False
    """Whether the message starts by saying where the problem is (the study file that holds it,
    or the command that refused it): the CLI prints it as it is, and others after
    'harness <command>: '."""

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for it (instead of a traceback): one line."""
        return [f"{type(self).__name__}: {one_line(self)}"]


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (a notebook's interrupt) stopped a command of the harness, which stopped its workers;
    every complete run is kept. Still a `KeyboardInterrupt` (nothing catches it as an error), and
    in a notebook one line, so that "Run All" stops there."""

    def __init__(self, what: str = "interrupted") -> None:
        super().__init__(f"harness: {what}; complete runs are kept, run it again to resume")

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


class ImportPathError(HarnessError, ValueError):
    """An import path that does not name an importable object."""


class KindError(HarnessError, ValueError):
    """A kind that cannot be used. `key` names the hyperparameter at fault, when one is."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class ProfileError(HarnessError, ValueError):
    """An env the harness cannot measure as declared; the message says what to declare."""


class SourceError(HarnessError, ValueError):
    """The source files of an agent class cannot be collected."""


class StudyError(HarnessError, ValueError):
    """A study that cannot run; the message starts with the file and names the key."""

    located = True


class StoreBusy(HarnessError):
    """Another process holds the study folder; the message names it."""


class StoreError(HarnessError):
    """A runs folder that cannot be read as a study's."""


class ExecutorUnavailable(HarnessError, RuntimeError):
    """An executor cannot run here (a missing package, a cluster that cannot be reached); the
    message says what to do."""


class RayUnavailable(ExecutorUnavailable):
    """Ray is not installed, cannot start or cannot be reached."""


class ReportError(HarnessError):
    """Input a report cannot be built from; the message names the folder or file."""


class PlaybackError(HarnessError):
    """A run folder that cannot be played; the message names the folder or file."""


def one_line(error: object, *, with_type: bool = False) -> str:
    """`error`'s text on one line (whitespace runs folded to one space); with `with_type`,
    'TypeName: text' (just 'TypeName' when the text is empty)."""
    text = " ".join(str(error).split())
    if not with_type:
        return text
    name = type(error).__name__
    return f"{name}: {text}" if text else name
