"""`harness tune`: the same Optuna budget for every agent, on seeds kept apart from the test seeds.

For each agent tuned (those with a search space: `[agents.<label>.search]`, or the default space
of a built-in kind), one after another:

    an Optuna study in runs/<study>/tune/optuna.journal (named <label>@<fingerprint of the tune,
    the space and the agent's table>: a changed [tune] table or space starts a new one)
    batch b: trials b*c .. b*c + c - 1 (c = concurrent_trials), each proposed by a sampler seeded
             with (seed, label, trial number), knowing the trials of the batches before; their runs
             (every tuning seed, the tuning budget and evaluation episodes) run together through the
             executor, as pairs of the store runs/<study>/tune/<label>/ (trial_<n>/seed_<s>/);
             then each trial is told, in order: COMPLETE with the mean final return over its seeds,
             PRUNED when the median rule stopped one of its runs, FAIL when one failed.
    until `trials` trials are finished.

The median rule (pruner "median"): from the first third of the budget on, a run stops at an
evaluation whose mean return is below the median, over the complete trials of the batches before
(at least `MEDIAN_STARTUP` of them), of their mean return at that step (Optuna's `MedianPruner`,
applied in the run itself, so that it works on any executor). Each trial's curve (the mean over
its seeds at each evaluation) is reported to Optuna as its intermediate values.

A tune holds the study's runs folder (as `compare` does). Interrupted (Ctrl-C, a kill), the trials
in flight stay RUNNING in the journal: run again, it finishes them with the same parameters (their
complete runs are kept by the store), so no trial is lost or repeated, and the proposals do not
depend on where it stopped. It ends by writing runs/<study>/tuned.toml: the study file with each
tuned agent's best values and a `[tuned.<label>]` record of how they were found.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import pathlib
import statistics
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from harness import execution
from harness.agents import is_in_memory, resolve_kind
from harness.errors import StudyError
from harness.schema import EVALS
from harness.store import StudyStore, read_record, write_atomic
from harness.studies import (
    NOTHING_TO_TUNE,
    STORAGE_FILE,
    TUNE_FOLDER,
    TUNED_FILE,
    SearchSpace,
    Study,
    check_search,
    default_search,
    resolve_study,
    to_toml,
)

MEDIAN_STARTUP = 5
"""Complete trials needed before the median rule stops any run (Optuna's `MedianPruner` default)."""
WARMUP_SHARE = 1 / 3
"""The first third of the budget is never stopped (the RL Zoo's `n_warmup_steps`)."""
TRIAL_PREFIX = "trial_"


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
    best_trial: int | None
    best: Mapping[str, Any]
    """The best trial's values (as Optuna holds them)."""
    env_steps: int = 0
    """Env steps its trials' runs took (pruned runs stop early)."""
    run_now: int = 0
    """Trials finished by this call."""


@dataclass(frozen=True)
class TuneOutcome:
    study_dir: pathlib.Path
    tuned_file: pathlib.Path | None
    """runs/<study>/tuned.toml (None when no agent has finished its trials)."""
    agents: tuple[AgentTuning, ...]
    wall_time_s: float
    skipped: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """The study's agents not tuned, and why."""
    study: Study | None = None
    """The tuned study (what tuned.toml holds), its in-memory classes with it: usable at once."""


def spaces_of(study: Study, labels: Sequence[str] | None) -> tuple[dict[str, SearchSpace], dict[str, str]]:
    """The agents to tune and their spaces: `labels` (each needs a space), or every agent that has
    one; and the agents left out, with why. `StudyError` for an agent named without a space (nor a
    default one)."""
    chosen = list(labels) if labels is not None else list(study.labels)
    spaces: dict[str, SearchSpace] = {}
    skipped: dict[str, str] = {label: "not among the agents asked for" for label in study.labels if label not in chosen}
    for label in chosen:
        spec = study.agent(label)
        space = spec.search if spec.search is not None else default_search(spec.kind)
        if space is None:
            how = (
                f"with_agent({label!r}, ..., search={{...}})"
                if is_in_memory(spec.kind)
                else f"[agents.{label}.search] with key = {{ low = ..., high = ... }} or a list"
            )
            if spec.kind in NOTHING_TO_TUNE:
                why = f"{label} ({spec.kind}) has nothing to tune"
                if labels is not None:
                    raise StudyError(f"{study.source}: --agents: {why}; leave it out")
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
    import optuna  # here: only a tune needs it

    tune = study.tune
    if tune is None:
        raise StudyError(f"{study.source}: tune: no [tune] table; add one (trials, seeds) to tune this study")
    out = stream or sys.stdout
    spaces, skipped = spaces_of(study, labels)
    check_spaces(study, spaces)
    resolved = resolve_study(study)
    store = StudyStore(runs_dir / study.name)
    root = store.study_dir / TUNE_FOLDER
    start = time.monotonic()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with store.lock(command or "harness tune"):
        root.mkdir(parents=True, exist_ok=True)
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(root / STORAGE_FILE)))
        results = []
        for label, space in spaces.items():
            results.append(_tune_agent(study, resolved, label, space, storage, root, executor, command, stream, out))
        results += _finished_elsewhere(study, storage, spaces, results)
        tuned, tuned_file = _write_tuned(study, resolved, results, store.study_dir)
    done = {result.label for result in results}
    skipped = {label: why for label, why in skipped.items() if label not in done}
    return TuneOutcome(store.study_dir, tuned_file, tuple(results), time.monotonic() - start, skipped, tuned)


