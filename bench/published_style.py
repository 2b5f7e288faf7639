"""The published scripts' procedure, rebuilt as a side-by-side baseline for the fused suite.

The issue's yardstick is the published scripts: zero-cost-nas ``find_measures`` for grad_norm,
snip, grasp, fisher, jacob_cov and synflow in one call, then the NASWOT and EPE-NAS scripts. Their
cost depends on the host, so instead of comparing with a figure taken elsewhere this bench runs
their *procedure* (our code, their structure) and archscore's fused suite on the same
architectures in one process, and prints both and the ratio:

- the network as NB201 ships it: torch's ``AvgPool2d`` and every ``none`` edge multiplied by zero;
- zero-cost-nas: a fresh copy of the network per measure (without BN for synflow), its own forward
  and backward each; snip through weight masks, fisher through identity layers with backward
  hooks and each channel's value broadcast over the weight's ``shape[1:]`` before the sum,
  GraSP's two forwards (g without a graph, then H·g by double backward), jacob_cov's
  eigenvalues from ``np.linalg.eig``, synflow on a float64 copy with weights made absolute in
  place and restored;
- NASWOT: hooks on every module with "ReLU" in its type's name (the script's selection, which
  takes NB201's ``ReLUConvBN`` blocks too) adding ``c c^T + (1-c)(1-c)^T`` to a numpy kernel for
  modules seen in a backward, the batch Jacobian (forward + backward) and a second forward that
  fills the kernel; compared with archscore's ``naswot`` under ``relu_modules="name"``;
- EPE-NAS: the batch Jacobian, then per-class correlations in numpy.

Each reconstructed value is checked against archscore's for the same architecture (printed as the
largest relative difference per proxy), so the baseline does the same work, not less or more.

    python -m bench.published_style [--archs 20] [--batch 64] [--threads 2]
"""
from __future__ import annotations

import argparse
import copy
import time
import types

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.stream import machine
from bench.zero_shot import EIGHT
from archscore.engine.run.data import BatchCache
from archscore.engine.run.heap import retain_freed_memory
from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch
from archscore.estimators.zero_shot.epe_nas import epe_score
from archscore.estimators.zero_shot.passes import prunable_layers
from archscore.spaces import get_space
from archscore.spaces.nb201 import NB201Macro
from archscore.spaces.nb201.model import AvgPool3x3, InferCell


def published_network(space, arch, macro: NB201Macro) -> nn.Module:
    net = space.build(arch, macro)
    for module in net.modules():
        if isinstance(module, InferCell):
            module.forward = module.forward_every_edge
            for i, edge in enumerate(module.edges):
                if isinstance(edge, AvgPool3x3):
                    module.edges[i] = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    return net


