"""The DQN's two updates (custom_agents/dqn_update.py): the reference one is autograd and
`torch.optim.Adam`; the fast one computes the same gradient, clipping and Adam step (checked
against autograd and PyTorch's Adam), and both give the same parameters and actions after the
same updates from the same state."""

from __future__ import annotations

import itertools
import math
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from custom_agents import DQNAgent
from custom_agents.dqn_update import TARGET_CHUNK, FastUpdate, ReferenceUpdate

NET_ARCHS = [(8,), (16, 8), (32, 16, 8)]
# Gradients are O(0.01-1); the hand-written pass differs from autograd's by rounding only.
GRAD_TOLERANCE = {"rtol": 1e-5, "atol": 1e-7}
# After tens of Adam steps of lr 1e-3 the two updates' parameters differ by float rounding only:
# measured max |difference| ~1e-7 on parameters of size ~0.1-1.
PARAM_TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def agent_with_memory(implementation: str, n: int = 300, seed: int = 0, **hyperparameters: Any) -> DQNAgent:
    """A DQN whose replay memory holds `n` random transitions (rewards large enough that the Huber
    loss sees TD errors on both sides of 1, a third terminated) and whose target network differs
    from its online one; the same for the same seed whatever the implementation."""
    values = {"net_arch": (32, 32), "batch_size": 16, "learning_rate": 1e-3, **hyperparameters}
    agent = DQNAgent(gym.make("CartPole-v1"), seed=seed, implementation=implementation, **values)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        agent.q_net.flat.copy_(torch.randn(agent.q_net.flat.shape, generator=g) * 0.3)
        agent.q_net_target.flat.copy_(agent.q_net.flat + 0.1 * torch.randn(agent.q_net.flat.shape, generator=g))
    obs, next_obs = torch.randn(n, 4, generator=g).numpy(), torch.randn(n, 4, generator=g).numpy()
    actions = torch.randint(0, 2, (n,), generator=g).tolist()
    rewards = (3.0 * torch.randn(n, generator=g)).tolist()
    terminated = (torch.rand(n, generator=g) < 0.33).tolist()
    for i in range(n):
        agent.memory.add_transition(obs[i], actions[i], rewards[i], next_obs[i], terminated[i])
    return agent


def batches(n_updates: int, batch_size: int, size: int = 300, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, size, size=(n_updates, batch_size))


def autograd_gradient(agent: DQNAgent, indices: np.ndarray) -> torch.Tensor:
    """d td_loss / d parameters by autograd for one batch, flattened in `flat`'s order."""
    loss = agent.td_loss(*agent.memory.gather(indices))
    grads = torch.autograd.grad(loss, list(agent.q_net.parameters()))
    return torch.cat([g.reshape(-1) for g in grads])


def use_torch_passes(agent: DQNAgent) -> DQNAgent:
    """Make a CPU agent's fast update take the path it takes on a GPU (torch's forward and the
    written-out backward) instead of numpy's."""
    assert isinstance(agent.update, FastUpdate)
    agent.update.on_cpu = False
    return agent


