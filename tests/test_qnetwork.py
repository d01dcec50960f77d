"""QNetwork's flat parameters, its hand-written backward pass and its numpy passes, each checked
against what PyTorch's forward and autograd compute (the updates built on them:
tests/test_dqn_update.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from custom_agents.qnetwork import NumpyForward, NumpyPass, QNetwork

NET_ARCHS = [(8,), (16, 8), (32, 16, 8)]
# Gradients are O(0.01-1); the hand-written pass differs from autograd's by rounding only (it is
# bit-identical when the batch size is a power of two).
GRAD_TOLERANCE = {"rtol": 1e-5, "atol": 1e-7}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


@pytest.mark.parametrize("rows", [5, NumpyForward.TORCH_ROWS + 8], ids=["numpy", "torch"])
def test_numpy_forward_reads_the_parameters_in_place(rows):
    torch.manual_seed(4)
    net = QNetwork(4, (8,), 2)
    forward = NumpyForward(net)
    x = np.random.default_rng(0).normal(size=(rows, 4)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(forward.forward(x), expected, rtol=1e-6, atol=1e-6)
    with torch.no_grad():
        net.flat.mul_(2.0)  # an in-place update, as Adam and load_state_dict make
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(forward.forward(x), expected, rtol=1e-6, atol=1e-6)
    assert len(forward.outputs[0]) == rows  # grown from one row to the batch
    assert forward.forward(x[:2]).shape == (2, 2)


def test_numpy_forward_takes_any_batch_layout_and_dtype():
    """A batch that torch cannot take as it is (float64, or a strided view) goes through numpy:
    the same Q values."""
    torch.manual_seed(7)
    net = QNetwork(4, (32, 16), 2)
    forward = NumpyForward(net)
    x = np.random.default_rng(1).normal(size=(40, 4)).astype(np.float32)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    for batch, rows in ((x, slice(None)), (x.astype(np.float64), slice(None)), (x[::2], slice(None, None, 2))):
        np.testing.assert_allclose(forward.forward(batch), expected[rows], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("net_arch", [*NET_ARCHS, (256, 256, 256)], ids=str)
def test_numpy_greedy_is_the_argmax_of_forward(net_arch):
    torch.manual_seed(5)
    net = QNetwork(4, net_arch, 2)
    with torch.no_grad():
        net.flat.mul_(3.0)  # larger Q gaps than at initialisation
    observations = np.random.default_rng(0).normal(0.0, 1.0, size=(2_000, 4)).astype(np.float32)
    with torch.no_grad():
        q = net(torch.from_numpy(observations)).numpy()
    gap = np.abs(q[:, 0] - q[:, 1])
    clear = gap > 1e-5 * (1.0 + np.abs(q).max(axis=1))  # leave out float near-ties
    assert clear.mean() > 0.99
    expected = q.argmax(axis=1)
    assert len(set(expected[clear].tolist())) == 2  # both actions occur
    forward = NumpyForward(net)
    one_by_one = np.array([forward.greedy(obs[None])[0] for obs in observations])
    in_batches = np.concatenate([forward.greedy(observations[i : i + 20]) for i in range(0, 2_000, 20)])
    np.testing.assert_array_equal(one_by_one[clear], expected[clear])
    np.testing.assert_array_equal(in_batches[clear], expected[clear])


@pytest.mark.parametrize("rows", [1, 7, 64])
@pytest.mark.parametrize("net_arch", NET_ARCHS, ids=str)
def test_numpy_pass_equals_torchs_forward_and_autograd(net_arch, rows):
    torch.manual_seed(6)
    net = QNetwork(4, net_arch, 3)
    numpy_pass = NumpyPass(net, batch_size=64)
    x = torch.randn(rows, 4)
    grad_q = torch.randn(rows, 3)
    q = net(x)
    expected = torch.autograd.grad((q * grad_q).sum(), list(net.parameters()))
    net.flat_grad.fill_(123.0)  # stale values must be overwritten, not accumulated
    np.testing.assert_allclose(numpy_pass.forward(x.numpy()), q.detach().numpy(), rtol=1e-5, atol=1e-6)
    numpy_pass.backward(grad_q.numpy())
    torch.testing.assert_close(net.flat_grad, torch.cat([g.reshape(-1) for g in expected]), **GRAD_TOLERANCE)


def test_numpy_pass_refuses_more_rows_than_it_was_built_for():
    numpy_pass = NumpyPass(QNetwork(4, (8,), 2), batch_size=4)
    with pytest.raises(ValueError, match="5 rows"):
        numpy_pass.forward(np.zeros((5, 4), dtype=np.float32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_numpy_passes_refuse_a_network_on_a_gpu():
    net = QNetwork(4, (8,), 2, device="cuda")
    for make in (lambda: NumpyForward(net), lambda: NumpyPass(net, 4)):
        with pytest.raises(ValueError, match="CPU"):
            make()
