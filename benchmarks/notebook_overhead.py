"""`make bench-notebook`: what a compare of two tiny pairs costs from a notebook, beyond training.

A notebook of the assignment's shape runs in real Jupyter kernels (nbclient, ipykernel): a cell
defines `CartPoleQAgent` (a `CartPoleBase` subclass with `act(observation, reward, done)` and a
`train()` that loops episodes on `self.env`, as in examples/assignment.ipynb), a cell builds

    harness.study("quick").select(labels=["tabular_q"]).with_agent("mine", CartPoleQAgent)
        .replace(name="notebook-overhead", seeds=[0], total_timesteps=1000)

(2 pairs of 1,000 env steps), and the kernel times `harness.compare(study, jobs=2, video=False)`:
first in a fresh kernel (cold: the forkserver, torch in the workers, the report's imports and an
empty report cache), then again with `fresh=True` (warm kernel), `--kernels` fresh kernels of
`--warm` warm compares each. Printed, as medians over the repeats (min-max beside):

1. the compare's wall time, the pairs' `run.json` timings (`wall_time_s`, `learn_time_s`) and the
   time outside training: the compare's wall time minus the longest pair's wall time (the pairs
   run in parallel). Target: under 5 s on 2 cores, without video;
2. where that time goes, from timers put around the harness's own functions in the kernel and,
   through a wrapper of the local executor's worker function, in the worker processes: the study
   resolved (the agents built once, `check_on_env`), the plan, each worker's launch (the first
   waits for the forkserver to import torch and SB3), its start, what it does before and after
   the pair's own timer, the pair's phases (env and agent, logger, evaluation envs, learning,
   saving), the report's imports, bootstrap intervals, plots and writing;
3. the report of the same runs rebuilt in the warm kernel without its cache: what the report
   costs when an agent's numbers changed (a changed cell), where `fresh=True` reuses the
   intervals of identical runs;
4. with `--profile` (the default; `--no-profile` leaves it out), one more fresh kernel whose
   study cell, cold compare and warm compare run under pyinstrument, the longest pair's worker
   too, printed as text.

The timers wrap functions by name (monkeypatching, in the kernel and the workers only); a phase
whose function is gone is left out of the table, and says so. The benchmark measures the harness
of the checkout it lives in (the kernels get it first on PYTHONPATH).

    python -m benchmarks.notebook_overhead [--kernels 3] [--warm 3] [--jobs 2] [--no-profile]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import inspect
import json
import os
import pathlib
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
MARKER = "@@notebook-overhead@@ "
"""Prefix of the kernel's output lines that carry figures (JSON) back to this process."""
WORKER_LOGS = "NOTEBOOK_OVERHEAD_WORKER_LOGS"
"""Environment variable: the folder where each worker writes its timeline (set in the kernel
before the forkserver starts, so the workers inherit it)."""
WORKER_PROFILE = "NOTEBOOK_OVERHEAD_WORKER_PROFILE"
"""Environment variable: when "1", each worker also runs under pyinstrument."""
TARGET_S = 5.0
STUDY_NAME = "notebook-overhead"
PROFILE_THRESHOLD = 0.02
"""pyinstrument hides calls under this share of the profile's time."""

