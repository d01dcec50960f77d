"""Ctrl-C at the right moment: never in the middle of work that cannot be cut (importing torch,
whose native code aborts the process when a KeyboardInterrupt lands inside it; starting the
local executor's fork server, which must start with Ctrl-C ignored).

    with deferred():          # a Ctrl-C here is raised as KeyboardInterrupt when the block ends
        import torch
    with ignored():           # a process started here ignores Ctrl-C (the disposition survives exec)
        start_fork_server()
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold back Ctrl-C for the block; raise it as KeyboardInterrupt at its end. Does nothing
    outside the main thread (where signals are not handled) or when Ctrl-C is not raised as
    KeyboardInterrupt anyway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        yield
        return
    received: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


@contextlib.contextmanager
def ignored() -> Iterator[None]:
    """Ignore Ctrl-C for the (short) block, so that a process started in it inherits SIGINT
    ignored from its first instruction; a Ctrl-C arriving within the block is lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
