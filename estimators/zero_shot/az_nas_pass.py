"""The AZ-NAS pass (cvlab-yonsei/AZ-NAS ``NB201/ZeroShotProxy/compute_az_nas_score.py``).

The network re-initialised from the seed (Kaiming-normal fan-in for conv and linear weights, zero
biases, BN weight 1 and bias 0, drawn in module order as the reference's ``model.apply``), run
functionally so the module is left untouched, on a Gaussian batch (the authors' NB201 input; or
the data batch), train-mode BN. Its cell features F_0 (stem) .. F_L give:

- expressivity: sum over maps of the entropy of the normalised eigenvalues of the channel
  covariance (centred over batch and positions), -p log(p + 1e-8);
- progressivity: min over i of (E_{i+1} - E_i);
- trainability: mean over i = L..1 of -s - 1/(s + 1e-6) + 2, s the largest singular value of
  g_in^T g_out / (B H W) with g_out a random +-1 map and g_in = dF_i/dF_{i-1}^T g_out (pixel-
  unshuffled at a reduction); an identity pair (g_in == g_out) scores -inf.

NaN becomes -inf, as the reference. Random draws, in the reference's order: the weights, the input,
one +-1 map per pair from the last pair to the first.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.func import functional_call


class _CellFeatures(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.model.cell_features(x)


def kaiming_fan_in_state(model: nn.Module, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """The reference's ``kaiming_normal_fanin_init`` as substituted parameters and the untouched buffers."""
    state: dict[str, torch.Tensor] = {}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            fan_in = module.weight[0].numel()
            std = math.sqrt(2.0) / math.sqrt(fan_in)
            w = torch.empty(module.weight.shape, dtype=module.weight.dtype).normal_(0.0, std, generator=gen)
            state[prefix + "weight"] = w.to(module.weight.device)
            if module.bias is not None:
                state[prefix + "bias"] = torch.zeros_like(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)) and module.affine:
            state[prefix + "weight"] = torch.ones_like(module.weight)
            state[prefix + "bias"] = torch.zeros_like(module.bias)
    for name, p in model.named_parameters():
        state.setdefault(name, p.detach())
    for name, b in model.named_buffers():
        state.setdefault(name, b.detach().clone())
    return state


def seeded_state_and_input(model: nn.Module, x: torch.Tensor | None, input_shape: tuple[int, ...], batch: int,
                           seed: int, reinit: bool) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Generator]:
    """AZ-NAS's and VKDNW's prologue, in their order of draws: the Kaiming re-initialisation (or the
    build's own weights), then a Gaussian batch unless ``x`` is given; the generator, to draw on."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    if reinit:
        state = kaiming_fan_in_state(model, gen)
    else:
        state = {**{n: p.detach() for n, p in model.named_parameters()},
                 **{n: b.detach().clone() for n, b in model.named_buffers()}}
    if x is None:
        x = torch.randn((batch, *input_shape), generator=gen).to(next(model.parameters()).device)
    return state, x, gen


def az_nas_pass(model: nn.Module, x: torch.Tensor | None, input_shape: tuple[int, ...], batch: int,
                seed: int, reinit: bool = True, precision: str = "float32") -> dict[str, float]:
    """Expressivity, progressivity and trainability of one network (see the module docstring);
    ``precision`` is the dtype of the covariance and its eigenvalues (the reference: float32).

    Raises:
        ValueError: the network has no ``cell_features``.
    """
    if not callable(getattr(model, "cell_features", None)):
        raise ValueError(f"az_nas needs the network's cell_features (stem and cell outputs); "
                         f"{type(model).__name__} has none")
    device = next(model.parameters()).device
    state, x, gen = seeded_state_and_input(model, x, input_shape, batch, seed, reinit)
    # the graph from each feature to the next is all trainability needs: the input carries it
    x = x.detach().clone().requires_grad_(True)
    feats = functional_call(_CellFeatures(model), {f"model.{k}": v for k, v in state.items()}, (x,))
    scores = []
    for f in feats:
        b, c, h, w = f.shape
        flat = f.detach().permute(0, 2, 3, 1).reshape(b * h * w, c).to(getattr(torch, precision))
        flat = flat - flat.mean(dim=0, keepdim=True)
        s = torch.linalg.eigvalsh(flat.T @ flat / flat.shape[0])
        p = s / s.sum()
        scores.append(float((-p * torch.log(p + 1e-8)).sum()))
    expressivity_scores = np.array(scores)
    progressivity = float(np.min(expressivity_scores[1:] - expressivity_scores[:-1])) if len(scores) > 1 else np.nan
    pair_scores = []
    for i in reversed(range(1, len(feats))):
        f_out, f_in = feats[i], feats[i - 1]
        g_out = (torch.bernoulli(torch.full(f_out.shape, 0.5), generator=gen).to(device) - 0.5) * 2
        (g_in,) = torch.autograd.grad(f_out, f_in, g_out, retain_graph=True, allow_unused=True)
        if g_in is None:
            g_in = torch.zeros_like(f_in)
        if g_out.shape == g_in.shape and torch.equal(g_in, g_out):
            pair_scores.append(-np.inf)
            continue
        if g_out.shape[2:] != g_in.shape[2:]:
            g_in = nn.functional.pixel_unshuffle(g_in, int(g_in.shape[2] / g_out.shape[2]))
        bo, co, ho, wo = g_out.shape
        m = g_in.permute(0, 2, 3, 1).reshape(-1, g_in.shape[1]).T @ g_out.permute(0, 2, 3, 1).reshape(-1, co)
        m = m / (bo * ho * wo)
        if m.shape[0] < m.shape[1]:
            m = m.T
        top = float(torch.linalg.svdvals(m).max())
        pair_scores.append(-top - 1 / (top + 1e-6) + 2)
    trainability = float(np.mean(pair_scores)) if pair_scores else np.nan
    nan_to_inf = lambda v: -np.inf if np.isnan(v) else float(v)  # noqa: E731  (the reference's rule)
    return {"expressivity": nan_to_inf(float(np.sum(expressivity_scores))),
            "progressivity": nan_to_inf(progressivity), "trainability": nan_to_inf(trainability)}


def conv_linear_flops(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """FLOPs per image in millions counting conv and linear layers only (xautodl ``get_model_infos``,
    whose counts NB201's API publishes and AZ-NAS's complexity term ranks): k*k*Cin*Cout/groups*H*W
    (+Cout*H*W with a bias) per conv, in*out (+out) per linear."""
    total = [0.0]

    def conv_hook(m: nn.Conv2d, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        positions = out.shape[2] * out.shape[3]
        per = m.kernel_size[0] * m.kernel_size[1] * m.in_channels * m.out_channels / m.groups
        total[0] += per * positions + (m.out_channels * positions if m.bias is not None else 0)

    def linear_hook(m: nn.Linear, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        total[0] += m.in_features * m.out_features + (m.out_features if m.bias is not None else 0)
    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    try:
        with torch.no_grad():
            was = model.training
            model.eval()  # one image: eval-mode BN, so no batch statistics are needed
            model(torch.zeros((1, *input_shape), device=next(model.parameters()).device))
            model.train(was)
    finally:
        for h in hooks:
            h.remove()
    return total[0] / 1e6