AGENT_CELL = '''
import math

import gymnasium as gym
import numpy as np


class RenderFrame(gym.Wrapper):
    """The course's wrapper: keeps the rendered frames of the episodes it records."""

    def __init__(self, env):
        super().__init__(env)
        self.frames, self.recording = [], True

    def pause(self):
        self.recording = False

    def resume(self):
        self.recording = True

    def release(self):
        self.frames = []

    def step(self, action):
        result = super().step(action)
        if self.recording:
            self.frames.append(self.env.render())
        return result

    def play(self):
        print(f"{len(self.frames)} frames recorded")


class CartPoleBase:
    def __init__(self):
        self.env = RenderFrame(gym.make("CartPole-v1", render_mode="rgb_array"))

    def act(self, observation, reward, done):
        raise NotImplementedError

    def train(self):
        pass


class CartPoleQAgent(CartPoleBase):
    def __init__(self, num_bins=(3, 3, 6, 6), episodes=300, decay=25.0, min_lr=0.1, min_epsilon=0.1, discount=1.0):
        super().__init__()
        self.num_bins, self.episodes, self.decay = tuple(num_bins), episodes, decay
        self.min_lr, self.min_epsilon, self.discount = min_lr, min_epsilon, discount
        self.q_table = np.zeros(self.num_bins + (self.env.action_space.n,))
        space = self.env.observation_space
        self.lower = [space.low[0], -0.5, space.low[2], -math.radians(50)]
        self.upper = [space.high[0], 0.5, space.high[2], math.radians(50)]
        self.epsilon = 1.0

    def discretize(self, observation):
        ratios = [(x + abs(lo)) / (hi - lo) for x, lo, hi in zip(observation, self.lower, self.upper)]
        bins = [int(round((n - 1) * r)) for n, r in zip(self.num_bins, ratios)]
        return tuple(min(n - 1, max(0, b)) for n, b in zip(self.num_bins, bins))

    def schedule(self, episode, floor):
        return max(floor, min(1.0, 1.0 - math.log10((episode + 1) / self.decay)))

    def act(self, observation, reward, done):
        return int(np.argmax(self.q_table[self.discretize(observation)]))

    def train(self):
        for episode in range(self.episodes):
            self.epsilon = self.schedule(episode, self.min_epsilon)
            learning_rate = self.schedule(episode, self.min_lr)
            observation, info = self.env.reset()
            state, reward, done = self.discretize(observation), 0.0, False
            while not done:
                if np.random.random() < self.epsilon:
                    action = self.env.action_space.sample()
                else:
                    action = self.act(observation, reward, done)
                observation, reward, terminated, truncated, info = self.env.step(action)
                new_state = self.discretize(observation)
                target = reward + self.discount * np.max(self.q_table[new_state])
                self.q_table[state + (action,)] += learning_rate * (target - self.q_table[state + (action,)])
                state, done = new_state, terminated or truncated
'''

STUDY_CELL = """
import time as _time

_profiler = None
if {profile}:
    from pyinstrument import Profiler

    _profiler = Profiler(interval=0.001)
    _profiler.start()
_start = _time.perf_counter()
import harness

_quick = harness.study("quick")
_read = _time.perf_counter()
study = _quick.select(labels=["tabular_q"]).with_agent("mine", CartPoleQAgent)
_added = _time.perf_counter()
study = study.replace(name={name!r}, seeds=[0], total_timesteps=1000)
_built = _time.perf_counter()
if _profiler is not None:
    _profiler.stop()
"""

PROBE_CELL = """
from benchmarks import notebook_overhead as _bench

_probe = _bench.Probe({runs!r}, {reports!r}, jobs={jobs}, profile={profile})
_probe.emit(
    "setup",
    {{
        "figures": {{
            "import harness, harness.study('quick')": _read - _start,
            ".with_agent('mine', CartPoleQAgent)": _added - _read,
            ".replace(...)": _built - _added,
        }},
        "profile": _bench.profile_text(_profiler) if _profiler is not None else "",
    }},
)
"""


# --- in the kernel and the workers: timers around the harness's functions ---------------------------------------


