"""Agents: which class a kind names, how each family of class is built, checked, saved and loaded,
and the contract every agent is held to.

- `registry`: the built-in kind names (the only module that knows them) and import paths;
- `families`: the agent families, told apart by type;
- `build`: seed everything, make the training env, build the agent: how every run builds one;
- `contract`: the agent contract, property by property (`harness check-agent`, the tests).

The registry is light (reading a study checks kinds with it). The families, the builder and the
contract import SB3 and torch, so they are imported on first use.
"""

from typing import TYPE_CHECKING

from harness.agents.registry import (
    BUILTINS,
    UNKNOWN_COST,
    Builtin,
    allowed,
    check_kind,
    cost_hint,
    is_builtin,
    resolve_kind,
    sb3_dqn_preset,
    target,
)
from harness.errors import KindError
from harness.imports import lazy_exports

if TYPE_CHECKING:  # imported on first use below: SB3 and torch
    from harness.agents.build import build_model
    from harness.agents.contract import CHECKS, CheckResult, Subject, run_check, run_contract
    from harness.agents.families import (
        AgentKind,
        HandWrittenKind,
        LibraryKind,
        constructor_parameters,
        family_of,
        import_paths_in,
    )

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "build_model": "harness.agents.build",
        **dict.fromkeys(("CHECKS", "CheckResult", "Subject", "run_check", "run_contract"), "harness.agents.contract"),
        **dict.fromkeys(
            (
                "AgentKind",
                "HandWrittenKind",
                "LibraryKind",
                "constructor_parameters",
                "family_of",
                "import_paths_in",
            ),
            "harness.agents.families",
        ),
    },
)

__all__ = [
    "BUILTINS",
    "CHECKS",
    "UNKNOWN_COST",
    "AgentKind",
    "Builtin",
    "CheckResult",
    "HandWrittenKind",
    "KindError",
    "LibraryKind",
    "Subject",
    "allowed",
    "build_model",
    "check_kind",
    "constructor_parameters",
    "cost_hint",
    "family_of",
    "import_paths_in",
    "is_builtin",
    "resolve_kind",
    "run_check",
    "run_contract",
    "sb3_dqn_preset",
    "target",
]