def study_name(study: Study, label: str, space: SearchSpace) -> str:
    """The agent's Optuna study: its label and a fingerprint of what its trials depend on."""
    tune = study.tune
    assert tune is not None
    spec = study.agent(label)
    what = {
        "tune": tune.to_table(),
        "space": [[d.key, d.to_table()] for d in space],
        "kind": spec.kind,
        "hyperparameters": dict(spec.hyperparameters),
        "env": study.env_id,
        "settings": [study.settings.eval_freq, study.settings.n_eval_episodes, study.episode_rules.success],
    }
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()
    return f"{label}@{digest[:12]}"


def _tune_agent(
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
) -> AgentTuning:
    import optuna  # here: only a tune loads Optuna (about half a second)

    tune = study.tune
    assert tune is not None
    name = study_name(study, label, space)
    ostudy = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)
    c = tune.concurrent_trials
    store = StudyStore(root / label)
    run_now = 0
    while True:
        trials = sorted(ostudy.get_trials(deepcopy=False), key=lambda t: t.number)
        finished = [t for t in trials if t.state.is_finished()]
        if len(finished) >= tune.trials:
            break
        unfinished = [t.number for t in trials if not t.state.is_finished()]
        batch_start = min(unfinished) if unfinished else len(trials)
        batch_start -= batch_start % c
        numbers = [  # the batch's trials not told yet (a tune stopped between two tells told some)
            n
            for n in range(batch_start, min(batch_start + c, tune.trials))
            if n >= len(trials) or not trials[n].state.is_finished()
        ]
        params: dict[int, dict[str, Any]] = {}
        for number in numbers:
            if number < len(trials):
                params[number] = _decoded(trials[number].params, space)
                continue
            ostudy.sampler = _sampler(tune, label, number)
            trial = ostudy.ask()
            assert trial.number == number, f"trial {trial.number} asked where {number} was due"
            params[number] = _suggest(trial, space)
        history = [t for t in trials if t.number < batch_start and t.state == optuna.trial.TrialState.COMPLETE]
        rule = median_rule(tune.pruner, history, tune.total_timesteps)
        view, refused = _trials_view(
            study, resolved, label, {n: _hyperparameters(study, label, space, p) for n, p in params.items()}, rule
        )
        # Optuna's trial numbers, from 0: the folders' (trial_<n>), tuned.toml's and optuna-dashboard's
        first, last = numbers[0], numbers[-1]
        trials_text = f"trials {first}-{last}" if first != last else f"trial {first}"
        print(f"{label}: {trials_text} (trials 0-{tune.trials - 1})", file=out, flush=True)
        if view is not None:
            execution.run_pairs(view, store, executor, command=command, stream=stream)
        for number in numbers:
            if number in refused:
                line = _fail(ostudy, storage, number, refused[number])
            else:
                assert view is not None
                line = _tell(ostudy, storage, number, view, store)
            run_now += 1
            print(f"  {label} trial {number}: {line}", file=out, flush=True)
    return _agent_tuning(ostudy, label, name, space, run_now)


