"""The DQN's temporal-difference target and loss, written once for every update that computes them
(`DQNAgent.td_loss`, `ReferenceUpdate`, `FastUpdate` on the CPU and on a GPU).

    y = r + gamma (1 - terminated) max_a' Q_target(s', a')
    loss = mean over the batch of huber(Q(s, a) - y)   (SB3's smooth L1, beta 1)   or   (Q(s, a) - y)^2

The functions take numpy arrays or torch tensors alike (float32 in, float32 out: numpy keeps a
Python float scalar at the array's precision), so every path computes the same numbers in the
same order.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from torch import nn

Loss = Literal["huber", "mse"]


def td_targets(rewards: Any, not_terminated: Any, next_q_max: Any, gamma: float) -> Any:
    """y = r + gamma (1 - terminated) max_a' Q_target(s', a'); `not_terminated` is 1 - terminated
    (1 after a time-limit truncation, which bootstraps). Arrays or tensors of one shape."""
    return rewards + gamma * not_terminated * next_q_max


def td_loss(q: torch.Tensor, targets: torch.Tensor, loss: Loss) -> torch.Tensor:
    """The loss of Q(s, a) (shape (batch,)) against the targets, differentiable by autograd."""
    if loss == "huber":
        return nn.functional.smooth_l1_loss(q, targets)
    return nn.functional.mse_loss(q, targets)


def mean_loss(errors: torch.Tensor, loss: Loss) -> torch.Tensor:
    """The loss (mean over every entry) of TD errors Q(s, a) - y already computed, of any shape:
    what `train/loss` logs for a training phase's updates."""
    if loss == "huber":
        return nn.functional.smooth_l1_loss(errors, torch.zeros_like(errors))
    return errors.square().mean()


def td_loss_gradient(errors: np.ndarray, loss: Loss, out: np.ndarray) -> np.ndarray:
    """d loss / d Q(s, a) of one batch's TD errors (shape (batch,)), into `out`: the mean Huber's
    clip(error, -1, 1) / batch, or the mean squared error's 2 error / batch."""
    size = errors.shape[0]
    if loss == "huber":
        np.clip(errors, -1.0, 1.0, out=out)
        out *= np.float32(1.0 / size)
    else:
        np.multiply(errors, np.float32(2.0 / size), out=out)
    return out


def td_loss_gradient_torch(errors: torch.Tensor, loss: Loss) -> torch.Tensor:
    """`td_loss_gradient` for a tensor (the update on a GPU)."""
    size = errors.shape[0]
    return (errors.clamp(-1.0, 1.0) if loss == "huber" else 2.0 * errors) / size


__all__ = ["Loss", "mean_loss", "td_loss", "td_loss_gradient", "td_loss_gradient_torch", "td_targets"]
