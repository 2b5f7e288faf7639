"""GRAF features (Kadlecová et al., ICML 2024) equal zc_combine's own output on hand-checked cells.

The vectors below were printed by zc_combine's feature code (456a12c = ``paper``, 5a14948 =
``head``) on these cells (docs/research/issue-23-graf.md §3); every value of every space and both
variants is compared by ``bench/reference/graf_vs_zc_combine.py`` (bench/results/reference_graf.txt).
Each family is read by its zc_combine column names, in the config's subset order.
"""
from __future__ import annotations

import numpy as np
import pytest

from archscore.estimators.predictors import FEATURIZERS, Graf, make_featurizer
from archscore.spaces import get_space


def _features(space_name: str, text: str, variant: str) -> dict[str, float]:
    space = get_space(space_name)
    row = space.graf([space.parse(text)], variant)
    assert row.shape == (1, len(space.graf_names()))
    return dict(zip(space.graf_names(), row[0].tolist()))


def _family(feats: dict[str, float], prefix: str, suffix: str = "") -> list[float]:
    return [v for k, v in feats.items() if k.startswith(prefix) and k.endswith(suffix)]


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


NB201 = {
    "A": ("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|none~1|nor_conv_1x1~2|", {
        "op_count": "0,2,2,1,1",
        "min_path": "1,1,1,2,1,1,1,2,1,1,5,1,1,5,2,1,5,1,1,5,2,1,5,5,1,5,5,5,1,5,5",
        "head": "-1,-1,1,-1,-1,-1,1,-1,-1,2,2,-1,1,1,-1,2,2,-1,1,1,-1,2,2,2,3,2,2,2,3,3,3",
        "paper": "0,1,1,1,0,1,1,1,0,2,2,1,1,1,2,2,2,1,1,1,2,2,2,2,3,2,2,2,3,3,3",
        "in_degree": "0,1,2,0,0,1,2,0,0,3,1,1,2,2,0,3,1,1,2,2,0,3,3,1,2,3,3,1,2,3,3",
        "out_degree": "0,1,1,1,0,1,1,1,0,2,2,1,2,1,1,2,2,1,2,1,1,3,2,2,2,3,2,2,2,3,3",
        "avg": "0,.5,.5,.25,.25,.5,.5,.25,.25,1,.75,.75,.75,.75,.5,1,.75,.75,.75,.75,.5,1.25,1.25,1,1,1.25,1.25,1,1,"
               "1.5,1.5"}),
    "B": ("|avg_pool_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_1x1~2|", {
        "op_count": "1,1,0,2,2",
        "min_path": "1,1,1,1,2,1,1,1,2,1,1,2,1,2,1,5,1,2,1,2,1,5,2,1,5,5,2,1,5,5,5",
        "head": "-1,-1,-1,1,2,-1,-1,2,2,-1,1,2,1,2,2,-1,2,2,2,2,2,1,2,3,2,2,2,3,2,3,3",
        "paper": "1,0,0,1,2,1,1,2,2,0,1,2,1,2,2,1,2,2,2,2,2,1,2,3,2,2,2,3,2,3,3",
        "in_degree": "1,0,0,1,1,1,1,2,2,0,1,1,1,1,2,1,2,2,2,2,3,1,1,2,2,2,2,3,3,2,3",
        "out_degree": "0,0,0,2,1,0,0,2,1,0,2,1,2,1,3,0,2,1,2,1,3,2,1,3,3,2,1,3,3,3,3",
        "avg": ".25,.25,0,.5,.5,.5,.25,.75,.75,.25,.75,.75,.5,.5,1,.5,1,1,.75,.75,1.25,.75,.75,1.25,1,1,1,1.5,1.25,"
               "1.25,1.5"}),
}


@pytest.mark.parametrize("variant", ["paper", "head"])
@pytest.mark.parametrize("cell", sorted(NB201))
def test_nb201_graf_equals_zc_combine(cell: str, variant: str) -> None:
    text, want = NB201[cell]
    f = _features("nb201", text, variant)
    assert _family(f, "op_count_") == _floats(want["op_count"])
    assert _family(f, "min_path_len_banned_") == _floats(want["min_path"])
    assert _family(f, "max_op_on_path_allowed_") == _floats(want[variant])
    assert _family(f, "node_degree_allowed_", "_in_degree") == _floats(want["in_degree"])
    assert _family(f, "node_degree_allowed_", "_out_degree") == _floats(want["out_degree"])
    assert _family(f, "node_degree_allowed_", "_avg_in") == _floats(want["avg"])
    assert _family(f, "node_degree_allowed_", "_avg_out") == _floats(want["avg"])  # equal by zc_combine's definition


#: edges 0->1, 0->2, 1->3, 2->4, 3->5, 4->5, 4->6, 5->6; ops in, 3x3, 1x1, 3x3, max-pool, 1x1, out (NASLib's key)
NB101_KEY = [0, 1, 1, 0, 0, 0, 0,
             0, 0, 0, 1, 0, 0, 0,
             0, 0, 0, 0, 1, 0, 0,
             0, 0, 0, 0, 0, 1, 0,
             0, 0, 0, 0, 0, 1, 1,
             0, 0, 0, 0, 0, 0, 1,
             0, 0, 0, 0, 0, 0, 0,
             0, 4, 3, 4, 2, 3, 1]


