"""The harness from Python (a notebook, a script): the same functions the command line calls.

    import harness
    study = harness.study("cartpole").with_agent("mine", MyAgent, gamma=0.9)   # a class from a cell too
    harness.check_agent(MyAgent)                                              # the agent contract
    outcome = harness.compare(study, seeds=[0, 1, 2], jobs=2)   # runs, then writes the report
    results = harness.load(outcome.study_dir)                   # the results as DataFrames and figures
    results.summary          # one row per agent (the report's summary table)
    results.evals            # one row per evaluation episode: agent, seed, eval_step, episode, ...
    results.episodes         # one row per training episode: agent, seed, episode, start_step, ...
    results.plot("eval_return")
    results.write_report("reports/my-study")
    tuned = harness.tune("my-study.toml", jobs=2)               # the same Optuna budget for each agent
    harness.compare(tuned.tuned_file)                            # the tuned agents on the study's seeds

A class handed over to `with_agent` that workers cannot import by name (a notebook's, a script's
`__main__`) travels to them by value (`harness.agents.objects`).

Errors are exceptions deriving from `harness.errors.HarnessError`: `StudyError` (a bad study or
option), `KindError`, `ExecutorUnavailable` (Ray missing or unreachable), `StoreBusy` (another
process holds the study's runs folder), `ReportError`; each message is one line. The command line
turns them into exit code 2.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import os
import pathlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import pandas as pd

from harness import agents, execution
from harness.conditions import check_env_id
from harness.errors import Interrupted, KindError, ReportError, StudyError
from harness.execution import interrupts
from harness.studies import Study, load_study, parse_labels, resolve_study, with_options

if TYPE_CHECKING:  # type only: the report imports matplotlib; the contract SB3 and torch
    from harness.agents import CheckResult
    from harness.report import Results

EXECUTORS = ("local", "ray")
_F = TypeVar("_F", bound=Callable[..., Any])


def _interruptible(what: str) -> Callable[[_F], _F]:
    """Ctrl-C in the command ends it with `Interrupted` (one line in a notebook), once its workers
    are stopped and every complete run is kept."""

    def wrap(function: _F) -> _F:
        @functools.wraps(function)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Interrupted:
                raise
            except KeyboardInterrupt:
                raise Interrupted(f"{what} interrupted") from None

        return wrapped  # type: ignore[return-value]

    return wrap


@dataclass(frozen=True)
class CompareResult:
    """What `compare` did."""

    study_dir: pathlib.Path
    """RUNS_DIR/STUDY."""
    skipped: tuple[str, ...]
    """Pairs (`label/seed_S`) that were already complete."""
    completed: tuple[str, ...]
    """Pairs that ran now and completed."""
    failed: tuple[tuple[str, str], ...]
    """(pair, error) of the pairs that ran now and failed."""
    wall_time_s: float
    report: pathlib.Path | None
    """The report's README.md (None without a report)."""
    report_error: str = ""
    """Why no report was written although one was asked for (only when runs failed)."""
    restored: tuple[str, ...] = ()
    """Pairs whose run of the current identity came back from the runs set aside."""
    set_aside: tuple[str, ...] = ()
    """Pairs whose complete run of another identity (settings, code) was set aside."""
    decisions: pd.DataFrame | None = None
    """A study with a `[decide]` table: one row per (env, comparison) (`harness.load(...).decisions`)."""
    decision_lines: tuple[str, ...] = ()
    """The decisions in words, one line per comparison (what `harness compare` prints)."""

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        """What ran, in one line (what `harness compare` prints)."""
        restored = f", {len(self.restored)} restored" if self.restored else ""
        return (
            f"{self.study_dir.name}: {len(self.completed)} run(s) complete, {len(self.failed)} failed, "
            f"{len(self.skipped)} already complete{restored}; {self.wall_time_s:.1f}s"
        )

    def _repr_html_(self) -> str:
        report = f"; report: {self.report}" if self.report is not None else ""
        failed = "".join(f"<li>{html.escape(key)}: {html.escape(error)}</li>" for key, error in self.failed)
        decided = "".join(f"<li>{html.escape(line)}</li>" for line in self.decision_lines)
        return (
            f"<p>{html.escape(self.summary() + report)}</p>"
            + (f"<ul>{decided}</ul>" if decided else "")
            + (f"<p>failed:</p><ul>{failed}</ul>" if failed else "")
        )


