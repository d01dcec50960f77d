"""QNetwork's flat parameters and hand-written backward pass, and the DQN's own clipping and Adam,
each checked against what PyTorch's autograd, `clip_grad_norm_` and `torch.optim.Adam` compute."""

from __future__ import annotations

import math
from collections.abc import Iterator

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from custom_agents.dqn import DQNAgent, FlatAdam, clip_grad_norm
from custom_agents.qnetwork import QNetwork, numpy_greedy_action

NET_ARCHS = [(8,), (16, 8), (32, 16, 8)]
BATCH_SIZES = [1, 7, 64]
# Gradients are O(0.01-1); the hand-written pass differs from autograd's by rounding only (it is
# bit-identical when the batch size is a power of two).
GRAD_TOLERANCE = {"rtol": 1e-5, "atol": 1e-7}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_batch(batch: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """obs, actions, rewards, next_obs, not_terminated: rewards large enough that the Huber loss
    sees TD errors on both sides of 1, a third of the transitions terminated."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(batch, 4, generator=g)
    actions = torch.randint(0, 2, (batch,), generator=g)
    rewards = 3.0 * torch.randn(batch, generator=g)
    next_obs = torch.randn(batch, 4, generator=g)
    not_terminated = (torch.rand(batch, generator=g) > 0.33).float()
    return obs, actions, rewards, next_obs, not_terminated


def make_agent(net_arch: tuple[int, ...], loss: str, **hyperparameters) -> DQNAgent:
    agent = DQNAgent(gym.make("CartPole-v1"), seed=0, net_arch=net_arch, loss=loss, **hyperparameters)
    with torch.no_grad():  # a target network that differs from the online one
        agent.q_net_target.flat.add_(0.1 * torch.randn_like(agent.q_net_target.flat))
    return agent


def autograd_gradient(agent: DQNAgent, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """d td_loss / d parameters by autograd, flattened in `flat`'s order."""
    loss = agent.td_loss(*batch)
    grads = torch.autograd.grad(loss, list(agent.q_net.parameters()))
    return torch.cat([g.reshape(-1) for g in grads])


@pytest.mark.parametrize("loss", ["huber", "mse"])
@pytest.mark.parametrize("batch_size", BATCH_SIZES)
@pytest.mark.parametrize("net_arch", NET_ARCHS, ids=str)
def test_gradient_step_computes_autograds_gradient_of_td_loss(net_arch, batch_size, loss):
    agent = make_agent(net_arch, loss, max_grad_norm=math.inf)
    batch = random_batch(batch_size, seed=batch_size)
    obs, actions, rewards, next_obs, not_terminated = batch
    expected = autograd_gradient(agent, batch)
    assert expected.abs().max() > 0

    agent.optimizer.step = lambda: None  # keep the weights; look at the gradient only
    agent.q_net.flat_grad.fill_(123.0)  # stale values must be overwritten, not accumulated
    before = agent.q_net.flat.clone()
    targets = agent.td_targets(rewards, next_obs, not_terminated)
    errors = agent.gradient_step(obs, actions, targets)

    assert torch.equal(agent.q_net.flat, before)
    torch.testing.assert_close(agent.q_net.flat_grad, expected, **GRAD_TOLERANCE)
    with torch.no_grad():
        q_taken = agent.q_net(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        assert torch.equal(errors, q_taken - targets)
        assert torch.allclose(agent.loss_of(errors), agent.td_loss(*batch), rtol=1e-6, atol=0)
    if loss == "huber" and batch_size > 1:
        assert (errors.abs() > 1).any() and (errors.abs() < 1).any()  # both branches of the Huber loss


@pytest.mark.parametrize("n_outputs", [2, 3])
@pytest.mark.parametrize("net_arch", NET_ARCHS, ids=str)
def test_backward_equals_autograd_for_any_output_gradient(net_arch, n_outputs):
    torch.manual_seed(1)
    net = QNetwork(5, net_arch, n_outputs)
    x = torch.randn(33, 5)
    grad_q = torch.randn(33, n_outputs)
    q = net(x)
    expected = torch.autograd.grad((q * grad_q).sum(), list(net.parameters()))
    net.backward(net.forward_cached(x), grad_q)
    for param, grad in zip(net.parameters(), expected, strict=True):
        torch.testing.assert_close(param.grad, grad, **GRAD_TOLERANCE)
    torch.testing.assert_close(net.flat_grad, torch.cat([g.reshape(-1) for g in expected]), **GRAD_TOLERANCE)


@pytest.mark.parametrize(("max_grad_norm", "clipped"), [(1e-3, True), (10.0, False), (math.inf, False)])
def test_gradient_step_clips_then_takes_adams_step(max_grad_norm, clipped):
    """The whole update: autograd's gradient, clipped by `clip_grad_norm_`, then fused Adam."""
    agent = make_agent((16, 16), "huber", max_grad_norm=max_grad_norm, learning_rate=1e-2)
    batch = random_batch(64, seed=3)
    obs, actions, rewards, next_obs, not_terminated = batch

    reference = nn.Parameter(agent.q_net.flat.clone())
    adam = torch.optim.Adam([reference], lr=1e-2, fused=True)
    for _ in range(3):
        reference.grad = autograd_gradient(agent, batch)
        norm = torch.nn.utils.clip_grad_norm_([reference], max_grad_norm)
        assert (norm > max_grad_norm) == clipped
        adam.step()
        agent.gradient_step(obs, actions, agent.td_targets(rewards, next_obs, not_terminated))
        torch.testing.assert_close(agent.q_net.flat_grad, reference.grad, **GRAD_TOLERANCE)
        torch.testing.assert_close(agent.q_net.flat, reference.detach(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("net_arch", NET_ARCHS, ids=str)
def test_forward_cached_keeps_every_layer_and_ends_with_forward(net_arch):
    torch.manual_seed(2)
    net = QNetwork(4, net_arch, 2)
    x = torch.randn(50, 4)
    outputs = net.forward_cached(x)
    assert len(outputs) == len(net_arch) + 2
    assert outputs[0] is x
    assert [o.shape for o in outputs[1:]] == [(50, n) for n in (*net_arch, 2)]
    assert all((o >= 0).all() for o in outputs[1:-1])  # after the ReLU
    assert torch.equal(outputs[-1], net(x))
    (only,) = net.forward_cached(x, keep=False)
    assert torch.equal(only, net(x))
    hidden = x
    for layer, output in zip(net.layers[:-1], outputs[1:-1]):
        hidden = torch.relu(layer(hidden))
        assert torch.equal(output, hidden)


def test_initialisation_is_pytorchs_default_for_linear_layers():
    torch.manual_seed(7)
    net = QNetwork(4, (8, 6), 2)
    torch.manual_seed(7)
    reference = [nn.Linear(4, 8), nn.Linear(8, 6), nn.Linear(6, 2)]
    expected = torch.cat([p.detach().reshape(-1) for layer in reference for p in (layer.weight, layer.bias)])
    assert torch.equal(net.flat, expected)
    assert net.flat.numel() == 4 * 8 + 8 + 8 * 6 + 6 + 6 * 2 + 2


def test_parameters_are_views_of_flat_and_grads_views_of_flat_grad():
    torch.manual_seed(3)
    net = QNetwork(4, (8, 6), 2)
    params = list(net.parameters())
    assert len(params) == 6
    assert torch.equal(torch.cat([p.detach().reshape(-1) for p in params]), net.flat)
    assert sum(p.numel() for p in params) == net.flat.numel() == net.flat_grad.numel()

    x = torch.randn(5, 4)
    before = net(x).detach()
    with torch.no_grad():
        net.flat[0] = 42.0  # the first weight of the first layer
        net.flat[-1] = -5.0  # the last bias
    assert net.layers[0].weight[0, 0].item() == 42.0
    assert net.layers[-1].bias[-1].item() == -5.0
    assert not torch.equal(net(x), before)
    with torch.no_grad():
        net.flat.zero_()
    assert all((p == 0).all() for p in net.parameters())
    assert torch.equal(net(x), torch.zeros(5, 2))

    offset = 0
    for k, param in enumerate(params):
        net.flat_grad[offset : offset + param.numel()] = float(k + 1)
        offset += param.numel()
    for k, param in enumerate(params):
        assert param.grad is not None and param.grad.shape == param.shape
        assert (param.grad == k + 1).all()


def test_numpy_views_share_memory_with_the_parameters():
    torch.manual_seed(4)
    net = QNetwork(4, (8,), 2)
    views = net.numpy_views()
    np.testing.assert_array_equal(views[0][0], net.layers[0].weight.detach().numpy().T)
    np.testing.assert_array_equal(views[1][1], net.layers[1].bias.detach().numpy())
    with torch.no_grad():
        net.flat.mul_(2.0)
    np.testing.assert_array_equal(views[0][0], net.layers[0].weight.detach().numpy().T)
    np.testing.assert_array_equal(views[1][1], net.layers[1].bias.detach().numpy())


@pytest.mark.parametrize("net_arch", [*NET_ARCHS, (256, 256, 256)], ids=str)
def test_numpy_greedy_action_is_the_argmax_of_forward(net_arch):
    torch.manual_seed(5)
    net = QNetwork(4, net_arch, 2)
    with torch.no_grad():
        net.flat.mul_(3.0)  # larger Q gaps than at initialisation
    views = net.numpy_views()
    observations = np.random.default_rng(0).normal(0.0, 1.0, size=(2_000, 4)).astype(np.float32)
    with torch.no_grad():
        q = net(torch.from_numpy(observations)).numpy()
    gap = np.abs(q[:, 0] - q[:, 1])
    clear = gap > 1e-5 * (1.0 + np.abs(q).max(axis=1))  # leave out float near-ties
    assert clear.mean() > 0.99
    expected = q.argmax(axis=1)
    assert len(set(expected[clear].tolist())) == 2  # both actions occur
    actual = np.array([numpy_greedy_action(views, obs) for obs in observations])
    np.testing.assert_array_equal(actual[clear], expected[clear])


@pytest.mark.parametrize(("scale", "clipped"), [(0.01, False), (0.3, False), (1.0, True), (100.0, True)])
def test_clip_grad_norm_equals_torchs(scale, clipped):
    g = torch.Generator().manual_seed(int(scale * 100))
    gradient = scale * torch.randn(1_000, generator=g)  # norm about 31.6 * scale
    mine = gradient.clone()
    clip_grad_norm(mine, 10.0)
    reference = nn.Parameter(torch.zeros(1_000))
    reference.grad = gradient.clone()
    norm = torch.nn.utils.clip_grad_norm_([reference], 10.0)
    assert (norm.item() > 10.0) == clipped
    assert torch.equal(mine, reference.grad)
    if clipped:
        assert torch.linalg.vector_norm(mine).item() == pytest.approx(10.0, rel=1e-5)
    else:
        assert torch.equal(mine, gradient)


def adam_pair(n: int, lr: float, **adam_kwargs) -> tuple[FlatAdam, torch.Tensor, torch.Tensor, torch.optim.Adam]:
    g = torch.Generator().manual_seed(0)
    start = torch.randn(n, generator=g)
    params, grad = start.clone(), torch.zeros(n)
    reference = nn.Parameter(start.clone())
    return FlatAdam(params, grad, lr=lr), grad, reference, torch.optim.Adam([reference], lr=lr, **adam_kwargs)


def gradients(n: int, steps: int) -> Iterator[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    for step in range(steps):
        yield torch.randn(n, generator=g) * (10.0 if step % 3 == 0 else 0.1)


@pytest.mark.parametrize(
    ("adam_kwargs", "exact"),
    [({"fused": True}, True), ({}, False), ({"fused": False, "foreach": False}, False)],
    ids=["fused", "default", "for-loop"],
)
def test_flat_adam_equals_torch_adam(adam_kwargs, exact):
    flat_adam, grad, reference, adam = adam_pair(500, 1e-2, **adam_kwargs)
    for gradient in gradients(500, 12):
        grad.copy_(gradient)
        reference.grad = gradient.clone()
        flat_adam.step()
        adam.step()
        if exact:  # the same fused kernel
            assert torch.equal(flat_adam.params, reference.detach())
        else:
            torch.testing.assert_close(flat_adam.params, reference.detach(), rtol=1e-5, atol=1e-6)
    state = adam.state[reference]
    torch.testing.assert_close(flat_adam.exp_avg, state["exp_avg"], rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(flat_adam.exp_avg_sq, state["exp_avg_sq"], rtol=1e-6, atol=1e-7)
    assert flat_adam.step_count.item() == state["step"].item() == 12


def test_flat_adam_state_dict_round_trip_continues_identically():
    first, grad, _, _ = adam_pair(200, 1e-2)
    steps = list(gradients(200, 8))
    for gradient in steps[:4]:
        grad.copy_(gradient)
        first.step()
    state = {key: value.clone() for key, value in first.state_dict().items()}
    loaded = FlatAdam(first.params.clone(), torch.zeros(200), lr=1e-2)
    loaded.load_state_dict(state)
    fresh = FlatAdam(first.params.clone(), torch.zeros(200), lr=1e-2)  # no moments: a different update
    for gradient in steps[4:]:
        for adam in (first, loaded, fresh):
            adam.grad.copy_(gradient)
            adam.step()
        assert torch.equal(loaded.params, first.params)
        assert not torch.equal(fresh.params, first.params)
    assert torch.equal(loaded.exp_avg, first.exp_avg) and torch.equal(loaded.exp_avg_sq, first.exp_avg_sq)
    assert loaded.step_count.item() == first.step_count.item() == 8
