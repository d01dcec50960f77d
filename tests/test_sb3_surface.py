"""Stable-Baselines3's DQN surface of the hand-written agents, with SB3's semantics: the policy and
its networks (predict, save/load), live hyperparameters and `_on_step`, `predict` shapes,
`get_parameters`/`set_parameters`, save/load arguments, `set_env`, Discrete observations, several
envs, `policy_kwargs` and which update runs, `optimize_memory_usage`, the replay buffer, the fast
update's optimizer state, `gradient_steps=0` and the time keys of a log dump."""

from __future__ import annotations

import copy
import pathlib
import time
import warnings
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.envs import IdentityEnv
from stable_baselines3.common.logger import KVWriter, Logger
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

from custom_agents import DQNAgent, RandomAgent, TabularQAgent, TabularSarsaAgent
from custom_agents.dqn_update import FastUpdate, ReferenceUpdate
from custom_agents.policy import DQNPolicy
from custom_agents.qnetwork import QNetwork
from custom_agents.sb3_loop import record_rollout_logs
from harness.agents import AssignmentAgent

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ENV_ID = "CartPole-v1"
TINY: dict[str, Any] = {"net_arch": [8], "learning_starts": 10, "batch_size": 8, "buffer_size": 200}
NO_TIMEOUT_HANDLING = {"handle_timeout_termination": False}


def make_agent(env: Any = None, seed: int = 0, **hyperparameters: Any) -> DQNAgent:
    """A tiny DQN on CartPole (or `env`)."""
    return DQNAgent(gym.make(ENV_ID) if env is None else env, seed=seed, **{**TINY, **hyperparameters})


def two_cartpoles() -> DummyVecEnv:
    return DummyVecEnv([lambda: gym.make(ENV_ID)] * 2)


def observations(n: int, seed: int = 0) -> np.ndarray:
    """`n` CartPole-like observations (float32, shape (n, 4))."""
    return np.random.default_rng(seed).normal(0.0, 0.5, size=(n, 4)).astype(np.float32)


def perturb(net: QNetwork, seed: int = 0) -> None:
    """Move a plain network's weights away from where they were (so two networks differ)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net.flat.add_(torch.randn(net.flat.shape, generator=generator))


def same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Captured(KVWriter):
    """An SB3 log output that keeps every dump's key-values."""

    def __init__(self) -> None:
        self.dumps: list[dict[str, Any]] = []

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        self.dumps.append(dict(key_values))

    def close(self) -> None:
        pass


def capturing_logger() -> tuple[Logger, Captured]:
    writer = Captured()
    return Logger(folder=None, output_formats=[writer]), writer


class BatchNormFeatures(BaseFeaturesExtractor):
    """Batch norm then a linear layer: a features extractor with running statistics."""

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 4) -> None:
        super().__init__(observation_space, features_dim)
        n = observation_space.shape[0]
        self.norm = nn.BatchNorm1d(n)
        self.linear = nn.Linear(n, features_dim)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(self.norm(observations)))


# -- the policy and its networks ------------------------------------------------------------------


def test_policy_holds_both_networks_and_an_optimizer_over_the_online_one():
    model = make_agent()
    policy = model.policy
    assert isinstance(policy, DQNPolicy)
    assert isinstance(policy.q_net, QNetwork) and isinstance(policy.q_net_target, QNetwork)
    assert policy.q_net is not policy.q_net_target
    assert model.q_net is policy.q_net and model.q_net_target is policy.q_net_target
    assert isinstance(policy.optimizer, torch.optim.Optimizer)
    optimized = [p for group in policy.optimizer.param_groups for p in group["params"]]
    assert [id(p) for p in optimized] == [id(p) for p in model.q_net.parameters()]


def test_set_training_mode_leaves_the_target_network_in_evaluation_mode():
    policy = make_agent().policy
    policy.set_training_mode(True)
    assert policy.q_net.training and policy.training
    assert not policy.q_net_target.training
    policy.set_training_mode(False)
    assert not policy.q_net.training and not policy.q_net_target.training