def _sampler(tune: Any, label: str, number: int) -> Any:
    """The sampler that proposes trial `number` of `label`: seeded by the tune's seed, the label
    and the number, so a proposal depends on the history only, not on where a tune resumed."""
    import optuna  # here: only a tune loads Optuna (about half a second)

    seed = int.from_bytes(hashlib.sha256(f"{tune.seed}/{label}/{number}".encode()).digest()[:4], "little")
    if tune.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # multivariate TPE is "experimental"; the RL Zoo uses it
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)


def _encoded(value: Any) -> Any:
    """A choice as Optuna stores it: a number, string or bool as it is, anything else as JSON."""
    return value if isinstance(value, (int, float, str, bool)) or value is None else json.dumps(value)


def _suggest(trial: Any, space: SearchSpace) -> dict[str, Any]:
    """The trial's values (as Optuna names them: a `divide` dimension's divisor is `<key>:by`)."""
    values: dict[str, Any] = {}
    for d in space:
        if d.divide is not None:
            values[f"{d.key}:by"] = trial.suggest_categorical(f"{d.key}:by", list(d.choices or ()))
        elif d.choices is not None:
            values[d.key] = trial.suggest_categorical(d.key, [_encoded(c) for c in d.choices])
        elif d.integer:
            values[d.key] = trial.suggest_int(d.key, int(d.low), int(d.high), log=d.log)  # type: ignore[arg-type]
        else:
            values[d.key] = trial.suggest_float(d.key, float(d.low), float(d.high), log=d.log)  # type: ignore[arg-type]
    return _decoded(values, space)


def _decoded(params: Mapping[str, Any], space: SearchSpace) -> dict[str, Any]:
    decoded = dict(params)
    for d in space:
        if d.choices is not None and d.divide is None and d.key in decoded:
            value = decoded[d.key]
            decoded[d.key] = next(c for c in d.choices if _encoded(c) == value)
    return decoded


