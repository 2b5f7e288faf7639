"""The fused passes behind every zero-shot proxy, and the signals they leave behind.

One network build per architecture feeds all requested proxies:

- the **data pass**: one train-mode forward of the fixed batch, then only the backward passes
  the requested signals need: d(sum logits)/dx (jacob_cov, EPE-NAS), dCE/dW for conv and linear
  weights (grad_norm, snip, plain, grasp) together with dCE/d(conv/linear output) (fisher) in
  one call, and the Hessian-gradient product H·g (grasp) by double backward; forward hooks on
  the selected ReLU modules (:data:`RELU_SELECTIONS`) accumulate the NASWOT kernel on the fly,
  so no activation is stored.
- the **synflow passes**: absolute weights in float64, one all-ones input, BN bypassed
  (``synflow``) or in train mode (``synflow_bn``).
- the **Zen pass**: Gaussian re-initialised weights, Gaussian input and its perturbation.

- the **GradSign pass** (each sample alone) and the **SWAP pass** (a no-grad forward of the first
  16 images), here; the other 2021-2025 proxies' passes sit beside them: :mod:`.az_nas_pass`
  (AZ-NAS; its re-initialisation is reused by VKDNW), :mod:`.vkdnw_pass`, :mod:`.te_nas_pass`,
  :mod:`.zico_meco_pass`.

Passes never modify the module: synflow, Zen, AZ-NAS and VKDNW run the module functionally on
substituted parameters and buffers (``torch.func.functional_call``; VKDNW, in eval mode, on fresh BN
statistics of its own), and the train-mode forwards' only side effect, BN running statistics, is
read by nobody. So a proxy's value does not depend on which other
proxies were fused with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

#: NASWOT kernel signal -> the modules whose input's sign pattern it counts. ``relu_kernel``:
#: every ``nn.ReLU`` (NASLib's ``nwot``). ``relu_kernel_by_name``: every module whose class name
#: contains "ReLU" (the original NASWOT script's ``'ReLU' in str(type(module))``), which in NB201
#: also takes the ``ReLUConvBN`` blocks, so each convolution's input pattern counts twice.
RELU_SELECTIONS: dict[str, Callable[[nn.Module], bool]] = {
    "relu_kernel": lambda m: isinstance(m, nn.ReLU),
    "relu_kernel_by_name": lambda m: "ReLU" in type(m).__name__,
}
DATA_SIGNALS = frozenset({"grads", "fisher", "hg", "jacobian", "labels", *RELU_SELECTIONS})
ZEN_MIXUP_GAMMA = 1e-2


@dataclass
class Signals:
    """What the passes measured on one network; a proxy reads only what it declared."""

    weights: list[torch.Tensor]
    num_classes: int
    labels: torch.Tensor | None = None
    grads: list[torch.Tensor] | None = None
    #: sum over conv/linear layers of fan_in x sum over output channels of the channel's Fisher value
    fisher: float | None = None
    hg: list[torch.Tensor] | None = None
    jacobian: np.ndarray | None = None      # (B, D) float64
    relu_kernel: np.ndarray | None = None          # (B, B) float64, nn.ReLU inputs
    relu_kernel_by_name: np.ndarray | None = None  # (B, B) float64, inputs of modules named *ReLU*
    synflow: float | None = None
    synflow_bn: float | None = None
    zen: float | None = None
    #: sum over conv/linear weight elements of |sum over samples of sign(dCE_i/dw)| (GradSign)
    gradsign: float | None = None
    #: samples -> distinct sample-wise activation patterns of the ReLU outputs of that many samples (SWAP)
    swap: dict[int, float] = field(default_factory=dict)
    #: (input, reinit, precision) -> AZ-NAS's expressivity, progressivity and trainability
    az_nas: dict[tuple[str, bool, str], dict[str, float]] = field(default_factory=dict)
    #: conv and linear FLOPs per image in millions (xautodl's counter; AZ-NAS's complexity)
    conv_linear_flops: float | None = None
    #: TE-NAS's NTK condition number of the batch
    ntk_condition: float | None = None
    #: (samples, batches, size) -> TE-NAS's number of linear regions of that many crops
    linear_regions: dict[tuple[int, int, int], float] = field(default_factory=dict)
    #: batches -> ZiCo over that many chunks of the batch
    zico: dict[int, float] = field(default_factory=dict)
    #: images -> MeCo of a forward of that many images (sample 0 measured)
    meco: dict[int, float] = field(default_factory=dict)
    #: (params, input, reinit) -> VKDNW's dim and entropy
    vkdnw: dict[tuple[int, str, bool], dict[str, float]] = field(default_factory=dict)
    #: parameters of the module in thousands, every parameter counted (SWAP's regulariser)
    params_k: float | None = None
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
    acts: list[tuple[nn.Module, torch.Tensor]] = []
    kernels: dict[str, list[torch.Tensor]] = {s: [] for s in RELU_SELECTIONS if s in needs}
    if "fisher" in needs:
        hooks += [m.register_forward_hook(lambda m, i, o: acts.append((m, o))) for m in layers]
    for module in model.modules():
        counted_in = [s for s in kernels if RELU_SELECTIONS[s](module)]
        if counted_in:
            hooks.append(module.register_forward_hook(_relu_kernel_hook([kernels[s] for s in counted_in])))
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
    for name, parts in kernels.items():  # left None when no module was selected: NASWOT says so
        if parts:
            setattr(sig, name, torch.stack(parts).sum(0).cpu().numpy())
    if "labels" in needs:
        sig.labels = y
    if want_ce:
        want_hg = "hg" in needs
        loss = F.cross_entropy(logits, y)
        grads = torch.autograd.grad(loss, weights + [a for _, a in acts], create_graph=want_hg, allow_unused=True)
        w_grads = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads[:len(weights)])]
        sig.grads = [g.detach() for g in w_grads]
        if "fisher" in needs:
            sig.fisher = _fisher(acts, grads[len(weights):])
        if want_hg:
            z = sum((g.detach() * gf).sum() for g, gf in zip(sig.grads, w_grads) if gf.requires_grad)
            hg = torch.autograd.grad(z, weights, allow_unused=True)
            sig.hg = [torch.zeros_like(w) if h is None else h.detach() for w, h in zip(weights, hg)]


def _relu_kernel_hook(targets: list[list[torch.Tensor]]) -> Callable[..., None]:
    """A forward hook adding the agreement kernel of its module's input signs to each target."""
    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        codes = (inputs[0].detach().flatten(1) > 0).float()
        ones = codes.sum(1, keepdim=True)
        # x x^T + (1-x)(1-x)^T = 2 x x^T - s_i - s_j + D: the number of units where i and j agree
        k = (2 * codes @ codes.T - ones - ones.T + codes.shape[1]).double()
        for target in targets:
            target.append(k)
    return hook


