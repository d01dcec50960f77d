"""Agents: which class a kind names, how each family of class is built, checked, saved and loaded,
and the contract every agent is held to.

- `registry`: the built-in kind names (the only module that knows them) and import paths;
- `families`: the three agent families, told apart by type (hand-written `BaseAgent`s, SB3-API
  algorithms, and classes of the assignment's shape, wrapped by `assignment`);
- `objects`: class objects as kinds (a notebook's class travels by value);
- `build`: seed everything, make the training env, build the agent: how every run builds one;
- `contract`: the agent contract, property by property (`harness check-agent`, the tests).

The registry is light (reading a study checks kinds with it). The families, the builder and the
contract import SB3 and torch, so they are imported on first use.
"""

from typing import TYPE_CHECKING

from harness.agents.objects import (
    ShippedClass,
    class_bytes,
    fingerprint_of,
    is_in_memory,
    kind_of,
    register_pickled,
    registered,
    shipped,
)
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
    from harness.agents.assignment import AssignmentAgent, BudgetSpent, CourseEnv, InvalidAction
    from harness.agents.build import build_model
    from harness.agents.contract import CHECKS, CheckResult, Subject, run_check, run_contract
    from harness.agents.families import (
        AgentKind,
        AssignmentKind,
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
        **dict.fromkeys(("AssignmentAgent", "BudgetSpent", "CourseEnv", "InvalidAction"), "harness.agents.assignment"),
        **dict.fromkeys(("CHECKS", "CheckResult", "Subject", "run_check", "run_contract"), "harness.agents.contract"),
        **dict.fromkeys(
            (
                "AgentKind",
                "AssignmentKind",
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
    "AssignmentAgent",
    "AssignmentKind",
    "BudgetSpent",
    "Builtin",
    "CheckResult",
    "CourseEnv",
    "HandWrittenKind",
    "InvalidAction",
    "KindError",
    "LibraryKind",
    "ShippedClass",
    "Subject",
    "allowed",
    "build_model",
    "check_kind",
    "class_bytes",
    "constructor_parameters",
    "cost_hint",
    "family_of",
    "fingerprint_of",
    "import_paths_in",
    "is_builtin",
    "is_in_memory",
    "kind_of",
    "register_pickled",
    "registered",
    "resolve_kind",
    "run_check",
    "run_contract",
    "sb3_dqn_preset",
    "shipped",
    "target",
]