def _hyperparameters(study: Study, label: str, space: SearchSpace, params: Mapping[str, Any]) -> dict[str, Any]:
    """The agent's table with a trial's values (a `divide` dimension computed from its divisor)."""
    values = {**study.agent(label).hyperparameters, **{k: v for k, v in params.items() if ":" not in k}}
    for d in space:
        if d.divide is not None:
            values[d.key] = max(int(values[d.divide]) // int(params[f"{d.key}:by"]), 1)
    return values


def searched_values(study: Study, label: str, space: SearchSpace, params: Mapping[str, Any]) -> dict[str, Any]:
    """Only the searched keys of a trial's hyperparameters."""
    values = _hyperparameters(study, label, space, params)
    return {d.key: values[d.key] for d in space}


def _trials_view(
    study: Study,
    resolved: Study,
    label: str,
    trials: Mapping[int, Mapping[str, Any]],
    rule: tuple[tuple[int, float], ...],
) -> tuple[Study | None, dict[int, str]]:
    """A one-env study of the trials (agents `trial_<n>`) on the tuning seeds, budget and evaluation
    episodes, with the median rule: its runs are pairs like any study's. Also the trials whose
    values the agent refuses (number -> why): failed trials, not run."""
    tune = study.tune
    assert tune is not None
    spec = study.agent(label)
    base = dataclasses.replace(resolved, decide=None, tune=None).select(labels=[label])
    base = base.replace(
        name=label, seeds=list(tune.seeds), total_timesteps=tune.total_timesteps, eval_seed=tune.eval_seed, paired=[]
    )
    agents, refused = [], {}
    for n, values in trials.items():
        trial = dataclasses.replace(
            spec, label=f"{TRIAL_PREFIX}{n:04d}", hyperparameters=dict(values), search=None, tuned=None
        )
        try:
            agents.append(resolve_study(dataclasses.replace(base, agents=(trial,), resolved=False)).agents[0])
        except StudyError as error:
            refused[n] = str(error).split(": ", 1)[-1]
    if not agents:
        return None, refused
    return dataclasses.replace(base, agents=tuple(agents), resolved=True, stop_below=rule), refused


def median_rule(pruner: str, history: Sequence[Any], total_timesteps: int) -> tuple[tuple[int, float], ...]:
    """The stop rule of a batch's runs: (step, median) of the complete trials' curves before it
    (`history`: trials with `intermediate_values`, step -> mean return over their seeds), from the
    warm-up on; nothing before `MEDIAN_STARTUP` complete trials, or with pruner "none"."""
    if pruner == "none" or len(history) < MEDIAN_STARTUP:
        return ()
    steps = sorted({step for t in history for step in t.intermediate_values})
    rule = []
    for step in steps:
        if step < total_timesteps * WARMUP_SHARE or step >= total_timesteps:
            continue
        values = [t.intermediate_values[step] for t in history if step in t.intermediate_values]
        if len(values) >= MEDIAN_STARTUP:
            rule.append((int(step), float(statistics.median(values))))
    return tuple(rule)


def _tell(ostudy: Any, storage: Any, number: int, view: Study, store: StudyStore) -> str:
    """Tell Optuna how trial `number` ended, from its runs' files; a line saying so."""
    import optuna  # here: only a tune loads Optuna (about half a second)

    label = f"{TRIAL_PREFIX}{number:04d}"
    runs = [store.study_dir / label / f"seed_{seed}" for seed in view.settings.seeds]
    records = [read_record(run) for run in runs]
    trial_id = _trial_id(storage, ostudy, number)
    broken = [(run, r) for run, r in zip(runs, records, strict=True) if r is None or not r.complete]
    if broken:
        run, record = broken[0]
        error = (record.error if record is not None else None) or "no complete run.json"
        storage.set_trial_user_attr(trial_id, "error", f"{run.name}: {error}")
        ostudy.tell(number, state=optuna.trial.TrialState.FAIL)
        return f"failed ({run.name}: {error})"
    curves = [EVALS.read(run / EVALS.file).groupby("eval_step")["return"].mean() for run in runs]
    common = sorted(set.intersection(*(set(curve.index) for curve in curves)))
    for step in common:
        storage.set_trial_intermediate_value(trial_id, int(step), float(sum(c[step] for c in curves) / len(curves)))
    finals = [
        float(r.final_eval_mean_return) for r in records if r is not None and r.final_eval_mean_return is not None
    ]
    storage.set_trial_user_attr(trial_id, "env_steps", sum(int(r.steps_done or 0) for r in records if r is not None))
    stopped = [r.stopped_at for r in records if r is not None and r.stopped_at is not None]
    if stopped:
        ostudy.tell(number, state=optuna.trial.TrialState.PRUNED)
        return f"pruned at env step {min(stopped):,} (below the median of the trials before)"
    value = sum(finals) / len(finals)
    if not math.isfinite(value):
        ostudy.tell(number, state=optuna.trial.TrialState.FAIL)
        return f"failed (mean final return {value})"
    ostudy.tell(number, value)
    best = ostudy.best_trial
    return f"{value:.1f} (best {best.value:.1f}, trial {best.number})"


def _trial_id(storage: Any, ostudy: Any, number: int) -> int:
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(ostudy.study_name), number)


def _fail(ostudy: Any, storage: Any, number: int, why: str) -> str:
    """A trial whose values the agent refuses: failed, not run."""
    import optuna  # here: only a tune loads Optuna (about half a second)

    storage.set_trial_user_attr(_trial_id(storage, ostudy, number), "error", why)
    ostudy.tell(number, state=optuna.trial.TrialState.FAIL)
    return f"failed (refused: {why})"


