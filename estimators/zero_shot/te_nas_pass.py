"""The TE-NAS passes (VITA-Group/TENAS @ 9df78ff, ``lib/procedures/ntk.py`` and
``linear_region_counter.py``).

- NTK condition number: one train-mode forward of the batch; per sample i, the gradient of the
  sum of its logits on every parameter whose name contains ``weight`` (conv, BN and linear
  weights; no biases); NTK = G G^T over the samples; kappa = lambda_max / lambda_min (``eigvalsh``
  of the upper triangle, as the reference's ``symeig``), no abs, no eps.
- Linear regions: ``batches`` no-grad forwards of ``samples`` crops each, the signs of every
  ``nn.ReLU`` output on a 4-D map concatenated per sample; the count of distinct sample patterns
  over all crops (the reference's ``calc_LR`` sum of 1/multiplicity, here exact).
"""
from __future__ import annotations

import torch
from torch import nn

from .passes import distinct_rows


def ntk_condition(model: nn.Module, x: torch.Tensor) -> float:
    """lambda_max / lambda_min of the empirical NTK of the batch (train mode, BN couples samples)."""
    if x.shape[0] < 2:
        raise ValueError("te_nas_ntk needs a data batch of at least 2 inputs (a 1x1 kernel has condition number 1)")
    weights = [p for n, p in model.named_parameters() if "weight" in n]
    logits = model(x)
    rows = []
    for i in range(x.shape[0]):
        grads = torch.autograd.grad(logits[i].sum(), weights, retain_graph=i + 1 < x.shape[0], allow_unused=True)
        rows.append(torch.cat([g.reshape(-1) for g in grads if g is not None]))  # no gradient: zeros, no dot product
    g = torch.stack(rows)
    eig = torch.linalg.eigvalsh(g @ g.T, UPLO="U")
    return float(eig[-1] / eig[0])


def linear_region_inputs(x: torch.Tensor, count: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``count`` random ``size`` x ``size`` crops of the batch's images (image and offset drawn from ``gen``)."""
    n, _, h, w = x.shape
    if size > min(h, w):
        raise ValueError(f"linear-region crops of {size}x{size} do not fit {h}x{w} images")
    idx = torch.randint(0, n, (count,), generator=gen)
    top = torch.randint(0, h - size + 1, (count,), generator=gen)
    left = torch.randint(0, w - size + 1, (count,), generator=gen)
    return torch.stack([x[i, :, t:t + size, s:s + size] for i, t, s in zip(idx.tolist(), top.tolist(), left.tolist())])


def linear_regions(model: nn.Module, inputs: torch.Tensor, batch: int) -> float:
    """Distinct ReLU sign patterns of ``inputs``, forwarded ``batch`` at a time (train-mode BN per batch)."""
    per_sample: list[torch.Tensor] = []
    for start in range(0, inputs.shape[0], batch):
        parts: list[torch.Tensor] = []

        def hook(module: nn.Module, ins: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            if ins[0].dim() == 4:
                parts.append(out.detach().flatten(1) > 0)
        hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
        try:
            with torch.no_grad():
                model(inputs[start:start + batch])
        finally:
            for h in hooks:
                h.remove()
        if not parts:
            raise ValueError("linear regions count nn.ReLU layers on 4-D maps; the network has none")
        per_sample.append(torch.cat(parts, 1).cpu())
    return float(distinct_rows(torch.cat(per_sample).numpy()))