def _fisher(acts: list[tuple[nn.Module, torch.Tensor]], grads: Sequence[torch.Tensor | None]) -> float:
    """zero-cost-nas ``fisher`` after its ``sum_arr``: per output channel F_c = 0.5 * mean over the
    batch of (sum over space of a * dL/da)^2, broadcast over the weight's ``shape[1:]`` (so
    weighted by the layer's fan-in) and summed over channels and layers. A layer whose output
    reaches no loss contributes 0 (the reference's zeros)."""
    total = 0.0
    for (layer, act), g in zip(acts, grads):
        if g is None:
            continue
        prod = act.detach() * g.detach()
        g_nk = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
        fan_in = layer.weight[0].numel()
        total += fan_in * float(g_nk.pow(2).mean(0).mul(0.5).sum())
    return total


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


def gradsign_pass(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """GradSign (cmu-catalyst/GradSign ``grad_conflict``): each sample forwarded alone (a batch of
    one: train-mode BN normalises with that sample's statistics, as the reference's loop does), its
    cross-entropy gradient on every conv/linear weight, and sum_k |sum_i sign(g_ik)|. The sign
    sums are integers, so float32 accumulation is exact (below 2**24 samples)."""
    weights = [m.weight for m in prunable_layers(model)]
    votes = [torch.zeros_like(w) for w in weights]
    for i in range(x.shape[0]):
        loss = F.cross_entropy(model(x[i:i + 1]), y[i:i + 1])
        for vote, g in zip(votes, torch.autograd.grad(loss, weights, allow_unused=True)):
            if g is not None:  # no gradient: sign 0, as the reference's zeros
                vote.add_(torch.sign(g))
    return float(sum(v.abs().double().sum() for v in votes))


def swap_pass(model: nn.Module, x: torch.Tensor) -> float:
    """SWAP (pym1024/SWAP ``SWAP.forward``): one no-grad train-mode forward of ``x`` with a hook
    on every ``nn.ReLU`` whose input is 4-D; each output position of each call is a neuron whose
    pattern is its sign over the samples; the score counts the distinct patterns (the reference's
    ``torch.unique(sign(A).T, dim=0)``), here as packed bit rows."""
    patterns: list[torch.Tensor] = []

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if inputs[0].dim() == 4:
            patterns.append((output.detach().flatten(1) > 0).T.cpu())
    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    if not patterns:
        raise ValueError("SWAP counts the patterns of nn.ReLU layers on 4-D maps; the network has none")
    return float(distinct_rows(torch.cat(patterns).numpy()))  # neurons x samples


def distinct_rows(bits: np.ndarray) -> int:
    """The number of distinct rows of a boolean matrix, each row packed to bytes (SWAP's and TE-NAS's
    pattern counts; the references' ``torch.unique(..., dim=0)``)."""
    packed = np.ascontiguousarray(np.packbits(bits, axis=1))
    return len(np.unique(packed.view(f"V{packed.shape[1]}")))