def test_policy_predict_gives_shape_empty_for_one_observation_and_n_for_a_batch():
    model = make_agent()
    batch = observations(5)
    action, state = model.policy.predict(batch[0], deterministic=True)
    assert isinstance(action, np.ndarray) and action.shape == ()
    assert state is None
    actions, _ = model.policy.predict(batch, deterministic=True)
    assert isinstance(actions, np.ndarray) and actions.shape == (5,)
    with torch.no_grad():
        greedy = model.q_net(torch.from_numpy(batch)).argmax(dim=1).numpy()
    np.testing.assert_array_equal(actions, greedy)
    assert action == greedy[0]


def test_policy_save_then_load_gives_the_same_weights_and_actions_without_pickled_code(tmp_path: pathlib.Path):
    model = make_agent()
    perturb(model.q_net)
    model.policy.save(tmp_path / "policy.pt")
    loaded = DQNPolicy.load(tmp_path / "policy.pt")
    assert same_state(loaded.state_dict(), model.policy.state_dict())
    batch = observations(32)
    np.testing.assert_array_equal(
        loaded.predict(batch, deterministic=True)[0], model.policy.predict(batch, deterministic=True)[0]
    )
    saved = torch.load(tmp_path / "policy.pt", weights_only=True)  # plain data and tensors only
    assert saved["class"] == "DQNPolicy"


def test_q_net_save_then_load_predicts_as_the_original(tmp_path: pathlib.Path):
    model = make_agent()
    perturb(model.q_net)
    model.q_net.save(tmp_path / "q_net.pt")
    loaded = QNetwork.load(tmp_path / "q_net.pt")
    assert same_state(loaded.state_dict(), model.q_net.state_dict())
    batch = observations(32)
    np.testing.assert_array_equal(loaded.predict(batch)[0], model.q_net.predict(batch)[0])
    torch.load(tmp_path / "q_net.pt", weights_only=True)


def test_q_net_of_a_discrete_space_saves_loads_and_predicts_raw_states(tmp_path: pathlib.Path):
    model = make_agent(IdentityEnv(5))
    perturb(model.q_net)
    model.q_net.save(tmp_path / "q_net.pt")
    loaded = QNetwork.load(tmp_path / "q_net.pt")
    assert loaded.observation_space == gym.spaces.Discrete(5)
    states = np.arange(5)
    with torch.no_grad():
        greedy = model.q_net(torch.eye(5)).argmax(dim=1).numpy()  # the one-hot states
    np.testing.assert_array_equal(loaded.predict(states)[0], greedy)
    np.testing.assert_array_equal(model.q_net.predict(states)[0], greedy)
    one, _ = loaded.predict(3)
    assert isinstance(one, np.ndarray) and one.shape == () and one == greedy[3]


# -- live hyperparameters and _on_step -------------------------------------------------------------


def test_hyperparameters_are_live_attributes_equal_to_the_config():
    model = make_agent(gamma=0.9, learning_rate=3e-3, target_update_interval=7, tau=0.8, train_freq=2)
    for name in (
        "gamma",
        "learning_rate",
        "target_update_interval",
        "tau",
        "train_freq",
        "batch_size",
        "buffer_size",
        "learning_starts",
        "gradient_steps",
        "exploration_fraction",
        "max_grad_norm",
    ):
        assert getattr(model, name) == getattr(model.config, name), name
    assert (model.gamma, model.learning_rate, model.target_update_interval, model.tau) == (0.9, 3e-3, 7, 0.8)
    assert model.train_freq == (2, "step")


def test_on_step_copies_the_online_weights_once_the_interval_is_set_to_one():
    model = make_agent()  # target_update_interval 10,000: no copy on the first call
    perturb(model.q_net)
    model._on_step()
    assert not torch.equal(model.q_net_target.flat, model.q_net.flat)
    model.target_update_interval = 1
    model._on_step()
    assert torch.equal(model.q_net_target.flat, model.q_net.flat)
    assert same_state(model.q_net_target.state_dict(), model.q_net.state_dict())


@pytest.mark.parametrize("tau", [0.0, 0.5])
def test_on_step_moves_the_target_by_tau(tau: float):
    """tau = 0 leaves the target's weights; tau = 0.5 moves them halfway (a lerp)."""
    model = make_agent(tau=tau, target_update_interval=1)
    perturb(model.q_net)
    before = model.q_net_target.flat.clone()
    model._on_step()
    if tau == 0.0:
        assert torch.equal(model.q_net_target.flat, before)
    else:
        torch.testing.assert_close(model.q_net_target.flat, torch.lerp(before, model.q_net.flat, tau))
        assert not torch.equal(model.q_net_target.flat, before)


