"""The `sb3_dqn` kind: Stable-Baselines3's DQN, unpatched, taking SB3's own constructor arguments
(with the `zoo` preset `custom_dqn` has too), refusing options SB3 does not have, and counting
updates and target syncs as the hand-written agent does."""

from __future__ import annotations

import inspect
import itertools
from typing import Any

import pytest
import stable_baselines3.dqn.dqn as sb3_dqn_module
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import BaseCallback
from torch import nn

from custom_agents.dqn import DQNConfig
from custom_agents.presets import DQN_PRESETS, ZOO_DQN, sb3_kwargs
from harness.agents import KindError, resolve_kind
from harness.conditions import make_training_env
from harness.studies import StudyError, parse_study, resolve_study

ENV_ID = "CartPole-v1"
SB3 = resolve_kind("sb3_dqn")
CUSTOM = resolve_kind("custom_dqn")
TINY: dict[str, Any] = {"net_arch": [16], "learning_starts": 20, "batch_size": 8, "buffer_size": 500}
"""Small `custom_dqn` hyperparameters; `sb3_kwargs(TINY)` are the same for `sb3_dqn`."""
SB3_DEFAULT_NET_ARCH = [64, 64]
"""SB3's DQN `MlpPolicy` network without `policy_kwargs`."""

# The fields both agents share, and what SB3 calls them on a built model.
SHARED_FIELDS = (
    "learning_rate",
    "batch_size",
    "buffer_size",
    "learning_starts",
    "gamma",
    "tau",
    "target_update_interval",
    "gradient_steps",
    "exploration_fraction",
    "exploration_initial_eps",
    "exploration_final_eps",
    "max_grad_norm",
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def build_sb3(values: dict[str, Any], seed: int = 0) -> DQN:
    """An `sb3_dqn` model from SB3 constructor arguments."""
    return SB3.build(make_training_env(ENV_ID, seed), seed, SB3.resolve(values, env_id=ENV_ID))


def train_freq_of(resolved: dict[str, Any]) -> tuple[int, str]:
    """(frequency, unit) of resolved `sb3_dqn` hyperparameters (`train_freq` as SB3 takes it: an
    int counting steps, or [frequency, unit])."""
    train_freq = resolved["train_freq"]
    if isinstance(train_freq, int):
        return train_freq, "step"
    frequency, unit = train_freq
    return frequency, unit


def net_arch_of(resolved: dict[str, Any]) -> list[int]:
    """The hidden layers resolved `sb3_dqn` hyperparameters ask for."""
    return list((resolved.get("policy_kwargs") or {}).get("net_arch", SB3_DEFAULT_NET_ARCH))


def as_custom(resolved: dict[str, Any]) -> dict[str, Any]:
    """Resolved `sb3_dqn` hyperparameters under `custom_dqn`'s names, for the fields both share."""
    return {
        **{name: resolved[name] for name in SHARED_FIELDS},
        "train_freq": list(train_freq_of(resolved)),
        "net_arch": net_arch_of(resolved),
    }


def shared(custom: dict[str, Any]) -> dict[str, Any]:
    """The same fields of resolved `custom_dqn` hyperparameters."""
    return {name: custom[name] for name in (*SHARED_FIELDS, "train_freq", "net_arch")}


def assert_model_matches(model: DQN, resolved: dict[str, Any]) -> None:
    for name in SHARED_FIELDS:
        assert getattr(model, name) == resolved[name], name
    assert (model.train_freq.frequency, model.train_freq.unit.value) == train_freq_of(resolved)
    net_arch = net_arch_of(resolved)
    assert model.policy.net_arch == net_arch
    linear = [m for m in model.q_net.q_net if isinstance(m, nn.Linear)]
    sizes = (4, *net_arch, 2)
    assert [(m.in_features, m.out_features) for m in linear] == list(itertools.pairwise(sizes))
    assert model.device.type == "cpu"


def test_zoo_preset_resolves_the_same_for_both_kinds():
    resolved = SB3.resolve({"preset": "zoo"}, env_id=ENV_ID)
    assert as_custom(resolved) == shared(CUSTOM.resolve({"preset": "zoo"}, env_id=ENV_ID))
    assert resolved["preset"] == "zoo"
    assert resolved["policy"] == "MlpPolicy"
    assert resolved["learning_rate"] == 2.3e-3 and resolved["train_freq"] == 256
    assert resolved["policy_kwargs"] == {"net_arch": [256, 256]}


@pytest.mark.parametrize("env_id", ["Acrobot-v1", "MountainCar-v0"])
def test_zoo_preset_depends_on_the_env_the_same_for_both_kinds(env_id: str):
    resolved = SB3.resolve({"preset": "zoo"}, env_id=env_id)
    assert as_custom(resolved) == shared(CUSTOM.resolve({"preset": "zoo"}, env_id=env_id))
    assert resolved["learning_rate"] == ZOO_DQN[env_id]["learning_rate"] != ZOO_DQN[ENV_ID]["learning_rate"]
    assert resolved["train_freq"] == ZOO_DQN[env_id]["train_freq"]


@pytest.mark.parametrize("kind", [SB3, CUSTOM], ids=["sb3_dqn", "custom_dqn"])
def test_zoo_preset_needs_an_env_the_zoo_tunes(kind):
    with pytest.raises((KindError, ValueError), match="without knowing the env"):
        kind.resolve({"preset": "zoo"})
    with pytest.raises((KindError, ValueError), match="'Pendulum-v1'"):
        kind.resolve({"preset": "zoo"}, env_id="Pendulum-v1")


def test_zoo_preset_builds_an_sb3_dqn_with_those_values():
    resolved = SB3.resolve({"preset": "zoo"}, env_id=ENV_ID)
    model = build_sb3({"preset": "zoo"}, seed=3)
    assert type(model) is DQN
    assert model.seed == 3
    assert_model_matches(model, resolved)


def test_explicit_values_over_the_zoo_preset_win():
    resolved = SB3.resolve({"preset": "zoo", "gamma": 0.9, "policy_kwargs": {"net_arch": [32]}}, env_id=ENV_ID)
    assert resolved["gamma"] == 0.9 and resolved["learning_rate"] == 2.3e-3
    assert resolved["policy_kwargs"] == {"net_arch": [32]}


def test_explicit_values_reach_the_sb3_model():
    values = {
        "learning_rate": 5e-4,
        "batch_size": 16,
        "buffer_size": 1_234,
        "learning_starts": 7,
        "gamma": 0.95,
        "tau": 0.5,
        "target_update_interval": 33,
        "train_freq": [2, "episode"],
        "gradient_steps": -1,
        "exploration_fraction": 0.4,
        "exploration_initial_eps": 0.8,
        "exploration_final_eps": 0.02,
        "max_grad_norm": 3.0,
        "net_arch": [24, 12],
    }
    resolved = SB3.resolve(sb3_kwargs(values))  # the same values, as SB3 takes them (as TOML gives them)
    assert resolved["policy_kwargs"] == {"net_arch": [24, 12]}
    assert as_custom(resolved) == shared(CUSTOM.resolve(values))
    assert_model_matches(build_sb3(sb3_kwargs(values)), resolved)


def test_default_values_are_sb3s_defaults():
    """`DQNConfig`'s defaults are SB3's `DQN` defaults, so an empty table means the same to both
    (but the network: SB3's MlpPolicy has [64, 64] unless `policy_kwargs` says otherwise)."""
    signature = inspect.signature(DQN.__init__).parameters
    defaults = DQNConfig()
    for name in SHARED_FIELDS:
        assert getattr(defaults, name) == signature[name].default, name
    assert defaults.train_freq == (signature["train_freq"].default, "step")
    resolved = SB3.resolve({})
    for name in SHARED_FIELDS:  # the resolved hyperparameters say what ran: SB3's defaults
        assert resolved[name] == signature[name].default, name
    assert resolved["device"] == "cpu"
    model = build_sb3({})
    assert_model_matches(model, resolved)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"loss": "mse"}, "loss"),
        ({"exploration_decay": 0.99}, "exploration_decay"),
        ({"target_update_unit": "update"}, "target_update_unit"),
        ({"net_arch": [16]}, "net_arch"),  # SB3 takes it inside policy_kwargs
    ],
)
def test_options_sb3_lacks_are_refused_naming_them(values, field):
    with pytest.raises(KindError, match=f"unknown hyperparameter '{field}': DQN takes") as error:
        SB3.resolve(values)
    assert error.value.key == field
    assert CUSTOM.resolve(values)[field] == next(iter(values.values()))  # fine for the hand-written agent


