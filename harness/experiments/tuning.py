"""`harness tune`: the same budget in env steps for every agent, a start from the agent's own
values, multi-fidelity stop rules that spend the budget on more configurations, and the tuned
values chosen on seeds the tune did not tune on.

For each agent tuned (those with a search space: `[agents.<label>.search]`, `with_agent(...,
search=...)`, or the default space of a built-in kind), one after another:

    its space made to hold its start (`studies.with_start`: a choice added, a range widened);
    an Optuna study in runs/<study>/tune/optuna.journal (`trials`), named <label>@<fingerprint of
    what its trials depend on>, with the start enqueued as trial 0 (`START`);
    batch b: trials b*c .. b*c + c - 1 (c = concurrent_trials), each proposed by a sampler seeded
             with (seed, label, trial number), knowing the trials of the batches before; their runs
             (every tuning seed, the trial budget, the trials' evaluation episodes) run together
             through the executor, as pairs of the store runs/<study>/tune/<label>/
             (trial_<n>/seed_<s>/), each stopping itself at its trial's stop rule (`rules`,
             computed from the trials told before the batch; none for the start); then each trial
             is told: complete with its value (`analysis.objective`, the mean over its seeds),
             pruned when a run stopped early, failed when one failed;
    until the budget is spent: a new batch starts while the env steps the trials took, plus what
    the validation runs will take, are below `budget_env_steps` (the last batch may overrun it by
    at most one batch), or `trials` trials are finished;
    validation: the start and the best `finalists` complete trials re-trained on the validation
    seeds (their own evaluation episodes, no stop rule); the tuned values are the best there, the
    start winning ties.

A tune holds the study's runs folder (as `compare` does). Interrupted (Ctrl-C, a kill), the trials
in flight stay RUNNING in the journal (or WAITING: the start enqueued but not asked yet): run again,
it finishes them with the same values (their complete runs are kept by the store), so no trial is
lost or repeated and the proposals do not depend on where it stopped. Raising the budget resumes
the same Optuna study and goes on. It ends by writing runs/<study>/tuned.toml: the study file with
each tuned agent's chosen values, a `[tuned.<label>]` record of how they were found, and the
start as an agent of its own (`<label>_start`) wherever the tuned values differ from it, so that
the comparison of the tuned study measures both on the test seeds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import pathlib
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from harness import execution
from harness.agents import is_in_memory, resolve_kind
from harness.analysis import START_SUFFIX, objective
from harness.conditions import tensorboard
from harness.errors import StudyError
from harness.experiments import trials as optuna_trials
from harness.experiments.rules import Thresholds, thresholds
from harness.experiments.trials import START
from harness.schema import EVALS
from harness.store import StudyStore, read_record, write_atomic
from harness.studies import (
    STORAGE_FILE,
    TUNE_FOLDER,
    TUNED_FILE,
    AgentSpec,
    SearchSpace,
    Study,
    check_search,
    default_search,
    nothing_to_tune,
    resolve_study,
    start_of,
    to_toml,
    with_start,
)

TRIAL_PREFIX = "trial_"
MAX_FAILED_IN_A_ROW = 25
"""A tune whose last this many trials all failed (values the agent refuses, runs that diverge)
stops: an env-step budget alone would never be spent by trials that take no steps."""


SESSION_FILE = "session"
"""A trial's event file in its folder (`tensorboard.FILE_PREFIX` + this)."""
SESSION_METRICS = (
    ("tune/value", "value on the tuning seeds"),
    ("tune/validation_value", "value on the validation seeds"),
    ("tune/env_steps", "env steps its runs took"),
)
"""The tune view's metrics: (tag, name)."""
SESSION_ORDER = ("agent", "trial", "state", "start", "finalist", "chosen")
"""The tune view's first columns; the searched values follow."""


