"""The ZiCo and MeCo passes.

- ZiCo (SLDGroup/ZiCo @ b0fec65, ``ZeroShotProxy/compute_zico.py``): the batch split into
  ``batches`` consecutive chunks, each a train-mode forward and cross-entropy backward (gradients
  zeroed between chunks); per conv/linear layer, over the chunks, mean |g| and std g (ddof 0) of
  every weight element; score = sum over layers of ln(sum over elements with std != 0 of
  mean|g| / std). A layer whose every std is 0 (or that got no gradient) adds nothing, as the
  reference's zero-sum skip.
- MeCo (HamsterMimi/MeCo @ 0d830dd, ``correlation/NAS_Bench_201.py`` ``get_score``): one forward of
  the first ``batch`` images (the authors: one image), a hook on every module (the network itself
  and every container included, as ``named_modules``), each call's output for sample 0 reshaped
  to channels x positions; the smallest real eigenvalue (general ``eig``) of its channel
  correlation matrix with NaN and inf set to 0; the sum over calls of the finite values, float32.
  The value depends on the module tree (a map returned by k nested modules counts k times).
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .passes import prunable_layers


def zico_score(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batches: int) -> float:
    """ZiCo of the network on ``batches`` consecutive chunks of the batch."""
    if x.shape[0] < batches:
        raise ValueError(f"zico needs a data batch of at least {batches} inputs (it splits it into {batches} "
                         f"chunks); the batch holds {x.shape[0]}")
    weights = [m.weight for m in prunable_layers(model)]
    per_layer: list[list[torch.Tensor]] = [[] for _ in weights]
    for xs, ys in zip(torch.tensor_split(x, batches), torch.tensor_split(y, batches)):
        grads = torch.autograd.grad(F.cross_entropy(model(xs), ys), weights, allow_unused=True)
        for store, g in zip(per_layer, grads):
            if g is not None:
                store.append(g.detach().reshape(-1).double())
    score = 0.0
    for store in per_layer:
        if len(store) < batches:  # no gradient in some chunk: the reference's getgrad has nothing to stack
            continue
        g = torch.stack(store)
        std, mean_abs = g.std(0, unbiased=False), g.abs().mean(0)
        keep = std != 0
        total = float((mean_abs[keep] / std[keep]).sum())
        if total != 0:
            score += float(np.log(total))
    return score


def meco_score(model: nn.Module, x: torch.Tensor) -> float:
    """MeCo of the network on ``x`` (the reference's hooks on every module, sample 0)."""
    values: list[torch.Tensor] = []

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        fea = output[0].detach()
        fea = fea.reshape(fea.shape[0], -1)
        with warnings.catch_warnings():  # one position (pooled maps, logits): NaN, set to 0 below
            warnings.filterwarnings("ignore", message="cov\\(\\): degrees of freedom")
            corr = torch.corrcoef(fea)
        corr[torch.isnan(corr)] = 0
        corr[torch.isinf(corr)] = 0
        values.append(torch.min(torch.real(torch.linalg.eig(corr)[0])))
    hooks = [m.register_forward_hook(hook) for _, m in model.named_modules()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    v = torch.stack(values)
    return float(torch.sum(v[torch.isfinite(v)]))
