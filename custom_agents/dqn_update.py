"""The DQN's gradient updates, two ways that compute the same thing.

- `ReferenceUpdate`: the assignment's DQN step as a student writes it, in plain PyTorch
  autograd: the target from the target network, the TD loss, backward, gradient clipping,
  `torch.optim.Adam`. Read this one first.
- `FastUpdate`: the same arithmetic, arranged for speed. What it changes and why:
  - every batch of a training phase is gathered from the replay memory at once (one indexing
    of its table instead of one per update);
  - the backward pass is written out (`QNetwork.backward`, `NumpyPass.backward`): autograd
    records a graph of ~20 small operations per update and replays it, which for a 64-sample
    batch costs as much as the arithmetic; the gradients are the same numbers;
  - on the CPU, the forward and backward passes run on views of the network's parameters with
    every buffer allocated once (`NumpyPass`): the backward in numpy (the same float32 matrix
    products, one BLAS call each, while each small operation around them costs about a
    microsecond instead of torch's several), the batch's forward as `torch.addmm` and `relu_` on
    the same memory (numpy's BLAS is slow on a torch weight's transposed layout at 64 rows);
  - the parameters live in one flat tensor, so the gradient norm and Adam are one operation each:
    Adam is PyTorch's fused kernel (`torch._fused_adam_`, what `torch.optim.Adam(fused=True)`
    runs), and the gradient clipping is folded into it as its gradient scale (the kernel divides
    the gradient by max(1, (norm + 1e-6) / max_grad_norm), which is `clip_grad_norm_`'s factor);
  - the Adam step runs with denormal floats flushed to zero: the second moment of a dead ReLU's
    weights otherwise decays through the denormal range for thousands of updates, where the CPU
    is several times slower (a difference below 1e-38 in that moment, none in the parameters).

  What is left per update is four matrix products of the batch with a 256 x 256 weight (the
  target network's forward, the online forward, and two in the backward pass) and Adam's pass
  over the parameters: the floor for this computation on one core.

The two give the same parameters after the same updates from the same state, to float rounding
(Adam's fused and plain kernels round differently; tests check it), so the fast one is what runs
and the reference one is what to read, test against and start from.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from custom_agents.policy import BETAS, EPS, DQNPolicy
from custom_agents.qnetwork import NumpyPass, QNetwork
from custom_agents.replay import ReplayMemory
from custom_agents.td import Loss, td_loss, td_loss_gradient, td_loss_gradient_torch, td_targets

TARGET_CHUNK = 16
"""Batches whose targets `FastUpdate` computes in one pass of the target network (1,024 rows of
64: the matrix products run faster on more rows, and the activations still fit in cache)."""


@dataclass(frozen=True)
class UpdateValues:
    """The hyperparameters a training phase's updates read, as the agent holds them then (its live
    attributes: SB3's code may set them between two `learn` calls)."""

    gamma: float
    learning_rate: float
    max_grad_norm: float
    loss: Loss


def _flat_views(net: QNetwork, flat: torch.Tensor) -> Iterator[tuple[nn.Parameter, torch.Tensor]]:
    """Each parameter of `net` with the slice of a flat tensor (laid out as `net.flat`) it maps to."""
    offset = 0
    for p in net.parameters():
        n = p.numel()
        yield p, flat[offset : offset + n].view_as(p)
        offset += n