@pytest.mark.parametrize("implementation", ["fast", "reference"])
def test_setting_learning_rate_changes_the_next_training_phase(implementation: str):
    model = make_agent(learning_starts=0, train_freq=4, implementation=implementation)
    model.learn(8)
    assert model.policy.optimizer.param_groups[0]["lr"] == 1e-4
    model.learning_rate = 0.01
    model.learn(8)
    assert model.policy.optimizer.param_groups[0]["lr"] == 0.01
    assert model.logger.name_to_value["train/learning_rate"] == 0.01


def test_save_records_the_live_values(tmp_path: pathlib.Path):
    model = make_agent()
    model.gamma = 0.5
    model.target_update_interval = 3
    model.save(tmp_path / "model.zip")
    loaded = DQNAgent.load(tmp_path / "model.zip")
    assert loaded.gamma == 0.5 and loaded.config.gamma == 0.5
    assert loaded.target_update_interval == 3


# -- predict of every agent --------------------------------------------------------------------------


@pytest.mark.parametrize("agent_class", [DQNAgent, TabularQAgent, TabularSarsaAgent, RandomAgent])
@pytest.mark.parametrize("deterministic", [True, False])
def test_predict_of_one_observation_is_a_0d_array(agent_class: type, deterministic: bool):
    hyperparameters = TINY if agent_class is DQNAgent else {}
    agent = agent_class(gym.make(ENV_ID), seed=0, **hyperparameters)
    batch = observations(3)
    action, state = agent.predict(batch[0], deterministic=deterministic)
    assert isinstance(action, np.ndarray) and action.shape == ()
    assert state is None and agent.action_space.contains(int(action))
    actions, _ = agent.predict(batch, deterministic=deterministic)
    assert isinstance(actions, np.ndarray) and actions.shape == (3,)


# -- get_parameters / set_parameters -----------------------------------------------------------------


def test_get_parameters_names_the_policy_and_its_optimizer():
    params = make_agent().get_parameters()
    assert set(params) == {"policy", "policy.optimizer"}
    assert "q_net.layers.0.weight" in params["policy"] and "q_net_target.layers.0.weight" in params["policy"]
    assert "param_groups" in params["policy.optimizer"]


def test_set_parameters_refuses_an_unknown_name_and_a_missing_one_with_exact_match():
    source, model = make_agent(seed=0), make_agent(seed=1)
    params = source.get_parameters()
    with pytest.raises(ValueError, match="nope"):
        model.set_parameters({**params, "nope": {}})
    with pytest.raises(ValueError, match=r"policy\.optimizer"):
        model.set_parameters({"policy": params["policy"]}, exact_match=True)
    model.set_parameters({"policy": params["policy"]}, exact_match=False)
    assert torch.equal(model.q_net.flat, source.q_net.flat)


def test_set_parameters_with_a_tensor_missing_and_exact_match_raises_runtime_error():
    model = make_agent()
    params = model.get_parameters()
    policy = dict(params["policy"])
    del policy["q_net.layers.0.weight"]
    with pytest.raises(RuntimeError, match=r"q_net\.layers\.0\.weight"):
        model.set_parameters({**params, "policy": policy}, exact_match=True)


def test_set_then_get_parameters_round_trips_the_weights():
    source = make_agent(seed=0, learning_starts=0)
    source.learn(40)
    perturb(source.q_net)
    model = make_agent(seed=1)
    assert not torch.equal(model.q_net.flat, source.q_net.flat)
    model.set_parameters(source.get_parameters())
    assert same_state(model.get_parameters()["policy"], source.get_parameters()["policy"])
    assert torch.equal(model.q_net.flat, source.q_net.flat)
    batch = observations(32)
    np.testing.assert_array_equal(  # the numpy forward pass sees the new weights too
        model.predict(batch, deterministic=True)[0], source.predict(batch, deterministic=True)[0]
    )