class Timeline:
    """(phase, start, end) in epoch seconds (`time.time()`: comparable across processes)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, float, float]] = []
        self.missing: list[str] = []

    def wrap(
        self, owner: Any, name: str, phase: str | Callable[..., str], after: Callable[[Any], None] | None = None
    ) -> None:
        """Time every call of `owner.name` as `phase` (or as `phase(*args, **kwargs)`, asked after
        the call); `after(result)`, if given, sees each result."""
        getattr(owner, name, None)  # a lazy export (PEP 562) is imported, and set on its module, here
        static = inspect.getattr_static(owner, name, None)
        if static is None:
            self.missing.append(f"{getattr(owner, '__name__', owner)}.{name}")
            return
        kind = type(static) if isinstance(static, classmethod | staticmethod) else None
        function = static.__func__ if kind is not None else static
        spans = self.spans

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True  # pyinstrument leaves this frame out of its profiles
            start = time.time()
            try:
                result = function(*args, **kwargs)
            finally:
                end = time.time()
                spans.append((phase(*args, **kwargs) if callable(phase) else phase, start, end))
            if after is not None:
                after(result)
            return result

        setattr(owner, name, kind(timed) if kind is not None else timed)


class AfterImport:
    """A `sys.meta_path` finder that times the import of some modules and, once each is
    imported, calls its hook (to wrap its functions): the timers take nothing out of what the
    compare imports itself."""

    def __init__(self, timeline: Timeline, hooks: Mapping[str, Callable[[], None]]) -> None:
        self.timeline, self.hooks = timeline, dict(hooks)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in self.hooks:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None) if finder is not self else None
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        hook, loader, spans = self.hooks.pop(fullname), spec.loader, self.timeline.spans
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            __tracebackhide__ = True
            start = time.time()
            original(module)
            spans.append((f"import {fullname}", start, time.time()))
            hook()

        loader.exec_module = exec_module  # this spec's loader only
        return spec


def when_imported(finder: AfterImport, module: str, hook: Callable[[], None]) -> None:
    """`hook()` now if `module` is imported, else right after its import (timed)."""
    if module in sys.modules:
        hook()
    else:
        finder.hooks[module] = hook


def install_driver_timers(timeline: Timeline) -> AfterImport:
    """Timers around what `harness.compare` does in the kernel; the modules the compare imports
    itself get theirs when it imports them."""
    import multiprocessing.forkserver  # here: the kernel imports this module before the harness
    import multiprocessing.popen_forkserver

    wrap = timeline.wrap
    finder = AfterImport(timeline, {})
    sys.meta_path.insert(0, finder)
    module = sys.modules.__getitem__  # in a hook, the module is not yet an attribute of its package

    def api() -> None:
        wrap(module("harness.api"), "with_options", "options")
        wrap(module("harness.api"), "resolve_study", "resolve study")

    def families() -> None:
        wrap(module("harness.agents.families").AgentKind, "check_on_env", "check_on_env")

    def executors() -> None:
        executors = module("harness.execution.executors")
        executors._child = worker_child  # pickled by name: the workers import this module
        wrap(executors, "read_record", lambda path, *_: f"exit noticed {path}")

    def scheduler() -> None:
        scheduler = module("harness.execution.scheduler")
        wrap(scheduler, "compare", "scheduler")
        wrap(scheduler, "write_study_file", "study.toml")
        wrap(scheduler, "plan", "plan")
        wrap(scheduler, "StudyProgress", "progress bar")

    def report() -> None:
        wrap(module("harness.report"), "write_report", "report")
        wrap(module("harness.analysis.model"), "read_study", "read runs")
        for name in (
            "mean_interval",
            "iqm_interval",
            "pointwise_mean_interval",
            "probability_of_improvement",
            "paired_difference",
            "aggregate_intervals",
        ):
            wrap(module("harness.analysis.stats"), name, "bootstrap")
        wrap(module("harness.report.writing"), "publish", "publish")
        wrap(module("harness.report.plots"), "render", "plots")
        wrap(module("harness.report.markdown"), "readme", "README")

    when_imported(finder, "harness.api", api)
    when_imported(finder, "harness.agents.families", families)
    when_imported(finder, "harness.execution.executors", executors)
    when_imported(finder, "harness.execution.scheduler", scheduler)
    when_imported(finder, "harness.report", report)
    wrap(multiprocessing.forkserver, "ensure_running", "forkserver ensure_running")
    wrap(multiprocessing.popen_forkserver.Popen, "_launch", lambda popen, *_: f"launch {popen.pid}")
    return finder


def install_worker_timers(timeline: Timeline) -> None:
    """Timers around what a worker does for its pair (`harness.execution.runner`)."""
    runner = importlib.import_module("harness.execution.runner")  # no API: its functions are timed by name

    wrap = timeline.wrap

    def model_timers(built: Any) -> None:  # the model's class, in this worker only (it exits after the pair)
        model = built[2]
        wrap(type(model), "learn", "learn")
        wrap(type(model), "save", "save model")

    wrap(runner.PairTask, "record", "record header")
    wrap(runner, "versions", "versions (git)")
    wrap(runner, "single_thread", "single_thread")
    wrap(runner, "machine", "machine")
    wrap(runner, "build_run", "build env + agent", after=model_timers)
    wrap(runner, "configure", "logger", after=lambda logger: wrap(type(logger), "close", "logger close"))
    wrap(runner, "Evaluator", "evaluation envs")
    wrap(runner, "write_atomic", "write files")
    wrap(runner, "write_record", "write run.json")


def worker_child(*args: Any, **kwargs: Any) -> None:
    """The local executor's worker function (`harness.execution.executors._child`, whose first
    argument is the pair's task), timed."""
    entered = time.time()
    timeline = Timeline()
    executors = importlib.import_module("harness.execution.executors")  # the original `_child`, timed by name

    install_worker_timers(timeline)
    profiler = None
    if os.environ.get(WORKER_PROFILE) == "1":
        from pyinstrument import Profiler  # here: only a profiled worker needs it

        profiler = Profiler(interval=0.001)
        profiler.start()
    try:
        executors._child(*args, **kwargs)
    finally:
        left = time.time()
        text = profile_text(profiler) if profiler is not None else ""
        log = {
            "key": args[0].key,
            "pid": os.getpid(),
            "entered": entered,
            "left": left,
            "spans": timeline.spans,
            "missing": timeline.missing,
            "profile": text,
        }
        folder = pathlib.Path(os.environ[WORKER_LOGS])
        (folder / f"{os.getpid()}.json").write_text(json.dumps(log))


