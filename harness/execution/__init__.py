"""Running a study's pairs: one run (`runner`), the plan of what to run and the compare loop
(`scheduler`), where pairs run (`executors`: local worker processes; `ray_executor`: Ray tasks),
the progress display (`progress`), Ctrl-C at safe moments (`interrupts`), processes the driver
can stop (`supervision`: every user's `train()` runs in one) and the agent contract run in one
(`checking`).

The runner, the scheduler and the executors import torch and SB3 (a worker process starts with
them loaded), and the Ray executor imports Ray: they are imported on first use, so a command that
only reads (status, report) never loads them.
"""

from typing import TYPE_CHECKING

from harness.execution import interrupts
from harness.execution.progress import StudyProgress
from harness.imports import lazy_exports

if TYPE_CHECKING:  # imported on first use below: torch, SB3, Ray
    from harness.execution.checking import run_contract_supervised
    from harness.execution.executors import Executor, LocalExecutor, lost_record, past_timeout
    from harness.execution.ray_executor import RayExecutor, stage_code
    from harness.execution.runner import PairTask, build_run, class_record, machine, run_pair, source_commit, versions
    from harness.execution.scheduler import CompareOutcome, PairFilter, Plan, compare, longest_first, plan, run_pairs

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "run_contract_supervised": "harness.execution.checking",
        **dict.fromkeys(("Executor", "LocalExecutor", "lost_record", "past_timeout"), "harness.execution.executors"),
        **dict.fromkeys(("RayExecutor", "stage_code"), "harness.execution.ray_executor"),
        **dict.fromkeys(
            ("PairTask", "build_run", "class_record", "machine", "run_pair", "source_commit", "versions"),
            "harness.execution.runner",
        ),
        **dict.fromkeys(
            ("CompareOutcome", "PairFilter", "Plan", "compare", "longest_first", "plan", "run_pairs"),
            "harness.execution.scheduler",
        ),
    },
)

__all__ = [
    "CompareOutcome",
    "Executor",
    "LocalExecutor",
    "PairFilter",
    "PairTask",
    "Plan",
    "RayExecutor",
    "StudyProgress",
    "build_run",
    "class_record",
    "compare",
    "interrupts",
    "longest_first",
    "lost_record",
    "machine",
    "past_timeout",
    "plan",
    "run_contract_supervised",
    "run_pair",
    "run_pairs",
    "source_commit",
    "stage_code",
    "versions",
]
