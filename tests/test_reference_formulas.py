"""Each zero-shot proxy against its reference computation, restated here in the reference's own
style and independently of ``estimators/zero_shot/passes.py``: fresh copies of the network, the
references' own forwards, backwards and hooks, their per-parameter arrays and their ``sum_arr``.

References: zero-cost-nas (grad_norm, snip, grasp, fisher, jacob_cov, plain, synflow,
synflow_bn), NASLib (l2_norm, epe_nas, ``nwot``), BayesWatch nas-without-training
(``score_networks.py``: the original NASWOT hooks), Zen-NAS (``compute_zen_score``).
Tiny networks (C=4, one cell per stage), a batch of 8 synthetic images, on CPU.
"""
from __future__ import annotations

import copy
import math
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch
from archscore.spaces import get_space
from archscore.spaces.nb201 import parse
from archscore.spaces.nb201.model import InferCell

SEED, BATCH, MACRO = 0, 8, {"C": 4, "N": 1}
ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|",
    # node 1's convolution feeds only `none` edges: its output reaches the loss only through x*0
    "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|skip_connect~2|",
]
PROXIES = ("grad_norm", "snip", "grasp", "fisher", "jacob_cov", "plain", "synflow", "synflow_bn",
           "l2_norm", "epe_nas", "naswot", "zen")


def prunable(net):
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def sum_arr(arr):
    """zero-cost-nas ``find_measures``' reduction, in float64 so that the rounding of a cancelling
    float32 sum (plain, grasp) does not hide or fake a formula difference."""
    return float(sum(t.detach().double().sum() for t in arr))


def copynet(net, bn=True):
    """zero-cost-nas ``get_prunable_copy``: a deep copy; ``bn=False`` makes every BN a no-op."""
    net = copy.deepcopy(net).train()
    if not bn:
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.forward = types.MethodType(lambda self, x: x, m)
    return net


def per_layer(net, metric):
    """zero-cost-nas ``get_layer_metric_array``, with its zeros for a layer that got no gradient."""
    return [metric(m) if m.weight.grad is not None else torch.zeros_like(m.weight) for m in prunable(net)]


def ref_grad_norm(net, x, y):
    net = copynet(net)
    F.cross_entropy(net(x), y).backward()
    return sum_arr(per_layer(net, lambda m: m.weight.grad.norm()))


def ref_plain(net, x, y):
    net = copynet(net)
    F.cross_entropy(net(x), y).backward()
    return sum_arr(per_layer(net, lambda m: m.weight.grad * m.weight))


def ref_snip(net, x, y):
    net = copynet(net)
    for layer in prunable(net):
        layer.weight_mask = nn.Parameter(torch.ones_like(layer.weight))
        layer.weight.requires_grad = False
        if isinstance(layer, nn.Conv2d):
            layer.forward = types.MethodType(lambda self, t: F.conv2d(
                t, self.weight * self.weight_mask, self.bias, self.stride, self.padding, self.dilation,
                self.groups), layer)
        else:
            layer.forward = types.MethodType(lambda self, t: F.linear(t, self.weight * self.weight_mask, self.bias),
                                             layer)
    F.cross_entropy(net(x), y).backward()
    return sum_arr([m.weight_mask.grad.abs() if m.weight_mask.grad is not None else torch.zeros_like(m.weight)
                    for m in prunable(net)])


def ref_grasp(net, x, y):
    net = copynet(net)
    weights = [m.weight for m in prunable(net)]
    grad_w = torch.autograd.grad(F.cross_entropy(net(x), y), weights, allow_unused=True)
    grad_f = torch.autograd.grad(F.cross_entropy(net(x), y), weights, create_graph=True, allow_unused=True)
    z = sum((gw.data * gf).sum() for gw, gf in zip(grad_w, grad_f) if gw is not None)
    z.backward()
    return sum_arr(per_layer(net, lambda m: -m.weight.data * m.weight.grad))