@_interruptible("compare")
def compare(
    study: str | os.PathLike[str] | Study = "cartpole",
    *,
    seeds: str | Sequence[int] | None = None,
    agents: str | Sequence[str] | None = None,
    total_timesteps: int | None = None,
    runs_dir: str | os.PathLike[str] = "runs",
    reports_dir: str | os.PathLike[str] = "reports",
    jobs: int | None = None,
    executor: str = "local",
    address: str | None = None,
    gpus_per_run: float = 0.0,
    fresh: bool = False,
    report: bool = True,
    video: bool = True,
    command: str = "",
    stream: TextIO | None = None,
) -> CompareResult:
    """Run every pair of `study` not yet complete, then write its report (`harness compare`).

    :param study: a study file, an embedded study's name (`cartpole`, `quick`) or a `Study`.
    :param seeds, agents, total_timesteps: run only these seeds (a list, or "0-4" / "0,3,7") and
        agent labels (a list, or "a,b"), with this budget.
    :param jobs: pairs in parallel (default: the machine's cores).
    :param executor: "local" (processes on this machine) or "ray" (`address`, `gpus_per_run`).
    :param fresh: train the selected pairs (of `agents`, `seeds`) again, deleting their runs.
    :param report, video: write the report (with an episode video of each agent).
    :param command: the command line to record in the run files (the CLI passes its own).
    :param stream: where progress goes (default: stdout).
    """
    loaded = with_options(  # a bad study file is refused before torch loads
        study if isinstance(study, Study) else load_study(os.fspath(study)), total_timesteps, agents, seeds
    )
    if executor not in EXECUTORS:
        raise StudyError(f"executor: must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    jobs = jobs if jobs is not None else os.cpu_count() or 1
    if jobs < 1:
        raise StudyError(f"jobs: must be >= 1, got {jobs}")
    runs_dir, reports_dir = pathlib.Path(runs_dir), pathlib.Path(reports_dir)
    if executor != "ray":
        for option, value in (("address", address), ("gpus_per_run", gpus_per_run)):
            if value:
                raise StudyError(f"{option}: needs the ray executor")
    with interrupts.deferred():  # torch's import (the executors' first use) must not be cut by a Ctrl-C
        if executor == "ray":
            runner: Any = execution.RayExecutor(address=address, num_cpus=jobs, gpus_per_run=gpus_per_run)
        else:
            runner = execution.LocalExecutor(jobs)
            runner.start()  # the fork server imports torch while this process resolves the study
        resolved = resolve_study(loaded)
        if report:  # here, while the fork server imports torch: the report loads matplotlib and scipy
            from harness.report import write_report
    decisions, decision_lines = None, ()
    with runner:
        if resolved.decide is not None:  # in rounds, until each comparison is decided
            from harness.experiments import compare_in_rounds  # here: it loads the analysis (scipy) too

            rounds = compare_in_rounds(resolved, runs_dir, runner, fresh=fresh, command=command, stream=stream)
            outcome, decisions, decision_lines = rounds.outcome, rounds.decisions, rounds.lines()
        else:
            outcome = execution.compare(resolved, runs_dir, runner, fresh=fresh, command=command, stream=stream)
    study_dir = runs_dir / resolved.name
    report_path, report_error = None, ""
    if report:
        try:
            report_path = write_report(study_dir, reports_dir / resolved.name, video=video)
        except ReportError as error:
            if not outcome.failed:
                raise
            report_error = str(error)
    return CompareResult(
        study_dir,
        outcome.skipped,
        outcome.completed,
        outcome.failed,
        outcome.wall_time_s,
        report_path,
        report_error,
        outcome.restored,
        outcome.set_aside,
        decisions,
        decision_lines,
    )


@dataclass(frozen=True)
class TuneResult:
    """What `tune` did (`tune` prints `summary()`): `study` is the tuned study, usable at once
    (`harness.compare(result.study)`), in-memory classes included."""

    study_dir: pathlib.Path
    tuned_file: pathlib.Path | None
    """runs/<study>/tuned.toml: the study with the tuned values (None until an agent's tune finished)."""
    agents: tuple[Any, ...]
    """One `harness.experiments.AgentTuning` per agent tuned (or tuned before, with `agents`)."""
    wall_time_s: float
    skipped: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """The study's agents not tuned, and why."""
    study: Study | None = None
    """The tuned study (None until an agent's tune finished)."""

    @property
    def best(self) -> dict[str, dict[str, Any]]:
        """Per agent, its chosen values of the searched keys (the start's where nothing was better)."""
        return {a.label: dict(a.chosen) for a in self.agents}

    def summary(self) -> str:
        """One line per agent of the study (tuned, or skipped and why), then the time."""
        lines = []
        for a in self.agents:
            states = f"{a.complete} complete, {a.pruned} stopped early, {a.failed} failed"
            tried = f"{a.configurations} configurations ({states})"
            start = f"start {a.start_value:.1f}" if a.start_value is not None else "start failed"
            best = f"best trial {a.best_trial} {a.best_value:.1f}" if a.best_value is not None else "no complete trial"
            if a.chosen_trial is None:
                chosen = "no validation value: nothing chosen"
            elif a.chosen_trial == 0:
                chosen = "tuning found nothing better than the start on the validation seeds"
            else:
                start_there = a.validation.get(0)
                versus = f" against the start's {start_there:.1f}" if start_there is not None else ""
                chosen = (
                    f"chose trial {a.chosen_trial}: {a.validation[a.chosen_trial]:.1f} on the validation seeds{versus}"
                )
            lines.append(f"{a.label}: tuned: {tried}; {start}, {best} on the tuning seeds; {chosen}")
        lines += [f"{label}: skipped: {why}" for label, why in self.skipped.items()]
        lines.append(f"{self.study_dir.name}: tuned in {self.wall_time_s:.1f}s")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"


@_interruptible("tune")
def tune(
    study: str | os.PathLike[str] | Study,
    *,
    agents: str | Sequence[str] | None = None,
    runs_dir: str | os.PathLike[str] = "runs",
    jobs: int | None = None,
    executor: str = "local",
    address: str | None = None,
    command: str = "",
    stream: TextIO | None = None,
) -> TuneResult:
    """Tune the agents of a study with a `[tune]` table, each with the same budget of Optuna trials
    on the tuning seeds (`harness tune`); writes runs/<study>/tuned.toml, prints one line per
    agent (tuned, or skipped and why) and returns the tuned study as `result.study`.

    :param study: a study file, an embedded study's name or a `Study`.
    :param agents: only these labels (a list, or "a,b"); default: every agent with a search space.
    :param jobs: runs in parallel (default: the machine's cores).
    :param executor: "local" or "ray" (`address`).
    """
    from harness.experiments import tune_study  # here: it loads Optuna

    loaded = study if isinstance(study, Study) else load_study(os.fspath(study))
    labels = parse_labels(agents) if isinstance(agents, str) else (list(agents) if agents is not None else None)
    if labels is not None:
        loaded.select(labels=labels)  # unknown labels refused here, one line
    if loaded.tune is None:
        raise StudyError(f"{loaded.source}: tune: no [tune] table; add one (trials, seeds) to tune this study")
    if executor not in EXECUTORS:
        raise StudyError(f"executor: must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if address and executor != "ray":
        raise StudyError("address: needs the ray executor")
    jobs = jobs if jobs is not None else os.cpu_count() or 1
    if jobs < 1:
        raise StudyError(f"jobs: must be >= 1, got {jobs}")
    with interrupts.deferred():  # torch's import (the executors' first use) must not be cut by a Ctrl-C
        if executor == "ray":
            runner: Any = execution.RayExecutor(address=address, num_cpus=jobs)
        else:
            runner = execution.LocalExecutor(jobs)
    with runner:
        outcome = tune_study(loaded, pathlib.Path(runs_dir), runner, labels=labels, command=command, stream=stream)
    result = TuneResult(
        outcome.study_dir, outcome.tuned_file, outcome.agents, outcome.wall_time_s, outcome.skipped, outcome.study
    )
    print(result.summary(), file=stream or sys.stdout, flush=True)
    return result


@dataclass(frozen=True)
class ContractReport:
    """What `check_agent` found: one line per property of the agent contract; each distinct
    finding said once, with the number of checks that found it."""

    kind: str
    results: tuple[CheckResult, ...]
    printed: bool = False
    """Whether `check_agent` printed it already (a notebook then shows it no second time)."""

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(result for result in self.results if not result.ok)

    @property
    def findings(self) -> dict[str, int]:
        """Each distinct finding of the failed checks (what failed, without its fix) -> how many
        checks found it, in the order first found."""
        counts: dict[str, int] = {}
        for result in self.failed:
            counts[result.finding] = counts.get(result.finding, 0) + 1
        return counts

    def summary(self) -> str:
        """'11 of 13 checks hold; 2 fail: 1 finding (2 checks)'."""
        held = len(self.results) - len(self.failed)
        text = f"{held} of {len(self.results)} checks hold"
        if self.failed:
            found = self.findings
            counts = ", ".join(f"{n} check{'s' if n > 1 else ''}" for n in found.values())
            text += f"; {len(self.failed)} fail: {len(found)} finding{'s' if len(found) > 1 else ''} ({counts})"
        return text

    def lines(self) -> list[str]:
        """One line per check (a finding said once: later checks that found it say 'as above')."""
        said: set[str] = set()
        return [_line_once(result, said) for result in self.results]

    def __str__(self) -> str:
        return "\n".join([*self.lines(), self.summary()])

    def __repr__(self) -> str:
        return f"ContractReport({self.kind!r}: {self.summary()})"

    def _ipython_display_(self) -> None:
        """A notebook shows the report once: not again when `check_agent` printed it."""
        if not self.printed:
            print(self)


def _line_once(result: CheckResult, said: set[str]) -> str:
    """`result`'s line, 'as above' where a check before it (its finding in `said`, which this
    adds to) found the same."""
    line = result.line(as_above=not result.ok and result.finding in said)
    if not result.ok:
        said.add(result.finding)
    return line


@_interruptible("check_agent")
def check_agent(
    kind: str | type,
    *,
    env_id: str = "CartPole-v1",
    total_timesteps: int = 3_000,
    seed: int = 0,
    code_dir: str | os.PathLike[str] | None = None,
    stream: TextIO | None = None,
    timeout_s: float = 600.0,
    **hyperparameters: Any,
) -> ContractReport:
    """Run the agent contract (`harness check-agent`) on a kind or a class (one defined in a
    notebook cell too), printing one line per property as it is checked (to `stream`, default
    stdout; a finding said once). The checks run in a process of their own, which the harness
    stops when the agent goes on after its budget or a check runs past `timeout_s` seconds.
    `KindError` or `StudyError` (one line) for a kind that cannot be checked; `Interrupted` on
    Ctrl-C.

    :param kind: a built-in kind, an import path (relative to `code_dir`, default the current
        folder) or a class of one of the three agent families.
    :param hyperparameters: the class's keyword arguments.
    """
    out = stream or sys.stdout
    folder = pathlib.Path(code_dir) if code_dir is not None else pathlib.Path.cwd()
    with interrupts.deferred():  # torch's import (the families' first use) must not be cut by a Ctrl-C
        check_env_id(env_id)
        if isinstance(kind, type):
            kind = agents.kind_of(kind)
        elif not isinstance(kind, str):
            raise KindError(f"kind must be a class, a built-in kind or an import path, got {kind!r}")
        agents.check_kind(kind, folder)
        resolved = agents.resolve_kind(kind, folder)
        values = resolved.resolve(hyperparameters, env_id)
        resolved.check_on_env(env_id, values)
    print(
        f"harness check-agent {kind} ({resolved.family}: {resolved.class_path}) on {env_id}, "
        f"budget {total_timesteps:,}",
        file=out,
        flush=True,
    )
    said: set[str] = set()

    def show(result: CheckResult) -> None:
        print(_line_once(result, said), file=out, flush=True)

    results = execution.run_contract_supervised(
        kind, agents.shipped(kind), folder, values, env_id, total_timesteps, seed, show, timeout_s
    )
    report = ContractReport(kind, tuple(results), printed=True)
    print(report.summary(), file=out, flush=True)
    return report


def study(name_or_path: str | os.PathLike[str]) -> Study:
    """The study in a file, or an embedded one by name (`cartpole`, `quick`, `classic-control`),
    read and checked (`StudyError`, one line, when it is bad)."""
    return load_study(os.fspath(name_or_path))


def load(study_dir: str | os.PathLike[str]) -> Results:
    """The results of the study in `study_dir` (RUNS_DIR/STUDY), every figure of its report, as
    pandas DataFrames (`harness.report.Results`: `summary`, `evals`, `episodes`, `pairs`, `envs`,
    `aggregate`, `write_report`); `ReportError` when there are none."""
    from harness.report import Results  # deferred: the report's renderers import matplotlib

    return Results.from_folder(pathlib.Path(study_dir))
