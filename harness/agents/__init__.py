"""Agents: which class a kind names, how each family of class is built, checked, saved and loaded,
and the contract every agent is held to.

- `registry`: the built-in kind names (the only module that knows them), their presets and default
  search spaces (plain data), and import paths;
- `families`: the three agent families, told apart by type (hand-written `BaseAgent`s, SB3-API
  algorithms, and classes of the assignment's shape, wrapped by `assignment`);
- `objects`: in-memory kinds (a notebook's class, kept here and shipped to workers by value);
- `identity`: the code identity of a kind (its files' fingerprint, its library's version), the
  neutral edits of this project's agent code, and what "installed" means; `sources`: the local
  files a class is made of;
- `classes`: class objects as kinds (an import path, or an in-memory kind fingerprinting what runs);
- `build`: seed everything, make the training env, build the agent: how every run builds one;
- `contract`: the agent contract, property by property (`harness check-agent`, the tests).

The registry is light (reading a study checks kinds with it). The families, the builder and the
contract import SB3 and torch, so they are imported on first use.
"""

from typing import TYPE_CHECKING

from harness.agents.classes import Fingerprint, class_fingerprint, import_path, kind_of
from harness.agents.identity import (
    NEUTRAL_EDITS,
    NEUTRAL_REWRITES,
    PROJECT_ROOT,
    NeutralEdit,
    NeutralRewrite,
    code_identity,
    distribution,
    has_distribution,
    is_installed,
)
from harness.agents.objects import (
    ShippedClass,
    cell_name,
    class_bytes,
    fingerprint_of,
    is_in_memory,
    register_pickled,
    registered,
    shipped,
    unhashable_reason,
    where_raised,
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
    search_table,
    target,
)
from harness.agents.sources import MAX_FILES, fingerprint, local_sources
from harness.errors import KindError
from harness.imports import lazy_exports

if TYPE_CHECKING:  # imported on first use below: SB3 and torch
    from harness.agents.assignment import (
        FINDINGS,
        RUNAWAY,
        RUNAWAY_FIX,
        RUNAWAY_GRACE_S,
        AssignmentAgent,
        BudgetSpent,
        CourseEnv,
        InvalidAction,
        OwnEnvError,
        on_runaway,
    )
    from harness.agents.build import build_model
    from harness.agents.contract import CHECKS, CheckResult, Subject, run_check, run_contract
    from harness.agents.envwatch import OWN_ENV_RULE, EnvWatch, OwnEnvStepped
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
        **dict.fromkeys(
            (
                "FINDINGS",
                "RUNAWAY",
                "RUNAWAY_FIX",
                "RUNAWAY_GRACE_S",
                "AssignmentAgent",
                "BudgetSpent",
                "CourseEnv",
                "InvalidAction",
                "OwnEnvError",
                "on_runaway",
            ),
            "harness.agents.assignment",
        ),
        **dict.fromkeys(("OWN_ENV_RULE", "EnvWatch", "OwnEnvStepped"), "harness.agents.envwatch"),
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
    "FINDINGS",
    "MAX_FILES",
    "NEUTRAL_EDITS",
    "NEUTRAL_REWRITES",
    "OWN_ENV_RULE",
    "PROJECT_ROOT",
    "RUNAWAY",
    "RUNAWAY_FIX",
    "RUNAWAY_GRACE_S",
    "UNKNOWN_COST",
    "AgentKind",
    "AssignmentAgent",
    "AssignmentKind",
    "BudgetSpent",
    "Builtin",
    "CheckResult",
    "CourseEnv",
    "EnvWatch",
    "Fingerprint",
    "HandWrittenKind",
    "InvalidAction",
    "KindError",
    "LibraryKind",
    "NeutralEdit",
    "NeutralRewrite",
    "OwnEnvError",
    "OwnEnvStepped",
    "ShippedClass",
    "Subject",
    "allowed",
    "build_model",
    "cell_name",
    "check_kind",
    "class_bytes",
    "class_fingerprint",
    "code_identity",
    "constructor_parameters",
    "cost_hint",
    "distribution",
    "family_of",
    "fingerprint",
    "fingerprint_of",
    "has_distribution",
    "import_path",
    "import_paths_in",
    "is_builtin",
    "is_in_memory",
    "is_installed",
    "kind_of",
    "local_sources",
    "on_runaway",
    "register_pickled",
    "registered",
    "resolve_kind",
    "run_check",
    "run_contract",
    "sb3_dqn_preset",
    "search_table",
    "shipped",
    "target",
    "unhashable_reason",
    "where_raised",
]