def flat_adam_state(net: QNetwork, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """An Adam optimizer's moments and step count, in the flat layout of `QNetwork.flat` (the
    format agents saved before their optimizer's own state dict was kept)."""
    states = [optimizer.state.get(p, {}) for p in net.parameters()]
    if not states[0]:
        zeros = torch.zeros_like(net.flat)
        return {"exp_avg": zeros, "exp_avg_sq": zeros.clone(), "step": torch.zeros(())}
    return {
        "exp_avg": torch.cat([s["exp_avg"].reshape(-1) for s in states]),
        "exp_avg_sq": torch.cat([s["exp_avg_sq"].reshape(-1) for s in states]),
        "step": torch.as_tensor(float(states[0]["step"])),
    }


def load_flat_adam_state(net: QNetwork, optimizer: torch.optim.Optimizer, state: dict[str, torch.Tensor]) -> None:
    """Restore what `flat_adam_state` returned into an Adam optimizer over `net`'s parameters."""
    optimizer.state.clear()
    if float(state["step"]) == 0:
        return
    moments = zip(_flat_views(net, state["exp_avg"]), _flat_views(net, state["exp_avg_sq"]), strict=True)
    for (p, exp_avg), (_, exp_avg_sq) in moments:
        optimizer.state[p] = {
            "step": torch.tensor(float(state["step"])),
            "exp_avg": exp_avg.clone(),
            "exp_avg_sq": exp_avg_sq.clone(),
        }


class ReferenceUpdate:
    """The DQN update, as the assignment writes it, in plain PyTorch autograd; also what runs
    whatever the network and optimizer are (an activation other than ReLU, a features extractor,
    another optimizer class or one set on `policy.optimizer`).

    For each batch: the target y = r + gamma (1 - terminated) max_a' Q_target(s', a') from the
    target network, without gradient; the TD loss between Q(s, a) and y (Huber or MSE); its
    gradient by autograd; the gradient's norm clipped; one step of the policy's optimizer (made
    with `policy.make_optimizer` unless one is set: `torch.optim.Adam` by default).
    """

    def __init__(self, policy: DQNPolicy, memory: ReplayMemory, learning_rate: float) -> None:
        self.policy, self.memory = policy, memory
        self.q_net, self.q_net_target = policy.q_net, policy.q_net_target
        if policy.optimizer is None or isinstance(policy.optimizer, FlatAdam):
            policy.optimizer = policy.make_optimizer(learning_rate)
        self.optimizer = policy.optimizer

    def train(self, batches: np.ndarray, values: UpdateValues) -> torch.Tensor:
        """One update per row of `batches` (shape (n_updates, batch_size), indices into the
        memory); returns the TD errors Q(s, a) - y before each, shape (n_updates, batch_size)."""
        for group in self.optimizer.param_groups:  # as SB3's `_update_learning_rate`
            group["lr"] = values.learning_rate
        errors = []
        for indices in batches:
            obs, actions, rewards, next_obs, not_terminated = self.memory.gather(indices)
            with torch.no_grad():
                next_q = self.q_net_target(next_obs).max(dim=1).values
                targets = td_targets(rewards, not_terminated, next_q, values.gamma)
            q = self.q_net(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
            loss = td_loss(q, targets, values.loss)
            self.optimizer.zero_grad()
            loss.backward()
            if math.isfinite(values.max_grad_norm):
                nn.utils.clip_grad_norm_(self.q_net.parameters(), values.max_grad_norm)
            self.optimizer.step()
            errors.append((q - targets).detach())
        return torch.stack(errors)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Adam's moments and step count, in the flat layout of `QNetwork.flat` (Adam only)."""
        return flat_adam_state(self.q_net, self.optimizer)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what `state_dict` returned (from either update)."""
        load_flat_adam_state(self.q_net, self.optimizer, state)


class FlatAdam(torch.optim.Adam):
    """`policy.optimizer` while the fast update runs: torch's Adam over the online network's
    parameters whose moments are views of the fast update's flat ones, so its `state_dict` is
    what the fast update has now and `load_state_dict` sets it. Its `step` is the fast update's
    Adam step from the parameters' gradients (without clipping)."""

    def __init__(self, update: FastUpdate, learning_rate: float) -> None:
        super().__init__(update.q_net.parameters(), lr=learning_rate, betas=BETAS, eps=EPS)
        self._update = update
        self._bind()

    def _bind(self) -> None:
        update = self._update
        moments = zip(_flat_views(update.q_net, update.exp_avg), _flat_views(update.q_net, update.exp_avg_sq))
        for (p, exp_avg), (_, exp_avg_sq) in moments:
            self.state[p] = {"step": update.step.view(()), "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's, then the loaded moments copied into the flat ones (and the views bound again)."""
        super().load_state_dict(state_dict)
        update = self._update
        params = list(update.q_net.parameters())
        loaded = [self.state.get(p, {}) for p in params]
        if loaded[0]:
            update.exp_avg.copy_(torch.cat([s["exp_avg"].reshape(-1) for s in loaded]))
            update.exp_avg_sq.copy_(torch.cat([s["exp_avg_sq"].reshape(-1) for s in loaded]))
            update.step.copy_(torch.as_tensor(float(loaded[0]["step"])))
        else:  # a state without moments (an optimizer that never stepped): start again from zero
            update.exp_avg.zero_()
            update.exp_avg_sq.zero_()
            update.step.zero_()
        self._bind()

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = None if closure is None else closure()
        for p, grad in _flat_views(self._update.q_net, self._update.q_net.flat_grad):
            if p.grad is None:
                grad.zero_()
            elif p.grad.data_ptr() != grad.data_ptr():
                grad.copy_(p.grad)
        self._update.grad_scale.fill_(1.0)
        self._update.adam(self.param_groups[0]["lr"])
        return loss


def _flushing_denormals_helps() -> bool:
    """Whether to flush denormal floats to zero around the Adam step: where the CPU can, and the
    thread does not already. A unit whose ReLU is dead gets exactly zero gradients, and Adam's
    second moment of its weights then decays by beta2 = 0.999 per update through the denormal
    range (below ~1.2e-38) for ~16,000 updates, where x86 arithmetic is many times slower: on
    the zoo preset the Adam step took ~97 us instead of ~53. Flushed, such a moment is 0 instead
    of ~1e-40, which changes no parameter by more than lr * 1e-40 / eps. With the flag already on
    (the user's choice) it is left alone."""
    already = float(np.float32(1e-40) * np.float32(1.0)) == 0.0  # denormals-are-zero is on
    return not already and torch.set_flush_denormal(False)


class FastUpdate:
    """The same update, arranged for speed (see the module docstring): per call (a training
    phase, or its part between two target-network updates), the batches' rows gathered at once
    and their targets computed `TARGET_CHUNK` batches per pass; per update, the online network's
    forward and written-out backward pass (in numpy on the CPU, in torch on a GPU), and one fused
    Adam kernel that also applies the gradient clipping."""

    def __init__(self, policy: DQNPolicy, memory: ReplayMemory, learning_rate: float, batch_size: int) -> None:
        self.policy, self.memory = policy, memory
        self.q_net, self.q_net_target = policy.q_net, policy.q_net_target
        q_net = self.q_net
        device = q_net.flat.device
        self.exp_avg = torch.zeros_like(q_net.flat)
        self.exp_avg_sq = torch.zeros_like(q_net.flat)
        self.step = torch.zeros((), dtype=torch.float32, device=device)
        self.grad_scale = torch.ones((), dtype=torch.float32, device=device)
        self.on_cpu = device.type == "cpu"
        self._batch_size = 0
        if self.on_cpu:
            self._grad = q_net.flat_grad.numpy()
            self._scale = self.grad_scale.numpy()
            self._allocate(batch_size)
        self._flush = self.on_cpu and _flushing_denormals_helps()
        self.optimizer = policy.optimizer = FlatAdam(self, learning_rate)

    def _allocate(self, batch_size: int) -> None:
        """The numpy passes and buffers for batches of `batch_size` rows."""
        q_net = self.q_net
        self.online = NumpyPass(q_net, batch_size)
        self.target = NumpyPass(self.q_net_target, TARGET_CHUNK * batch_size)
        self._rows = np.arange(batch_size)
        self._grad_q = np.zeros((batch_size, q_net.layers[-1].out_features), dtype=np.float32)
        self._grad_taken = np.empty(batch_size, dtype=np.float32)
        self._batch_size = batch_size

    def train(self, batches: np.ndarray, values: UpdateValues) -> torch.Tensor:
        """One update per row of `batches` (shape (n_updates, batch_size)); returns the TD errors
        before each, shape (n_updates, batch_size)."""
        n, size = batches.shape
        self.optimizer.param_groups[0]["lr"] = values.learning_rate
        obs, actions, rewards, next_obs, not_terminated = self.memory.gather(batches.reshape(-1))
        if not self.on_cpu:
            return self._train_torch(n, size, obs, actions, rewards, next_obs, not_terminated, values)
        if size != self._batch_size:
            self._allocate(size)
        obs, next_obs = obs.numpy().reshape(n, size, -1), next_obs.numpy().reshape(n, size, -1)
        actions = actions.numpy().reshape(n, size)
        rewards, not_terminated = rewards.numpy().reshape(n, size), not_terminated.numpy().reshape(n, size)
        errors = np.empty((n, size), dtype=np.float32)
        targets = np.empty((n, size), dtype=np.float32)
        for start in range(0, n, TARGET_CHUNK):
            end = min(start + TARGET_CHUNK, n)
            rows = np.ascontiguousarray(next_obs[start:end].reshape((end - start) * size, -1))
            next_q = self.target.forward(rows).max(axis=1).reshape(end - start, size)
            targets[start:end] = td_targets(rewards[start:end], not_terminated[start:end], next_q, values.gamma)
        taken = self._rows * self._grad_q.shape[1] + actions  # (n, size): Q(s, a)'s index in a flat (size, n_actions)
        grad_q, grad_taken = self._grad_q.reshape(-1), self._grad_taken
        for k in range(n):
            q = self.online.forward(obs[k])
            error = errors[k]
            np.subtract(q.reshape(-1).take(taken[k]), targets[k], out=error)
            td_loss_gradient(error, values.loss, out=grad_taken)
            grad_q.fill(0.0)
            grad_q[taken[k]] = grad_taken
            self.online.backward(self._grad_q)
            if math.isfinite(values.max_grad_norm):
                norm = math.sqrt(float(np.dot(self._grad, self._grad)))
                self._scale[...] = max(1.0, (norm + 1e-6) / values.max_grad_norm)  # clip_grad_norm_'s scale
            self.adam(values.learning_rate)
        return torch.from_numpy(errors)

    def _train_torch(
        self, n: int, size: int, obs, actions, rewards, next_obs, not_terminated, values: UpdateValues
    ) -> torch.Tensor:
        """The same on a GPU: torch's forward and the written-out backward (`QNetwork.backward`)."""
        obs, next_obs = obs.view(n, size, -1), next_obs.view(n, size, -1)
        actions, rewards, not_terminated = actions.view(n, size), rewards.view(n, size), not_terminated.view(n, size)
        errors = []
        with torch.no_grad():
            for k in range(n):
                next_q = self.q_net_target.forward_cached(next_obs[k], keep=False)[0].amax(dim=1)
                targets = td_targets(rewards[k], not_terminated[k], next_q, values.gamma)
                outputs = self.q_net.forward_cached(obs[k])
                taken = actions[k].unsqueeze(1)
                error = outputs[-1].gather(1, taken).squeeze(1) - targets
                grad_taken = td_loss_gradient_torch(error, values.loss)
                grad_q = torch.zeros_like(outputs[-1]).scatter_(1, taken, grad_taken.unsqueeze(1))
                self.q_net.backward(outputs, grad_q)
                if math.isfinite(values.max_grad_norm):
                    norm = torch.linalg.vector_norm(self.q_net.flat_grad)
                    torch.clamp((norm + 1e-6) / values.max_grad_norm, min=1.0, out=self.grad_scale)
                self.adam(values.learning_rate)
                errors.append(error)
        return torch.stack(errors)

    def adam(self, learning_rate: float) -> None:
        """One Adam step of the flat parameters from the flat gradient divided by `grad_scale`:
        PyTorch's fused kernel (what `torch.optim.Adam(fused=True)` runs), called directly, on the
        CPU with denormal floats flushed to zero (`_flushing_denormals`)."""
        self.step.add_(1)
        if not self._flush:
            self._fused_adam(learning_rate)
            return
        torch.set_flush_denormal(True)
        try:
            self._fused_adam(learning_rate)
        finally:
            torch.set_flush_denormal(False)

    def _fused_adam(self, learning_rate: float) -> None:
        torch._fused_adam_(
            [self.q_net.flat],
            [self.q_net.flat_grad],
            [self.exp_avg],
            [self.exp_avg_sq],
            [],
            [self.step],
            lr=learning_rate,
            beta1=BETAS[0],
            beta2=BETAS[1],
            weight_decay=0.0,
            eps=EPS,
            amsgrad=False,
            maximize=False,
            grad_scale=self.grad_scale,
            found_inf=None,
        )

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Adam's moments and step count (flat)."""
        return {"exp_avg": self.exp_avg, "exp_avg_sq": self.exp_avg_sq, "step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned (from either update)."""
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])
        self.step.copy_(torch.as_tensor(state["step"], dtype=torch.float32))


def load_optimizer_state(update: FastUpdate | ReferenceUpdate, state: dict[str, Any]) -> None:
    """Restore a saved optimizer state into the update's optimizer: its own `state_dict`, or the
    flat Adam moments agents saved before (`flat_adam_state`)."""
    if "param_groups" in state:
        update.optimizer.load_state_dict(state)
    else:
        update.load_state_dict(state)
