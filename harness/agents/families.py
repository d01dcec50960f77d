"""The two families of agent class a study can name, told apart by type, and how each is built,
checked, saved and loaded.

- **Hand-written** (`custom_agents.BaseAgent` subclasses): `Class(env, seed=seed, **hyperparameters)`;
  the class's `config_class` (a frozen dataclass) is the hyperparameter schema, so unknown keys,
  wrong types and impossible values are refused by it, naming the field; saved with the class's
  own `save`, loaded with its `load`.
- **Library algorithms** (subclasses of SB3's `BaseAlgorithm`: SB3, sb3-contrib, sbx, a user's
  subclass): `Class(policy, env, seed=seed, **hyperparameters)`, `policy = "MlpPolicy"` unless the
  study says otherwise. Keyword arguments are checked against the constructor's signature (and its
  parents' where it passes `**kwargs` on); the constructor's plain defaults are filled in, so the
  resolved hyperparameters say what ran; `device` defaults to "cpu" (one core per run, as every
  other agent); a string value of a key ending in `_class` or `_fn` (e.g. `policy_kwargs = {
  activation_fn = "torch.nn:Tanh" }`) names a class by import path and is imported, never `eval`'d.
  Saved and loaded as `.zip` by the class's own `save`/`load`.

Anything else is refused, saying what the class should be.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import pathlib
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from custom_agents.base import BaseAgent
from custom_agents.config import to_plain
from harness import imports
from harness.agents.assignment import SAVE_SUFFIX, AssignmentAgent
from harness.conditions import EpisodeRules, make_training_env
from harness.errors import KindError, one_line

HARNESS_ARGUMENTS = {
    "env": "the harness builds the env",
    "seed": "the study's seeds set it",
    "tensorboard_log": "the harness sets the logger (TensorBoard under the run folder)",
    "_init_setup_model": "the harness builds the model",
}
"""Constructor arguments of a library class that the harness sets itself."""
NOT_RECORDED = {"self", "policy", "verbose", *HARNESS_ARGUMENTS}
"""Constructor arguments that are not hyperparameters."""
CLASS_SUFFIXES = ("_class", "_fn")
"""A string under a key ending like this names a class or function by import path."""


class AgentKind(ABC):
    """A resolved kind: its class and how the harness builds, checks, saves and loads it."""

    family: str = ""
    """'hand-written' or 'library'."""

    def __init__(self, kind: str, cls: type) -> None:
        self.kind = kind
        self.cls = cls

    @property
    def class_path(self) -> str:
        """'module:QualifiedName' of the class."""
        return f"{self.cls.__module__}:{self.cls.__qualname__}"

    @property
    def source_file(self) -> str | None:
        """The file the class was imported from (None for a class without one)."""
        try:
            return inspect.getsourcefile(self.cls)
        except (TypeError, OSError):  # a built-in, or a class shipped by value (no file)
            return None

    @property
    @abstractmethod
    def model_suffix(self) -> str:
        """What `model.save("model")` appends."""

    @abstractmethod
    def resolve(self, values: Mapping[str, Any], env_id: str | None = None) -> dict[str, Any]:
        """Checked, complete hyperparameters (the env's preset applied, defaults filled) as plain
        values; `KindError` or `ValueError` naming a bad one."""

    @abstractmethod
    def build(self, env: Any, seed: int, values: Mapping[str, Any]) -> Any:
        """A new model on `env` with `seed` and resolved hyperparameters."""

    @abstractmethod
    def load(self, path: pathlib.Path) -> Any:
        """A model saved by `model.save(path)`, on the CPU."""

    def check_on_env(self, env_id: str, values: Mapping[str, Any], rules: EpisodeRules | None = None) -> None:
        """Build the model once on `env_id`'s training env (on the CPU), so that anything its
        constructor refuses (a space it cannot handle, a bad value) is found before a run starts;
        `KindError` with the constructor's message."""
        env = make_training_env(env_id, 0, rules)
        try:
            cpu = {**values, "device": "cpu"} if "device" in values else values
            self.build(env, 0, cpu)
        except KindError:
            raise
        except Exception as error:
            why = one_line(error, with_type=True)
            raise KindError(f"{self.cls.__name__} cannot be built on {env_id}: {why}") from None
        finally:
            env.close()

    @staticmethod
    def device(values: Mapping[str, Any]) -> str | None:
        """The torch device the hyperparameters ask for (None when the class takes none)."""
        device = values.get("device")
        return str(device) if device is not None else None


class HandWrittenKind(AgentKind):
    """A `custom_agents.BaseAgent` subclass (see the module docstring)."""

    family = "hand-written"

    def __init__(self, kind: str, cls: type[BaseAgent]) -> None:
        super().__init__(kind, cls)
        config_class = getattr(cls, "config_class", None)
        if config_class is None or not dataclasses.is_dataclass(config_class):
            raise KindError(
                f"{kind}: {cls.__name__} must set `config_class` to a frozen dataclass of its hyperparameters "
                "(an empty one if it has none)"
            )

    @property
    def model_suffix(self) -> str:
        return self.cls.save_suffix

    def resolve(self, values: Mapping[str, Any], env_id: str | None = None) -> dict[str, Any]:
        # None (a field left at an empty default) is left out, as a study file can hold no None;
        # so is a field added after runs were recorded (metadata "recorded_when_set") while it
        # holds its default, so that those runs keep their identity.
        config = self.cls.make_config(values, env_id=env_id)
        later = {f.name: f.default for f in dataclasses.fields(config) if f.metadata.get("recorded_when_set")}
        return {k: v for k, v in to_plain(config).items() if v is not None and not (k in later and v == later[k])}

    def build(self, env: Any, seed: int, values: Mapping[str, Any]) -> Any:
        return self.cls(env, seed=seed, **values)

    def load(self, path: pathlib.Path) -> Any:
        fields = {f.name for f in dataclasses.fields(self.cls.config_class)}
        return self.cls.load(path, **({"device": "cpu"} if "device" in fields else {}))


class LibraryKind(AgentKind):
    """A subclass of SB3's `BaseAlgorithm` (see the module docstring).

    :param presets: `(preset name, env id) -> constructor arguments` for kinds that have presets
        (sb3_dqn).
    """

    family = "library"

    def __init__(
        self, kind: str, cls: type[BaseAlgorithm], presets: Callable[[str, str | None], Mapping] | None = None
    ) -> None:
        super().__init__(kind, cls)
        self.presets = presets
        self.parameters = constructor_parameters(cls)

    @property
    def model_suffix(self) -> str:
        return ".zip"

    def resolve(self, values: Mapping[str, Any], env_id: str | None = None) -> dict[str, Any]:
        values = dict(values)
        preset = values.pop("preset", None)
        if preset is not None:
            if self.presets is None:
                raise KindError(f"hyperparameter 'preset': {self.kind} has no presets", key="preset")
            if not isinstance(preset, str):
                raise KindError(f"hyperparameter 'preset' must be a string, got {preset!r}", key="preset")
            values = _merge(self.presets(preset, env_id), values)
        policy = values.pop("policy", "MlpPolicy")
        if not isinstance(policy, str):
            raise KindError(f"hyperparameter 'policy' must be a string, got {policy!r}", key="policy")
        if ":" in policy:
            _import_value("policy", policy)
        for key, value in values.items():
            if key in HARNESS_ARGUMENTS:
                raise KindError(f"hyperparameter {key!r} cannot be set: {HARNESS_ARGUMENTS[key]}", key=key)
            if key not in self.parameters:
                takes = ", ".join(name for name in self.parameters if name not in NOT_RECORDED)
                raise KindError(f"unknown hyperparameter {key!r}: {self.cls.__name__} takes {takes}", key=key)
            _check_type(key, value, self.parameters[key].annotation)
            _import_classes(key, value)
        resolved: dict[str, Any] = {"policy": policy}
        if preset is not None:
            resolved["preset"] = preset
        for name, parameter in self.parameters.items():
            if name in NOT_RECORDED:
                continue
            if name in values:
                resolved[name] = values[name]
            elif name == "device":
                resolved[name] = "cpu"
            elif _is_plain(parameter.default):
                resolved[name] = _plain(parameter.default)
        return resolved

    def build(self, env: Any, seed: int, values: Mapping[str, Any]) -> Any:
        kwargs = {
            key: self._as_declared(key, _import_classes(key, value))
            for key, value in values.items()
            if key not in ("policy", "preset")
        }
        policy = values.get("policy", "MlpPolicy")
        if ":" in policy:
            policy = _import_value("policy", policy)
        return self.cls(policy, env, seed=seed, **kwargs)

    def load(self, path: pathlib.Path) -> Any:
        return self.cls.load(path, device="cpu")

    def _as_declared(self, key: str, value: Any) -> Any:
        """A list (all TOML has) as a tuple where the constructor declares a tuple (SB3's
        `train_freq = (4, "step")` refuses a list)."""
        parameter = self.parameters.get(key)
        if isinstance(value, list) and parameter is not None and "tuple" in str(parameter.annotation).lower():
            return tuple(value)
        return value


class AssignmentKind(AgentKind):
    """A class of the assignment's shape: `train()` and `act(observation, reward, done)`, built
    as `Class(**hyperparameters)` and wrapped in `AssignmentAgent` (`harness.agents.assignment`).
    Its constructor's keyword arguments are its hyperparameters: checked against the signature,
    their plain defaults filled in; a `seed` argument gets the run's seed."""

    family = "assignment"

    def __init__(self, kind: str, cls: type) -> None:
        super().__init__(kind, cls)
        self.parameters = constructor_parameters(cls)
        self.takes_seed = "seed" in self.parameters

    @property
    def model_suffix(self) -> str:
        return SAVE_SUFFIX

    def resolve(self, values: Mapping[str, Any], env_id: str | None = None) -> dict[str, Any]:
        takes = [name for name in self.parameters if name != "seed"]
        for key, value in values.items():
            if key == "seed":
                raise KindError("hyperparameter 'seed' cannot be set: the study's seeds set it", key=key)
            if key not in self.parameters:
                what = ", ".join(takes) if takes else "no keyword arguments"
                raise KindError(f"unknown hyperparameter {key!r}: {self.cls.__name__}() takes {what}", key=key)
            _check_type(key, value, self._annotation(key))
        resolved: dict[str, Any] = {}
        for name, parameter in self.parameters.items():
            if name == "seed" or parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
                continue
            if name in values:
                resolved[name] = values[name]
            elif parameter.default is inspect.Parameter.empty:
                raise KindError(
                    f"hyperparameter {name!r} is required: {self.cls.__name__}() has no default for it", key=name
                )
            elif _is_plain(parameter.default):
                resolved[name] = _plain(parameter.default)
        return resolved

    def build(self, env: Any, seed: int, values: Mapping[str, Any]) -> Any:
        kwargs = {key: self._as_declared(key, value) for key, value in values.items()}
        if self.takes_seed:
            kwargs["seed"] = seed
        return AssignmentAgent.built(self.cls, kwargs, env, seed)

    def load(self, path: pathlib.Path) -> Any:
        return AssignmentAgent.load(path)

    def _annotation(self, key: str) -> Any:
        """The type a value must have: the parameter's annotation (resolved when it is a string),
        else the type of its plain default (a student's constructor is seldom annotated)."""
        parameter = self.parameters[key]
        annotation = parameter.annotation
        if isinstance(annotation, str):
            try:
                annotation = typing.get_type_hints(self.cls.__init__).get(key, inspect.Parameter.empty)
            except Exception:  # an annotation that does not evaluate says nothing a value could be
                annotation = inspect.Parameter.empty
        if annotation is inspect.Parameter.empty and _is_plain(parameter.default):
            annotation = {list: list, tuple: tuple, dict: dict}.get(type(parameter.default), type(parameter.default))
        return annotation

    def _as_declared(self, key: str, value: Any) -> Any:
        """A list (all TOML has) as a tuple where the constructor's default is one."""
        parameter = self.parameters.get(key)
        if isinstance(value, list) and parameter is not None and isinstance(parameter.default, tuple):
            return tuple(value)
        return value


def family_of(kind: str, cls: Any, presets: Callable[[str, str | None], Mapping] | None = None) -> AgentKind:
    """The family of `cls`; `KindError` for anything that is not a class of one, saying what it
    lacks."""
    if not isinstance(cls, type):
        raise KindError(f"{kind}: names {type(cls).__name__} {cls!r}, not a class; {_SHOULD_BE}")
    if issubclass(cls, BaseAgent):
        if inspect.isabstract(cls):
            raise KindError(f"{kind}: {cls.__name__} is abstract; fill in the hooks BaseAgent leaves open")
        return HandWrittenKind(kind, cls)
    if issubclass(cls, BaseAlgorithm):
        if inspect.isabstract(cls):
            raise KindError(f"{kind}: {cls.__name__} is abstract; name a concrete algorithm")
        return LibraryKind(kind, cls, presets)
    name = f"{cls.__module__}.{cls.__qualname__}"
    missing = [method for method in ("train", "act") if not callable(getattr(cls, method, None))]
    if missing == ["act"] or missing == ["train"]:
        have = "train()" if missing == ["act"] else "act(observation, reward, done)"
        need = "act(observation, reward, done)" if missing == ["act"] else "train()"
        raise KindError(f"{kind}: {name} has {have} but no {need}; {_SHOULD_BE}")
    if missing:
        raise KindError(f"{kind}: {name} is of no agent family; {_SHOULD_BE}")
    try:
        inspect.signature(cls.act).bind(None, "observation", 0.0, False)
    except TypeError:
        raise KindError(
            f"{kind}: {name}.act{inspect.signature(cls.act)} must take (observation, reward, done)"
        ) from None
    return AssignmentKind(kind, cls)


_SHOULD_BE = (
    "an agent class subclasses custom_agents.BaseAgent (a hand-written agent) or "
    "stable_baselines3.common.base_class.BaseAlgorithm (an SB3-API algorithm), or has train() and "
    "act(observation, reward, done) (the assignment's shape)"
)


def constructor_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters `cls(...)` accepts, in order: its `__init__`'s, and where that
    passes `**kwargs` on, its parents' too (the nearest declaration of a name wins)."""
    parameters: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        signature = inspect.signature(init)
        open_ended = False
        for name, parameter in signature.parameters.items():
            if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                open_ended = True
            elif parameter.kind is not inspect.Parameter.VAR_POSITIONAL and name not in parameters:
                parameters[name] = parameter
        if not open_ended:
            break
    parameters.pop("self", None)
    parameters.pop("env", None)
    return parameters


_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}