@dataclass(frozen=True)
class AgentTuning:
    """Where one agent's tune stands."""

    label: str
    study_name: str
    """Its Optuna study in the journal."""
    complete: int
    pruned: int
    failed: int
    best_value: float | None
    """The best complete trial's value on the tuning seeds."""
    best_trial: int | None
    best: Mapping[str, Any]
    """The best trial's choices (by key)."""
    env_steps: int = 0
    """Env steps its trials' runs and its validation runs took."""
    run_now: int = 0
    """Trials finished by this call."""
    start_value: float | None = None
    """Trial 0's value on the tuning seeds: the agent's own values."""
    validation: Mapping[int, float | None] = dataclasses.field(default_factory=dict)
    """Trial number -> its value on the validation seeds (the start and the finalists)."""
    chosen_trial: int | None = None
    """The trial whose values are the tuned ones (`START`: nothing better than the start)."""
    chosen: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """The chosen trial's values of the searched keys."""
    chosen_value: float | None = None
    """The chosen trial's value on the tuning seeds."""
    space_extended: tuple[str, ...] = ()
    """How the space was made to hold the start, in words."""
    sessions: tuple[tensorboard.Session, ...] = ()
    """Its trials as the tune view's HParams sessions."""

    @property
    def configurations(self) -> int:
        """Trials finished: the configurations tried."""
        return self.complete + self.pruned + self.failed


@dataclass(frozen=True)
class TuneOutcome:
    study_dir: pathlib.Path
    tuned_file: pathlib.Path | None
    """runs/<study>/tuned.toml (None when no agent has finished its tune)."""
    agents: tuple[AgentTuning, ...]
    wall_time_s: float
    skipped: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """The study's agents not tuned, and why."""
    study: Study | None = None
    """The tuned study (what tuned.toml holds), its in-memory classes with it: usable at once."""


def space_of(spec: AgentSpec) -> SearchSpace | None:
    """An agent's search space: its own, else its kind's default, else None."""
    return spec.search if spec.search is not None else default_search(spec.kind)


def spaces_of(study: Study, labels: Sequence[str] | None) -> tuple[dict[str, SearchSpace], dict[str, str]]:
    """The agents to tune and their spaces: `labels` (each needs a space), or every agent that has
    one; and the agents left out, with why. `StudyError` for an agent named without a space (nor a
    default one)."""
    chosen = list(labels) if labels is not None else list(study.labels)
    spaces: dict[str, SearchSpace] = {}
    skipped: dict[str, str] = {label: "not among the agents asked for" for label in study.labels if label not in chosen}
    for label in chosen:
        spec = study.agent(label)
        space = space_of(spec)
        if space is None:
            how = (
                f"with_agent({label!r}, ..., search={{...}})"
                if is_in_memory(spec.kind)
                else f"[agents.{label}.search] with key = {{ low = ..., high = ... }} or a list"
            )
            if nothing_to_tune(spec.kind):
                if labels is not None:
                    raise StudyError(
                        f"{study.source}: --agents: {label} ({spec.kind}) has nothing to tune; leave it out"
                    )
                skipped[label] = "nothing to tune"
                continue
            if labels is not None:
                raise StudyError(
                    f"{study.source}: agents.{label}.search: missing; {spec.kind} has no default search space, "
                    f"so declare one: {how}"
                )
            skipped[label] = f"no search space ({spec.kind} has no default one): give it one, {how}"
            continue
        spaces[label] = space
    if not spaces:
        raise StudyError(
            f"{study.source}: no agent to tune; give one a search space ([agents.<label>.search], or "
            "with_agent(..., search={...}) from Python)"
        )
    return spaces, skipped


def check_spaces(study: Study, spaces: Mapping[str, SearchSpace]) -> None:
    """Every space against its agent's class (the default ones too)."""
    for label, space in spaces.items():
        spec = study.agent(label)
        kind = resolve_kind(spec.kind, study.code_dir)
        check_search(
            space,
            spec.hyperparameters,
            lambda values, kind=kind: kind.resolve(values, study.env_id),
            f"{study.source}: agents.{label}.search",
        )