def test_tabular_get_and_set_parameters_of_the_q_table():
    source = TabularQAgent(gym.make(ENV_ID), seed=0)
    source.learn(300)
    assert source.q_table.any()
    params = source.get_parameters()
    assert set(params) == {"policy"} and set(params["policy"]) == {"q_table"}
    model = TabularQAgent(gym.make(ENV_ID), seed=1)
    model.set_parameters(params)
    np.testing.assert_array_equal(model.q_table, source.q_table)
    with pytest.raises(RuntimeError):
        model.set_parameters({"policy": {"q_table": torch.zeros(3, 2, dtype=torch.float64)}})
    with pytest.raises(RuntimeError):
        model.set_parameters({"policy": {**params["policy"], "extra": torch.zeros(1)}}, exact_match=True)


# -- save / load arguments -----------------------------------------------------------------------------


def test_save_exclude_leaves_verbose_at_its_default_and_include_keeps_it(tmp_path: pathlib.Path):
    model = make_agent(verbose=1)
    model.save(tmp_path / "excluded.zip", exclude=["verbose"])
    model.save(tmp_path / "included.zip", exclude=["verbose"], include=["verbose"])
    assert DQNAgent.load(tmp_path / "excluded.zip").verbose == 0
    assert DQNAgent.load(tmp_path / "included.zip").verbose == 1


def test_load_custom_objects_replaces_saved_values_only(tmp_path: pathlib.Path):
    make_agent(learning_starts=0, train_freq=4).save(tmp_path / "model.zip")
    loaded = DQNAgent.load(
        tmp_path / "model.zip", env=gym.make(ENV_ID), custom_objects={"learning_rate": 2e-5, "dummy": 1}
    )
    assert loaded.learning_rate == 2e-5
    assert not hasattr(loaded, "dummy")
    loaded.learn(8)
    assert loaded.policy.optimizer.param_groups[0]["lr"] == 2e-5


def test_save_of_a_path_without_suffix_writes_zip(tmp_path: pathlib.Path):
    make_agent(gamma=0.7).save(tmp_path / "x")
    assert [p.name for p in tmp_path.iterdir()] == ["x.zip"]
    assert DQNAgent.load(tmp_path / "x").gamma == 0.7


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback of a machine without CUDA")
def test_load_on_cuda_without_cuda_gives_a_cpu_agent(tmp_path: pathlib.Path):
    make_agent().save(tmp_path / "model.zip")
    loaded = DQNAgent.load(tmp_path / "model.zip", device="cuda")
    assert loaded.device.type == "cpu"
    assert loaded.q_net.flat.device.type == "cpu"
    assert loaded.replay_buffer.device.type == "cpu"


def test_load_force_reset_false_goes_on_from_the_saved_last_observation(tmp_path: pathlib.Path):
    model = make_agent()
    model.learn(30)
    assert model._last_obs is not None
    model.save(tmp_path / "model.zip")
    kept = DQNAgent.load(tmp_path / "model.zip", env=gym.make(ENV_ID), force_reset=False)
    np.testing.assert_array_equal(kept._last_obs, model._last_obs)
    reset = DQNAgent.load(tmp_path / "model.zip", env=gym.make(ENV_ID), force_reset=True)
    assert reset._last_obs is None


# -- set_env ---------------------------------------------------------------------------------------------


def test_set_env_force_reset_clears_the_last_observation_and_false_keeps_it():
    model = make_agent()
    model.learn(20)
    last = model._last_obs.copy()
    model.set_env(gym.make(ENV_ID), force_reset=False)
    np.testing.assert_array_equal(model._last_obs, last)
    model.set_env(gym.make(ENV_ID), force_reset=True)
    assert model._last_obs is None


def test_set_env_with_another_number_of_envs_raises_assertion_error():
    model = make_agent()
    with pytest.raises(AssertionError, match="number of environments"):
        model.set_env(two_cartpoles())


# -- Discrete observations ---------------------------------------------------------------------------


def test_a_discrete_state_is_stored_as_its_index_and_gathered_one_hot():
    model = make_agent(IdentityEnv(5))
    model._on_transition(np.array([3]), np.array([1]), np.array([1.0]), np.array([4]), np.array([False]), [{}])
    memory = model.replay_buffer
    assert memory.observations.shape[-1] == 1
    assert memory.observations[0, 0, 0] == 3 and memory.next_observations[0, 0, 0] == 4
    obs, actions, rewards, next_obs, _ = memory.gather(np.array([0]))
    assert torch.equal(obs, torch.eye(5)[[3]]) and torch.equal(next_obs, torch.eye(5)[[4]])
    assert actions.tolist() == [1] and rewards.tolist() == [1.0]

    model.learn(30)
    stored = memory.observations[: memory.pos, 0, 0]
    assert set(stored.tolist()) <= set(range(5)) and len(set(stored.tolist())) > 1
    obs, *_ = memory.gather(np.arange(memory.pos))
    torch.testing.assert_close(obs, torch.eye(5)[torch.from_numpy(stored).long()])