def test_bad_values_are_refused_for_sb3_dqn_too():
    with pytest.raises(ValueError, match="'gamma'"):
        CUSTOM.resolve({"gamma": 2.0})
    with pytest.raises(ValueError, match="'no_such_option'"):
        SB3.resolve({"no_such_option": 1})
    with pytest.raises(ValueError, match="'seed' cannot be set"):
        SB3.resolve({"seed": 1})
    # A value of a type the constructor's annotation does not admit is refused by name ...
    with pytest.raises(KindError, match=r"'train_freq' must be an integer or a list, got 0\.5"):
        SB3.resolve({"train_freq": 0.5})
    # ... and one SB3's constructor refuses is found by building it once on the env, before any run.
    resolved = SB3.resolve({"train_freq": [4, "hour"]})
    with pytest.raises(KindError, match=r"DQN cannot be built on CartPole-v1: .*hour"):
        SB3.check_on_env(ENV_ID, resolved)


def study_with_sb3_dqn(lines: str) -> str:
    return f"""
[study]
name = "s"
seeds = [0]
total_timesteps = 1000
eval_freq = 500

[agents.sb3]
kind = "sb3_dqn"
{lines}
"""


def test_a_study_names_the_sb3_dqn_hyperparameter_at_fault():
    with pytest.raises(StudyError, match=r"agents\.sb3\.loss: unknown hyperparameter 'loss'"):
        resolve_study(parse_study(study_with_sb3_dqn('loss = "mse"'), "s.toml"))
    with pytest.raises(StudyError, match=r"agents\.sb3\.preset: .*'zoo'"):
        resolve_study(parse_study(study_with_sb3_dqn('preset = "assignment"'), "s.toml"))
    study = resolve_study(
        parse_study(study_with_sb3_dqn('preset = "zoo"\npolicy_kwargs = { net_arch = [16] }'), "s.toml")
    )
    assert study.agent("sb3").hyperparameters["policy_kwargs"] == {"net_arch": [16]}


