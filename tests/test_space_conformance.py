"""The checklist every registered search space must pass (generated from the registry)."""
import numpy as np
import pytest
import torch

from archscore.spaces import SPACES, get_space

NAMES = SPACES.names()


def tiny_macro(space):
    overrides = {k: v for k, v in {"C": 4, "N": 1}.items() if k in space.macro().as_dict()}
    return space.macro(**overrides)


@pytest.mark.parametrize("name", NAMES)
def test_encode_decode_and_string_round_trip(name):
    space = get_space(name)
    for arch in space.sample(50, np.random.default_rng(0)):
        assert space.decode(space.encode(arch)) == arch
        assert space.parse(space.to_string(arch)) == arch
        assert isinstance(space.encode(arch), (int, bytes))


@pytest.mark.parametrize("name", NAMES)
def test_sample_is_distinct_and_seeded(name):
    space = get_space(name)
    a = space.sample(40, np.random.default_rng(1))
    assert len(set(a)) == 40
    assert a == space.sample(40, np.random.default_rng(1))


@pytest.mark.parametrize("name", NAMES)
def test_hash_is_stable_and_short(name):
    space = get_space(name)
    arch = space.sample(1, np.random.default_rng(2))[0]
    h = space.canonical_hash(arch)
    assert h == space.canonical_hash(space.decode(space.encode(arch))) and len(h) == 16


@pytest.mark.parametrize("name", NAMES)
def test_malformed_input_raises_value_error(name):
    space = get_space(name)
    for bad in ("", "garbage", "|x|"):
        with pytest.raises(ValueError):
            space.parse(bad)
    for bad in (-1, 10**30, 1.5, None, True):
        with pytest.raises(ValueError):
            space.decode(bad)


@pytest.mark.parametrize("name", NAMES)
def test_analytic_params_match_built_module_and_forward_works(name):
    space = get_space(name)
    macro = tiny_macro(space)
    for arch in space.sample(5, np.random.default_rng(3)):
        net = space.build(arch, macro)
        assert space.params(arch, macro) == sum(p.numel() for p in net.parameters())
        x = torch.randn(2, macro.in_channels, macro.input_size, macro.input_size)
        out = net(x)
        assert out.shape == (2, macro.num_classes) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_batched_forms_agree_with_scalar_ones(name):
    space = get_space(name)
    macro = tiny_macro(space)
    archs = space.sample(30, np.random.default_rng(4))
    strings, hashes = space.describe_many(archs)
    params, flops = space.costs_many(archs, macro)
    for a, s, h, p, f in zip(archs, strings, hashes, params, flops):
        assert (s, h) == (space.to_string(a), space.canonical_hash(a))
        assert p == space.params(a, macro) and f == space.flops(a, macro)
    decoded, errors = space.decode_many([space.encode(a) for a in archs] + ["bad"])
    assert decoded[:-1] == archs and errors[-1] and decoded[-1] is None
