"""Ranking and regression losses over a batch of predicted scores ``s`` and targets ``y``."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def pairwise_logistic(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """ReNAS's loss: the mean over ordered pairs i != j of log(1 + exp(-(s_i - s_j) sign(y_i - y_j))),
    as the official ``pair_loss`` computes it (diagonal left out, divided by n(n - 1)). Pairs with
    equal targets contribute log 2 and no gradient."""
    n = s.shape[0]
    ds = s[:, None] - s[None, :]
    sign = torch.sign(y[:, None] - y[None, :])
    off = ~torch.eye(n, dtype=torch.bool, device=s.device)
    return F.softplus(-ds * sign)[off].sum() / (n * (n - 1))


def listwise(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """ListNet (Cao et al. 2007): cross-entropy between the top-one distributions softmax(y) and
    softmax(s); targets are standardised by the caller."""
    return -(torch.softmax(y, 0) * torch.log_softmax(s, 0)).sum()


def mse(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(s, y)


LOSSES = {"pairwise": pairwise_logistic, "listwise": listwise, "mse": mse}
