"""Learned predictors: the conformance checklist generated from the registry (every predictor on
every space its features take), the featurizers' definitions, and the engine path: fit from a
truth file and a sweep's zero-shot scores, score through the sweep on CPU actors, evaluate
without the training split."""
from __future__ import annotations

import functools
import pickle

import numpy as np
import pytest

from archscore.estimators.predictors import (FEATURIZERS, PREDICTORS, FeatureSet, NotFittedError, RenasTensor,
                                             ZeroShotFeatures, choose_by_cv, clone, load, make_featurizer)

from archscore.spaces import get_space, list_spaces

TINY = {"renas": {"epochs": 3, "batch_size": 16}, "mlp": {"epochs": 3, "batch_size": 16},
        "gbt": {"max_iter": 10, "cv_folds": 2}, "rf": {"n_estimators": 10, "cv_folds": 2}}
#: enough capacity to learn a smooth target from 100 labels
LEARNS = {"renas": {"epochs": 30, "batch_size": 64}, "mlp": {"epochs": 30, "batch_size": 64}, "gbt": {"max_iter": 50},
          "rf": {"n_estimators": 50}}


def _nb101_cells(n: int, rng: np.random.Generator) -> list:
    """Random valid NB101 cells without the enumeration table (cheap)."""
    from archscore.spaces.nb101 import from_spec

    ops = ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]
    out = []
    while len(out) < n:
        v = int(rng.integers(3, 8))
        m = np.triu(rng.integers(0, 2, (v, v)), 1)
        try:
            out.append(from_spec(m.tolist(), ["input", *rng.choice(ops, v - 2).tolist(), "output"]))
        except ValueError:
            continue
    return out


@functools.lru_cache(maxsize=None)
def archs_of(space_name: str, n: int = 24) -> tuple:
    space, rng = get_space(space_name), np.random.default_rng(0)
    return tuple(_nb101_cells(n, rng) if space_name == "nb101" else space.sample(n, rng))


def targets(space_name: str, archs) -> np.ndarray:
    """A learnable target: log params plus a fixed per-architecture jitter."""
    space = get_space(space_name)
    p = np.log1p(space.costs_many(list(archs), space.macro())[0])
    return p + np.random.default_rng(1).normal(0, 0.01, len(archs))


def features_for(model: str) -> str:
    return "renas" if model == "renas" else "encoding"


CASES = [(m, s) for m in PREDICTORS.names() for s in list_spaces()
         if features_for(m) != "renas" or get_space(s).provides("renas_tensor")]


def fitted(model: str, space: str, **extra):
    archs = archs_of(space)
    return PREDICTORS.get(model)(space=space, features=features_for(model), **{**TINY[model], **extra}).fit(
        archs[:16], targets(space, archs[:16]))


@pytest.mark.parametrize("model, space", CASES)
def test_fit_returns_self_and_predicts_one_finite_float_each(model, space):
    archs = archs_of(space)
    p = PREDICTORS.get(model)(space=space, features=features_for(model), **TINY[model])
    assert p.fit(archs[:16], targets(space, archs[:16])) is p
    pred = p.predict(archs)
    assert pred.shape == (len(archs),) and pred.dtype == np.float64 and np.isfinite(pred).all()
    assert p.predict([]).shape == (0,)
    assert np.array_equal(p.predict([get_space(space).to_string(a) for a in archs[:4]]), pred[:4])  # strings too


@pytest.mark.parametrize("model, space", CASES)
def test_a_score_does_not_depend_on_the_other_architectures_in_the_call(model, space):
    """The product guarantees this bit for bit (work batches, resume and batch size give the same
    rows), so the comparison is exact: alone, in reverse order, and among a subset."""
    p, archs = fitted(model, space), list(archs_of(space))
    pred = p.predict(archs)
    assert np.array_equal(np.concatenate([p.predict([a]) for a in archs]), pred)
    assert np.array_equal(p.predict(archs[::-1])[::-1], pred)
    assert np.array_equal(p.predict(archs[3:7]), pred[3:7])


@pytest.mark.parametrize("model, space", CASES)
def test_params_clone_and_determinism(model, space):
    p = fitted(model, space)
    params = p.get_params()
    assert set(params) == set(PREDICTORS.get(model)._param_names())
    c = clone(p)
    assert c.get_params() == params and not hasattr(c, "features_")
    with pytest.raises(NotFittedError, match="fit first"):
        c.predict(archs_of(space)[:2])
    again = fitted(model, space)
    assert np.array_equal(again.predict(archs_of(space)), p.predict(archs_of(space)))  # same seed, same bits
    with pytest.raises(ValueError, match="no parameter"):
        c.set_params(nonsense=1)