ASSIGNMENT_ONLY = ("target_update_unit", "exploration_decay", "loss")
"""The assignment preset's options SB3's DQN has no counterpart for."""


def test_assignment_preset_is_refused_even_with_overrides():
    with pytest.raises(KindError, match=r"'preset' must be 'zoo' for sb3_dqn"):
        SB3.resolve({"preset": "assignment"})
    overrides = {"target_update_unit": "step", "exploration_decay": None, "loss": "huber"}
    with pytest.raises(KindError, match=r"'preset' must be 'zoo' for sb3_dqn"):
        SB3.resolve({"preset": "assignment", **overrides})
    # What SB3 does have of the assignment's choices can be given as its own arguments.
    values = {k: v for k, v in DQN_PRESETS["assignment"].items() if k not in ASSIGNMENT_ONLY}
    resolved = SB3.resolve(sb3_kwargs({**values, "net_arch": [16]}))
    assert resolved["gamma"] == 0.9 and resolved["train_freq"] == [1, "episode"]
    assert resolved["max_grad_norm"] == float("inf")
    assert_model_matches(build_sb3(sb3_kwargs({**values, "net_arch": [16]})), resolved)


# -- the same counting as the hand-written agent --------------------------------------------


def count_sb3_target_syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count SB3's target network updates: the `polyak_update` calls on the Q-network's parameters
    (it makes another for batch-norm statistics)."""
    calls: list[int] = []
    original = sb3_dqn_module.polyak_update

    def counting(params: Any, target_params: Any, tau: float) -> None:
        params, target_params = list(params), list(target_params)
        if any(isinstance(p, nn.Parameter) for p in params):
            calls.append(1)
        original(params, target_params, tau)

    monkeypatch.setattr(sb3_dqn_module, "polyak_update", counting)
    return calls


@pytest.mark.parametrize(
    ("train_freq", "gradient_steps", "target_update_interval", "total"),
    [(4, 1, 25, 200), (4, 3, 40, 200), (4, -1, 30, 200), ([5, "step"], 2, 7, 100), (1, 1, 50, 120)],
)
def test_update_and_sync_counts_match_sb3(monkeypatch, train_freq, gradient_steps, target_update_interval, total):
    values = {
        **TINY,
        "train_freq": train_freq,
        "gradient_steps": gradient_steps,
        "target_update_interval": target_update_interval,
    }
    custom = CUSTOM.build(make_training_env(ENV_ID, 0), 0, CUSTOM.resolve(values))
    custom_syncs: list[int] = []
    original = custom._update_target

    def update_target() -> None:
        custom_syncs.append(1)
        original()

    custom._update_target = update_target
    custom.learn(total)

    sb3_syncs = count_sb3_target_syncs(monkeypatch)
    model = build_sb3(sb3_kwargs(values))
    model.learn(total)

    assert custom.num_timesteps == model.num_timesteps == total
    assert custom.n_updates == model._n_updates > 0
    assert len(custom_syncs) == len(sb3_syncs) == total // target_update_interval


class ExplorationRates(BaseCallback):
    """The model's exploration rate at each step (before that step's own schedule update)."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []

    def _on_step(self) -> bool:
        self.rates.append(float(self.model.exploration_rate))
        return True


def test_exploration_rate_matches_sb3_step_by_step():
    values = {**TINY, "exploration_fraction": 0.3, "exploration_initial_eps": 0.7, "exploration_final_eps": 0.05}
    rates = []
    for model in (CUSTOM.build(make_training_env(ENV_ID, 0), 0, CUSTOM.resolve(values)), build_sb3(sb3_kwargs(values))):
        recorder = ExplorationRates()
        model.learn(300, callback=recorder)
        rates.append([*recorder.rates, float(model.exploration_rate)])
    custom, sb3 = rates
    assert len(custom) == len(sb3) == 301
    # SB3 holds 0.0 until its first step sets the schedule; either way the first actions are
    # random (learning_starts).
    assert custom[0] == 0.7 and sb3[0] == 0.0
    assert custom[1:] == pytest.approx(sb3[1:], abs=1e-12)
    assert custom[-1] == 0.05
