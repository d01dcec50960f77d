"""The agent contract (`harness.agents.contract`) run where the harness can stop it: its checks run,
in order, in a supervised child process (`supervision.Child`), which sends each result back.

A check whose agent goes on after the harness stopped it (a bare `except:` swallowed the stop) is
killed and fails with `harness.agents.RUNAWAY`, and the checks after it go on in a new child. A
check that runs past `timeout_s` is killed and fails; the checks after it are not run (an agent
whose `train()` never ends would make each of them wait as long). Ctrl-C kills the child and
raises `KeyboardInterrupt`.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Mapping
from multiprocessing.connection import wait
from typing import Any

from harness.agents import CHECKS, RUNAWAY, RUNAWAY_FIX, CheckResult, ShippedClass, Subject, resolve_kind, run_contract
from harness.execution.supervision import POLL_S, Child


def _checks(
    kind: str,
    shipped: ShippedClass | None,
    code_dir: str | None,
    values: Mapping[str, Any],
    setting: tuple[str, int, int],
    first: int,
    send: Callable[[Any], None],
) -> None:
    """A child: the checks from the `first` on, each result sent as it comes. (`shipped` registers
    an in-memory class here as it is unpickled.)"""
    env_id, total_timesteps, seed = setting
    resolved = resolve_kind(kind, pathlib.Path(code_dir) if code_dir else None)
    subject = Subject(resolved, values, env_id, total_timesteps, seed)
    run_contract(subject, on_result=send, first=first)


def run_contract_supervised(
    kind: str,
    shipped: ShippedClass | None,
    code_dir: pathlib.Path | None,
    values: Mapping[str, Any],
    env_id: str,
    total_timesteps: int,
    seed: int,
    on_result: Callable[[CheckResult], None],
    timeout_s: float,
) -> list[CheckResult]:
    """Every check of the contract on `kind` (resolved in the child), in order (see the module
    docstring); `on_result` sees each result as it comes."""
    names = list(CHECKS)
    results: list[CheckResult] = []

    def add(result: CheckResult) -> None:
        results.append(result)
        on_result(result)

    setting = (env_id, total_timesteps, seed)
    while len(results) < len(names):
        args = (kind, shipped, str(code_dir) if code_dir else None, dict(values), setting, len(results))
        child = Child(_checks, args, f"harness check-agent {kind}")
        since = child.elapsed
        try:
            while len(results) < len(names):
                wait([child.connection], timeout=POLL_S)
                for result in child.messages():
                    add(result)
                    since = child.elapsed
                name = names[len(results)] if len(results) < len(names) else None
                if name is None:
                    break
                if child.runaway is not None:
                    child.stop()
                    add(CheckResult(name, False, f"{RUNAWAY}; fix: {RUNAWAY_FIX}"))
                    break
                if child.elapsed - since > timeout_s:
                    child.stop()
                    add(CheckResult(name, False, f"the check ran past {timeout_s:,.0f} s; fix: does train() end?"))
                    for rest in names[len(results) :]:
                        add(CheckResult(rest, False, "not run: an earlier check ran past its time limit"))
                    break
                if child.exitcode is not None:
                    for result in child.messages():
                        add(result)
                    if len(results) < len(names):
                        why = f"the check's process ended with code {child.exitcode}"
                        add(CheckResult(names[len(results)], False, f"{why}; fix: run it alone to see why"))
                    break
        finally:
            child.stop()
            child.close()
    return results