def _check_type(key: str, value: Any, annotation: Any) -> None:
    """`KindError` when a study value cannot be of the constructor's annotated type (a string
    for a number, a number for a flag, a device torch does not know); nothing when the
    annotation says nothing a study value could be."""
    allowed = _plain_types(annotation)
    kind = type(value)
    if allowed and kind not in allowed and not (kind is int and float in allowed):
        words = " or ".join(_WORDS[t] for t in (bool, int, float, str, list, dict) if t in allowed)
        raise KindError(f"hyperparameter {key!r} must be {words}, got {value!r}", key=key)
    if key == "device" and isinstance(value, str) and value != "auto":
        try:
            torch.device(value)
        except (RuntimeError, ValueError):
            raise KindError(
                f"hyperparameter 'device' must be a torch device (cpu, cuda, cuda:N, auto), got {value!r}", key=key
            ) from None


def _plain_types(annotation: Any) -> set[type]:
    """The study value types (bool, int, float, str, list, dict) an annotation admits; empty when
    it is unknown (a string annotation, a class of the library's own)."""
    if annotation is inspect.Parameter.empty or isinstance(annotation, str):
        return set()
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_plain_types(arg) for arg in typing.get_args(annotation) if arg is not type(None)))
    if annotation in (bool, int, float, str):
        return {annotation}
    if annotation in (list, tuple) or origin in (list, tuple, collections.abc.Sequence):
        return {list}
    if annotation is dict or origin in (dict, collections.abc.Mapping):
        return {dict}
    if annotation is type or origin is type or getattr(annotation, "__name__", "") == "device":
        return {str}  # a class by import path; a torch device by name
    return set()


