"""A student's loop in a real Jupyter kernel (`jupyter_client`): define an agent in a cell, compare,
change the cell, compare again; an error in a cell's class; Ctrl-C (the interrupt button).

- the changed cell is another kind: its agent's pair is trained again, the other agent's kept;
  a fresh kernel running the first cell gives the kind the first kernel gave;
- an error raised in a cell's class is located as "In [N], line L, in <method>", in
  `check_agent`'s failure line and in the failed run's error;
- an interrupted `compare` ends the cell with one line (`Interrupted`), and the next cell runs.
"""

from __future__ import annotations

import json
import pathlib
import queue
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from helpers import run_json

jupyter_client = pytest.importorskip("jupyter_client")

pytestmark = pytest.mark.e2e


@dataclass
class Cell:
    """What a cell did: its number, what it printed, its error (the iopub `error` content)."""

    number: int | None = None
    stdout: str = ""
    stderr: str = ""
    error: dict[str, Any] | None = None
    data: list[dict[str, Any]] = field(default_factory=list)


class Kernel:
    """A kernel started in a folder, and its client."""

    def __init__(self, folder: pathlib.Path) -> None:
        from jupyter_client.manager import start_new_kernel

        self.manager, self.client = start_new_kernel(kernel_name="python3", cwd=str(folder))

    def send(self, code: str) -> str:
        """Start running `code`; its message id."""
        return self.client.execute(textwrap.dedent(code))

    def wait(self, msg_id: str, timeout: float = 300) -> Cell:
        """What the cell `msg_id` did, once the kernel is idle after it."""
        cell = Cell()
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.client.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.1))
            except queue.Empty:
                pytest.fail(f"the cell did not end in {timeout} s; printed so far:\n{cell.stdout}{cell.stderr}")
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                setattr(cell, content["name"], getattr(cell, content["name"]) + content["text"])
            elif kind == "error":
                cell.error = content
            elif kind in ("execute_result", "display_data"):
                cell.data.append(content["data"])
            elif kind == "execute_input":
                cell.number = content["execution_count"]
            elif kind == "status" and content["execution_state"] == "idle":
                return cell

    def run(self, code: str, timeout: float = 300) -> Cell:
        """Run a cell to its end; fail the test on an error in it."""
        cell = self.wait(self.send(code), timeout)
        assert cell.error is None, "\n".join(cell.error["traceback"])
        return cell

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernels(tmp_path: pathlib.Path) -> Iterator[Callable[[], Kernel]]:
    """Start kernels in `tmp_path` (shut down after the test)."""
    started: list[Kernel] = []

    def start() -> Kernel:
        started.append(Kernel(tmp_path))
        return started[-1]

    yield start
    for kernel in started:
        kernel.shutdown()


IMPORTS = """
import io
import json

import harness
"""
AGENT_CELL = """
class Mine:
    def __init__(self, gain: float = 1.0):
        self.gain = gain
        self.env = None

    def act(self, observation, reward, done):
        return 0

    def train(self):
        observation, _ = self.env.reset()
        for _ in range(300):
            observation, _, terminated, truncated, _ = self.env.step(self.act(observation, 0.0, False))
            if terminated or truncated:
                observation, _ = self.env.reset()
"""
CHANGED_ACT = "        return int(observation[2] + self.gain * observation[3] > 0)"
COMPARE_CELL = """
study = (
    harness.study("quick")
    .select(labels=["tabular_q"])
    .replace(name="loop", seeds=[0], total_timesteps=1_000, eval_freq=500, n_eval_episodes=3)
    .with_agent("mine", Mine)
)
outcome = harness.compare(study, runs_dir="runs", reports_dir="reports", jobs=2, video=False)
print("RESULT", json.dumps({"completed": outcome.completed, "skipped": outcome.skipped, "failed": outcome.failed}))
"""


