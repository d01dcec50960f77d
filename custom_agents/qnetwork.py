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
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import FlattenExtractor
from torch import nn

from custom_agents.config import import_object, plain_value
from custom_agents.sb3_module import PolicyModule, plain_spaces, spaces_of


class QNetwork(PolicyModule):
    """Linear layers n_inputs -> *net_arch -> n_outputs with `activation_fn` (ReLU) between them,
    PyTorch's default initialisation, parameters stored in one flat tensor on `device`; SB3's
    `QNetwork` surface (`features_extractor`, `predict` on raw observations, `save`/`load`,
    `set_training_mode`).

    `forward` takes preprocessed observations (float32; a Discrete state one-hot, as the replay
    memory gathers them and `obs_to_tensor` makes them) through `features_extractor` (SB3's
    `FlattenExtractor` unless one was given) and the layers. The written-out training pass
    (`forward_cached`, `backward`, `NumpyPass`) covers the plain network only (`plain`: ReLU, the
    flatten features); any other runs through autograd.

    Build it on its device; `.to()` would copy the parameters apart from `flat`.

    :param n_inputs: observation length (features length with a `features_extractor`).
    :param net_arch: hidden layer sizes.
    :param n_outputs: number of actions.
    :param device: where the parameters live.
    :param activation_fn: the activation's module class between layers.
    :param observation_space: the raw observations' space (default: an unbounded Box of n_inputs).
    :param action_space: the actions' space (default: Discrete(n_outputs)).
    :param features_extractor_class: SB3's features extractor class, built as
        `features_extractor_class(observation_space, **features_extractor_kwargs)`; None: flatten.
    :param features_extractor_kwargs: its keyword arguments.
    """

    def __init__(
        self,
        n_inputs: int,
        net_arch: tuple[int, ...],
        n_outputs: int,
        device: torch.device | str = "cpu",
        *,
        activation_fn: type[nn.Module] = nn.ReLU,
        observation_space: spaces.Space | None = None,
        action_space: spaces.Discrete | None = None,
        features_extractor_class: type[nn.Module] | None = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if observation_space is None:
            observation_space = spaces.Box(-np.inf, np.inf, (n_inputs,), dtype=np.float32)
        super().__init__(observation_space, action_space or spaces.Discrete(n_outputs))
        self.net_arch = tuple(net_arch)
        self.activation_fn = activation_fn
        self._extractor = (features_extractor_class, dict(features_extractor_kwargs or {}))
        if features_extractor_class is None:
            self.features_extractor: nn.Module = FlattenExtractor(observation_space)
        else:
            self.features_extractor = features_extractor_class(observation_space, **self._extractor[1]).to(device)
            n_inputs = int(self.features_extractor.features_dim)
        self.plain = activation_fn is nn.ReLU and features_extractor_class is None
        self.activation = activation_fn()
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
        """Q values, shape (batch, n_outputs), of preprocessed observations, shape (batch, ...)
        (autograd-capable)."""
        if not self.plain:
            x = self.features_extractor(x)
        *hidden, last = self.layers
        for layer in hidden:
            x = torch.relu(layer(x)) if self.plain else self.activation(layer(x))
        return last(x)

    def _predict(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """Greedy actions (SB3's `QNetwork._predict`)."""
        return self(obs).argmax(dim=1).reshape(-1)

    def _constructor_data(self) -> dict[str, Any]:
        extractor, kwargs = self._extractor
        return {
            "n_inputs": self.layers[0].in_features,
            "net_arch": list(self.net_arch),
            "n_outputs": self.layers[-1].out_features,
            "activation_fn": plain_value(self.activation_fn),
            "features_extractor_class": None if extractor is None else plain_value(extractor),
            "features_extractor_kwargs": plain_value(kwargs),
            **plain_spaces(self),
        }

    @classmethod
    def _from_data(cls, data: dict[str, Any], device: torch.device) -> QNetwork:
        observation_space, action_space = spaces_of(data)
        extractor = data["features_extractor_class"]
        return cls(
            data["n_inputs"],
            tuple(data["net_arch"]),
            data["n_outputs"],
            device,
            activation_fn=import_object(data["activation_fn"]),
            observation_space=observation_space,
            action_space=action_space,
            features_extractor_class=None if extractor is None else import_object(extractor),
            features_extractor_kwargs=data["features_extractor_kwargs"],
        )

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


class NumpyForward:
    """A `QNetwork`'s forward pass in numpy on views of its parameters (CPU only: they see every
    in-place update), into output buffers allocated once and grown when a larger batch comes.

    Acting scores one observation per env step in training and up to one per evaluation episode
    in an evaluation step: a few small matrix products, where torch's per-call dispatch costs
    more than the arithmetic (one observation through 4-256-256-256-2: ~10 us here against ~30
    us in torch).

    A batch of `TORCH_ROWS` rows or more goes through torch instead, on the same memory
    (`torch.from_numpy` views of the buffers and the parameters): `torch.addmm` (bias and product
    in one call) and an in-place `relu_`. A torch `Linear` keeps its weight as (out, in), and
    numpy's BLAS is slow on that transposed operand at a few dozen rows (64 x 256 @ (256 x 256).T:
    ~111 us against torch's ~89; 20 rows: ~57 against ~33), and numpy's `maximum` is several times
    slower than torch's `relu_` (1024 x 256: ~98 us against ~17). With one row numpy's lower call
    cost wins.

    :param net: the network whose parameters the pass reads.
    :param rows: the batch size to allocate for at first.
    """

    TORCH_ROWS = 8

    def __init__(self, net: QNetwork, rows: int = 1) -> None:
        if net.flat.device.type != "cpu":
            raise ValueError("a numpy pass works on a network on the CPU")
        self.weights = [(layer.weight.detach().numpy(), layer.bias.detach().numpy()) for layer in net.layers]
        self._torch_layers = [(layer.weight.detach().T, layer.bias.detach()) for layer in net.layers]
        self.outputs: list[np.ndarray] = []
        self._torch_outputs: list[torch.Tensor] = []
        self._allocate(rows)

    def _allocate(self, rows: int) -> None:
        self.outputs = [np.empty((rows, weight.shape[0]), dtype=np.float32) for weight, _ in self.weights]
        self._torch_outputs = [torch.from_numpy(out) for out in self.outputs]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Q values, shape (batch, n_outputs), of float32 inputs, shape (batch, n_inputs); every
        layer's output is kept in `outputs` (the returned array is reused by the next call)."""
        rows = len(x)
        if rows > len(self.outputs[0]):
            self._allocate(rows)
        last = len(self.weights) - 1
        if rows >= self.TORCH_ROWS and x.dtype == np.float32 and x.flags.c_contiguous:
            inputs = torch.from_numpy(x)
            for i, (weight_t, bias) in enumerate(self._torch_layers):
                out = self._torch_outputs[i][:rows]
                torch.addmm(bias, inputs, weight_t, out=out)
                if i < last:
                    out.relu_()
                inputs = out
            return self.outputs[last][:rows]
        for i, (weight, bias) in enumerate(self.weights):
            out = self.outputs[i][:rows]
            np.matmul(x, weight.T, out=out)
            out += bias
            if i < last:
                np.maximum(out, 0.0, out=out)
            x = out
        return x

    def greedy(self, obs: np.ndarray) -> np.ndarray:
        """argmax_a Q(obs, a) per row of `obs`, shape (batch, n_inputs) -> (batch,)."""
        return self.forward(np.asarray(obs, dtype=np.float32)).argmax(axis=1)


class NumpyPass(NumpyForward):
    """The training pass of a `QNetwork` in numpy, on views of its flat parameters and gradient
    (CPU only): forward with every activation kept, and the backward pass into `flat_grad`, for a
    batch of up to `batch_size` rows, with every buffer allocated once.

    The same arithmetic as `QNetwork.forward_cached` and `QNetwork.backward` (float32, one BLAS
    call per matrix product); numpy's per-call cost is a fraction of torch's, and for a 64-sample
    batch through 256-unit layers that is most of what is left besides the matrix products.

    :param net: the network whose parameters (and gradient) the pass reads (and writes).
    :param batch_size: the most rows a pass takes.
    """

    def __init__(self, net: QNetwork, batch_size: int) -> None:
        super().__init__(net, batch_size)
        self.grads = [(w.numpy(), b.numpy()) for w, b in net._grad_views]
        widths = [w.shape[0] for w, _ in self.weights]
        self.masks = [np.empty((batch_size, n), dtype=bool) for n in widths[:-1]]
        self.deltas = [np.empty((batch_size, n), dtype=np.float32) for n in widths]
        self.inputs: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """As `NumpyForward.forward` (at most `batch_size` rows), keeping the inputs for `backward`."""
        if len(x) > len(self.outputs[0]):
            raise ValueError(f"a batch of {len(x)} rows for a pass of at most {len(self.outputs[0])}")
        self.inputs = x
        return super().forward(x)

    def backward(self, grad_q: np.ndarray) -> None:
        """Write d loss / d parameters into the network's `flat_grad`, given d loss / d Q, shape
        (batch, n_outputs), for the inputs of the last `forward`."""
        assert self.inputs is not None
        rows = len(self.inputs)
        grad = grad_q
        for i in range(len(self.weights) - 1, -1, -1):
            weight_grad, bias_grad = self.grads[i]
            below = self.outputs[i - 1][:rows] if i > 0 else self.inputs
            np.matmul(grad.T, below, out=weight_grad)
            grad.sum(axis=0, out=bias_grad)
            if i > 0:
                # Back through the layer, then through the ReLU that produced its input.
                delta = self.deltas[i - 1][:rows]
                np.matmul(grad, self.weights[i][0], out=delta)
                mask = self.masks[i - 1][:rows]
                np.greater(below, 0.0, out=mask)
                delta *= mask
                grad = delta