def profile_text(profiler: Any) -> str:
    """The profile as text, the calls under `PROFILE_THRESHOLD` of its time hidden."""
    if profiler.is_running:
        profiler.stop()
    return profiler.output_text(unicode=False, color=False, processor_options={"filter_threshold": PROFILE_THRESHOLD})


class Probe:
    """In the kernel: the timers installed, then `compare` timed and its figures printed (one
    JSON line after `MARKER`)."""

    def __init__(self, runs_dir: str, reports_dir: str, jobs: int, profile: bool) -> None:
        self.runs_dir, self.reports_dir, self.jobs, self.profile = runs_dir, reports_dir, jobs, profile
        self.worker_logs = pathlib.Path(runs_dir).parent / "worker-logs"
        self.worker_logs.mkdir(parents=True, exist_ok=True)
        os.environ[WORKER_LOGS] = str(self.worker_logs)  # before the forkserver starts: its workers inherit it
        os.environ[WORKER_PROFILE] = "1" if profile else "0"
        self.timeline = Timeline()
        self.imports = install_driver_timers(self.timeline)

    def emit(self, what: str, figures: Mapping[str, Any]) -> None:
        print(MARKER + json.dumps({"what": what, **figures}), flush=True)

    def compare(self, study: Any, fresh: bool, label: str) -> None:
        import harness  # here: this module is imported in the workers too, which need none of it

        self.timeline.spans.clear()
        for old in self.worker_logs.glob("*.json"):
            old.unlink()
        profiler = None
        if self.profile:
            from pyinstrument import Profiler  # here: only the profiled kernel needs it

            profiler = Profiler(interval=0.001)
            profiler.start()
        start = time.time()
        result = harness.compare(
            study,
            jobs=self.jobs,
            video=False,
            runs_dir=self.runs_dir,
            reports_dir=self.reports_dir,
            fresh=fresh,
        )
        end = time.time()
        text = profile_text(profiler) if profiler is not None else ""
        missing = [*self.timeline.missing, *(f"{module} (never imported)" for module in self.imports.hooks)]
        if not result.ok or len(result.completed) != 2:
            raise RuntimeError(f"the compare did not run 2 pairs: {result.summary()}; failed: {result.failed}")
        records = {
            key: json.loads((result.study_dir / key / "run.json").read_text())["timings"] for key in result.completed
        }
        workers = [json.loads(path.read_text()) for path in sorted(self.worker_logs.glob("*.json"))]
        self.emit(
            "compare",
            {
                "label": label,
                "start": start,
                "end": end,
                "spans": self.timeline.spans,
                "records": records,
                "workers": workers,
                "missing": missing,
                "profile": text,
            },
        )

    def report_without_cache(self, study: Any) -> None:
        """The report of the runs there are, rebuilt without the cache: its cost when the numbers changed."""
        from harness.report import write_report  # here: imported by the compare before, as a notebook would

        self.timeline.spans.clear()
        start = time.time()
        write_report(
            pathlib.Path(self.runs_dir) / study.name, pathlib.Path(self.reports_dir) / "nocache", False, cache=False
        )
        self.emit("report without cache", {"start": start, "end": time.time(), "spans": self.timeline.spans})