def _without_bn(net: nn.Module) -> nn.Module:
    copy_ = copy.deepcopy(net)
    for module in list(copy_.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(module, child_name, nn.Identity())
    return copy_


def _apply(layer: nn.Module, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    if isinstance(layer, nn.Conv2d):
        return F.conv2d(x, weight, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups)
    return F.linear(x, weight, layer.bias)


def grad_norm(net, x, y):
    F.cross_entropy(net(x), y).backward()
    return sum(float(m.weight.grad.norm()) for m in prunable_layers(net))


def snip(net, x, y):
    for layer in prunable_layers(net):
        layer.weight_mask = nn.Parameter(torch.ones_like(layer.weight))
        layer.weight.requires_grad = False
        layer.forward = types.MethodType(lambda self, t: _apply(self, t, self.weight * self.weight_mask), layer)
    F.cross_entropy(net(x), y).backward()
    return sum(float(m.weight_mask.grad.abs().sum()) for m in prunable_layers(net))


def grasp(net, x, y):
    weights = [m.weight for m in prunable_layers(net)]
    grad_w = torch.autograd.grad(F.cross_entropy(net(x), y), weights)
    grad_f = torch.autograd.grad(F.cross_entropy(net(x), y), weights, create_graph=True)
    sum((gw.detach() * gf).sum() for gw, gf in zip(grad_w, grad_f)).backward()
    return sum(float((-m.weight.detach() * m.weight.grad).sum()) for m in prunable_layers(net))


def fisher(net, x, y):
    total = [0.0]
    for layer in prunable_layers(net):
        layer.dummy = nn.Identity()

        def forward(self, t):
            self.act = self.dummy(_apply(self, t, self.weight))
            return self.act

        def hook(module, grad_input, grad_output, layer=layer):
            g = (layer.act.detach() * grad_output[0].detach())
            g = g.sum((2, 3)) if g.dim() == 4 else g
            per_channel = 0.5 * g.pow(2).mean(0)
            # zero-cost-nas broadcasts each channel's value over the weight's shape[1:] before sum_arr
            total[0] += float(torch.stack([torch.full(layer.weight.shape[1:], float(v)) for v in per_channel]).sum())

        layer.forward = types.MethodType(forward, layer)
        layer.dummy.register_full_backward_hook(hook)
    F.cross_entropy(net(x), y).backward()
    return total[0]


def _batch_jacobian(net, x):
    x = x.clone().requires_grad_(True)
    out = net(x)
    out.backward(torch.ones_like(out))
    return x.grad.reshape(x.shape[0], -1).detach().numpy()


def jacob_cov(net, x, y):
    jacobian = _batch_jacobian(net, x)
    try:  # zero-cost-nas reports NaN when the eigen-decomposition fails
        with np.errstate(invalid="ignore", divide="ignore"):
            v, _ = np.linalg.eig(np.corrcoef(jacobian))
    except np.linalg.LinAlgError:
        return float("nan")
    return float(-np.sum(np.log(v + 1e-5) + 1.0 / (v + 1e-5)).real)


def synflow(net, x, y):
    net = net.double()
    signs = {}
    with torch.no_grad():
        for name, p in net.state_dict().items():
            signs[name] = torch.sign(p)
            p.abs_()
    out = net(torch.ones((1, *x.shape[1:]), dtype=torch.float64))
    out.sum().backward()
    score = sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for m in prunable_layers(net))
    with torch.no_grad():
        for name, p in net.state_dict().items():
            p.mul_(signs[name])
    with np.errstate(divide="ignore"):
        return float(np.log(score))


ZERO_COST_NAS = {"grad_norm": (grad_norm, True), "snip": (snip, True), "grasp": (grasp, True),
                 "fisher": (fisher, True), "jacob_cov": (jacob_cov, True), "synflow": (synflow, False)}


def find_measures(net, x, y) -> dict[str, float]:
    """zero-cost-nas: every measure on its own copy of the network."""
    out = {}
    for name, (measure, with_bn) in ZERO_COST_NAS.items():
        copy_ = copy.deepcopy(net) if with_bn else _without_bn(net)
        copy_.train()
        copy_.zero_grad()
        out[name] = measure(copy_, x, y)
    return out


def naswot(net, x, y) -> float:
    batch = x.shape[0]
    state = {"K": np.zeros((batch, batch))}

    def forward_hook(module, inputs, output):
        if not getattr(module, "visited_backwards", False):
            return
        c = (inputs[0].reshape(batch, -1) > 0).float()
        state["K"] = state["K"] + (c @ c.t()).numpy() + ((1.0 - c) @ (1.0 - c.t())).numpy()

    def backward_hook(module, grad_input, grad_output):
        module.visited_backwards = True

    handles = []
    for module in net.modules():
        if "ReLU" in str(type(module)):
            handles += [module.register_forward_hook(forward_hook), module.register_full_backward_hook(backward_hook)]
    _batch_jacobian(net, x)
    with torch.no_grad():
        net(x.clone())
    for h in handles:
        h.remove()
    return float(np.linalg.slogdet(state["K"])[1])


def epe_nas(net, x, y) -> float:
    return epe_score(_batch_jacobian(net, x), y.numpy(), 10)


def published(net: nn.Module, x: torch.Tensor, y: torch.Tensor, seconds: dict[str, float]) -> dict[str, float]:
    """The three scripts' scores, adding each script's time to ``seconds``."""
    start = time.perf_counter()
    scores = find_measures(net, x, y)
    seconds["zero-cost-nas, six"] += time.perf_counter() - start
    for name, script in (("naswot", naswot), ("epe_nas", epe_nas)):
        start = time.perf_counter()
        scores[name] = script(copy.deepcopy(net).train(), x, y)
        seconds[name] += time.perf_counter() - start
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    heap = retain_freed_memory()  # as the engine's actors do; the baseline benefits from it too
    space = get_space("nb201")
    archs = list(space.sample(args.archs, np.random.default_rng(0)))
    encodings = np.array([space.encode(a) for a in archs])
    x, y = BatchCache("synthetic", args.batch, (3, 32, 32), 10)(0)  # the batch the fused suite reads
    print(f"machine: {machine()}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"freed heap memory {'kept' if heap else 'returned to the OS'} (for both)")
    print(f"{args.archs} random NB201 archs, C=16 N=5, batch {args.batch}, the eight published proxies\n")

    scorer = Scorer(ScoringPlan("nb201", EIGHT, estimator_config={"naswot": {"relu_modules": "name"}},
                                data="synthetic", batch_size=args.batch), device="cpu")
    scorer.score(WorkBatch(0, 0, encodings[:1], 0))  # warm-up: data batch, kernels
    seconds = dict.fromkeys(("zero-cost-nas, six", "naswot", "epe_nas"), 0.0)
    published(published_network(space, archs[0], NB201Macro()), x, y, dict(seconds))
    reference, ours, fused_seconds = [], {}, 0.0
    for i, arch in enumerate(archs):  # interleaved, so drift on a shared host hits both alike
        torch.manual_seed(0)
        reference.append(published(published_network(space, arch, NB201Macro()), x, y, seconds))
        start = time.perf_counter()
        rows = scorer.score(WorkBatch(i + 1, 0, encodings[i:i + 1], i)).to_pylist()
        fused_seconds += time.perf_counter() - start
        ours.update({(r["input_index"], r["estimator"]): r["score"] for r in rows})
    baseline, fused = sum(seconds.values()) / len(archs), fused_seconds / len(archs)

    for part, total in seconds.items():
        print(f"  {part:22s} {total / len(archs):8.3f} s/arch")
    print(f"{'published procedure':24s} {baseline:8.3f} s/arch")
    print(f"{'archscore, fused':24s} {fused:8.3f} s/arch")
    print(f"speed-up: {baseline / fused:.2f}x\n")
    print("largest relative difference, published procedure vs archscore, per proxy:")
    for name in EIGHT:
        diffs = [abs(ref[name] - ours[i, name]) / max(abs(ours[i, name]), 1e-12)
                 for i, ref in enumerate(reference) if ours[i, name] is not None and np.isfinite(ref[name])]
        print(f"  {name:10s} {max(diffs):.2e}")


if __name__ == "__main__":
    main()
