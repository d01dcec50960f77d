"""Reading a study file (`load_study`, `parse_study`: light, nothing imported but the study's
env modules) and resolving it (`resolve_study`: each agent's class imported and checked)."""

from __future__ import annotations

import dataclasses
import importlib.resources
import pathlib
import re
import tomllib
from typing import Any

from harness.agents import allowed, check_kind, resolve_kind
from harness.errors import KindError, StudyError
from harness.studies.decide import check_decide, decide_settings
from harness.studies.search import check_search, search_space
from harness.studies.settings import NAME, check_pair, check_settings, env_tables, with_profiles
from harness.studies.study import AgentSpec, Study
from harness.studies.tune import TUNE_FOLDER, tune_settings, tuned_record

EMBEDDED_STUDIES = ("cartpole", "quick", "classic-control", "cartpole-decide", "cartpole-tune")


def study_path(name_or_path: str) -> pathlib.Path | importlib.resources.abc.Traversable:
    """The file of an embedded study name (`cartpole`, `quick`, `classic-control`) or a path."""
    if name_or_path in EMBEDDED_STUDIES:
        return importlib.resources.files("harness") / "studies" / f"{name_or_path}.toml"
    return pathlib.Path(name_or_path)


def load_study(name_or_path: str) -> Study:
    """Read and check a study file (a path or an embedded name); `StudyError` on any problem.
    Import-path kinds of a study file are resolved from its folder unless it sets `code_dir`."""
    path = study_path(name_or_path)
    embedded = name_or_path in EMBEDDED_STUDIES
    source = f"{name_or_path} ({path})" if embedded else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyError(
            f"{name_or_path}: no such study file; give a path or one of {', '.join(EMBEDDED_STUDIES)}"
        ) from None
    except OSError as error:
        raise StudyError(f"{name_or_path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise StudyError(f"{name_or_path}: not a UTF-8 text file") from None
    base_dir = None if embedded else pathlib.Path(path).resolve().parent
    return parse_study(text, source, base_dir)


def parse_study(text: str, source: str, base_dir: pathlib.Path | None = None, check_files: bool = True) -> Study:
    """Check a study's TOML text; `source` names it in messages; `base_dir` is the folder of its
    file (the default `code_dir`, and what a relative `code_dir` is relative to). `check_files`:
    refuse kinds naming a file that does not exist (off for a study read back from a runs folder,
    whose report needs the run files, not the code)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise StudyError(f"{source}: not valid TOML: {error}") from None
    unknown = sorted(set(data) - {"study", "agents", "envs", "decide", "tune", "tuned"})
    if unknown:
        raise StudyError(
            f'{source}: unknown table {unknown[0]!r}; allowed: [study], [envs."<env id>"], [agents.<label>], '
            "[decide], [tune], [tuned.<label>]"
        )
    if not isinstance(data.get("study"), dict):
        raise StudyError(f"{source}: study: missing [study] table")
    settings = check_settings(data["study"], source, base_dir)
    env_settings = env_tables(data.get("envs"), settings, source)
    settings, env_settings = with_profiles(settings, env_settings, source)
    agents_table = data.get("agents")
    if agents_table is not None and not isinstance(agents_table, dict):
        raise StudyError(f"{source}: agents: must be tables [agents.<label>], got {agents_table!r}")
    if not agents_table:
        raise StudyError(f"{source}: agents: no agents; add at least one [agents.<label>] table with a kind")
    code_dir = pathlib.Path(settings.code_dir) if settings.code_dir else None
    agents = tuple(
        _agent(label, table, source, code_dir, check_files, settings.env_ids) for label, table in agents_table.items()
    )
    labels = [spec.label for spec in agents]
    lowered = [label.lower() for label in labels]
    for label in labels:
        if lowered.count(label.lower()) > 1:
            raise StudyError(f"{source}: agents.{label}: label used twice (labels are folder names and must differ)")
    for pair in settings.paired:
        check_pair(pair, labels, f"{source}: study.paired")
    decide = decide_settings(data["decide"], settings.seeds, source) if "decide" in data else None
    tune = None
    if "tune" in data:
        if settings.env_ids is not None:
            raise StudyError(f"{source}: tune: a study across envs is tuned one env at a time; give one env_id")
        tune = tune_settings(
            data["tune"], settings.seeds, settings.total_timesteps, settings.eval_seed, settings.n_eval_episodes, source
        )
    tuned = data.get("tuned", {})
    if not isinstance(tuned, dict):
        raise StudyError(f"{source}: tuned: must be tables [tuned.<label>]")
    for label in tuned:
        if label not in labels:
            raise StudyError(f"{source}: tuned.{label}: not an agent label; labels: {', '.join(labels)}")
    agents = tuple(
        dataclasses.replace(spec, tuned=tuned_record(tuned[spec.label], f"{source}: tuned.{spec.label}"))
        if spec.label in tuned
        else spec
        for spec in agents
    )
    return Study(settings, agents, source, env_settings=env_settings, decide=decide, tune=tune)


def resolve_study(study: Study) -> Study:
    """The study with every agent's class imported in this process and checked, on each env:
    hyperparameters against the class (the env's preset applied, defaults filled), and one build
    on the env. `StudyError` (one line naming the file, the agent's key and the fix) on any problem.

    In a resolved study across envs, each agent's `env_hyperparameters` holds its whole resolved
    set on every env."""
    if study.resolved:
        return study
    for pair in study.settings.paired:
        check_pair(pair, study.labels, f"{study.source}: study.paired")
    if study.decide is not None:  # its labels now: Python may have added the agents it names
        check_decide(study.decide, study.labels, study.source)
    resolved: dict[str, dict[str, dict[str, Any]]] = {spec.label: {} for spec in study.agents}
    for view in study.split():
        where = f" on {view.env_id}" if study.across_envs else ""
        for spec in view.agents:
            try:
                kind = resolve_kind(spec.kind, study.code_dir)
            except KindError as error:
                raise StudyError(f"{study.source}: agents.{spec.label}.kind: {error}") from None
            try:
                values = kind.resolve(spec.hyperparameters, view.env_id)
                kind.check_on_env(view.env_id, values, view.episode_rules)
            except ValueError as error:
                key = getattr(error, "key", None) or _named_key(str(error))
                at = f"agents.{spec.label}.{key}" if key else f"agents.{spec.label}"
                raise StudyError(f"{study.source}: {at}{where}: {error}") from None
            if spec.search is not None:
                check_search(
                    spec.search,
                    spec.hyperparameters,
                    lambda values, kind=kind, env_id=view.env_id: kind.resolve(values, env_id),
                    f"{study.source}: agents.{spec.label}.search",
                )
            resolved[spec.label][view.env_id] = values
    if study.across_envs:
        agents = tuple(
            dataclasses.replace(spec, hyperparameters={}, env_hyperparameters=resolved[spec.label])
            for spec in study.agents
        )
    else:
        agents = tuple(
            dataclasses.replace(spec, hyperparameters=resolved[spec.label][study.env_id]) for spec in study.agents
        )
    return dataclasses.replace(study, agents=agents, resolved=True)


def _agent(
    label: str,
    table: Any,
    source: str,
    code_dir: pathlib.Path | None,
    check_files: bool,
    env_ids: tuple[str, ...] | None,
) -> AgentSpec:
    if not NAME.match(label):
        raise StudyError(f"{source}: agents.{label}: a label must be letters, digits, '.', '_' or '-'")
    if label.lower() == TUNE_FOLDER:
        raise StudyError(f"{source}: agents.{label}: reserved (harness tune's folder); choose another label")
    if not isinstance(table, dict):
        raise StudyError(f"{source}: agents.{label}: must be a table with a kind")
    kind = table.get("kind")
    if kind is None:
        raise StudyError(f"{source}: agents.{label}.kind: missing; allowed: {allowed()}")
    try:
        check_kind(kind, code_dir, check_files)
    except KindError as error:
        raise StudyError(f"{source}: agents.{label}.kind: {error}") from None
    per_env = table.get("envs") if env_ids is not None else None
    if per_env is not None:
        if not isinstance(per_env, dict) or not all(isinstance(v, dict) for v in per_env.values()):
            raise StudyError(f'{source}: agents.{label}.envs: must be tables [agents.{label}.envs."<env id>"]')
        for env_id in per_env:
            if env_id not in env_ids:
                raise StudyError(
                    f'{source}: agents.{label}.envs."{env_id}": not one of study.env_ids ({", ".join(env_ids)})'
                )
    search = search_space(table["search"], f"{source}: agents.{label}.search") if "search" in table else None
    hyperparameters = {
        key: value for key, value in table.items() if key not in ("kind", "search") and (key != "envs" or not env_ids)
    }
    return AgentSpec(label, kind, hyperparameters, per_env or {}, search=search)


def _named_key(message: str) -> str | None:
    """The hyperparameter a config dataclass's `ValueError` names ("hyperparameter 'x' ...")."""
    match = re.search(r"hyperparameter '([^']+)'", message)
    return match.group(1) if match else None