def tune_study(
    study: Study,
    runs_dir: pathlib.Path,
    executor: execution.Executor,
    *,
    labels: Sequence[str] | None = None,
    command: str = "",
    stream: TextIO | None = None,
) -> TuneOutcome:
    """Tune the agents of `study` (as read, with a `[tune]` table; see the module docstring) and
    write runs/<study>/tuned.toml. `StoreBusy` when another process holds the runs folder."""
    tune = study.tune
    if tune is None:
        raise StudyError(f"{study.source}: tune: no [tune] table; add one (budget_env_steps, seeds) to tune this study")
    out = stream or sys.stdout
    spaces, skipped = spaces_of(study, labels)
    check_spaces(study, spaces)
    resolved = resolve_study(study)
    store = StudyStore(runs_dir / study.name)
    root = store.study_dir / TUNE_FOLDER
    start = time.monotonic()
    with store.lock(command or "harness tune"):
        root.mkdir(parents=True, exist_ok=True)
        storage = optuna_trials.storage_at(str(root / STORAGE_FILE))
        results = []
        for label in study.labels:
            space = space_of(study.agent(label))
            if space is None:
                continue
            if label not in spaces and not _tuned_before(storage, study, resolved, label, space):
                continue
            tuner = _Tuner(study, resolved, label, space, storage, root, executor, command, stream, out)
            if label in spaces or tuner.spent():  # or tuned before, with --agents: its record is kept
                results.append(tuner.run())
        tuned, tuned_file = _write_tuned(study, resolved, results, store.study_dir)
        sessions = [session for result in results for session in result.sessions]
        tensorboard.write_sessions(sessions, SESSION_FILE)  # one column type over every agent's trials
        if sessions:
            experiment = tensorboard.experiment([s.values for s in sessions], SESSION_METRICS, SESSION_ORDER)
            tensorboard.write_events(root, "experiment", [(0, experiment)])
    done = {result.label for result in results}
    skipped = {label: why for label, why in skipped.items() if label not in done}
    return TuneOutcome(store.study_dir, tuned_file, tuple(results), time.monotonic() - start, skipped, tuned)


def _tuned_before(storage: Any, study: Study, resolved: Study, label: str, space: SearchSpace) -> bool:
    """Whether the journal holds a tune of this agent's current settings (an earlier tune of it)."""
    name = study_name(study, label, with_start(space, resolved.agent(label).hyperparameters)[0])
    return name in {summary.study_name for summary in optuna_trials.optuna_module().get_all_study_summaries(storage)}


def study_name(study: Study, label: str, space: SearchSpace) -> str:
    """The agent's Optuna study: its label and a fingerprint of what its trials depend on (not the
    budget, the cap or the validation: a larger budget resumes the same study and goes on)."""
    tune = study.tune
    assert tune is not None
    spec = study.agent(label)
    table = {key: value for key, value in tune.to_table().items() if key in _TRIALS_DEPEND_ON}
    what = {
        "tune": table,
        "space": [[d.key, d.to_table()] for d in space],
        "kind": spec.kind,
        "hyperparameters": dict(spec.hyperparameters),
        "env": study.env_id,
        "settings": [study.settings.eval_freq, study.settings.n_eval_episodes, study.episode_rules.success],
    }
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()
    return f"{label}@{digest[:12]}"


_TRIALS_DEPEND_ON = (
    "seeds",
    "total_timesteps",
    "eval_seed",
    "pruner",
    "reduction_factor",
    "objective",
    "sampler",
    "seed",
    "concurrent_trials",
)


