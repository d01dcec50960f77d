"""A ReLU MLP Q-network whose training pass is written out by hand.

Autograd records a graph of ~20 small operations per update and replays it backwards; for a
64-sample batch through 256-unit layers that bookkeeping costs as much as the arithmetic. A ReLU
MLP's backward pass is short enough to write down: `forward_cached` keeps each layer's output and
`backward` fills every parameter's gradient from them with one matrix product per weight gradient
and one per propagated layer. These are the numbers autograd computes (a test checks it).

All parameters live in one flat tensor (`flat`), the layers' weights and biases being views of
it, and all gradients in another (`flat_grad`). An optimizer step, a gradient norm, a target
network copy are then one operation each instead of one per tensor.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn


class QNetwork(nn.Module):
    """Linear layers n_inputs -> *net_arch -> n_outputs with ReLU between them, PyTorch's default
    initialisation, parameters stored in one flat tensor on `device`.

    Build it on its device; `.to()` would copy the parameters apart from `flat`.

    :param n_inputs: observation length.
    :param net_arch: hidden layer sizes.
    :param n_outputs: number of actions.
    :param device: where the parameters live.
    """

    def __init__(
        self, n_inputs: int, net_arch: tuple[int, ...], n_outputs: int, device: torch.device | str = "cpu"
    ) -> None:
        super().__init__()
        sizes = (n_inputs, *net_arch, n_outputs)
        layers = [nn.Linear(n_in, n_out) for n_in, n_out in itertools.pairwise(sizes)]
        initial = [p.detach() for layer in layers for p in (layer.weight, layer.bias)]
        self.flat = torch.cat([p.reshape(-1) for p in initial]).to(device)
        self.flat_grad = torch.zeros_like(self.flat)
        self._grad_views: list[tuple[torch.Tensor, torch.Tensor]] = []
        offset = 0
        for layer in layers:
            views = []
            for name in ("weight", "bias"):
                shape = getattr(layer, name).shape
                n = shape.numel()
                parameter = nn.Parameter(self.flat[offset : offset + n].view(shape))
                parameter.grad = self.flat_grad[offset : offset + n].view(shape)
                setattr(layer, name, parameter)
                views.append(parameter.grad)
                offset += n
            self._grad_views.append((views[0], views[1]))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Q values, shape (batch, n_outputs), of inputs, shape (batch, n_inputs) (autograd-capable)."""
        *hidden, last = self.layers
        for layer in hidden:
            x = torch.relu(layer(x))
        return last(x)

    @torch.no_grad()
    def forward_cached(self, x: torch.Tensor, keep: bool = True) -> list[torch.Tensor]:
        """The input and every layer's output (after ReLU for hidden layers); the last is Q.
        With `keep=False` only [Q] is returned (a forward pass without autograd's overhead)."""
        outputs = [x]
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = torch.addmm(layer.bias, x, layer.weight.t())
            if i < last:
                x.relu_()
            if keep:
                outputs.append(x)
        return outputs if keep else [x]

    @torch.no_grad()
    def backward(self, outputs: list[torch.Tensor], grad_q: torch.Tensor) -> None:
        """Write d loss / d parameters into `flat_grad` (each parameter's `.grad` is a view of
        it), given `outputs` from `forward_cached` and `grad_q` = d loss / d Q, shape
        (batch, n_outputs)."""
        grad = grad_q
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            weight_grad, bias_grad = self._grad_views[i]
            if i == 0:
                # The input layer's weight gradient is tall and thin (out x obs_dim): BLAS is 4x
                # faster writing it transposed, and the copy is a few kB.
                weight_grad.copy_(torch.mm(outputs[0].t(), grad).t())
            else:
                torch.mm(grad.t(), outputs[i], out=weight_grad)
            torch.sum(grad, 0, out=bias_grad)
            if i > 0:
                # Back through the layer, then through the ReLU that produced outputs[i].
                grad = torch.ops.aten.threshold_backward(grad @ layer.weight, outputs[i], 0.0)

    def numpy_views(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(weight transposed, bias) per layer as numpy arrays sharing memory with the parameters
        (CPU only): they see every in-place update."""
        return [(layer.weight.detach().numpy().T, layer.bias.detach().numpy()) for layer in self.layers]


def numpy_q_values(views: list[tuple[np.ndarray, np.ndarray]], obs: np.ndarray) -> np.ndarray:
    """Q values from `QNetwork.numpy_views`: shape (n_outputs,) for one observation, shape
    (n_inputs,); shape (n, n_outputs) for a batch, shape (n, n_inputs).

    One observation through a small MLP costs a third as much in numpy as in torch (for a batch,
    torch's matrix products are faster).
    """
    x = obs
    last = len(views) - 1
    for i, (weight_t, bias) in enumerate(views):
        x = x @ weight_t + bias
        if i < last:
            np.maximum(x, 0.0, out=x)
    return x


def numpy_greedy_action(views: list[tuple[np.ndarray, np.ndarray]], obs: np.ndarray) -> int:
    """argmax_a Q(obs, a) for one observation, shape (n_inputs,), from `QNetwork.numpy_views`."""
    return int(numpy_q_values(views, obs).argmax())