@pytest.mark.parametrize("passes", ["numpy", "torch"])
@pytest.mark.parametrize("loss", ["huber", "mse"])
@pytest.mark.parametrize("batch_size", [1, 7, 64])
@pytest.mark.parametrize("net_arch", NET_ARCHS, ids=str)
def test_fast_update_computes_autograds_gradient_of_td_loss(net_arch, batch_size, loss, passes):
    agent = agent_with_memory("fast", net_arch=net_arch, batch_size=batch_size, loss=loss, max_grad_norm=math.inf)
    if passes == "torch":
        use_torch_passes(agent)
    indices = batches(1, batch_size)
    expected = autograd_gradient(agent, indices[0])
    assert expected.abs().max() > 0
    agent.update.adam = lambda learning_rate: None  # keep the weights; look at the gradient only
    agent.q_net.flat_grad.fill_(123.0)  # stale values must be overwritten, not accumulated
    before = agent.q_net.flat.clone()

    errors = agent.update.train(indices, agent.update_values())

    assert torch.equal(agent.q_net.flat, before)
    torch.testing.assert_close(agent.q_net.flat_grad, expected, **GRAD_TOLERANCE)
    obs, actions, rewards, next_obs, not_terminated = agent.memory.gather(indices[0])
    with torch.no_grad():
        q_taken = agent.q_net(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        expected_errors = q_taken - agent.td_targets(rewards, next_obs, not_terminated)
    assert errors.shape == (1, batch_size)
    torch.testing.assert_close(errors[0], expected_errors, rtol=1e-5, atol=1e-5)
    if loss == "huber" and batch_size > 1:
        assert (errors.abs() > 1).any() and (errors.abs() < 1).any()  # both branches of the Huber loss


def test_fast_adam_step_is_pytorchs_fused_adam():
    """Without clipping, the fast update's Adam step is `torch.optim.Adam(fused=True)`'s, bit for bit."""
    agent = agent_with_memory("fast", max_grad_norm=math.inf)
    reference = nn.Parameter(agent.q_net.flat.clone())
    adam = torch.optim.Adam([reference], lr=1e-3, fused=True)
    g = torch.Generator().manual_seed(2)
    for step in range(12):
        gradient = torch.randn(reference.shape, generator=g) * (10.0 if step % 3 == 0 else 0.1)
        agent.q_net.flat_grad.copy_(gradient)
        reference.grad = gradient.clone()
        agent.update.adam(1e-3)
        adam.step()
        assert torch.equal(agent.q_net.flat, reference.detach())
    state = adam.state[reference]
    assert torch.equal(agent.update.exp_avg, state["exp_avg"])
    assert torch.equal(agent.update.exp_avg_sq, state["exp_avg_sq"])
    assert agent.update.step.item() == state["step"].item() == 12


def denormals_are_kept() -> bool:
    return float(np.float32(1e-40) * np.float32(1.0)) != 0.0


def test_the_adam_step_flushes_denormals_and_leaves_the_flag_as_it_was():
    """A weight with zero gradient (a dead ReLU's) has Adam's second moment decaying through the
    denormal range, where the CPU is slow: the fast step flushes it to zero, and only inside."""
    assert denormals_are_kept()
    agent = agent_with_memory("fast", max_grad_norm=math.inf)
    update = agent.update
    update.exp_avg_sq.fill_(1e-39)  # denormal in float32
    agent.q_net.flat_grad.zero_()
    update.adam(1e-3)
    assert torch.count_nonzero(update.exp_avg_sq) == 0  # 0.999 * 1e-39 flushed
    assert denormals_are_kept()  # the thread's flag is back as it was
    kept = torch.full((4,), 1e-39) * 0.999
    assert torch.count_nonzero(kept) == 4


@pytest.mark.parametrize("passes", ["numpy", "torch"])
@pytest.mark.parametrize(("max_grad_norm", "clipped"), [(1e-3, True), (10.0, False), (math.inf, False)])
def test_fast_update_clips_then_takes_adams_step(max_grad_norm, clipped, passes):
    """The whole update: autograd's gradient, clipped by `clip_grad_norm_`, then Adam."""
    agent = agent_with_memory("fast", max_grad_norm=max_grad_norm, learning_rate=1e-2)
    if passes == "torch":
        use_torch_passes(agent)
    indices = batches(1, 16)
    reference = nn.Parameter(agent.q_net.flat.clone())
    adam = torch.optim.Adam([reference], lr=1e-2, fused=True)
    shadow = agent_with_memory("fast")  # the reference's gradient: the same net and memory
    for _ in range(3):
        shadow.q_net.flat.copy_(reference.detach())
        reference.grad = autograd_gradient(shadow, indices[0])
        norm = torch.nn.utils.clip_grad_norm_([reference], max_grad_norm)
        assert (norm > max_grad_norm) == clipped
        adam.step()
        agent.update.train(indices, agent.update_values())
        # Adam divides by sqrt(v) + eps: where a clipped gradient is near eps (1e-8), the rounding of
        # the written-out and autograd backward passes is amplified (up to 1.8e-7 on an Intel Xeon,
        # ~30 float32 ulps at these weights); 3e-7 is 1e-5 of the three steps of lr 1e-2.
        torch.testing.assert_close(agent.q_net.flat, reference.detach(), rtol=1e-6, atol=3e-7)


@pytest.mark.parametrize("passes", ["numpy", "torch"])
@pytest.mark.parametrize("loss", ["huber", "mse"])
def test_fast_and_reference_give_the_same_parameters_and_actions(loss, passes):
    """From the same state, 50 updates in calls of different lengths (one of more than
    `TARGET_CHUNK` batches, whose targets take two passes) leave the same parameters, Adam state
    and TD errors to float tolerance, and the same greedy actions."""
    n_updates = 50
    fast = agent_with_memory("fast", loss=loss, max_grad_norm=10.0)
    if passes == "torch":
        use_torch_passes(fast)
    reference = agent_with_memory("reference", loss=loss, max_grad_norm=10.0)
    assert isinstance(reference.update, ReferenceUpdate)
    assert torch.equal(fast.q_net.flat, reference.q_net.flat)
    all_batches = batches(n_updates, 16)
    calls = [0, 1, 4, TARGET_CHUNK + 5, n_updates]
    assert calls[3] - calls[2] > TARGET_CHUNK
    for start, end in itertools.pairwise(calls):
        fast_errors = fast.update.train(all_batches[start:end], fast.update_values())
        reference_errors = reference.update.train(all_batches[start:end], reference.update_values())
        torch.testing.assert_close(fast_errors, reference_errors, rtol=1e-4, atol=1e-5)
    moved = (fast.q_net.flat - agent_with_memory("fast").q_net.flat).abs().max()
    assert moved > 1e-2  # the updates did change the parameters
    torch.testing.assert_close(fast.q_net.flat, reference.q_net.flat, **PARAM_TOLERANCE)
    fast_state, reference_state = fast.update.state_dict(), reference.update.state_dict()
    for key in ("exp_avg", "exp_avg_sq"):  # rounding, relative to the moments' scale
        scale = reference_state[key].abs().max().item()
        torch.testing.assert_close(fast_state[key], reference_state[key], rtol=1e-3, atol=1e-5 * scale)
    assert float(fast_state["step"]) == float(reference_state["step"]) == n_updates
    observations = np.random.default_rng(3).normal(0.0, 1.0, size=(1_000, 4)).astype(np.float32)
    fast_actions, _ = fast.predict(observations, deterministic=True)
    reference_actions, _ = reference.predict(observations, deterministic=True)
    assert len(set(fast_actions.tolist())) == 2
    np.testing.assert_array_equal(fast_actions, reference_actions)


def test_the_two_implementations_train_the_same_agent():
    """A whole short training run (700 updates): the same episodes, the same greedy actions, and
    parameters equal to rounding grown over the run (measured max |difference| 3e-5)."""
    runs = []
    for implementation in ("fast", "reference"):
        agent = DQNAgent(
            "CartPole-v1",
            seed=5,
            implementation=implementation,
            net_arch=(32, 32),
            learning_starts=100,
            batch_size=32,
            train_freq=16,
            gradient_steps=8,
            target_update_interval=20,
            target_update_unit="update",
            learning_rate=1e-3,
        )
        agent.learn(1_500)
        runs.append(agent)
    fast, reference = runs
    assert fast.n_updates == reference.n_updates > 500
    assert fast._episode_num == reference._episode_num > 20
    assert [ep["r"] for ep in fast.ep_info_buffer] == [ep["r"] for ep in reference.ep_info_buffer]
    torch.testing.assert_close(fast.q_net.flat, reference.q_net.flat, rtol=1e-3, atol=3e-4)
    observations = np.random.default_rng(3).normal(0.0, 1.0, size=(1_000, 4)).astype(np.float32)
    np.testing.assert_array_equal(
        fast.predict(observations, deterministic=True)[0], reference.predict(observations, deterministic=True)[0]
    )


@pytest.mark.parametrize(("source", "destination"), [("fast", "reference"), ("reference", "fast")])
def test_adam_state_moves_between_implementations(source, destination):
    """Each update's `state_dict` (Adam's moments in the flat layout, and its step count) loads
    into the other: the continued updates agree with the source's own to float tolerance."""
    first = agent_with_memory(source)
    first.update.train(batches(5, 16), first.update_values())
    other = agent_with_memory(destination)
    other.q_net.flat.copy_(first.q_net.flat)
    other.update.load_state_dict({key: value.clone() for key, value in first.update.state_dict().items()})
    fresh = agent_with_memory(destination)  # no moments: a different update
    fresh.q_net.flat.copy_(first.q_net.flat)
    more = batches(5, 16, seed=7)
    for agent in (first, other, fresh):
        agent.update.train(more, agent.update_values())
    torch.testing.assert_close(other.q_net.flat, first.q_net.flat, **PARAM_TOLERANCE)
    assert not torch.allclose(fresh.q_net.flat, first.q_net.flat, **PARAM_TOLERANCE)
    assert float(other.update.state_dict()["step"]) == 10


def test_a_reference_agent_saves_and_loads(tmp_path):
    agent = agent_with_memory("reference")
    agent.update.train(batches(4, 16), agent.update_values())
    agent.save(tmp_path / "agent")
    loaded = DQNAgent.load(tmp_path / "agent")
    assert loaded.config.implementation == "reference"
    assert torch.equal(loaded.q_net.flat, agent.q_net.flat)
    for key, value in agent.update.state_dict().items():
        assert torch.equal(loaded.update.state_dict()[key], value), key


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fast_and_reference_agree_on_a_gpu():
    fast = DQNAgent(gym.make("CartPole-v1"), seed=0, device="cuda", net_arch=(32, 32), batch_size=16)
    reference = DQNAgent(
        gym.make("CartPole-v1"), seed=0, device="cuda", net_arch=(32, 32), batch_size=16, implementation="reference"
    )
    assert not fast.update.on_cpu
    g = np.random.default_rng(0)
    for agent in (fast, reference):
        for _ in range(200):
            agent.memory.add_transition(g.normal(size=4), 1, 1.0, g.normal(size=4), False)
        g = np.random.default_rng(0)
    for agent in (fast, reference):
        agent.update.train(batches(20, 16, size=200), agent.update_values())
    torch.testing.assert_close(fast.q_net.flat, reference.q_net.flat, **PARAM_TOLERANCE)