# --- in this process: kernels run, figures collected and printed ---------------------------------------------------


def run_kernel(workdir: pathlib.Path, jobs: int, warm: int, profile: bool) -> tuple[list[dict[str, Any]], float]:
    """One fresh kernel: the notebook's cells, a cold compare and `warm` compares with fresh=True.
    Returns the figures it printed and the seconds the kernel took to start."""
    import nbclient  # here: the kernels and the workers import this module, and need neither
    import nbformat

    runs, reports = workdir / "runs", workdir / "reports"
    cells = [
        AGENT_CELL,
        STUDY_CELL.format(name=STUDY_NAME, profile=profile),
        PROBE_CELL.format(runs=str(runs), reports=str(reports), jobs=jobs, profile=profile),
        '_probe.compare(study, fresh=False, label="cold")',
        *['_probe.compare(study, fresh=True, label="warm")' for _ in range(warm)],
        "_probe.report_without_cache(study)",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells])
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    start = time.perf_counter()
    with open(workdir / "kernel.log", "w") as log:  # the kernel's stderr (workers' tracebacks), shown on failure
        try:
            with client.setup_kernel(stderr=log):
                started = time.perf_counter() - start
                for index, cell in enumerate(notebook.cells):
                    client.execute_cell(cell, index)
        except Exception:
            log.flush()
            sys.stderr.write((workdir / "kernel.log").read_text()[-5000:])
            raise
    figures = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                figures += [
                    json.loads(line[len(MARKER) :]) for line in output["text"].splitlines() if line.startswith(MARKER)
                ]
    return figures, started


