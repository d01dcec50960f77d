"""A study: a TOML file read with `tomllib` into frozen dataclasses, checked before anything runs.

    [study]
    name = "cartpole-v1"
    env_id = "CartPole-v1"      # or env_ids = ["CartPole-v1", "Acrobot-v1"] for a study across envs
    seeds = [0, 1, 2]
    total_timesteps = 50_000
    eval_freq = 2_500
    n_eval_episodes = 20

    [envs."Acrobot-v1"]         # a study across envs: what differs on one env (budget, evaluation,
    total_timesteps = 100_000   # its profile: success, return_range, threshold, max_episode_steps)

    [agents.tabular_q]          # the table key is the agent's label
    kind = "tabular_q"          # a built-in name or an import path ("my_agents.py:MyAgent")
    num_bins = [3, 3, 6, 6]     # every other key is a hyperparameter of that kind

    [agents.tabular_q.envs."Acrobot-v1"]    # hyperparameters that differ on one env
    num_bins = [6, 6, 6, 6, 6, 6]

Each env is measured by its profile (`harness.conditions.profiles`): what success means and the returns that
normalise to 0 and 1. The study may declare them (`success`, `return_range`, `threshold`,
`max_episode_steps`, in `[study]` for one env or in the env's `[envs."<id>"]` table); an env with
neither a profile nor a declaration is refused. The profile's values are written out in the
resolved study, so a run says how it was measured.

Checking happens in two steps, each raising `StudyError` with one line naming the file, the key
and what is allowed:

- `load_study` / `parse_study` read the file: unknown keys, bad types and values of `[study]` and
  `[envs]`, unknown env ids, envs without a profile, kinds that are neither a built-in name nor a
  well-formed import path (or name a missing file), labels used twice, `paired` labels that are
  not agents. This imports neither torch nor SB3, so `--help`, `status` and a bad study answer at
  once.
- `resolve_study` imports each agent's class (`harness.agents`), checks its hyperparameters
  against the class (its config dataclass, or its constructor's signature), fills in defaults and
  the presets of each env, and builds it once on each env (an algorithm whose spaces do not fit is
  refused there). `compare`, `train` and `check-agent` call it before anything runs.

A study across envs runs as one single-env study per env (`Study.split`); its runs live under
`runs/<study>/<env_id>/<label>/seed_<s>/`, a one-env study's under `runs/<study>/<label>/seed_<s>/`.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.agents import ShippedClass, check_kind, kind_of, resolve_kind, shipped
from harness.conditions import DECLARABLE, EnvProfile, EpisodeRules, profile_for
from harness.errors import KindError, StudyError, one_line
from harness.studies.decide import DecideSettings, decide_settings
from harness.studies.search import SearchSpace, search_space
from harness.studies.settings import NAME, StudySettings, check_settings, check_view
from harness.studies.tune import TuneSettings, tune_settings

_KEEP: Any = object()
"""`Study.replace`: a table left as it is."""


@dataclass(frozen=True)
class AgentSpec:
    """One `[agents.<label>]` table: its kind (a built-in name, an import path, or an in-memory
    class handed over from Python) and its hyperparameters, as written until `resolve_study`
    resolves them (preset applied, defaults filled). `env_hyperparameters` holds the
    `[agents.<label>.envs."<id>"]` tables of a study across envs: values that differ on one env
    (in a resolved study across envs, every env's whole set). `shipped` carries an in-memory
    class to the processes that train it (by value)."""

    label: str
    kind: str
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    env_hyperparameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    shipped: ShippedClass | None = None
    search: SearchSpace | None = None
    """The `[agents.<label>.search]` table: what `harness tune` searches (None: the kind's default
    space, if it has one). Not part of any run's identity."""
    tuned: Mapping[str, Any] | None = None
    """The `[tuned.<label>]` record of a study `harness tune` wrote: how these values were found."""
    stop_below: tuple[tuple[int, float], ...] = ()
    """A tuning trial's runs only (never in a study file): (env step, return) pairs; a run stops at
    an evaluation whose mean return is below the value given for its step (a stop rule,
    `harness.experiments.rules`)."""

    def on(self, env_id: str) -> AgentSpec:
        """The agent's hyperparameters on one env."""
        values = {**self.hyperparameters, **self.env_hyperparameters.get(env_id, {})}
        return dataclasses.replace(self, hyperparameters=values, env_hyperparameters={})


@dataclass(frozen=True)
class Study:
    """A checked study: one env (`settings.env_id`) or several (`settings.env_ids`, with the
    `[envs."<id>"]` values in `env_settings`)."""

    settings: StudySettings
    agents: tuple[AgentSpec, ...]
    source: str
    """Where it was read from."""
    resolved: bool = False
    """Whether `resolve_study` checked the agents' classes and resolved their hyperparameters."""
    env_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Env id -> the `[study]` values that differ on that env (a study across envs)."""
    decide: DecideSettings | None = None
    """The `[decide]` table: compare in rounds until each comparison is decided (AdaStop)."""
    tune: TuneSettings | None = None
    """The `[tune]` table: what `harness tune` spends on each agent."""

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def code_dir(self) -> pathlib.Path | None:
        """Where import-path kinds are resolved from (None: only built-ins and `sys.path`)."""
        return pathlib.Path(self.settings.code_dir) if self.settings.code_dir else None

    @property
    def across_envs(self) -> bool:
        """Whether the study spans envs (`env_ids`): its runs nest under `<env_id>/`. Also true of
        the single-env views `split` gives of such a study."""
        return self.settings.env_ids is not None

    @property
    def env_ids(self) -> tuple[str, ...]:
        """The envs this study (or this single-env view) runs on."""
        if self.settings.env_id is not None:
            return (self.settings.env_id,)
        return tuple(self.settings.env_ids or ())

    @property
    def env_id(self) -> str:
        """The env of a one-env study or view (`StudyError` for a study across envs: `split` it)."""
        if self.settings.env_id is None:
            raise StudyError(f"{self.source}: a study across envs has no one env; split it")
        return self.settings.env_id

    @property
    def profile(self) -> EnvProfile:
        """How the env of a one-env study or view is measured (its profile with the study's
        declarations)."""
        declared = {key: getattr(self.settings, key) for key in DECLARABLE}
        return profile_for(self.env_id, declared)

    @property
    def episode_rules(self) -> EpisodeRules:
        """The profile's success rule and time limit (what the env factory applies)."""
        return self.profile.episode_rules

    def for_env(self, env_id: str) -> Study:
        """The single-env view of one env: `[study]` with that env's values, each agent with its
        hyperparameters there. For a one-env study, the study itself."""
        if not self.across_envs:
            if env_id != self.settings.env_id:
                raise StudyError(f"{self.source}: the study has no env {env_id!r}")
            return self
        if env_id not in self.env_ids:
            raise StudyError(f"{self.source}: the study has no env {env_id!r}; envs: {', '.join(self.env_ids)}")
        settings = dataclasses.replace(self.settings, env_id=env_id, **self.env_settings.get(env_id, {}))
        agents = tuple(spec.on(env_id) for spec in self.agents)
        return dataclasses.replace(self, settings=settings, agents=agents, env_settings={})

    def split(self) -> tuple[Study, ...]:
        """One single-env view per env, in the study's order (the study itself for one env)."""
        if self.settings.env_id is not None:
            return (self,)
        return tuple(self.for_env(env_id) for env_id in self.env_ids)

    def agent(self, label: str) -> AgentSpec:
        """The agent with this label (`StudyError` if none)."""
        for spec in self.agents:
            if spec.label == label:
                return spec
        raise StudyError(f"{self.source}: no agent labelled {label!r}; labels: {', '.join(self.labels)}")

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(spec.label for spec in self.agents)

    def replace(self, *, decide: Any = _KEEP, tune: Any = _KEEP, **settings: Any) -> Study:
        """A copy with some `[study]` values changed (checked like the file's); one given here
        also replaces the envs' own values of it. `decide` and `tune` set (a table as the study
        file's, e.g. `decide={"compare_to": "mine", "seeds_per_round": 5}`) or drop (None) the
        `[decide]` and `[tune]` tables, checked like the file's: a bad value is one line naming
        the key (the labels `decide` names are checked when the study runs, after `with_agent`)."""
        values = {**dataclasses.asdict(self.settings), **settings}
        env_settings = {
            env_id: {key: value for key, value in table.items() if key not in settings}
            for env_id, table in self.env_settings.items()
        }
        study = self
        if decide is not _KEEP or tune is not _KEEP:
            study = dataclasses.replace(
                self,
                decide=self.decide if decide is _KEEP else decide,
                tune=self.tune if tune is _KEEP else tune,
                resolved=False,
            )
        return study._with(check_settings(values, self.source), self.agents, env_settings)

    def select(self, labels: Sequence[str] | None = None, seeds: Sequence[int] | None = None) -> Study:
        """A copy restricted to some agents and seeds (`StudyError` for unknown labels or empty lists)."""
        agents = self.agents
        if labels is not None:
            unknown = [label for label in labels if label not in self.labels]
            if unknown:
                raise StudyError(
                    f"agents: unknown label {unknown[0]!r}; labels in {self.source}: {', '.join(self.labels)}"
                )
            agents = tuple(spec for spec in self.agents if spec.label in labels)
        values = dataclasses.asdict(self.settings)
        kept = {spec.label for spec in agents}
        values["paired"] = [pair for pair in values["paired"] if set(pair) <= kept]
        if seeds is not None:
            values["seeds"] = list(seeds)
        return self._with(check_settings(values, self.source), agents, self.env_settings)

    def with_agent(
        self,
        label: str,
        kind: str | type,
        search: Mapping[str, Any] | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> Study:
        """A copy with one more agent: `kind` is a built-in name, an import path or a class
        (defined anywhere: a notebook cell, a script's `__main__`, a file); `values` are its
        keyword arguments (`hyperparameters={...}` too, e.g. for one named `search`); `search` is
        what `harness.tune` searches, as an `[agents.<label>.search]` table (`{"gamma": [0.9,
        0.99], "learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}`). Refused at once
        (`StudyError`, one line) when the label is taken or not a folder name, the class is of no
        agent family, a hyperparameter is one its class does not take or a bad value, or the
        search table is malformed; nothing runs. A class that workers cannot import by name
        travels to them by value (`harness.agents.objects`)."""
        hyperparameters = {**(hyperparameters or {}), **values}
        where = f"{self.source}: with_agent({label!r})"
        if not isinstance(label, str) or not NAME.match(label):
            raise StudyError(f"{where}: a label must be letters, digits, '.', '_' or '-'")
        if label.lower() in (taken.lower() for taken in self.labels):
            raise StudyError(
                f"{where}: the study has an agent labelled {label!r} already; labels: {', '.join(self.labels)}"
            )
        try:
            if isinstance(kind, type):
                kind = kind_of(kind)
            elif not isinstance(kind, str):
                raise KindError(f"kind must be a class, a built-in kind or an import path, got {kind!r}")
            check_kind(kind, self.code_dir)
            resolved = resolve_kind(kind, self.code_dir)
            for view in self.split():
                resolved.resolve(hyperparameters, view.env_id)
        except ValueError as error:  # KindError, or a config dataclass's ValueError naming the value
            raise StudyError(f"{where}: {one_line(error)}") from None
        space = search_space(search, f"{self.source}: agents.{label}.search") if search is not None else None
        spec = AgentSpec(label, kind, dict(hyperparameters), shipped=shipped(kind), search=space)
        return dataclasses.replace(self, agents=(*self.agents, spec), resolved=False)

    def _with(self, settings: StudySettings, agents: tuple[AgentSpec, ...], env_settings: Mapping) -> Study:
        """A copy with these settings, agents and env values, checked: every env's merged values,
        and the `[decide]` and `[tune]` tables against the settings (seeds, budget, evaluation)."""
        kept = {spec.label for spec in agents}
        decide = decide_settings(self.decide, settings.seeds, self.source) if self.decide is not None else None
        tune = None
        if self.tune is not None:
            if settings.env_ids is not None:
                raise StudyError(
                    f"{self.source}: tune: a study across envs is tuned one env at a time; give one env_id"
                )
            tune = tune_settings(
                self.tune,
                settings.seeds,
                settings.total_timesteps,
                settings.eval_seed,
                settings.n_eval_episodes,
                self.source,
            )
        if decide is not None:  # an agent it compares left out (one not added yet may come with with_agent)
            dropped = [label for label in decide.named() if label in self.labels and label not in kept]
            if dropped:
                raise StudyError(f"{self.source}: decide: {dropped[0]!r} is compared there; select it too")
        study = dataclasses.replace(
            self, settings=settings, agents=agents, env_settings=env_settings, decide=decide, tune=tune
        )
        for view in study.split():  # every env's merged values checked again
            check_view(view.settings, self.source, view.env_id if study.across_envs else None)
        return study