def _agent_tuning(ostudy: Any, label: str, name: str, space: SearchSpace, run_now: int) -> AgentTuning:
    import optuna  # here: only a tune loads Optuna (about half a second)

    trials = ostudy.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = max(complete, key=lambda t: (t.value, -t.number)) if complete else None
    return AgentTuning(
        label,
        name,
        states.count(optuna.trial.TrialState.COMPLETE),
        states.count(optuna.trial.TrialState.PRUNED),
        states.count(optuna.trial.TrialState.FAIL),
        best.value if best is not None else None,
        best.number if best is not None else None,
        _decoded(best.params, space) if best is not None else {},
        sum(int(t.user_attrs.get("env_steps", 0)) for t in trials),
        run_now,
    )


def _finished_elsewhere(study: Study, storage: Any, tuned_now: Mapping[str, SearchSpace], done: Sequence[AgentTuning]):
    """Agents not tuned by this call whose tune of the current settings finished before (a tune
    with `--agents`): their records are kept in tuned.toml."""
    import optuna  # here: only a tune loads Optuna (about half a second)

    tune = study.tune
    assert tune is not None
    found = []
    for label in study.labels:
        if label in tuned_now:
            continue
        spec = study.agent(label)
        space = spec.search if spec.search is not None else default_search(spec.kind)
        if space is None:
            continue
        name = study_name(study, label, space)
        try:
            ostudy = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            continue
        if len([t for t in ostudy.get_trials(deepcopy=False) if t.state.is_finished()]) >= tune.trials:
            found.append(_agent_tuning(ostudy, label, name, space, 0))
    return found


def _write_tuned(
    study: Study, resolved: Study, results: Sequence[AgentTuning], study_dir: pathlib.Path
) -> tuple[Study | None, pathlib.Path | None]:
    """runs/<study>/tuned.toml: the study as read, each agent with a finished tune at its best
    values, with its `[tuned.<label>]` record; and that study (None, None when no agent finished)."""
    import optuna  # here: only a tune loads Optuna (about half a second)

    tune = study.tune
    assert tune is not None
    agents = []
    by_label = {result.label: result for result in results}
    for spec in study.agents:
        result = by_label.get(spec.label)
        if result is None or result.best_trial is None:
            agents.append(spec)
            continue
        space = spec.search if spec.search is not None else default_search(spec.kind)
        assert space is not None
        best = searched_values(study, spec.label, space, result.best)
        defaults = {d.key: resolved.agent(spec.label).hyperparameters.get(d.key) for d in space}
        record = {
            "trials": tune.trials,
            "seeds": list(tune.seeds),
            "total_timesteps": tune.total_timesteps,
            "sampler": tune.sampler,
            "pruner": tune.pruner,
            "seed": tune.seed,
            "best_value": result.best_value,
            "best_trial": result.best_trial,
            "complete": result.complete,
            "pruned": result.pruned,
            "failed": result.failed,
            "env_steps": result.env_steps,
            "defaults": {key: value for key, value in defaults.items() if value is not None},
            "optuna": optuna.__version__,
        }
        agents.append(dataclasses.replace(spec, hyperparameters={**spec.hyperparameters, **best}, tuned=record))
    if all(spec.tuned is None for spec in agents):
        return None, None
    tuned = dataclasses.replace(study, agents=tuple(agents))
    path = study_dir / TUNED_FILE
    header = (
        f"# Written by harness tune from {study.source}: the study with each tuned agent's best values\n"
        f"# (see [tuned.<label>]). Compare the tuned agents on the study's seeds with:\n"
        f"#   harness compare {path}\n"
    )
    in_memory = [spec.label for spec in agents if is_in_memory(spec.kind)]
    if in_memory:
        header += (
            f"# {', '.join(in_memory)}: classes handed over from Python (in memory). This file runs only from the\n"
            "# process that tuned it (harness.tune(...).study there); elsewhere, name those classes by import path.\n"
        )
    write_atomic(path, (header + to_toml(tuned)).encode())
    return tuned, path