@pytest.mark.parametrize("variant", ["paper", "head"])
def test_nb101_graf_equals_zc_combine(variant: str) -> None:
    f = _features("nb101", str(tuple(NB101_KEY)), variant)
    assert _family(f, "op_count_") == _floats("1,1,1,2,2")
    assert _family(f, "min_path_len_banned_") == _floats("3,4,7,3,7,7,7")
    assert _family(f, "max_op_on_path_allowed_") == _floats({"paper": "1,2,2,3,2,3,3", "head": "-4,-4,-4,1,-4,1,1"}[variant])
    assert _family(f, "node_degree_allowed_", "_in_degree") == _floats("1,1,0,2,1,1,2")
    assert _family(f, "node_degree_allowed_", "_out_degree") == _floats("0,1,1,1,1,2,2")
    np.testing.assert_allclose(_family(f, "node_degree_allowed_", "_avg_in"),
                               [2 / 7, 2 / 7, 2 / 7, 4 / 7, 4 / 7, 4 / 7, 6 / 7])
    np.testing.assert_allclose(_family(f, "node_degree_allowed_", "_avg_out"),
                               [1 / 7, 3 / 7, 2 / 7, 4 / 7, 3 / 7, 5 / 7, 6 / 7])


#: DARTS's DARTS_V2 in NASLib's compact form (input, op index)
DARTS_V2 = "[[(0,3),(1,3),(0,3),(1,3),(1,3),(0,2),(0,2),(2,5)], [(0,0),(1,0),(2,2),(1,0),(0,0),(2,2),(2,2),(1,0)]]"
SUBSETS = ("(3)", "(4)", "(1, 2, 3, 4, 5, 6, 7)")


@pytest.mark.parametrize("variant", ["paper", "head"])
def test_darts_graf_equals_zc_combine(variant: str) -> None:
    f = _features("darts", DARTS_V2, variant)
    assert _family(f, "op_count_") == _floats("4,0,0,2,5,0,1,0,4,5,0,3,0,0,0,0")
    paths = {"paper": {"normal_c_{k-2}": "1,1,2", "normal_c_{k-1}": "0,1,2", "reduce_c_{k-2}": "1,0,2",
                       "reduce_c_{k-1}": "1,0,2"},
             "head": {"normal_c_{k-2}": "2,2,3", "normal_c_{k-1}": "-1,2,3", "reduce_c_{k-2}": "-1,-1,3",
                      "reduce_c_{k-1}": "-1,-1,3"}}[variant]
    for where, want in paths.items():
        assert [f[f"max_op_on_path_allowed_{s}_{where}"] for s in SUBSETS] == _floats(want), where
    degrees = {"normal_c_{k-2}_degree": "2,2,4", "normal_c_{k-1}_degree": "0,3,3", "reduce_c_{k-2}_degree": "0,0,2",
               "reduce_c_{k-1}_degree": "0,0,3"}
    for where, want in degrees.items():
        assert [f[f"node_degree_allowed_{s}_{where}"] for s in SUBSETS] == _floats(want), where
    for cell, avg in (("normal", [2 / 7, 5 / 7, 8 / 7]), ("reduce", [3 / 7, 0, 8 / 7])):
        for side in ("avg_in", "avg_out"):
            np.testing.assert_allclose([f[f"node_degree_allowed_{s}_{cell}_{side}"] for s in SUBSETS], avg)


@pytest.mark.parametrize("space_name, count", [("nb201", 191), ("nb101", 47), ("darts", 1540)])
def test_graf_has_zc_combine_config_width(space_name: str, count: int) -> None:
    space = get_space(space_name)
    names = space.graf_names()
    assert len(names) == len(set(names)) == count
    archs = space.sample(5, np.random.default_rng(0))
    for variant in ("paper", "head"):
        x = Graf(variant).transform(space, archs)
        assert x.shape == (5, count) and np.isfinite(x).all()


def test_graf_variant_and_spec_parsing() -> None:
    assert make_featurizer("graf").describe() == "graf(paper)"
    assert make_featurizer("graf:head") == Graf("head")
    with pytest.raises(ValueError, match="variant"):
        Graf("newest")
    with pytest.raises(ValueError, match="variant"):
        make_featurizer("graf:newest")
    with pytest.raises(ValueError, match="only graf takes an option"):
        make_featurizer("encoding:x")
    assert FEATURIZERS.get("graf") is Graf


def test_graf_on_a_space_without_it_says_why() -> None:
    for name in ("nds_resnet", "nds_resnext_a"):
        space = get_space(name)
        with pytest.raises(ValueError, match="defined for .*nb201.*residual blocks"):
            Graf().transform(space, space.sample(2, np.random.default_rng(0)))