def result(cell: Cell) -> dict[str, Any]:
    (line,) = [line for line in cell.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


def mine_row(readme: str) -> str:
    """The line of the report's README that first names the agent `mine` in a table."""
    rows = [line for line in readme.splitlines() if line.startswith("|") and "mine" in line]
    assert rows, readme
    return rows[0]


@pytest.mark.slow
def test_a_changed_cell_retrains_its_agent_only_and_a_fresh_kernel_gives_the_same_kind(
    tmp_path: pathlib.Path, kernels: Callable[[], Kernel]
):
    first = kernels()
    first.run(IMPORTS)
    first.run(AGENT_CELL)
    before = result(first.run(COMPARE_CELL))
    assert sorted(before["completed"]) == ["mine/seed_0", "tabular_q/seed_0"] and before["failed"] == []
    study = tmp_path / "runs" / "loop"
    kind = run_json(study / "mine" / "seed_0")["kind"]
    assert kind.startswith("__main__.Mine (in memory, ")
    kept = (study / "tabular_q" / "seed_0" / "run.json").read_bytes()
    readme = (tmp_path / "reports" / "loop" / "README.md").read_text()

    assert AGENT_CELL.count("        return 0\n") == 1
    first.run(AGENT_CELL.replace("        return 0\n", CHANGED_ACT + "\n"))
    after = result(first.run(COMPARE_CELL))
    assert after == {"completed": ["mine/seed_0"], "skipped": ["tabular_q/seed_0"], "failed": []}
    changed = run_json(study / "mine" / "seed_0")
    assert changed["status"] == "complete" and changed["kind"] != kind
    assert changed["kind"].startswith("__main__.Mine (in memory, ")
    assert (study / "tabular_q" / "seed_0" / "run.json").read_bytes() == kept
    new_readme = (tmp_path / "reports" / "loop" / "README.md").read_text()
    assert mine_row(new_readme) != mine_row(readme)

    again = result(first.run(COMPARE_CELL))
    assert again["completed"] == again["failed"] == [] and sorted(again["skipped"]) == [
        "mine/seed_0",
        "tabular_q/seed_0",
    ]

    second = kernels()
    second.run(IMPORTS)
    second.run(AGENT_CELL)
    printed = second.run("print('KIND', harness.study('quick').with_agent('mine', Mine).agent('mine').kind)").stdout
    assert printed.strip().splitlines() == [f"KIND {kind}"]


CRASHING_CELL = """
class Crasher:
    def __init__(self):
        self.env = None

    def act(self, observation, reward, done):
        return 0

    def train(self):
        self.env.reset()
        self.env.step(0)
        raise ValueError("the student's bug")
"""
CRASH_LINE = 1 + CRASHING_CELL.strip("\n").splitlines().index('        raise ValueError("the student\'s bug")')


def test_an_error_in_a_cells_class_is_located_by_cell_and_line(tmp_path: pathlib.Path, kernels: Callable[[], Kernel]):
    kernel = kernels()
    kernel.run(IMPORTS)
    defined = kernel.run(CRASHING_CELL.strip("\n"))
    where = f"(at In [{defined.number}], line {CRASH_LINE}, in train)"
    checked = kernel.run("report = harness.check_agent(Crasher, total_timesteps=600)").stdout.splitlines()
    failures = [line for line in checked if line.startswith("FAIL") and not line.endswith(": as above")]
    assert len(failures) == 1, checked
    assert f"ValueError: the student's bug {where}" in failures[0]
    compared = kernel.run(
        """
        study = (
            harness.study("quick")
            .select(labels=["random"])
            .replace(name="located", seeds=[0], total_timesteps=300, eval_freq=300, n_eval_episodes=2)
            .with_agent("crasher", Crasher)
        )
        outcome = harness.compare(study, runs_dir="runs", jobs=2, report=False, stream=io.StringIO())
        print("FAILED", json.dumps(outcome.failed))
        """
    )
    (line,) = [line for line in compared.stdout.splitlines() if line.startswith("FAILED ")]
    assert json.loads(line.removeprefix("FAILED ")) == [["crasher/seed_0", f"ValueError: the student's bug {where}"]]
    error = run_json(tmp_path / "runs" / "located" / "crasher" / "seed_0")["error"]
    assert error.startswith("ValueError: the student's bug") and error.endswith(where), error


LONG_COMPARE = """
study = (
    harness.study("quick")
    .select(labels=["tabular_q"])
    .replace(name="interrupted", seeds=[0, 1, 2, 3], total_timesteps=2_000_000, eval_freq=100_000, n_eval_episodes=2)
)
harness.compare(study, runs_dir="runs", jobs=2, report=False)
"""


def test_ctrl_c_ends_a_compare_in_one_line_and_the_next_cell_runs(
    tmp_path: pathlib.Path, kernels: Callable[[], Kernel]
):
    kernel = kernels()
    kernel.run(IMPORTS)
    msg_id = kernel.send(LONG_COMPARE)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "runs" / "interrupted").glob("tabular_q/seed_*")):  # training has started
        assert time.monotonic() < deadline, "the compare did not start in 120 s"
        time.sleep(0.2)
    time.sleep(2)
    kernel.manager.interrupt_kernel()
    start = time.monotonic()
    cell = kernel.wait(msg_id, timeout=120)
    assert time.monotonic() - start < 60
    assert cell.error is not None, cell.stdout + cell.stderr
    assert cell.error["ename"] == "Interrupted"
    assert len(cell.error["traceback"]) == 1, cell.error["traceback"]
    assert cell.error["traceback"][0].startswith("harness: compare interrupted; complete runs are kept")
    assert kernel.run("print(1 + 1)").stdout == "2\n"
