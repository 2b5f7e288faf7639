"""NAS-Bench-201 acceptance checks against the benchmark's published data."""
import csv
import re
import json
from collections import defaultdict

import numpy as np
import pytest
from scipy.stats import spearmanr

from archscore.spaces import get_space
from archscore.spaces.nb201 import from_naslib_key as naslib_to_arch
from archscore.spaces.nb201 import NB201Arch, NB201Macro
from tests.conftest import data_path

SPACE = get_space("nb201")


def test_string_round_trip_and_encoding_range():
    assert SPACE.decode(0).ops == (0,) * 6 and SPACE.decode(15624).ops == (4,) * 6
    s = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    assert SPACE.to_string(SPACE.parse(s)) == s
    assert [SPACE.encode(a) for a in SPACE.enumerate()] == list(range(15625))


@pytest.mark.parametrize("bad,named", [
    ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv'"),
    ("|none~0|+|none~0|none~1|", "3 '+'-separated"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must read 'op~0'"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 group '|none~0|' must have 2 inputs"),
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 group"),
])
def test_malformed_strings_name_the_offending_part(bad, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        SPACE.parse(bad)


def test_out_of_range_encoding_is_named():
    with pytest.raises(ValueError, match="15625 is out of range 0..15624"):
        SPACE.decode(15625)
    with pytest.raises(ValueError, match="edge 2 op 7"):
        NB201Arch((0, 0, 7, 0, 0, 0))


def test_degenerate_cell_is_a_normal_architecture():
    arch = SPACE.decode(0)  # every edge 'none': the cell outputs zeros
    macro = NB201Macro(C=4, N=1)
    assert SPACE.params(arch, macro) > 0 and SPACE.canonical_string(arch) == "#+#+#"
    import torch
    assert SPACE.build(arch, macro)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_canonical_hash_partition_equals_unique_string_column():
    path = data_path("nb201", "test_acc_200ep_3datasets.csv")
    by_unique, by_hash = defaultdict(set), defaultdict(set)
    with open(path) as fh:
        for row in csv.DictReader(fh):
            arch = SPACE.parse(row["ArchitectureString"])
            by_unique[row["UniqueString"]].add(arch.index)
            by_hash[SPACE.canonical_hash(arch)].add(arch.index)
    assert sum(len(v) for v in by_unique.values()) == 15625
    assert len(by_unique) == 6466
    assert sorted(map(sorted, by_unique.values())) == sorted(map(sorted, by_hash.values()))


def test_dead_paths_do_not_change_the_hash():
    # node 1 feeds only 'none' edges, so its op cannot matter
    a = SPACE.parse("|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|none~1|none~2|")
    b = SPACE.parse("|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|none~1|none~2|")
    assert a != b and SPACE.canonical_hash(a) == SPACE.canonical_hash(b)
    c = SPACE.parse("|nor_conv_1x1~0|+|avg_pool_3x3~0|skip_connect~1|+|skip_connect~0|none~1|skip_connect~2|")
    assert SPACE.canonical_hash(c) != SPACE.canonical_hash(b)


def test_params_equal_published_naslib_and_built_module():
    zc = json.loads(data_path("naslib-zc", "zc_nasbench201.json").read_text())["cifar10"]
    macro = SPACE.macro()
    assert len(zc) > 700
    for key, entry in zc.items():
        arch = naslib_to_arch(key)
        assert abs(SPACE.params(arch, macro) / 1e6 - entry["params"]["score"]) < 1e-6, key
    import torch  # built module agrees too (a few, full size)
    for key in list(zc)[:3]:
        arch = naslib_to_arch(key)
        net = SPACE.build(arch, macro)
        assert sum(p.numel() for p in net.parameters()) == SPACE.params(arch, macro)


def test_flops_range_and_rank_agreement_with_published():
    macro = SPACE.macro()
    _, flops = SPACE.costs_many(list(SPACE.enumerate()), macro)
    assert round(flops.min() / 1e6, 1) == 7.8 and round(flops.max() / 1e6, 1) == 220.1
    zc = json.loads(data_path("naslib-zc", "zc_nasbench201.json").read_text())["cifar10"]
    ours = [SPACE.flops(naslib_to_arch(k), macro) / 1e6 for k in zc]
    theirs = [v["flops"]["score"] for v in zc.values()]
    assert spearmanr(ours, theirs).statistic >= 0.999
    assert all(o <= t for o, t in zip(ours, theirs))  # theirs also count element-wise layers


def test_flops_match_a_hook_count_of_the_built_module():
    """Count conv/linear/pool multiply-adds with hooks, as NB201's counter does."""
    import torch
    from torch import nn

    macro = NB201Macro(C=8, N=2)
    for arch in SPACE.sample(4, np.random.default_rng(7)):
        net = SPACE.build(arch, macro)
        total = [0.0]

        def hook(m, inp, out):
            if isinstance(m, nn.Conv2d):
                total[0] += out.shape[2] * out.shape[3] * m.kernel_size[0] * m.kernel_size[1] * m.in_channels * m.out_channels
            elif isinstance(m, nn.Linear):
                total[0] += m.in_features * m.out_features + m.out_features
            elif isinstance(m, nn.AvgPool2d):
                k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
                total[0] += out.shape[1] * out.shape[2] * out.shape[3] * k * k

        for m in net.modules():
            m.register_forward_hook(hook)
        net(torch.randn(1, 3, 32, 32))
        assert total[0] == SPACE.flops(arch, macro)


def _hessian_times_x(pool, x):
    """d/dx (grad_x sum(pool(x)^3) . x), a Hessian-vector product like GraSP's H·g."""
    import torch

    (grad,) = torch.autograd.grad(pool(x).pow(3).sum(), x, create_graph=True)
    return torch.autograd.grad((grad * x.detach()).sum(), x)[0]


def test_fast_avg_pool_equals_torch_pooling():
    import torch
    import torch.nn.functional as F

    from archscore.spaces.nb201.model import AvgPool3x3

    for shape in ((2, 3, 8, 8), (1, 5, 5, 7)):
        x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
        ours = AvgPool3x3()(x)
        ref = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
        assert torch.allclose(ours, ref, rtol=0, atol=1e-12)
        g1, = torch.autograd.grad(ours.pow(2).sum(), x)
        g2, = torch.autograd.grad(ref.pow(2).sum(), x)
        assert torch.allclose(g1, g2, rtol=0, atol=1e-12)
        # the hand-written adjoint: first and second derivatives (GraSP's H·g needs the second)
        assert torch.autograd.gradcheck(AvgPool3x3(), (x,))
        assert torch.autograd.gradgradcheck(AvgPool3x3(), (x,))
        assert torch.allclose(_hessian_times_x(AvgPool3x3(), x),
                              _hessian_times_x(lambda t: F.avg_pool2d(t, 3, 1, 1, count_include_pad=False), x),
                              rtol=0, atol=1e-10)


@pytest.mark.parametrize("text", [
    "|none~0|+|nor_conv_3x3~0|none~1|+|avg_pool_3x3~0|none~1|skip_connect~2|",
    "|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|",
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
])
def test_cells_skip_none_edges_without_changing_values_or_gradients(text):
    """The cell leaves out ``none`` edges (exact zeros); every value and gradient stays the same
    as summing all six edges, as NB201's cell does."""
    import torch

    from archscore.spaces.nb201.model import InferCell

    torch.manual_seed(0)
    cell = InferCell(SPACE.parse(text).ops, 4).train()
    x = torch.randn(3, 4, 6, 6, requires_grad=True)
    fast, ref = cell(x), cell.forward_every_edge(x)
    assert torch.equal(fast, ref)
    g_fast = torch.autograd.grad(fast.pow(2).sum(), [x, *cell.parameters()], allow_unused=True)
    g_ref = torch.autograd.grad(ref.pow(2).sum(), [x, *cell.parameters()], allow_unused=True)
    for a, b in zip(g_fast, g_ref):
        assert (a is None and b is None) or torch.equal(a, b)
    assert fast.grad_fn is not None  # an all-none cell stays connected: its gradient is zero, not missing
