"""NDS ResNet and ResNeXt-A: ranges, encodings, strings, sampling, builder and pycls-style costs."""
import itertools
import json

import numpy as np
import pytest
import torch

from archscore.spaces import get_space
from archscore.spaces.nds import NdsArch

RESNET, RESNEXT = get_space("nds_resnet"), get_space("nds_resnext_a")


def test_sizes_are_the_papers_grids():
    assert RESNET.size == 9 ** 3 * 12 ** 3 == 1_259_712
    assert RESNEXT.size == (5 * 5 * 3 * 3) ** 3 == 11_390_625
    assert RESNET.decode(0) == RESNET.parse("ds=1,1,1;ws=16,16,16")
    assert RESNEXT.decode(RESNEXT.size - 1) == RESNEXT.parse("ds=16,16,16;ws=256,256,256;bms=1.0,1.0,1.0;gs=4,4,4")
    assert [RESNET.encode(a) for a in itertools.islice(RESNET.enumerate(), 5)] == [0, 1, 2, 3, 4]


def _hook_flops(net, size=32):
    total = [0]

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            total[0] += module.weight.numel() * output.shape[2] * output.shape[3]
        elif isinstance(module, torch.nn.Linear):
            total[0] += module.weight.numel()
    for m in net.modules():
        m.register_forward_hook(hook)
    with torch.no_grad():
        net(torch.randn(1, 3, size, size))
    return total[0]


@pytest.mark.parametrize("space", [RESNET, RESNEXT], ids=["resnet", "resnext_a"])
def test_analytic_costs_equal_the_built_modules_counts(space):
    """Params: every parameter; FLOPs: pycls's metric (conv weight.numel() x output positions + fc in*out)."""
    macro = space.macro()
    for arch in space.sample(4, np.random.default_rng(1)):
        net = space.build(arch, macro)
        assert space.params(arch, macro) == sum(p.numel() for p in net.parameters())
        assert space.flops(arch, macro) == _hook_flops(net)


def test_resnet_56_like_setting_counts():
    # ResNet-56 is 9 blocks per stage: not in the grid; 8 blocks (ResNet-50-like depth) is
    arch = RESNET.parse("ds=8,8,8;ws=16,32,64")
    assert RESNET.params(arch, RESNET.macro()) == sum(p.numel() for p in RESNET.build(arch, RESNET.macro()).parameters())


@pytest.mark.parametrize("text, part", [
    ("ds=1,2,5;ws=16,32,64", "stage 3 depth 5"),
    ("ds=1,2;ws=16,32,64", "needs 3 values"),
    ("ds=1,2,4", "lacks ws"),
    ("ds=1,2,4;ws=16,32,64;gs=1,1,1", "no parameter 'gs'"),
    ("ds=1,2,x;ws=16,32,64", "not a number"),
    ("ds", "key=v1,v2,v3"),
    ("{bad json", "not JSON"),
])
def test_malformed_resnet_strings_name_the_part(text, part):
    with pytest.raises(ValueError, match=part):
        RESNET.parse(text)


def test_resnext_values_strings_and_nds_json_keys():
    arch = RESNEXT.parse("ds=1,2,4;ws=16,32,64;bms=0.25,0.5,1.0;gs=1,2,4")
    assert RESNEXT.parse(json.dumps({"ds": [1, 2, 4], "ws": [16, 32, 64], "bot_muls": [0.25, 0.5, 1],
                                     "num_gs": [1, 2, 4]})) == arch
    with pytest.raises(ValueError, match="stage 2 group 3 is not one of"):
        RESNEXT.parse("ds=1,2,4;ws=16,32,64;bms=0.25,0.5,1.0;gs=1,3,4")
    with pytest.raises(ValueError, match="bot_mul 0.3"):
        NdsArch((1, 2, 4), (16, 32, 64), (0.3, 0.5, 1.0), (1, 2, 4), block="bottleneck")
    for bad in (-1, RESNEXT.size, 1.5, "3", True):
        with pytest.raises(ValueError):
            RESNEXT.decode(bad)


def test_sampling_is_uniform_per_stage_parameter():
    archs = RESNEXT.sample(4000, np.random.default_rng(0))
    for name, choices in (("depths", 5), ("widths", 5), ("bot_muls", 3), ("groups", 3)):
        counts = np.unique([getattr(a, name)[1] for a in archs], return_counts=True)[1]
        assert len(counts) == choices and counts.min() > 0.8 * 4000 / choices


def test_grouped_convs_are_initialised_as_pycls_does():
    """He-normal by k*k*out_channels fan-out, groups not divided out (pycls utils/net.py)."""
    torch.manual_seed(0)
    arch = RESNEXT.parse("ds=1,1,1;ws=256,256,256;bms=1.0,1.0,1.0;gs=4,4,4")
    conv = [m for m in RESNEXT.build(arch, RESNEXT.macro()).modules()
            if isinstance(m, torch.nn.Conv2d) and m.groups == 4][0]
    assert conv.weight.std().item() == pytest.approx((2 / (9 * 256)) ** 0.5, rel=0.05)