def ref_fisher(net, x, y):
    """zero-cost-nas ``fisher``: the activation is captured after each conv/linear layer, the
    per-channel value is summed in a hook on its gradient, then broadcast over ``weight.shape[1:]``
    (``reshape_elements``) before ``sum_arr``."""
    net = copynet(net)
    layers = prunable(net)
    fisher = {layer: torch.zeros(layer.weight.shape[0]) for layer in layers}

    def capture(layer, inputs, act):
        def on_grad(grad):
            a, g = act.detach(), grad.detach()
            g_nk = (a * g).sum(list(range(2, a.dim()))) if a.dim() > 2 else a * g
            fisher[layer] += g_nk.pow(2).mean(0).mul(0.5)
        act.register_hook(on_grad)

    handles = [layer.register_forward_hook(capture) for layer in layers]
    F.cross_entropy(net(x), y).backward()
    for h in handles:
        h.remove()
    broadcast = [torch.stack([torch.full(layer.weight.shape[1:], float(v)) for v in fisher[layer].abs()])
                 for layer in layers]
    return sum_arr(broadcast)


def batch_jacobian(net, x):
    x = x.clone().requires_grad_(True)
    out = net(x)
    out.backward(torch.ones_like(out))
    return x.grad.detach().reshape(x.shape[0], -1).numpy()


def ref_jacob_cov(net, x, y):
    """zero-cost-nas ``jacob_cov`` (``np.linalg.eig``, real part)."""
    v, _ = np.linalg.eig(np.corrcoef(batch_jacobian(copynet(net), x)))
    k = 1e-5
    return float(np.real(-np.sum(np.log(v + k) + 1.0 / (v + k))))


def ref_synflow(net, x, y, bn=False):
    """zero-cost-nas ``synflow`` (``bn=False``) / ``synflow_bn``; reported as ln, as archscore does."""
    net = copynet(net, bn=bn)
    with torch.no_grad():
        for p in net.state_dict().values():
            p.abs_()
    net.double()
    out = net(torch.ones((1, *x.shape[1:]), dtype=torch.float64))
    out.sum().backward()
    return math.log(sum_arr(per_layer(net, lambda m: (m.weight * m.weight.grad).abs())))


def ref_l2_norm(net, x, y):
    return sum_arr([m.weight.norm() for m in prunable(net)])


def ref_epe_nas(net, x, y):
    """NASLib ``epe_nas`` (EPE-NAS ``eval_score_perclass``, 10 classes)."""
    jacob, labels = batch_jacobian(copynet(net), x), y.numpy()
    per_class = {}
    for i, label in enumerate(labels):
        per_class[label] = np.vstack((per_class[label], jacob[i])) if label in per_class else jacob[i]
    score = 0.0
    for rows in per_class.values():
        score += np.absolute(np.sum(np.log(abs(np.array(np.corrcoef(rows))) + 1e-5)))
    return float(score)


def ref_naswot_naslib(net, x, y):
    """NASLib ``nwot``: one forward, every ``nn.ReLU`` adds c c^T + (1-c)(1-c)^T to K."""
    net = copynet(net)
    K = np.zeros((len(x), len(x)))

    def hook(module, inp, out):
        nonlocal K
        c = (inp[0].view(inp[0].size(0), -1) > 0).float()
        K = K + (c @ c.t()).numpy() + ((1.0 - c) @ (1.0 - c.t())).numpy()

    for m in net.modules():
        if isinstance(m, nn.ReLU):
            m.register_forward_hook(hook)
    net(x.clone())
    return float(np.linalg.slogdet(K)[1])


def ref_naswot_script(net, x, y):
    """BayesWatch ``score_networks.py``: hooks on every module with "ReLU" in ``str(type(module))``,
    counted only once visited by the backward of the batch Jacobian, then a second forward fills
    K. Run on the network as NB201 evaluates it (every edge, ``none`` as x*0, so in the graph)."""
    net = copynet(net)
    for m in net.modules():
        if isinstance(m, InferCell):
            m.forward = m.forward_every_edge
    K = np.zeros((len(x), len(x)))

    def forward_hook(module, inp, out):
        nonlocal K
        if not getattr(module, "visited_backwards", False):
            return
        c = (inp[0].view(inp[0].size(0), -1) > 0).float()
        K = K + (c @ c.t()).numpy() + ((1.0 - c) @ (1.0 - c.t())).numpy()

    def backward_hook(module, grad_input, grad_output):
        module.visited_backwards = True

    for m in net.modules():
        if "ReLU" in str(type(m)):
            m.register_forward_hook(forward_hook)
            m.register_full_backward_hook(backward_hook)
    batch_jacobian(net, x)
    net(x.clone())
    return float(np.linalg.slogdet(K)[1])


