"""The VKDNW pass (ondratybl/VKDNW @ 6901b65, ``NB201/ZeroShotProxy/compute_vkdnw_score.py``; the
Table-1 runs' code, 779a3a8, samples the same parameters: element 0 of each tensor).

The network re-initialised as AZ-NAS (Kaiming-normal fan-in from the seed, BN weight 1 bias 0) with
fresh BN statistics (mean 0, variance 1: the authors score a just-built network), in eval mode, on a
Gaussian batch drawn after the weights. theta = element 0 of each of the first ``params`` parameter
tensors. Per sample, the Jacobian J_b (classes x theta) of the logits; L from the batch's softmax,
smoothed as the reference (alpha = 0.05 in float16: p (1 - alpha) + alpha / C), its Cholesky-style
factor with L L^T = diag(p) - p p^T; F = mean_b (L_b J_b)^T (L_b J_b) (the reference's L^T L, kept
as written); lambda = singular values of F; q = the 0.1 .. 0.9 quantiles of lambda, t = q / (|q|_1 +
1e-10); entropy = -sum t log(t + 1e-10). ``dim`` = the number of parameter tensors of the network.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, jacrev, vmap

from .az_nas_pass import seeded_state_and_input


def fresh_bn_buffers(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Running statistics of a just-built network in ``state``: mean 0, variance 1, no batches seen."""
    for name, b in model.named_buffers():
        if name.endswith("running_mean") or name.endswith("num_batches_tracked"):
            state[name] = torch.zeros_like(b)
        elif name.endswith("running_var"):
            state[name] = torch.ones_like(b)


def cholesky_covariance(logits: torch.Tensor) -> torch.Tensor:
    """The reference's ``cholesky_covariance``: per sample, lower-triangular L with L L^T equal to the
    covariance of the smoothed softmax (same operations, same float16 constants)."""
    alpha = torch.tensor(0.05, dtype=torch.float16, device=logits.device)
    prob = F.softmax(logits, dim=1) * (1 - alpha) + alpha / logits.shape[1]
    q = torch.ones_like(prob) - torch.cumsum(prob, dim=1)
    q[:, -1] = 0
    q_shift = torch.roll(q, shifts=1, dims=1)
    q_shift[:, 0] = 1
    d = torch.sqrt(prob * q / q_shift)
    L = torch.nan_to_num(-prob.unsqueeze(2) @ (1 / q.unsqueeze(2).transpose(1, 2)), neginf=0.0)
    c = L.shape[1]
    eye = torch.eye(c, device=logits.device, dtype=logits.dtype)
    L = L * (1 - eye) + eye
    L = L * (1 - torch.triu(torch.ones(c, c, device=logits.device, dtype=logits.dtype), diagonal=1))
    return L @ torch.diag_embed(d)


def vkdnw_pass(model: nn.Module, x: torch.Tensor | None, input_shape: tuple[int, ...], batch: int, seed: int,
               params: int = 128, reinit: bool = True) -> dict[str, float]:
    """``{"dim", "entropy"}`` of one network (see the module docstring)."""
    state, x, _ = seeded_state_and_input(model, x, input_shape, batch, seed, reinit)
    fresh_bn_buffers(model, state)
    names = [n for n, _ in model.named_parameters()][:params]
    was_training = model.training
    model.eval()  # the reference's get_fisher: BN on (fresh) running statistics, samples independent
    try:
        logits, jac = element0_jacobian(model, state, names, x)
    finally:
        model.train(was_training)
    jac = cholesky_covariance(logits.detach()) @ jac
    fisher = torch.mean(jac.transpose(1, 2) @ jac, dim=0)
    lambdas = torch.linalg.svd(fisher).S
    quantiles = torch.quantile(lambdas, torch.arange(0.1, 1.0, 0.1, device=lambdas.device))
    t = quantiles / (torch.linalg.norm(quantiles, ord=1).item() + 1e-10)
    return {"dim": float(len(list(model.named_parameters()))), "entropy": float(-(t * torch.log(t + 1e-10)).sum())}


#: module types whose element-0 per-sample derivatives are read off one backward (else: torch.func)
_FAST = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)


