"""Processes the driver can stop: wherever the harness runs a user's `train()` (compare's and
tune's workers, `harness train`, `check_agent`), it runs it in a `Child`.

A `Child` is a process forked from the harness's fork server (quick to start: the harness is
imported there already), with:

- SIGINT blocked: a Ctrl-C is the driver's alone, which stops its children;
- a lifeline: the child kills itself as soon as the driver's end of a pipe closes (the driver
  exited, or was killed, even with SIGKILL), so no orphan writes into a folder a later driver holds;
- a message pipe to the driver: what `target(*args, send)` sends (step counts, results), what it
  prints where asked (`forwarded_output`: the driver prints it as its own), and `Runaway(why)`
  when an agent's loop went on after the harness stopped it (`harness.agents.on_runaway`: a bare
  `except:` that swallowed the stop);
- `stop()`: SIGKILL, which no loop can catch.

The driver decides when to stop one: when it reports a runaway, or runs past its time limit.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import multiprocessing.forkserver as forkserver
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from harness.agents import on_runaway
from harness.execution import interrupts

POLL_S = 0.2
"""How often a driver looks at its children (messages, exits, time limits)."""


@dataclass(frozen=True)
class Runaway:
    """A child's agent went on after the harness stopped it (sent by the child)."""

    why: str


@dataclass(frozen=True)
class Output:
    """What a child printed, for the driver to show (`forwarded_output`)."""

    stream: str
    """'stdout' or 'stderr'."""
    text: str


class _Forward(io.TextIOBase):
    """A text stream whose writes go to the driver as `Output` messages."""

    def __init__(self, send: Callable[[Any], None], stream: str) -> None:
        self._send = send
        self._stream = stream

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            self._send(Output(self._stream, text))
        return len(text)


@contextlib.contextmanager
def forwarded_output(send: Callable[[Any], None]) -> Iterator[None]:
    """In a child: what it prints (Python's stdout and stderr) goes to the driver, which shows it
    where its own output goes (a terminal, a test's capture) with `show`."""
    with contextlib.redirect_stdout(_Forward(send, "stdout")), contextlib.redirect_stderr(_Forward(send, "stderr")):
        yield


def show(output: Output) -> None:
    """Print what a child printed, to this process's stdout or stderr."""
    stream = sys.stdout if output.stream == "stdout" else sys.stderr
    stream.write(output.text)
    stream.flush()


def context() -> Any:
    """The fork server's context, the server started (ignoring Ctrl-C, which its children inherit)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["harness.execution._forkserver"])
    with interrupts.ignored():
        forkserver.ensure_running()
    return ctx


class Child:
    """One supervised process running `target(*args, send)` (see the module docstring)."""

    def __init__(self, target: Callable[..., None], args: Sequence[Any], name: str) -> None:
        ctx = context()
        self._reader, writer = ctx.Pipe(duplex=False)
        watched, self._lifeline = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_child_main, args=(target, tuple(args), writer, watched), name=name)
        # With SIGINT blocked while it starts, a Ctrl-C cannot cut a child's start in half (it
        # arrives just after), and the child, like the fork server it comes from, keeps SIGINT
        # blocked: only the driver reacts, and stops its children.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            with _main_script_not_rerun():
                self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        writer.close()  # the child holds the write end now
        watched.close()  # and the read end of its lifeline
        self.started = time.monotonic()
        self.runaway: str | None = None
        """Why the child reported a runaway (the first one), None until it does."""

    @property
    def connection(self) -> Connection:
        """What `multiprocessing.connection.wait` waits on for its messages."""
        return self._reader

    @property
    def exitcode(self) -> int | None:
        return self.process.exitcode

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def messages(self) -> list[Any]:
        """Every message the child has sent so far, but runaways (kept in `runaway`) and its
        output (shown here)."""
        received = []
        try:
            while self._reader.poll():
                message = self._reader.recv()
                if isinstance(message, Runaway):
                    self.runaway = self.runaway or message.why
                elif isinstance(message, Output):
                    show(message)
                else:
                    received.append(message)
        except (EOFError, OSError):  # the child is gone; what it sent was read
            pass
        return received

    def stop(self) -> None:
        """Kill it (SIGKILL) and wait for it; nothing it does can delay that."""
        if self.process.pid is not None and self.process.exitcode is None:
            self.process.kill()
        if self.process.pid is not None:
            self.process.join()

    def join(self) -> None:
        self.process.join()

    def close(self) -> None:
        self._reader.close()
        self._lifeline.close()


def _child_main(target: Callable[..., None], args: tuple[Any, ...], messages: Connection, lifeline: Connection) -> None:
    """A child process: messages to the driver through `messages`, dying with the driver."""
    _die_with_the_driver(lifeline)
    lock = threading.Lock()

    def send(message: Any) -> None:
        with lock, contextlib.suppress(OSError):  # the driver may be gone, or the pipe full while it kills us
            messages.send(message)

    on_runaway(lambda why: send(Runaway(why)))
    try:
        target(*args, send)
    finally:
        messages.close()


def _die_with_the_driver(lifeline: Connection) -> None:
    """Kill this process as soon as the driver is gone (the other end of `lifeline` closes: the
    driver exited or was killed, even by SIGKILL). A child that outlived its driver would go on
    writing into a run folder that the study's lock no longer protects, where a later compare may
    be running the same pair."""

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            lifeline.recv()  # the driver never sends: this returns when its end closes
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()


@contextlib.contextmanager
def _main_script_not_rerun() -> Iterator[None]:
    """While a child starts: hide the main script's path from multiprocessing, which would
    otherwise run the script again in the child (a script calling `harness.compare` at top level,
    without an `if __name__ == "__main__":` guard, would start a study inside each child). The
    child runs `_child_main`, which needs nothing of the script."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    hide = main is not None and path is not None and getattr(main, "__spec__", None) is None
    if hide:
        del main.__file__
    try:
        yield
    finally:
        if hide:
            main.__file__ = path