# -- several envs --------------------------------------------------------------------------------------


class Steps(BaseCallback):
    """Records `num_timesteps` at each step."""

    def __init__(self) -> None:
        super().__init__()
        self.timesteps: list[int] = []

    def _on_step(self) -> bool:
        self.timesteps.append(self.num_timesteps)
        return True


def test_a_vector_step_adds_one_transition_per_env():
    model = make_agent(two_cartpoles(), train_freq=1)
    model.learn(2)
    assert model.num_timesteps == 2 and len(model.replay_buffer) == 2 and model.replay_buffer.pos == 1
    steps = Steps()
    model.learn(20, callback=steps)
    assert steps.timesteps == list(range(2, 22, 2))
    assert model.num_timesteps == 20 and len(model.replay_buffer) == 2 + 20


def test_gradient_steps_minus_one_trains_once_per_transition_of_every_env():
    model = make_agent(two_cartpoles(), gradient_steps=-1, train_freq=3, learning_starts=0)
    model.learn(3)
    assert model.num_timesteps == 3 * 2
    assert model.logger.name_to_value["train/n_updates"] == 3 * 2


def test_more_envs_than_the_target_update_interval_warns():
    with pytest.warns(UserWarning, match="The number of environments used is greater than the target network"):
        make_agent(two_cartpoles(), target_update_interval=1)


def test_the_target_update_interval_counts_the_steps_of_every_env():
    """Interval 4 with 2 envs: the target network is updated every second vector step."""
    model = make_agent(two_cartpoles(), target_update_interval=4)
    perturb(model.q_net)
    model._on_step()
    assert not torch.equal(model.q_net_target.flat, model.q_net.flat)
    model._on_step()
    assert torch.equal(model.q_net_target.flat, model.q_net.flat)


# -- policy_kwargs and which update runs ---------------------------------------------------------------