def element0_jacobian(model: nn.Module, state: dict[str, torch.Tensor], names: list[str],
                       x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B, C) and J (B, C, P): d logit_bc / d (element 0 of parameter ``names[k]``), eval mode.

    For conv, linear and BN parameters the per-sample derivative of element 0 is a reduction of the
    layer's input (or normalised input) and its output gradient, so C backward passes of the batch
    give J; a network with other parameterised modules takes ``torch.func``'s per-sample Jacobian.
    """
    owners = {}
    for mod_name, module in model.named_modules():
        for p_name, _ in module.named_parameters(recurse=False):
            owners[f"{mod_name}.{p_name}" if mod_name else p_name] = (module, p_name)
    if not all(isinstance(owners[n][0], _FAST) for n in names):
        return element0_jacobian_by_func(model, state, names, x)
    calls: dict[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    wanted = {owners[n][0] for n in names}

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        calls.setdefault(module, []).append((inputs[0].detach(), output))
    hooks = [m.register_forward_hook(hook) for m in wanted]
    try:
        inp = x.detach().clone().requires_grad_(True)  # the graph to every hooked output
        logits = functional_call(model, state, (inp,))
    finally:
        for h in hooks:
            h.remove()
    used = [(m, i, out) for m, cs in calls.items() for i, (_, out) in enumerate(cs)]
    outputs = [out for _, _, out in used]
    columns = []
    for c in range(logits.shape[1]):
        grads = torch.autograd.grad(logits[:, c].sum(), outputs, retain_graph=True, allow_unused=True)
        g_of = {(id(m), i): g for (m, i, _), g in zip(used, grads)}
        col = []
        for n in names:
            module, p_name = owners[n]
            total = torch.zeros(x.shape[0], device=x.device)
            for i, (inp_i, _) in enumerate(calls.get(module, [])):
                g = g_of[id(module), i]
                if g is not None:
                    total = total + _element0_grad(module, p_name, inp_i, g, state, n)
            col.append(total)
        columns.append(torch.stack(col, 1))
    return logits, torch.stack(columns, 1)  # (B, C, P)


def _element0_grad(module: nn.Module, p_name: str, inp: torch.Tensor, g: torch.Tensor,
                   state: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    """Per-sample d(output . g) / d(element 0 of the module's ``p_name``)."""
    if p_name == "bias":  # element 0 of a bias: channel 0 of the output gradient, summed over positions
        return g[:, 0].reshape(g.shape[0], -1).sum(1)
    if isinstance(module, nn.Linear):
        return g[:, 0] * inp[:, 0]
    if isinstance(module, nn.BatchNorm2d):  # eval mode: x_hat = (x - mean) / sqrt(var + eps)
        prefix = name[: -len("weight")]
        x_hat = (inp[:, 0] - state[prefix + "running_mean"][0]) / torch.sqrt(state[prefix + "running_var"][0] + module.eps)
        return (g[:, 0] * x_hat).reshape(g.shape[0], -1).sum(1)
    # conv weight[0, 0, 0, 0]: output channel 0 sees input channel 0 at the kernel's first tap
    ph, pw = module.padding if isinstance(module.padding, tuple) else (module.padding, module.padding)
    sh, sw = module.stride
    dh, dw = module.dilation
    padded = F.pad(inp[:, :1], (pw, pw, ph, ph))
    h, w = g.shape[2], g.shape[3]
    tap = padded[:, 0, 0:(h - 1) * sh + 1:sh, 0:(w - 1) * sw + 1:sw]
    del dh, dw  # the first tap sits at offset 0 whatever the dilation
    return (g[:, 0] * tap).reshape(g.shape[0], -1).sum(1)


def element0_jacobian_by_func(model: nn.Module, state: dict[str, torch.Tensor], names: list[str],
                            x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's route: ``vmap`` over samples of ``jacrev`` in the selected scalars."""
    theta = torch.stack([state[n].reshape(-1)[0] for n in names])

    def logits_of(theta: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
        sub = dict(state)
        for k, n in enumerate(names):
            sub[n] = torch.cat([theta[k:k + 1], state[n].reshape(-1)[1:]]).reshape(state[n].shape)
        return functional_call(model, sub, (sample.unsqueeze(0),)).squeeze(0)

    jac = vmap(jacrev(logits_of), in_dims=(None, 0))(theta, x).detach()
    with torch.no_grad():
        logits = functional_call(model, state, (x,))
    return logits, jac