class _Tuner:
    """One agent's tune (see the module docstring)."""

    def __init__(
        self,
        study: Study,
        resolved: Study,
        label: str,
        space: SearchSpace,
        storage: Any,
        root: pathlib.Path,
        executor: execution.Executor,
        command: str,
        stream: TextIO | None,
        out: TextIO,
    ) -> None:
        tune = study.tune
        assert tune is not None
        self.tune = tune
        self.study, self.resolved, self.label = study, resolved, label
        self.start = dict(resolved.agent(label).hyperparameters)
        self.space, self.notes = with_start(space, self.start)
        self.storage, self.executor, self.command, self.stream, self.out = storage, executor, command, stream, out
        self.name = study_name(study, label, self.space)
        self.ostudy = optuna_trials.open_study(storage, self.name)
        self.store = StudyStore(root / label)

    def spent(self, records: Sequence[optuna_trials.TrialRecord] | None = None) -> bool:
        """Whether no new batch is due: the budget (with the validation runs) is spent, `trials`
        trials are finished, or the last `MAX_FAILED_IN_A_ROW` all failed (`records`: the finished
        trials, when the caller has them already)."""
        if records is None:
            records = optuna_trials.finished(self.ostudy, self.space)
        tune = self.tune
        if tune.trials is not None and len(records) >= tune.trials:
            return True
        if len(records) >= MAX_FAILED_IN_A_ROW and all(r.state == "failed" for r in records[-MAX_FAILED_IN_A_ROW:]):
            return True
        used = sum(r.env_steps for r in records)
        return tune.budget_env_steps is not None and used + tune.validation_env_steps >= tune.budget_env_steps

    def run(self) -> AgentTuning:
        """Run the trials the budget pays for (resuming where a tune stopped), then the validation."""
        if not self.ostudy.get_trials(deepcopy=False):
            optuna_trials.enqueue_start(self.ostudy, self.space, start_of(self.space, self.start))
        run_now = 0
        c = self.tune.concurrent_trials
        while True:
            all_trials = sorted(self.ostudy.get_trials(deepcopy=False), key=lambda t: t.number)
            records = optuna_trials.finished(self.ostudy, self.space)
            told = {r.number for r in records}
            unfinished = [t.number for t in all_trials if t.number not in told]
            if not unfinished and self.spent(records):
                break
            batch_start = min(unfinished) if unfinished else len(all_trials)
            batch_start -= batch_start % c
            numbers = [n for n in range(batch_start, batch_start + c) if n not in told]
            if self.tune.trials is not None:
                numbers = [n for n in numbers if n < self.tune.trials]
            choices = {n: self._choices(n, all_trials) for n in numbers}
            history = [r.told() for r in records if r.number < batch_start]
            settings = self.study.settings
            rules = {
                n: thresholds(
                    self.tune.pruner,
                    n,
                    history,
                    self.tune.total_timesteps,
                    settings.eval_freq,
                    self.tune.reduction_factor,
                )
                for n in numbers
            }
            first, last = numbers[0], numbers[-1]
            used = sum(r.env_steps for r in records)
            budget = f"{used:,} of {self.tune.budget_env_steps:,} env steps" if self.tune.budget_env_steps else ""
            what = f"trials {first}-{last}" if first != last else f"trial {first}"
            print(
                f"{self.label}: {what}{' (the start)' if first == START else ''}; {budget}", file=self.out, flush=True
            )
            view, refused = self._view(
                {n: self._values(choices[n]) for n in numbers},
                rules,
                self.tune.seeds,
                self.tune.eval_seed,
            )
            if view is not None:
                execution.run_pairs(view, self.store, self.executor, command=self.command, stream=self.stream)
            for n in numbers:
                line = self._tell(n, refused.get(n))
                run_now += 1
                self._say(f"  {self.label} trial {n}: {line}")
            tensorboard.write_sessions(self.sessions(), SESSION_FILE)  # as the tune goes (rewritten at its end)
        return self._validate(run_now)

    def sessions(
        self, validation: Mapping[int, float | None] | None = None, chosen: int | None = None
    ) -> list[tensorboard.Session]:
        """Every finished trial as a session of the tune view (`validation`: the validation values
        of the start and the finalists, `chosen`: the trial chosen, once validated)."""
        sessions = []
        for r in optuna_trials.finished(self.ostudy, self.space):
            values = {
                "agent": self.label,
                "trial": r.number,
                "state": r.state,
                "start": r.number == START,
                "finalist": validation is not None and r.number in validation and r.number != START,
                "chosen": r.number == chosen,
                **self.searched(r.choices),
            }
            metrics = {"tune/value": r.value, "tune/env_steps": float(r.env_steps)}
            if validation is not None and validation.get(r.number) is not None:
                metrics["tune/validation_value"] = validation[r.number]
            folder = self.store.study_dir / _trial_label(r.number)
            name = f"{self.label}/{folder.name}"
            sessions.append(tensorboard.Session(folder, name, values, metrics, self.tune.total_timesteps))  # type: ignore[arg-type]
        return sessions

    def _say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def _choices(self, number: int, all_trials: Sequence[Any]) -> dict[str, Any]:
        """Trial `number`'s choices: asked now, or (a tune resumed) the ones it was asked with,
        or fixed for it when it was enqueued (the start, not asked yet)."""
        if number < len(all_trials):
            waiting = optuna_trials.waiting_choices(all_trials[number], self.space)
            if waiting is None:  # asked before the tune stopped: its params are in the journal
                return optuna_trials.decoded(all_trials[number].params, self.space)
        return optuna_trials.ask(self.ostudy, self.tune, self.label, number, self.space)

    def _values(self, choices: Mapping[str, Any]) -> dict[str, Any]:
        """The agent's table with a trial's values (a `divide` dimension computed from the others
        and the start's; a None choice leaves the kind's default)."""
        chosen = {d.key: choices[d.key] for d in self.space if d.divide is None and d.key in choices}
        known = {**self.start, **chosen}
        for d in self.space:
            if d.divide is not None and d.key in choices:
                chosen[d.key] = d.value(choices[d.key], known)
        values = {**self.study.agent(self.label).hyperparameters, **chosen}
        return {key: value for key, value in values.items() if value is not None}

    def searched(self, choices: Mapping[str, Any]) -> dict[str, Any]:
        """A trial's values of the searched keys."""
        values = self._values(choices)
        return {d.key: values.get(d.key) for d in self.space}

    def _view(
        self,
        trials: Mapping[int, Mapping[str, Any]],
        rules: Mapping[int, Thresholds],
        seeds: Sequence[int],
        eval_seed: int,
    ) -> tuple[Study | None, dict[int, str]]:
        """A one-env study of the trials (agents `trial_<n>`, each with its stop rule) on `seeds`,
        the trial budget and the evaluation episodes from `eval_seed`: its runs are pairs like any
        study's. Also the trials whose values the agent refuses (number -> why): failed, not run."""
        base = dataclasses.replace(self.resolved, decide=None, tune=None).select(labels=[self.label])
        budget = self.tune.total_timesteps
        base = base.replace(name=self.label, seeds=list(seeds), total_timesteps=budget, eval_seed=eval_seed, paired=[])
        spec = self.study.agent(self.label)
        agents, refused = [], {}
        for n, values in trials.items():
            trial = dataclasses.replace(
                spec, label=_trial_label(n), hyperparameters=dict(values), search=None, tuned=None
            )
            try:
                agent = resolve_study(dataclasses.replace(base, agents=(trial,), resolved=False)).agents[0]
            except StudyError as error:
                refused[n] = str(error).split(": ", 1)[-1]
                continue
            agents.append(dataclasses.replace(agent, stop_below=tuple(rules.get(n, ()))))
        if not agents:
            return None, refused
        return dataclasses.replace(base, agents=tuple(agents), resolved=True), refused

    def _curves(self, label: str, seeds: Sequence[int]) -> list[Any] | str:
        """The evaluation curves (step -> mean return) of a trial's runs on `seeds`, or why there
        are none (a run failed, or has no complete run.json)."""
        curves = []
        for seed in seeds:
            run = self.store.study_dir / label / f"seed_{seed}"
            record = read_record(run)
            if record is None or not record.complete:
                return f"{run.name}: {(record.error if record is not None else None) or 'no complete run.json'}"
            frame = EVALS.read(run / EVALS.file)
            curves.append((record, frame.groupby("eval_step")["return"].mean().to_dict()))
        return curves

    def _tell(self, number: int, refused: str | None) -> str:
        """Tell Optuna how trial `number` ended, from its runs' files; a line saying so."""
        if refused is not None:
            optuna_trials.tell(self.ostudy, self.storage, number, "failed", error=refused)
            return f"failed (refused: {refused})"
        runs = self._curves(_trial_label(number), self.tune.seeds)
        if isinstance(runs, str):
            optuna_trials.tell(self.ostudy, self.storage, number, "failed", error=runs)
            return f"failed ({runs})"
        records = [record for record, _ in runs]
        curves = [curve for _, curve in runs]
        common = sorted(set.intersection(*(set(curve) for curve in curves)))
        mean_curve = {step: sum(curve[step] for curve in curves) / len(curves) for step in common}
        env_steps = sum(int(record.steps_done or 0) for record in records)
        stopped = [record.stopped_at for record in records if record.stopped_at is not None]
        if stopped:
            optuna_trials.tell(self.ostudy, self.storage, number, "pruned", curve=mean_curve, env_steps=env_steps)
            return f"stopped at env step {min(stopped):,} by the {self.tune.pruner} rule"
        value = objective.mean_value(curves, self.tune.total_timesteps, self.tune.objective)
        if not math.isfinite(value):
            optuna_trials.tell(self.ostudy, self.storage, number, "failed", curve=mean_curve, env_steps=env_steps)
            return f"failed (value {value})"
        optuna_trials.tell(self.ostudy, self.storage, number, "complete", value, mean_curve, env_steps)
        best = optuna_trials.best_complete(optuna_trials.finished(self.ostudy, self.space))
        assert best is not None
        return f"{value:.1f} (best {best.value:.1f}, trial {best.number})"

    def _validate(self, run_now: int) -> AgentTuning:
        """The start and the best `finalists` complete trials on the validation seeds; the tuned
        values are the best there, the start winning ties."""
        records = optuna_trials.finished(self.ostudy, self.space)
        by_number = {r.number: r for r in records}
        start = by_number.get(START)
        ranked = sorted(
            (r for r in records if r.state == "complete" and r.number != START and r.value is not None),
            key=lambda r: (-(r.value or 0.0), r.number),
        )
        finalists = [r.number for r in ranked[: self.tune.finalists]]
        candidates = ([START] if start is not None and start.state == "complete" else []) + finalists
        validation: dict[int, float | None] = {}
        env_steps = sum(r.env_steps for r in records)
        if candidates:
            seeds = list(self.tune.validation_seeds)
            shown = ", ".join("the start" if n == START else f"trial {n}" for n in candidates)
            print(
                f"{self.label}: validation of {shown} on seeds {', '.join(map(str, seeds))}", file=self.out, flush=True
            )
            view, refused = self._view(
                {n: self._values(by_number[n].choices) for n in candidates}, {}, seeds, self.tune.validation_eval_seed
            )
            if view is not None:
                execution.run_pairs(view, self.store, self.executor, command=self.command, stream=self.stream)
            for n in candidates:
                runs = self._curves(_trial_label(n), seeds) if n not in refused else "refused"
                if isinstance(runs, str):
                    validation[n] = None
                    continue
                env_steps += sum(int(record.steps_done or 0) for record, _ in runs)
                validation[n] = objective.mean_value(
                    [curve for _, curve in runs], self.tune.total_timesteps, self.tune.objective
                )
                shown_n = "the start" if n == START else f"trial {n}"
                print(
                    f"  {self.label} {shown_n}: {validation[n]:.1f} on the validation seeds", file=self.out, flush=True
                )
        chosen = _chosen(validation)
        best = optuna_trials.best_complete(records)
        states = [r.state for r in records]
        return AgentTuning(
            self.label,
            self.name,
            states.count("complete"),
            states.count("pruned"),
            states.count("failed"),
            best.value if best is not None else None,
            best.number if best is not None else None,
            dict(best.choices) if best is not None else {},
            env_steps,
            run_now,
            start.value if start is not None else None,
            validation,
            chosen,
            self.searched(by_number[chosen].choices) if chosen is not None else {},
            by_number[chosen].value if chosen is not None else None,
            tuple(self.notes),
            tuple(self.sessions(validation, chosen)),
        )