def analyse(compare: Mapping[str, Any]) -> dict[str, float]:
    """The phases of one compare, in seconds: the headline figures, then a breakdown whose
    top-level rows add up to the compare's wall time (the pairs along the worker that ended last)."""
    spans = [tuple(span) for span in compare["spans"]]
    start, end = compare["start"], compare["end"]

    def total(phase: str) -> float:
        return sum(b - a for name, a, b in spans if name == phase)

    def first(phase: str) -> tuple[float, float] | None:
        found = [(a, b) for name, a, b in spans if name == phase]
        return min(found) if found else None

    records = compare["records"]
    walls = {key: timings["wall_time_s"] for key, timings in records.items()}
    longest = max(walls, key=walls.__getitem__)
    figures: dict[str, float] = {
        "compare": end - start,
        "pair wall (longest)": walls[longest],
        "pair learn (longest)": records[longest]["learn_time_s"],
        "pair eval (longest)": records[longest]["eval_time_s"],
        "outside training": end - start - walls[longest],
    }
    launches = {int(name.split()[1]): (a, b) for name, a, b in spans if name.startswith("launch ")}
    noticed = {name.split(maxsplit=2)[2]: a for name, a, _ in spans if name.startswith("exit noticed ")}
    workers = {worker["key"]: worker for worker in compare["workers"]}
    scheduler, report = first("scheduler"), first("report")
    if not (launches and noticed and scheduler and report and workers):
        return figures
    first_launch = min(a for a, _ in launches.values())
    last_path, last_noticed = max(noticed.items(), key=lambda item: item[1])
    figures["before the pairs"] = first_launch - start
    figures["  resolve the study (import the classes, check_on_env)"] = total("resolve study")
    figures["    of which check_on_env (each agent built once)"] = total("check_on_env")
    figures["  import harness.execution.executors (the runner, SB3), .scheduler"] = total(
        "import harness.execution.executors"
    ) + total("import harness.execution.scheduler")
    figures["  study.toml, plan (code identities, slots)"] = total("study.toml") + total("plan")
    figures["  progress bar (the notebook widget)"] = total("progress bar")
    figures["the pairs (first launch to the last exit noticed)"] = last_noticed - first_launch
    worker = next((w for key, w in workers.items() if last_path.endswith(key)), None)
    if worker is not None:
        own = worker["spans"]

        def in_worker(phase: str) -> float:
            return sum(b - a for name, a, b in own if name == phase)

        timer = min((a for name, a, _ in own if name == "single_thread"), default=worker["entered"])
        wall = records[worker["key"]]["wall_time_s"]
        learn = records[worker["key"]]["learn_time_s"]
        evals = records[worker["key"]]["eval_time_s"]
        phases = ("single_thread", "machine", "build env + agent", "logger", "evaluation envs", "logger close")
        known = learn + sum(in_worker(name) for name in (*phases, "save model", "write files"))
        tag = "  last pair: "
        figures["  launches, until the last pair's code runs (fork, unpickle)"] = worker["entered"] - first_launch
        figures["    of which the first (waits for the forkserver to import torch, SB3)"] = (
            launches[min(launches, key=lambda pid: launches[pid][0])][1] - first_launch
        )
        figures[tag + "before the pair's timer (record header, versions: git x2)"] = timer - worker["entered"]
        figures[tag + "wall_time_s (the pair's own timer)"] = wall
        figures[tag + "  single_thread (threadpoolctl), machine()"] = in_worker("single_thread") + in_worker("machine")
        figures[tag + "  build env + agent (import the class, seed)"] = in_worker("build env + agent")
        figures[tag + "  logger (TensorBoard, CSV)"] = in_worker("logger")
        figures[tag + "  evaluation envs"] = in_worker("evaluation envs")
        figures[tag + "  learn: training"] = learn - evals
        figures[tag + "  learn: evaluations"] = evals
        figures[tag + "  logger close (TensorBoard flush)"] = in_worker("logger close")
        figures[tag + "  save model + write files"] = in_worker("save model") + in_worker("write files")
        figures[tag + "  the rest"] = wall - known
        figures[tag + "after its timer: run.json, exit, noticed by the driver"] = last_noticed - (timer + wall)
    figures["after the pairs, before the report"] = report[0] - last_noticed
    figures["  import harness.report (matplotlib, scipy, rliable)"] = total("import harness.report")
    figures["report (write_report)"] = report[1] - report[0]
    figures["  read runs"] = total("read runs")
    figures["  bootstrap intervals"] = total("bootstrap")
    figures["  plots (4 PNGs)"] = total("plots")
    figures["  README"] = total("README")
    figures["after the report"] = end - report[1]
    return figures


def median_table(rows: Sequence[Mapping[str, float]]) -> list[tuple[str, float, float, float]]:
    names = list(dict.fromkeys(name for row in rows for name in row))
    table = []
    for name in names:
        values = [row[name] for row in rows if name in row]
        table.append((name, statistics.median(values), min(values), max(values)))
    return table


def print_table(title: str, rows: Sequence[Mapping[str, float]], names: Iterable[str] | None = None) -> None:
    print(f"\n  {title} ({len(rows)} times; median, min-max, seconds)")
    wanted = set(names) if names is not None else None
    for name, median, low, high in median_table(rows):
        if wanted is not None and name not in wanted:
            continue
        print(f"    {name:<74} {median:>6.2f}   {low:>5.2f}-{high:<5.2f}")


HEADLINE = (
    "compare",
    "pair wall (longest)",
    "pair learn (longest)",
    "pair eval (longest)",
    "outside training",
)
CELL = "with_agent + compare (one cell in examples/assignment.ipynb)"