@pytest.mark.parametrize("model, space", CASES)
def test_save_load_round_trip_predicts_the_same(model, space, tmp_path):
    p = fitted(model, space)
    path = p.save(tmp_path / "pred", meta={"note": "x"})
    q, meta = load(tmp_path / "pred")
    assert meta["note"] == "x" and meta["version"]
    assert q.get_params() == p.get_params()
    assert np.array_equal(q.predict(archs_of(space)), p.predict(archs_of(space)))
    assert path.name == "predictor.pkl" and not list(tmp_path.glob("pred/.predictor.pkl.*"))  # atomic: no temp left


@pytest.mark.parametrize("model", PREDICTORS.names())
def test_a_pairwise_model_ranks_better_than_chance(model):
    """Learning happens: tau on held-out architectures of a target made of the features."""
    from scipy.stats import kendalltau

    archs = archs_of("nb201", 200)
    y = targets("nb201", archs)
    p = PREDICTORS.get(model)(space="nb201", features=features_for(model), seed=0, **LEARNS[model])
    p.fit(archs[:100], y[:100])
    assert kendalltau(p.predict(archs[100:]), y[100:]).statistic > 0.5


def test_bad_inputs_are_refused_naming_the_problem():
    archs = archs_of("nb201")
    gbt = PREDICTORS.get("gbt")
    with pytest.raises(ValueError, match="one target per architecture"):
        gbt().fit(archs[:4], [1.0, 2.0])
    with pytest.raises(ValueError, match="at least 2"):
        gbt().fit(archs[:1], [1.0])
    with pytest.raises(ValueError, match="not finite"):
        gbt().fit(archs[:3], [1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="needs the renas tensor"):
        PREDICTORS.get("renas")(features="encoding", epochs=1).fit(archs[:4], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="defined for darts, nb101, nb201, not"):
        PREDICTORS.get("renas")(space="nds_resnet", epochs=1).fit(archs_of("nds_resnet")[:4], [1, 2, 3, 4])
    with pytest.raises(ValueError, match="loss must be one of"):
        PREDICTORS.get("mlp")(loss="hinge").fit(archs[:4], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="at most one tensor"):
        FeatureSet.of("renas,renas")
    with pytest.raises(ValueError, match="zse:PATH"):
        FeatureSet.of("zse")
    with pytest.raises(KeyError):
        FeatureSet.of("encodin")


@pytest.mark.parametrize("loss", ["pairwise", "listwise", "mse"])
def test_mlp_losses_train(loss):
    archs = archs_of("nb201", 64)
    p = PREDICTORS.get("mlp")(loss=loss, epochs=5, batch_size=32).fit(archs, targets("nb201", archs))
    assert np.isfinite(p.predict(archs)).all()


def test_pairwise_loss_is_renas_formula():
    import torch

    from archscore.estimators.predictors.losses import pairwise_logistic

    s, y = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([1.0, 0.0, 1.0])
    want = np.mean([np.log1p(np.exp(-(s[i] - s[j]).item() * np.sign((y[i] - y[j]).item())))
                    for i in range(3) for j in range(3) if i != j])
    assert pairwise_logistic(s, y).item() == pytest.approx(want, rel=1e-6)


# -- featurizers ---------------------------------------------------------------------------------
def test_registries_hold_the_built_ins():
    assert set(PREDICTORS.names()) >= {"renas", "mlp", "gbt", "rf"}
    assert set(FEATURIZERS.names()) >= {"encoding", "renas", "graf", "zse"}


@pytest.mark.parametrize("space, width", [("nb201", 30), ("nb101", 21 + 15), ("darts", 2 * 14 * 7),
                                          ("nds_resnet", None), ("nds_resnext_a", None)])
def test_encoding_is_one_hot_of_fixed_width(space, width):
    sp = get_space(space)
    x = FeatureSet.of("encoding").flat(sp, archs_of(space))
    assert x.shape[0] == len(archs_of(space)) and set(np.unique(x)) <= {0.0, 1.0, 2.0}
    if width:
        assert x.shape[1] == width
    assert len({row.tobytes() for row in x}) > 1


def test_nb201_tensor_planes_sum_to_the_analytic_costs():
    """31 planes at the default macro; plane 0 the op codes; the FLOPs/params planes add up to
    what the space's cost model charges for the cell ops."""
    sp = get_space("nb201")
    macro = sp.macro()
    archs = list(archs_of("nb201"))
    t = RenasTensor().transform(sp, archs)
    assert t.shape == (len(archs), 31, 4, 4)
    empty = sp.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    for a, x in zip(archs, t):
        assert [x[0, i, j] for i, j in ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))] == list(a.ops)
        assert x[1::2].sum() * 1e7 == pytest.approx(sp.flops(a, macro) - sp.flops(empty, macro))
        assert x[2::2].sum() * 1e5 == pytest.approx(sp.params(a, macro) - sp.params(empty, macro))