def _chosen(validation: Mapping[int, float | None]) -> int | None:
    """The trial with the best validation value, the start (`START`) winning ties; None when none
    has one."""
    valued = {n: value for n, value in validation.items() if value is not None}
    if not valued:
        return None
    return max(valued, key=lambda n: (valued[n], n == START, -n))


def _trial_label(number: int) -> str:
    return f"{TRIAL_PREFIX}{number:04d}"


def _write_tuned(
    study: Study, resolved: Study, results: Sequence[AgentTuning], study_dir: pathlib.Path
) -> tuple[Study | None, pathlib.Path | None]:
    """runs/<study>/tuned.toml: the study as read, each agent with a finished tune at its chosen
    values, with its `[tuned.<label>]` record, and its start as an agent `<label>_start` where
    they differ (so the comparison measures both on the test seeds); and that study (None, None
    when no agent finished)."""
    optuna = optuna_trials.optuna_module()
    tune = study.tune
    assert tune is not None
    by_label = {result.label: result for result in results}
    agents: list[AgentSpec] = []
    paired = [list(pair) for pair in study.settings.paired]
    for spec in study.agents:
        result = by_label.get(spec.label)
        if result is None or result.chosen_trial is None:
            agents.append(spec)
            continue
        space = space_of(spec)
        assert space is not None
        start_values = resolved.agent(spec.label).hyperparameters
        defaults = {d.key: start_values.get(d.key) for d in space}
        start_label = f"{spec.label}{START_SUFFIX}" if result.chosen_trial != START else None
        record = {
            "budget_env_steps": tune.budget_env_steps,
            "trials": result.configurations,
            "seeds": list(tune.seeds),
            "total_timesteps": tune.total_timesteps,
            "sampler": tune.sampler,
            "pruner": tune.pruner,
            "objective": tune.objective,
            "seed": tune.seed,
            "best_value": result.best_value,
            "best_trial": result.best_trial,
            "complete": result.complete,
            "pruned": result.pruned,
            "failed": result.failed,
            "env_steps": result.env_steps,
            "defaults": {key: value for key, value in defaults.items() if value is not None},
            "optuna": optuna.__version__,
            "start_value": result.start_value,
            "validation_seeds": list(tune.validation_seeds),
            "validation_start": result.validation.get(START),
            "validation_best": result.validation.get(result.chosen_trial),
            "chosen_trial": result.chosen_trial,
            "chosen_value": result.chosen_value,
            "finalists": [n for n in result.validation if n != START],
            "space_extended": list(result.space_extended),
        }
        chosen = {key: value for key, value in result.chosen.items() if value is not None}
        agents.append(dataclasses.replace(spec, hyperparameters={**spec.hyperparameters, **chosen}, tuned=record))
        if start_label is not None:
            if start_label in study.labels:
                raise StudyError(
                    f"{study.source}: agents.{start_label}: the label tuned.toml gives {spec.label}'s start"
                )
            agents.append(dataclasses.replace(spec, label=start_label, search=None, tuned=None))
            paired.append([spec.label, start_label])
    if all(spec.tuned is None for spec in agents):
        return None, None
    tuned = dataclasses.replace(study, agents=tuple(agents), resolved=False)
    tuned = dataclasses.replace(tuned, settings=dataclasses.replace(tuned.settings, paired=tuple(map(tuple, paired))))
    path = study_dir / TUNED_FILE
    header = (
        f"# Written by harness tune from {study.source}: the study with each tuned agent's chosen values\n"
        f"# (see [tuned.<label>]), and its start as <label>{START_SUFFIX} where they differ. Compare them on the\n"
        f"# study's seeds with:\n#   harness compare {path}\n"
    )
    in_memory = [spec.label for spec in agents if is_in_memory(spec.kind)]
    if in_memory:
        header += (
            f"# {', '.join(in_memory)}: classes handed over from Python (in memory). This file runs only from the\n"
            "# process that tuned it (harness.tune(...).study there); elsewhere, name those classes by import path.\n"
        )
    write_atomic(path, (header + to_toml(tuned)).encode())
    return tuned, path
