"""The fused passes behind every zero-shot proxy, and the signals they leave behind.

One network build per architecture feeds all requested proxies:

- the **data pass**: one train-mode forward of the fixed batch, then only the backward passes
  the requested signals need: d(sum logits)/dx (jacob_cov, EPE-NAS), dCE/dW for conv and linear
  weights (grad_norm, snip, plain, grasp) together with dCE/d(conv/linear output) (fisher) in
  one call, and the Hessian-gradient product H·g (grasp) by double backward; forward hooks on
  ReLUs accumulate the NASWOT kernel on the fly, so no activation is stored.
- the **synflow passes**: absolute weights in float64, one all-ones input, BN bypassed
  (``synflow``) or in train mode (``synflow_bn``).
- the **Zen pass**: Gaussian re-initialised weights, Gaussian input and its perturbation.

Passes never modify the module: synflow and Zen run the module functionally on substituted
parameters and buffers (``torch.func.functional_call``), and the data pass's only side effect,
BN running statistics, is read by nobody. So a proxy's value does not depend on which other
proxies were fused with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

DATA_SIGNALS = frozenset({"grads", "fisher", "hg", "jacobian", "relu_kernel", "labels"})
ZEN_MIXUP_GAMMA = 1e-2


@dataclass
class Signals:
    """What the passes measured on one network; a proxy reads only what it declared."""

    weights: list[torch.Tensor]
    num_classes: int
    labels: torch.Tensor | None = None
    grads: list[torch.Tensor] | None = None
    fisher: float | None = None
    hg: list[torch.Tensor] | None = None
    jacobian: np.ndarray | None = None      # (B, D) float64
    relu_kernel: np.ndarray | None = None   # (B, B) float64
    synflow: float | None = None
    synflow_bn: float | None = None
    zen: float | None = None
    #: signal -> message, for signals whose pass raised
    failed: dict[str, str] = field(default_factory=dict)


def named_prunable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Conv and linear layers with their names: the layers every published proxy sums over."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def prunable_layers(model: nn.Module) -> list[nn.Module]:
    return [m for _, m in named_prunable_layers(model)]


def data_pass(model: nn.Module, x: torch.Tensor, y: torch.Tensor, needs: frozenset[str], sig: Signals) -> None:
    layers = prunable_layers(model)
    weights = [m.weight for m in layers]
    hooks = []
    acts: list[torch.Tensor] = []
    kernel: list[torch.Tensor] = []
    if "fisher" in needs:
        hooks += [m.register_forward_hook(lambda m, i, o: acts.append(o)) for m in layers]
    if "relu_kernel" in needs:
        def relu_hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            codes = (inputs[0].detach().flatten(1) > 0).float()
            ones = codes.sum(1, keepdim=True)
            # x x^T + (1-x)(1-x)^T = 2 x x^T - s_i - s_j + D: the number of units where i and j agree
            k = 2 * codes @ codes.T - ones - ones.T + codes.shape[1]
            kernel.append(k.double())
        hooks += [m.register_forward_hook(relu_hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        want_jacobian = "jacobian" in needs
        inputs = x.detach().clone().requires_grad_(want_jacobian)
        logits = model(inputs)
    finally:
        for h in hooks:
            h.remove()
    want_ce = bool(needs & {"grads", "fisher", "hg"})
    if want_jacobian:
        (jac,) = torch.autograd.grad(logits.sum(), inputs, retain_graph=want_ce)
        sig.jacobian = jac.reshape(jac.shape[0], -1).double().cpu().numpy()
    if "relu_kernel" in needs:
        sig.relu_kernel = torch.stack(kernel).sum(0).cpu().numpy()
    if "labels" in needs:
        sig.labels = y
    if want_ce:
        want_hg = "hg" in needs
        loss = F.cross_entropy(logits, y)
        n_acts = len(acts) if "fisher" in needs else 0
        grads = torch.autograd.grad(loss, weights + acts[:n_acts], create_graph=want_hg, allow_unused=True)
        w_grads = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads[:len(weights)])]
        sig.grads = [g.detach() for g in w_grads]
        if n_acts:
            total = 0.0
            for act, g in zip(acts, grads[len(weights):]):
                if g is None:
                    continue
                prod = (act.detach() * g.detach())
                g_nk = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
                total += float(g_nk.pow(2).mean(0).mul(0.5).sum())
            sig.fisher = total
        if want_hg:
            z = sum((g.detach() * gf).sum() for g, gf in zip(sig.grads, w_grads) if gf.requires_grad)
            hg = torch.autograd.grad(z, weights, allow_unused=True)
            sig.hg = [torch.zeros_like(w) if h is None else h.detach() for w, h in zip(weights, hg)]


def _bypass_bn(model: nn.Module) -> list[torch.utils.hooks.RemovableHandle]:
    """Make every BN an identity (NASLib's ``bn=False`` copies do the same to BN.forward)."""
    return [m.register_forward_hook(lambda m, i, o: i[0]) for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def synflow_pass(model: nn.Module, input_shape: tuple[int, ...], with_bn: bool) -> float:
    """sum |W * dR/dW| over conv/linear weights, R = sum of outputs for an all-ones input, float64,
    on absolute values of every parameter (the module itself is left untouched)."""
    params = {n: p.detach().abs().double().requires_grad_(True) for n, p in model.named_parameters()}
    buffers = {n: (b.detach().abs().double() if b.is_floating_point() else b.detach().clone())
               for n, b in model.named_buffers()}
    hooks = [] if with_bn else _bypass_bn(model)
    try:
        ones = torch.ones((1, *input_shape), dtype=torch.float64, device=next(iter(params.values())).device)
        out = functional_call(model, {**params, **buffers}, (ones,))
    finally:
        for h in hooks:
            h.remove()
    weights = [params[f"{n}.weight" if n else "weight"] for n, _ in named_prunable_layers(model)]
    grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads) if g is not None))


