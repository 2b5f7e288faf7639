"""Fidelity to published values (NAS-Bench-Suite-Zero / NASLib, NB201 CIFAR-10, full-size nets)."""
import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from archscore.engine.sweep.scoring import Scorer, ScoringPlan, WorkBatch
from archscore.spaces import get_space
from tests.conftest import data_path
from archscore.spaces.nb201 import from_naslib_key as naslib_to_arch


@pytest.mark.slow
def test_synflow_ranks_like_the_published_scores():
    zc = json.loads(data_path("naslib-zc", "zc_nasbench201.json").read_text())["cifar10"]
    keys = sorted(zc)  # 200 of the ~725, seeded: full-size networks are slow on CI (bench.fidelity does all)
    zc = {k: zc[k] for k in np.random.default_rng(0).choice(keys, size=200, replace=False)}
    space = get_space("nb201")
    encodings = np.array([space.encode(naslib_to_arch(k)) for k in zc])
    scorer = Scorer(ScoringPlan("nb201", ("synflow",)))
    rows = scorer.score(WorkBatch(0, 0, encodings, 0)).to_pylist()
    ours = np.array([r["score"] for r in rows])
    published = np.array([v["synflow"]["score"] for v in zc.values()])
    ok = np.isfinite(ours) & np.isfinite(published)
    assert ok.sum() > 190
    rho = spearmanr(ours[ok], published[ok]).statistic
    assert rho >= 0.98, rho


@pytest.mark.slow
def test_nb101_synflow_ranks_like_the_published_scores():
    """Full-size NB101 networks (C=128, 3x3 cells) on 80 seeded cells of NASLib's 500 (bench.fidelity does all)."""
    from archscore.engine.evaluation.truth import load_naslib

    truth, published = load_naslib(data_path("naslib-zc", "zc_nasbench101.json"))
    archs = truth.column("arch").to_pylist()
    pick = [archs[i] for i in np.random.default_rng(0).choice(len(archs), size=80, replace=False)]
    pub = {a: s for a, s, e in zip(*(published.column(c).to_pylist() for c in ("arch", "score", "estimator")))
           if e == "synflow"}
    space = get_space("nb101")
    rows = Scorer(ScoringPlan("nb101", ("synflow",))).score(
        WorkBatch(0, 0, np.array([space.parse(a).encoding for a in pick]), 0)).to_pylist()
    ours = np.array([r["score"] for r in rows])
    theirs = np.array([pub[a] for a in pick])
    assert np.isfinite(ours).all()
    rho = spearmanr(ours, theirs).statistic
    assert rho >= 0.98, rho


@pytest.mark.slow
def test_nb301_synflow_ranks_like_the_published_scores():
    """Full-size NB301 networks (C=32, 8 cells) on 50 seeded genotypes of NASLib's 725."""
    zc = json.loads(data_path("naslib-zc", "zc_nasbench301.json").read_text())["cifar10"]
    keys = sorted(zc)
    keys = [keys[i] for i in np.random.default_rng(0).choice(len(keys), size=50, replace=False)]
    space = get_space("darts")
    rows = Scorer(ScoringPlan("darts", ("synflow",))).score(
        WorkBatch(0, 0, np.array([space.parse(k).encoding for k in keys], dtype=object), 0)).to_pylist()
    ours = np.array([r["score"] for r in rows])
    assert np.isfinite(ours).all()
    rho = spearmanr(ours, [zc[k]["synflow"]["score"] for k in keys]).statistic
    assert rho >= 0.98, rho
