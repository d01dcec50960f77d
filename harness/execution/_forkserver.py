"""What the local executor's fork server imports first: it ignores Ctrl-C, then imports the runner.

A Ctrl-C reaches every process of the terminal's process group. The fork server would otherwise
take it while it imports torch (a traceback on the terminal), and the workers it forks inherit
its handlers: with SIGINT ignored here, only the driver reacts to Ctrl-C, and stops its workers.
"""

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)

import harness.execution.runner  # noqa: E402, F401  (preloaded: a forked worker starts with it imported)