def _merge(base: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` over `base`; a table in both (e.g. `policy_kwargs`) is merged one level deep."""
    merged = dict(base)
    for key, value in values.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _is_plain(value: Any) -> bool:
    if value is None or value is inspect.Parameter.empty:
        return False
    if isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def import_paths_in(values: Mapping[str, Any]) -> list[str]:
    """The import-path strings resolved hyperparameters use: a `policy` given as one, and every
    string under a `*_class` / `*_fn` key (the classes a library kind imports when it builds)."""
    found: list[str] = []

    def walk(key: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(k, v)
        elif isinstance(value, str) and (_names_class(key) or key == "policy") and ":" in value:
            found.append(value)

    for key, value in values.items():
        walk(key, value)
    return found


def _names_class(key: str) -> bool:
    return key.endswith(CLASS_SUFFIXES)


def _import_classes(path: str, value: Any) -> Any:
    """`value` (the hyperparameter at dotted `path`) with each import-path string under a
    `*_class` / `*_fn` key, at any depth of tables, replaced by the object it names (`KindError`
    naming the key when one does not resolve)."""
    if isinstance(value, Mapping):
        return {k: _import_classes(f"{path}.{k}", v) for k, v in value.items()}
    if isinstance(value, str) and _names_class(path.rsplit(".", 1)[-1]):
        return _import_value(path, value)
    return value


def _import_value(key: str, text: str) -> Any:
    try:
        return imports.import_object(text)
    except imports.ImportPathError as error:
        raise KindError(f"hyperparameter {key!r}: {error}", key=key) from None