def reference_warnings(caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [w for w in caught if issubclass(w.category, UserWarning) and "reference update" in str(w.message)]


def test_another_activation_runs_the_reference_update_and_says_so_once():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = make_agent(policy_kwargs={"activation_fn": nn.Tanh}, learning_starts=0)
        model.learn(40)
    assert isinstance(model.update, ReferenceUpdate)
    assert isinstance(model.q_net.activation, nn.Tanh)
    assert len(reference_warnings(caught)) == 1
    assert len([w for w in caught if issubclass(w.category, UserWarning)]) == 1


def test_adamw_is_the_policy_optimizer_and_trains():
    with pytest.warns(UserWarning, match="reference update"):
        model = make_agent(policy_kwargs={"optimizer_class": torch.optim.AdamW}, learning_starts=0)
    assert isinstance(model.update, ReferenceUpdate)
    assert type(model.policy.optimizer) is torch.optim.AdamW
    before = [p.detach().clone() for p in model.q_net.parameters()]
    model.learn(40)
    assert model.n_updates > 0
    assert any(not torch.equal(a, p) for a, p in zip(before, model.q_net.parameters()))
    assert model.policy.optimizer.state  # AdamW's moments


def test_a_batch_norm_features_extractor_has_its_running_stats_copied_even_with_tau_zero():
    with pytest.warns(UserWarning, match="reference update"):
        model = make_agent(tau=0.0, learning_starts=0, policy_kwargs={"features_extractor_class": BatchNormFeatures})
    assert isinstance(model.update, ReferenceUpdate)
    target_weights = [p.detach().clone() for p in model.q_net_target.parameters()]
    model.learn(40)  # training mode: the online network's running statistics move
    online, target = model.q_net.features_extractor.norm, model.q_net_target.features_extractor.norm
    assert not torch.equal(online.running_mean, target.running_mean)
    model.target_update_interval = 1
    model._on_step()
    assert torch.equal(target.running_mean, online.running_mean)
    assert torch.equal(target.running_var, online.running_var)
    assert all(torch.equal(a, p) for a, p in zip(target_weights, model.q_net_target.parameters()))  # tau = 0


def test_default_policy_kwargs_run_the_fast_update_without_any_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = make_agent(learning_starts=0)
        model.learn(40)
    assert isinstance(model.update, FastUpdate)
    assert model.n_updates > 0
    assert [str(w.message) for w in caught] == []


def test_an_optimizer_set_on_the_policy_switches_to_the_reference_update_once():
    model = make_agent(learning_starts=0)
    model.learn(8)
    assert isinstance(model.update, FastUpdate)
    optimizer = torch.optim.SGD(model.q_net.parameters(), lr=0.01)
    model.policy.optimizer = optimizer
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        before = model.q_net.flat.clone()
        model.learn(8)
        model.learn(8)
    assert isinstance(model.update, ReferenceUpdate)
    assert model.update.optimizer is optimizer and model.policy.optimizer is optimizer
    assert len(reference_warnings(caught)) == 1
    assert not torch.equal(model.q_net.flat, before)


def test_the_reference_update_warning_names_the_line_that_built_the_agent():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_agent(policy_kwargs={"activation_fn": nn.Tanh})
    (warning,) = reference_warnings(caught)
    assert warning.filename == __file__


# -- optimize_memory_usage -----------------------------------------------------------------------------


@pytest.mark.parametrize("n_envs", [1, 2])
def test_optimize_memory_usage_reads_s_prime_from_the_next_stored_s(n_envs: int):
    env = gym.make(ENV_ID) if n_envs == 1 else two_cartpoles()
    model = make_agent(env, optimize_memory_usage=True, replay_buffer_kwargs=NO_TIMEOUT_HANDLING)
    model.learn(40)
    memory = model.replay_buffer
    assert memory.next_observations is None
    steps = memory.pos
    assert steps == 40 // n_envs
    _, _, _, next_obs, _ = memory.gather(np.arange((steps - 1) * n_envs))
    expected = memory.observations[1:steps].reshape(-1, 4)  # the same env's s of the step after
    torch.testing.assert_close(next_obs, torch.from_numpy(expected), rtol=0, atol=0)


def test_a_second_learn_that_resets_the_counters_truncates_the_last_trajectory():
    model = make_agent(optimize_memory_usage=True, replay_buffer_kwargs=NO_TIMEOUT_HANDLING)
    model.learn(36)
    memory = model.replay_buffer
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.learn(8, reset_num_timesteps=False)
    assert not [w for w in caught if "will be truncated" in str(w.message)]
    last = memory.pos - 1
    assert memory.dones[last, 0] == 0.0  # (seed 0) the last step did not end an episode
    with pytest.warns(UserWarning, match="The last trajectory in the replay buffer will be truncated"):
        model.learn(10, reset_num_timesteps=True)
    assert memory.dones[last, 0] == 1.0
    assert memory.terminated[last] == 1.0  # no bootstrap from an s' that was overwritten


def test_optimize_memory_usage_without_handle_timeout_termination_false_is_refused():
    with pytest.raises(ValueError, match="optimize_memory_usage"):
        make_agent(optimize_memory_usage=True)


# -- the replay buffer ---------------------------------------------------------------------------------

BUFFER_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def test_replay_buffer_save_then_load_round_trips_without_pickle(tmp_path: pathlib.Path):
    model = make_agent()
    model.learn(60)
    model.save_replay_buffer(tmp_path / "buffer")
    assert [p.name for p in tmp_path.iterdir()] == ["buffer.npz"]
    with np.load(tmp_path / "buffer.npz", allow_pickle=False) as data:
        assert data.files
    other = make_agent(seed=1)
    other.load_replay_buffer(tmp_path / "buffer")
    for name in BUFFER_ARRAYS:
        np.testing.assert_array_equal(getattr(other.replay_buffer, name), getattr(model.replay_buffer, name), name)
    assert (other.replay_buffer.pos, other.replay_buffer.full) == (model.replay_buffer.pos, model.replay_buffer.full)
    assert model.replay_buffer.dones.any() and model.replay_buffer.rewards.any()


def test_a_loaded_replay_buffer_sends_its_batches_to_the_models_device(tmp_path: pathlib.Path):
    model = make_agent()
    model.learn(20)
    model.save_replay_buffer(tmp_path / "buffer.npz")
    model.device = torch.device("cuda")  # as SB3's test: nothing moves until a batch is sampled
    model.load_replay_buffer(tmp_path / "buffer.npz")
    assert model.replay_buffer.device.type == "cuda"


def test_extend_adds_several_steps():
    memory = make_agent().replay_buffer
    obs = observations(3).reshape(3, 1, 4)
    actions, rewards = np.array([[0], [1], [0]]), np.array([[1.0], [2.0], [3.0]])
    memory.extend(obs, obs + 1.0, actions, rewards, np.zeros((3, 1)), [[{}]] * 3)
    assert len(memory) == 3 and memory.size() == 3
    np.testing.assert_array_equal(memory.observations[:3], obs)
    np.testing.assert_array_equal(memory.next_observations[:3], obs + 1.0)
    np.testing.assert_array_equal(memory.rewards[:3, 0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(memory.actions[:3, 0, 0], [0, 1, 0])


def test_a_deep_copy_of_the_replay_buffer_is_independent():
    model = make_agent()
    model.learn(30)
    original = model.replay_buffer
    kept = {name: getattr(original, name).copy() for name in BUFFER_ARRAYS}
    pos = original.pos
    duplicate = copy.deepcopy(original)
    duplicate.observations[...] = 7.0
    duplicate.rewards[...] = -1.0
    duplicate.add_transition(np.zeros(4), 0, 5.0, np.ones(4), False)
    for name in BUFFER_ARRAYS:
        np.testing.assert_array_equal(getattr(original, name), kept[name], name)
    assert original.pos == pos
    obs, *_ = duplicate.gather(np.array([1]))  # the copy's batches come from its own arrays
    assert torch.equal(obs, torch.full((1, 4), 7.0))


# -- the fast update's optimizer state -----------------------------------------------------------------


def flat_moments(model: DQNAgent, state_dict: dict[str, Any], key: str) -> torch.Tensor:
    """A moment of an optimizer state dict, laid out as `q_net.flat`."""
    n_params = len(list(model.q_net.parameters()))
    return torch.cat([state_dict["state"][i][key].reshape(-1) for i in range(n_params)])


def test_policy_optimizer_state_dict_holds_the_fast_updates_adam_moments():
    model = make_agent(learning_starts=0)
    model.learn(40)
    update = model.update
    assert isinstance(update, FastUpdate) and update.exp_avg.abs().sum() > 0
    state = model.policy.optimizer.state_dict()
    offset = 0
    for i, p in enumerate(model.q_net.parameters()):
        n = p.numel()
        assert torch.equal(state["state"][i]["exp_avg"], update.exp_avg[offset : offset + n].view_as(p))
        assert torch.equal(state["state"][i]["exp_avg_sq"], update.exp_avg_sq[offset : offset + n].view_as(p))
        assert float(state["state"][i]["step"]) == float(update.step) == model.n_updates
        offset += n


def test_loading_another_agents_optimizer_state_sets_the_fast_updates_moments():
    source = make_agent(learning_starts=0)
    source.learn(40)
    model = make_agent(seed=1)
    model.policy.optimizer.load_state_dict(source.policy.optimizer.state_dict())
    assert torch.equal(model.update.exp_avg, source.update.exp_avg)
    assert torch.equal(model.update.exp_avg_sq, source.update.exp_avg_sq)
    assert float(model.update.step) == float(source.update.step) > 0
    state = model.policy.optimizer.state_dict()
    assert torch.equal(flat_moments(model, state, "exp_avg"), source.update.exp_avg)


def test_loading_an_optimizer_state_without_moments_clears_the_fast_updates_moments():
    model = make_agent(learning_starts=0)
    model.learn(40)
    assert float(model.update.step) > 0
    fresh = torch.optim.Adam(make_agent(seed=1).q_net.parameters(), lr=1e-4)  # no step taken: no state
    model.policy.optimizer.load_state_dict(fresh.state_dict())
    assert float(model.update.step) == 0.0
    assert model.update.exp_avg.abs().sum() == 0 and model.update.exp_avg_sq.abs().sum() == 0


# -- gradient_steps = 0 --------------------------------------------------------------------------------


def test_gradient_steps_zero_trains_nothing_while_the_rollouts_run():
    model = make_agent(gradient_steps=0, learning_starts=0)
    logger, writer = capturing_logger()
    model.set_logger(logger)
    before = model.q_net.flat.clone()
    model.learn(60, log_interval=1)
    assert model.num_timesteps == 60 and len(model.replay_buffer) == 60
    assert model.n_updates == 0
    assert torch.equal(model.q_net.flat, before)
    assert writer.dumps and not any("train/n_updates" in dump for dump in writer.dumps)


# -- the time keys of a log dump -----------------------------------------------------------------------


def test_record_rollout_logs_counts_fps_over_the_steps_of_this_learn_call():
    logger = Logger(folder=None, output_formats=[])
    record_rollout_logs(
        logger,
        num_timesteps=1000,
        timesteps_at_start=900,
        start_time_ns=time.time_ns() - 4 * 10**9,
        episodes=3,
        episode_infos=[{"r": 10.0, "l": 10}, {"r": 20.0, "l": 20}],
        successes=[],
    )
    values = logger.name_to_value
    assert values["time/time_elapsed"] == 4
    assert values["time/fps"] in (24, 25)  # 100 steps of this call in 4 s, not 1,000
    assert values["time/total_timesteps"] == 1000 and values["time/episodes"] == 3
    assert values["rollout/ep_rew_mean"] == 15.0 and values["rollout/ep_len_mean"] == 15.0
    assert "rollout/success_rate" not in values


class StartedLongAgo(BaseCallback):
    """Moves the model's start time 100 s back when training starts."""

    def _on_training_start(self) -> None:
        self.model.start_time -= 100 * 10**9

    def _on_step(self) -> bool:
        return True


def test_a_learn_that_goes_on_logs_fps_over_its_own_steps():
    agent = RandomAgent(gym.make(ENV_ID), seed=0)
    agent.learn(400)
    logger, writer = capturing_logger()
    agent.set_logger(logger)
    agent.learn(150, reset_num_timesteps=False, log_interval=1, callback=StartedLongAgo())
    assert writer.dumps
    for dump in writer.dumps:
        assert dump["time/time_elapsed"] >= 100
        assert dump["time/total_timesteps"] > 400
        # at most ~250 steps of this call in 100 s; the 400 before it would make it >= 4
        assert dump["time/fps"] <= 2


class AlwaysLeft:
    """An agent of the assignment's shape: `train` loops over episodes on `self.env`."""

    def __init__(self) -> None:
        self.env: Any = None

    def act(self, observation: Any, reward: float, done: bool) -> int:
        return 0

    def train(self) -> None:
        while True:
            observation, _ = self.env.reset()
            done, reward = False, 0.0
            while not done:
                observation, reward, terminated, truncated, _ = self.env.step(self.act(observation, reward, done))
                done = terminated or truncated


def test_the_assignment_wrapper_logs_the_time_keys():
    agent = AssignmentAgent(AlwaysLeft(), DummyVecEnv([lambda: Monitor(gym.make(ENV_ID))]), seed=0)
    logger, writer = capturing_logger()
    agent.set_logger(logger)
    agent.learn(100, log_interval=1)
    assert agent.num_timesteps == 100
    assert len(writer.dumps) >= 3
    steps = [dump["time/total_timesteps"] for dump in writer.dumps]
    assert steps == sorted(steps) and steps[-1] <= 100
    for dump in writer.dumps:
        assert isinstance(dump["time/time_elapsed"], int) and dump["time/time_elapsed"] >= 0
        assert dump["time/fps"] >= 0 and "rollout/ep_rew_mean" in dump


@dataclass(frozen=True)
class _ClashingConfig:
    gamma: float = 0.5
    logger: int = 1  # a name the agent already uses (SB3's logger property)
    seed: int = 7  # and one its constructor sets


class _ClashingAgent(RandomAgent):
    config_class = _ClashingConfig


def test_a_config_field_named_like_an_agent_attribute_is_not_mirrored():
    agent = _ClashingAgent(gym.make(ENV_ID), seed=3)
    assert _ClashingAgent.live_hyperparameters() == ["gamma"]
    assert agent.gamma == 0.5
    assert agent.seed == 3 and agent.config.seed == 7
    assert not isinstance(agent.logger, int)  # SB3's Logger, untouched