def test_nb101_tensor_matches_renas_layout_and_costs():
    """19 planes of 7x7 (type + 9 cells x FLOPs, params), output kept last, and the cost planes add
    up to the benchmark's costs less the stem, pools and classifier."""
    from archscore.spaces.nb101 import network_costs, costs, from_spec

    sp = get_space("nb101")
    macro = sp.macro()
    c3, mp = "conv3x3-bn-relu", "maxpool3x3"
    short = from_spec([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", c3, mp, "output"])
    t = RenasTensor().transform(sp, [short] + list(archs_of("nb101")[:8]))
    assert t.shape == (9, 19, 7, 7)
    assert t[0, 0, 0, 1] == 3 and t[0, 0, 0, 2] == 4 and t[0, 0, 1, 6] == 5 and t[0, 0, 2, 6] == 5
    assert not t[0, :, 3:6].any() and not t[0, :, :, 3:6].any()  # padding sits before the output
    base_p, base_f = network_costs(macro)
    for a, x in zip([short] + list(archs_of("nb101")[:8]), t):
        p, f = costs(a, macro)
        if a.pruned is not None:
            # a vertex with several inputs is counted once per incoming edge in the planes; compare per column
            adj = (x[0] > 0)
            per_vertex_f = np.array([x[1::2, :, j].sum() / max(adj[:, j].sum(), 1) for j in range(7)])
            per_vertex_p = np.array([x[2::2, :, j].sum() / max(adj[:, j].sum(), 1) for j in range(7)])
            assert per_vertex_f.sum() * 1e7 == pytest.approx(f - base_f)
            assert per_vertex_p.sum() * 1e5 == pytest.approx(p - base_p)


def test_darts_tensor_shape_and_types():
    sp = get_space("darts")
    a = archs_of("darts")[0]
    t = RenasTensor().transform(sp, [a])[0]
    assert t.shape == (2 + 2 * sp.macro().layers, 7, 7)
    for c, cell in enumerate(a.cells()):
        assert t[c, :, 2:6].sum() == sum(op + 1 for _, op in cell)
        assert (t[c, 2:6, 6] == 8).all()
    assert (t[2:] >= 0).all() and t[2:].sum() > 0


def test_zero_shot_features_rank_orient_and_join_by_class():
    sp = get_space("nb201")
    a = sp.parse("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
    twin = sp.parse("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|")
    others = list(archs_of("nb201")[:5])
    hashes = [sp.canonical_hash(x) for x in [a] + others]
    f = ZeroShotFeatures.from_scores("nb201", {"synflow": (hashes, np.array([9.0, 1, 2, 3, 4, np.nan])),
                                               "oneshot_loss": (hashes, np.array([0.1, 1, 2, 3, 4, 5]))},
                                     {"synflow": True, "oneshot_loss": False}, source="test")
    x = f.transform(sp, [twin, others[0], others[4]])
    assert x[0].tolist() == [pytest.approx(0.9), pytest.approx(11 / 12)]  # best of 5 (synflow), best of 6 (loss)
    assert np.isnan(x[2, 0]) and not f.missing(sp, [twin]).any()
    unknown = sp.parse("|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|")
    assert f.missing(sp, [unknown]).all() and np.isnan(f.transform(sp, [unknown])).all()
    z = ZeroShotFeatures.from_scores("nb201", {"s": (hashes, np.arange(6.0))}, {}, transform="zscore")
    assert np.mean(list(z.table.values())) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="another"):
        ZeroShotFeatures.from_scores("nb201", {}, {}, transform="another")
    with pytest.raises(ValueError, match="'nb201' sweep"):
        f.transform(get_space("darts"), [])
    assert pickle.loads(pickle.dumps(f)).table.keys() == f.table.keys()


# -- every predictor x featurizer x space it takes -----------------------------------------------
def _synthetic_zse(space_name: str) -> ZeroShotFeatures:
    """Scores of every test architecture (log params and a seeded noise column), as a sweep's would be."""
    space, archs = get_space(space_name), archs_of(space_name)
    hashes = [space.canonical_hash(a) for a in archs]
    noise = np.random.default_rng(2).normal(size=len(archs))
    return ZeroShotFeatures.from_scores(space_name, {"logp": (hashes, targets(space_name, archs)), "noise": (hashes, noise)},
                                        {"logp": True, "noise": True}, source="test")


FEATURE_SPECS = ("encoding", "graf", "renas", "zse", "graf+zse+encoding")


def _featurizers(spec: str, space_name: str) -> list:
    return [_synthetic_zse(space_name) if part == "zse" else make_featurizer(part) for part in spec.split("+")]


def _takes(spec: str, space_name: str) -> bool:
    space = get_space(space_name)
    return all(FEATURIZERS.get(part.partition(":")[0]).space_method in (None, *(
        m for m in ("graf", "renas_tensor") if space.provides(m))) for part in spec.split("+"))


def _specs(model: str) -> list[str]:
    """ReNAS's model has a convolutional branch: it always gets the tensor, beside each of the others."""
    if not getattr(PREDICTORS.get(model), "conv", False):
        return list(FEATURE_SPECS)
    return list(dict.fromkeys(f if "renas" in f else f"renas+{f}" for f in FEATURE_SPECS))


FEATURE_CASES = [(m, f, s) for m in PREDICTORS.names() for f in _specs(m) for s in list_spaces() if _takes(f, s)]


@pytest.mark.parametrize("model, spec, space", FEATURE_CASES)
def test_every_predictor_fits_and_predicts_on_every_featurizer_its_space_takes(model, spec, space):
    archs = list(archs_of(space))
    p = PREDICTORS.get(model)(space=space, features=_featurizers(spec, space), **TINY[model])
    pred = p.fit(archs[:16], targets(space, archs[:16])).predict(archs)
    assert pred.shape == (len(archs),) and np.isfinite(pred).all()
    assert np.array_equal(np.concatenate([p.predict([a]) for a in archs[:5]]), pred[:5])


def test_featurizers_a_space_lacks_are_refused_naming_it():
    assert ("rf", "graf", "nds_resnet") not in FEATURE_CASES  # the table above skips what is refused here
    with pytest.raises(ValueError, match="featurizer 'graf' is defined for"):
        PREDICTORS.get("rf")(space="nds_resnet", features="graf", **TINY["rf"]).fit(
            list(archs_of("nds_resnet")[:16]), targets("nds_resnet", archs_of("nds_resnet")[:16]))


# -- defaults chosen by inner cross-validation on the training labels ----------------------------
def test_choose_by_cv_keeps_the_best_out_of_fold_ranking_and_the_first_on_ties():
    x, y = np.arange(30.0)[:, None], np.arange(30.0)
    perfect = lambda p, xa, ya, xb: xb[:, 0] * p["sign"]  # noqa: E731
    choice = choose_by_cv(perfect, x, y, {"sign": (-1.0, 1.0)}, folds=5, seed=0)
    assert choice.chosen == {"sign": 1.0} and len(choice.folds) == 5
    assert dict(choice.taus) == {"sign=-1.0": pytest.approx(-1.0), "sign=1.0": pytest.approx(1.0)}
    assert sorted(np.concatenate(choice.folds).tolist()) == list(range(30))  # positions in the training rows only
    same = choose_by_cv(lambda p, xa, ya, xb: xb[:, 0], x, y, {"a": (1, 2)}, folds=5, seed=0)
    assert same.chosen == {"a": 1}
    few = choose_by_cv(perfect, x[:5], y[:5], {"sign": (-1.0, 1.0)}, folds=5, seed=0)
    assert few.chosen == {"sign": -1.0} and "too few" in few.reason


@pytest.mark.parametrize("model", ["gbt", "rf"])
def test_tree_defaults_are_searched_only_where_not_given(model):
    archs, space = list(archs_of("nb201", 60)), "nb201"
    y = targets(space, archs)
    searched = PREDICTORS.get(model)(space=space, **TINY[model]).fit(archs[:40], y[:40])
    grid = type(searched).GRID
    assert set(searched.cv_.chosen) == set(grid) and len(searched.cv_.taus) == np.prod([len(v) for v in grid.values()])
    assert searched.get_params()[next(iter(grid))] is None  # the choice is a fitted attribute, not a parameter
    given = {k: v[-1] for k, v in grid.items()}
    fixed = PREDICTORS.get(model)(space=space, **TINY[model], **given).fit(archs[:40], y[:40])
    assert fixed.cv_.chosen == given and fixed.cv_.reason == "one grid point"