def ref_zen(net, x, y):
    """Zen-NAS ``compute_zen_score`` (repeat 1, mixup_gamma 0.01) with Gaussian weights and inputs
    drawn from ``torch.Generator().manual_seed(seed)`` in the order archscore draws them: every
    non-BN weight in ``named_parameters`` order, then the input, then its perturbation."""
    net = copynet(net)
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in net.named_parameters():
            owner = net.get_submodule(name.rsplit(".", 1)[0])
            if isinstance(owner, nn.BatchNorm2d):
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=gen))
        inp = torch.randn((BATCH, *x.shape[1:]), generator=gen)
        mixup = inp + 0.01 * torch.randn((BATCH, *x.shape[1:]), generator=gen)
        out, out_mixup = net.forward_features(inp), net.forward_features(mixup)
        score = torch.log(torch.sum(torch.abs(out - out_mixup), dim=[1, 2, 3]).mean())
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                score = score + torch.log(torch.sqrt(torch.mean(m.running_var)))
    return float(score)


REFERENCES = {
    "grad_norm": (ref_grad_norm, 1e-5), "snip": (ref_snip, 1e-5), "plain": (ref_plain, 1e-5),
    # H·g by double backward through a second forward (as zero-cost-nas) rounds differently from
    # the fused single forward; second-order float32 terms leave 1e-6 (C=8) to 5e-6 (C=16, N=5).
    "grasp": (ref_grasp, 1e-4),
    "fisher": (ref_fisher, 1e-5), "jacob_cov": (ref_jacob_cov, 1e-5), "synflow": (ref_synflow, 1e-9),
    "synflow_bn": (lambda n, x, y: ref_synflow(n, x, y, bn=True), 1e-9), "l2_norm": (ref_l2_norm, 1e-5),
    "epe_nas": (ref_epe_nas, 1e-9), "naswot": (ref_naswot_naslib, 1e-12), "zen": (ref_zen, 1e-5),
    "naswot[name]": (ref_naswot_script, 1e-12),
}


@pytest.fixture(scope="module")
def setting():
    """archscore's scores, and the very network (same seed, same build) and batch they came from."""
    space = get_space("nb201")
    plan = ScoringPlan("nb201", PROXIES, MACRO, data="synthetic", batch_size=BATCH)
    by_name = ScoringPlan("nb201", ("naswot",), MACRO, {"naswot": {"relu_modules": "name"}}, data="synthetic",
                          batch_size=BATCH)
    encodings = np.array([space.encode(parse(a)) for a in ARCHS])
    ours = {(r["input_index"], r["estimator"]): r["score"]
            for r in Scorer(plan).score(WorkBatch(0, SEED, encodings, 0)).to_pylist()}
    ours.update({(r["input_index"], "naswot[name]"): r["score"]
                 for r in Scorer(by_name).score(WorkBatch(0, SEED, encodings, 0)).to_pylist()})
    scorer = Scorer(plan)
    x, y = scorer.ctx.data(SEED)
    nets = []
    for arch in ARCHS:
        torch.manual_seed(SEED)  # as the zero-shot group builds it
        nets.append(space.build(parse(arch), scorer.ctx.macro).train())
    return ours, nets, x.clone(), y.clone()


@pytest.mark.parametrize("name", REFERENCES)
def test_matches_the_reference_computation(name, setting):
    ours, nets, x, y = setting
    reference, rtol = REFERENCES[name]
    for i, net in enumerate(nets):
        expected = reference(net, x, y)
        assert ours[i, name] == pytest.approx(expected, rel=rtol), (ARCHS[i], ours[i, name], expected)


def test_the_two_naswot_countings_differ_by_the_relu_conv_bn_blocks(setting):
    ours, nets, x, y = setting
    for i in range(len(nets)):
        assert ours[i, "naswot[name]"] > ours[i, "naswot"]


@pytest.mark.parametrize("value", ["ReLU", "relu", "", "nn.relu"])
def test_naswot_option_is_validated(value):
    from archscore.estimators import get_estimator

    with pytest.raises(ValueError, match="relu_modules.*'nn.ReLU', 'name'"):
        get_estimator("naswot", relu_modules=value)