def report_figures(item: Mapping[str, Any]) -> dict[str, float]:
    """The report rebuilt without its cache: total, bootstrap, plots."""
    spans = item["spans"]
    return {
        "report without its cache (warm kernel; numbers changed)": item["end"] - item["start"],
        "  bootstrap intervals": sum(b - a for name, a, b in spans if name == "bootstrap"),
        "  plots (4 PNGs)": sum(b - a for name, a, b in spans if name == "plots"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.notebook_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--kernels", type=int, default=3, help="fresh kernels, one cold compare each (default 3)")
    parser.add_argument("--warm", type=int, default=3, help="compares with fresh=True in each kernel (default 3)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    # the kernels (and the forkserver they start, and its workers) import this checkout's harness and this module
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])

    cold: list[dict[str, float]] = []
    warm: list[dict[str, float]] = []
    context: list[dict[str, float]] = []
    reports: list[dict[str, float]] = []
    missing: set[str] = set()
    profiled: list[dict[str, Any]] = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-notebook-") as tmp:
        for index in range(args.kernels + (1 if args.profile else 0)):
            profile = index == args.kernels
            workdir = pathlib.Path(tmp) / (f"kernel-{index}" if not profile else "profiled")
            workdir.mkdir()
            figures, started = run_kernel(workdir, args.jobs, 1 if profile else args.warm, profile=profile)
            if profile:
                profiled = figures
                break
            setup = next(item["figures"] for item in figures if item["what"] == "setup")
            context.append({**setup, "kernel start (nbclient)": started})
            for item in figures:
                if item["what"] == "compare":
                    missing.update(item["missing"], *(worker["missing"] for worker in item["workers"]))
                    row = analyse(item)
                    if item["label"] == "cold":
                        cold.append({CELL: setup[".with_agent('mine', CartPoleQAgent)"] + row["compare"], **row})
                    else:
                        warm.append(row)
                elif item["what"] == "report without cache":
                    reports.append(report_figures(item))
            times = ", ".join(f"{row['compare']:.2f}" for row in warm[-args.warm :])
            print(f"kernel {index + 1}/{args.kernels}: cold compare {cold[-1]['compare']:.2f} s, warm {times} s")
    elapsed = time.perf_counter() - began

    print(
        f"\nbench-notebook: harness.compare of 2 pairs x 1,000 env steps (tabular_q and a notebook's "
        f"CartPoleQAgent), jobs={args.jobs}, video=False, in a Jupyter kernel; {os.cpu_count()} cores"
    )
    print_table("the cells before the compare", context)
    for title, rows in (("cold: the first compare in a fresh kernel", cold), ("warm: again with fresh=True", warm)):
        print_table(title, rows, (CELL, *HEADLINE))
        outside = statistics.median(row["outside training"] for row in rows)
        print(f"    {f'outside training, target < {TARGET_S:.0f} s:':<74} {'met' if outside < TARGET_S else 'MISSED'}")
    for title, rows in (("cold, where the time goes", cold), ("warm, where the time goes", warm)):
        print_table(title, rows, [name for name, *_ in median_table(rows) if name not in (CELL, *HEADLINE)])
    print_table("the report of the same runs rebuilt without its cache, in the warm kernel", reports)
    if missing:
        print(f"\n  timers left out (their function is gone): {', '.join(sorted(missing))}")

    for item in profiled:
        if item["what"] == "setup":
            print(f"\n--- pyinstrument: the cell that builds the study, in a fresh kernel ---\n{item['profile']}")
        if item["what"] != "compare":
            continue
        print(f"\n--- pyinstrument: the {item['label']} compare, in the kernel ---\n{item['profile']}")
        longest = max(item["records"], key=lambda key: item["records"][key]["wall_time_s"])
        for worker in item["workers"]:
            if worker["key"] == longest:
                print(f"--- pyinstrument: the {item['label']} compare's longest pair ({longest}), in its worker ---")
                print(worker["profile"])
    print(f"(the benchmark took {elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