def zen_pass(model: nn.Module, input_shape: tuple[int, ...], batch: int, seed: int) -> float:
    """Zen-score (Zen-NAS ``compute_zen_score``, one repeat): Gaussian-initialised weights, BN in
    train mode from fresh statistics, pre-GAP features of a Gaussian input and of the input plus
    ``0.01`` x another Gaussian; log of the mean absolute difference plus sum over BN layers of
    log sqrt(mean running_var)."""
    if not callable(getattr(model, "forward_features", None)):
        raise ValueError(f"zen needs the module's forward_features (pre-GAP map); {type(model).__name__} has none")
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    params = {}
    for name, p in model.named_parameters():
        owner = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        if isinstance(owner, nn.modules.batchnorm._BatchNorm):
            params[name] = torch.ones_like(p) if name.endswith("weight") else torch.zeros_like(p)
        elif name.endswith("bias"):
            params[name] = torch.zeros_like(p)
        else:
            params[name] = torch.randn(p.shape, generator=gen).to(device)
    buffers = {}
    for name, b in model.named_buffers():
        if name.endswith("running_var"):
            buffers[name] = torch.ones_like(b)
        else:
            buffers[name] = torch.zeros_like(b)
    x = torch.randn((batch, *input_shape), generator=gen).to(device)
    x2 = torch.randn((batch, *input_shape), generator=gen).to(device)
    state = {**params, **buffers}
    with torch.no_grad():
        f1 = _call_features(model, state, x)
        f2 = _call_features(model, state, x + ZEN_MIXUP_GAMMA * x2)
        score = torch.log(torch.abs(f1 - f2).sum(dim=tuple(range(1, f1.dim()))).mean())
        for name, value in buffers.items():
            if name.endswith("running_var"):
                score = score + torch.log(torch.sqrt(value.mean()))
    return float(score)


class _Features(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


def _call_features(model: nn.Module, state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    wrapper = _Features(model)
    return functional_call(wrapper, {f"model.{k}": v for k, v in state.items()}, (x,))
