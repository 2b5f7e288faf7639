"""The DARTS / NB301 space: genotype strings, NASLib keys, equivalence, sampling, builder and costs.

Reference figures: NASLib's ``zc_nasbench301.json`` (published params/FLOPs of 725 genotypes) and
DARTS's own ``DARTS_V2`` (3.3M parameters at C=36, 20 cells). The builder was also checked,
outside the repo, against quark0/darts ``f276dd3``'s ``NetworkCIFAR`` with the same weights and
batch: equal logits on 20 NASLib genotypes.
"""
import json

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from archscore.spaces import get_space
from archscore.spaces.darts import OP_INDEX, DartsArch
from tests.conftest import data_path

SPACE = get_space("darts")
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")


def naslib_file():
    return json.loads(data_path("naslib-zc", "zc_nasbench301.json").read_text())["cifar10"]


def test_naslib_variant_params_and_flops_equal_all_725_published_values():
    entries = naslib_file()
    archs = [SPACE.parse(k) for k in entries]
    params, flops = SPACE.costs_many(archs, SPACE.macro(cell_bn="naslib"))
    np.testing.assert_allclose(params / 1e6, [e["params"]["score"] for e in entries.values()], rtol=0, atol=1e-12)
    np.testing.assert_allclose(flops / 1e6, [e["flops"]["score"] for e in entries.values()], rtol=0, atol=1e-9)
    default, _ = SPACE.costs_many(archs, SPACE.macro())  # NB301's trained network: affine cell BN
    assert spearmanr(default, params).statistic >= 0.999
    assert (default > params).all()  # the affine BN parameters NASLib's graph leaves out


def test_darts_v2_has_the_papers_parameter_count():
    arch = SPACE.parse(DARTS_V2)
    macro = SPACE.macro(C=36, N=6)  # DARTS's CIFAR-10 evaluation network: 20 cells
    assert SPACE.params(arch, macro) == 3_349_342  # "3.3M" in the paper, without the auxiliary head


@pytest.mark.parametrize("cell_bn", ["affine", "naslib"])
def test_built_module_counts_the_analytic_params_at_full_size(cell_bn):
    macro = SPACE.macro(cell_bn=cell_bn)
    for arch in SPACE.sample(1, np.random.default_rng(0)) + [SPACE.parse(DARTS_V2)]:
        net = SPACE.build(arch, macro)
        assert sum(p.numel() for p in net.parameters()) == SPACE.params(arch, macro)
    with torch.no_grad():
        assert net(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_naslib_keys_and_genotype_text_round_trip():
    for key in list(naslib_file())[:50]:
        arch = SPACE.parse(key)
        assert SPACE.parse(SPACE.to_string(arch)) == arch
        assert str([list(arch.normal), list(arch.reduce)]) == key  # NASLib's compact genotype, pair order kept
    v2 = SPACE.parse(DARTS_V2)
    assert SPACE.parse(DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)")) == v2
    assert v2.normal[7] == (2, OP_INDEX["dil_conv_3x3"]) and len(SPACE.encode(v2)) == 16


def _swap_node_pairs(cell, node):
    cell = list(cell)
    cell[2 * node], cell[2 * node + 1] = cell[2 * node + 1], cell[2 * node]
    return tuple(cell)


def test_equivalent_genotypes_hash_equal_and_others_do_not():
    v2 = SPACE.parse(DARTS_V2)
    h = SPACE.canonical_hash(v2)
    assert SPACE.canonical_hash(DartsArch(_swap_node_pairs(v2.normal, 2), v2.reduce)) == h
    # nodes 2 and 3 of this cell read only the cell inputs, so they can trade places
    a = ((0, 3), (1, 3), (0, 4), (1, 2), (2, 5), (3, 0), (4, 1), (2, 6))
    b = ((0, 4), (1, 2), (0, 3), (1, 3), (3, 5), (2, 0), (4, 1), (3, 6))
    assert SPACE.canonical_hash(DartsArch(a, v2.reduce)) == SPACE.canonical_hash(DartsArch(b, v2.reduce))
    assert SPACE.canonical_hash(DartsArch(a, v2.reduce)) != SPACE.canonical_hash(DartsArch(v2.reduce, a))
    changed = list(a)
    changed[0] = (0, 4)
    assert SPACE.canonical_hash(DartsArch(tuple(changed), v2.reduce)) != SPACE.canonical_hash(DartsArch(a, v2.reduce))
    # node 3 reads node 2: renumbering them is not allowed, so swapping their genes is another cell
    c = ((0, 3), (1, 3), (2, 4), (1, 2), (0, 5), (1, 0), (0, 1), (1, 6))
    d = ((2, 4), (1, 2), (0, 3), (1, 3), (0, 5), (1, 0), (0, 1), (1, 6))
    with pytest.raises(ValueError, match="node 2 input 2"):
        DartsArch(d, v2.reduce)
    assert len({SPACE.canonical_hash(SPACE.parse(k)) for k in naslib_file()}) == 725
    assert SPACE.canonical_hash(DartsArch(c, v2.reduce))


def test_sampling_follows_nb301():
    archs = SPACE.sample(300, np.random.default_rng(0))
    assert len({SPACE.canonical_hash(a) for a in archs}) == 300
    firsts = [cell[2 * i][0] > cell[2 * i + 1][0] for a in archs for cell in a.cells() for i in range(1, 4)]
    assert 0.3 < np.mean(firsts) < 0.7  # inputs in random order, as NASLib draws them
    ops = np.bincount([op for a in archs for cell in a.cells() for _, op in cell], minlength=7)
    assert ops.min() > 0.7 * ops.mean()


@pytest.mark.parametrize("text, part", [
    (DARTS_V2.replace("'dil_conv_3x3', 2", "'dil_conv_3x3', 5"), "node 5 input 5"),
    (DARTS_V2.replace("'dil_conv_3x3', 2", "'none', 2"), "unknown op 'none'"),
    (DARTS_V2.replace("('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)",
                      "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0)", 1), "node 2 takes input 1 twice"),
    (DARTS_V2.replace("reduce_concat=[2, 3, 4, 5]", "reduce_concat=[4, 5]"), "reduce_concat"),
    ("Genotype(normal=[('sep_conv_3x3', 0)], reduce=[('sep_conv_3x3', 0)])", "normal cell needs 8"),
    ("Genotype(normal=[])", "no reduce"),
    ("[[(0, 0)], [(0, 0)]]", "needs 8"),
    ("[[(0, 9)] * 8]", "not a Python literal"),
    ("sep_conv_3x3", "must be a Genotype"),
])
def test_malformed_genotypes_raise_value_error_naming_the_part(text, part):
    with pytest.raises(ValueError, match=part):
        SPACE.parse(text)


@pytest.mark.parametrize("encoding, part", [
    (b"\x00" * 15, "16 bytes"), (bytes([0, 0] + [0, 7] * 7), "input 0 twice"), (bytes([0, 35] + [0] * 14), "input 5"),
    (123, "must be 16 bytes"),
])
def test_malformed_encodings_raise_value_error(encoding, part):
    with pytest.raises(ValueError, match=part):
        SPACE.decode(encoding)


def test_macro_is_validated():
    for bad, part in (({"C": 3}, "even"), ({"cell_bn": "none"}, "cell_bn"), ({"input_size": 30}, "multiple of 4")):
        with pytest.raises(ValueError, match=part):
            SPACE.macro(**bad)
