"""The ranking criteria: hand-checkable examples, scipy agreement, and properties."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from archscore.estimators import criteria as C

TRUTH = np.array([90.0, 80.0, 70.0, 60.0, 50.0, 40.0, 30.0, 20.0, 10.0, 0.0])


def test_hand_checked_top_k_and_ranks():
    # estimator swaps the best and the 3rd best, and puts the true worst in 2nd place
    scores = np.array([8.0, 7.0, 10.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 9.0])
    # predicted order: idx 2, 9, 0, 1, 3, ...; true top-2 = {0, 1}, predicted top-2 = {2, 9}
    assert C.precision_at_top_k(scores, TRUTH, 0.2) == 0.0
    assert C.precision_at_top_k(scores, TRUTH, 0.3) == pytest.approx(2 / 3)  # {2,9,0} vs {0,1,2}
    assert C.best_and_worst_rank_at_k(scores, TRUTH, 0.2) == (3, 10)
    assert C.best_and_worst_rank_at_k(scores, TRUTH, 0.1) == (3, 3)
    # predicted bottom-2 = {8, 7}; true bottom-2 = {9, 8}
    assert C.precision_at_bottom_k(scores, TRUTH, 0.2) == 0.5
    assert C.precision_at_top_k(scores, TRUTH, 0.05) != C.precision_at_top_k(scores, TRUTH, 0.05)  # K=0: NaN


def test_kendall_top_k_is_inside_the_predicted_top_k():
    scores = np.array([8.0, 7.0, 10.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 9.0])
    top = [2, 9, 0]
    expected = stats.kendalltau(scores[top], TRUTH[top]).statistic
    assert C.kendall_tau_top_k(scores, TRUTH, 0.3) == pytest.approx(expected)


def test_agrees_with_scipy():
    rng = np.random.default_rng(0)
    s, t = rng.standard_normal(200), rng.standard_normal(200)
    assert C.kendall_tau(s, t) == pytest.approx(stats.kendalltau(s, t).statistic)
    assert C.spearman(s, t) == pytest.approx(stats.spearmanr(s, t).statistic)
    assert C.pearson(s, t) == pytest.approx(stats.pearsonr(s, t).statistic)


def test_sparse_kendall_tau_bins_the_truth():
    truth = np.array([93.01, 93.05, 93.09, 92.0, 91.0])
    scores = np.array([3.0, 2.0, 1.0, 0.5, 0.1])  # the 3 near-equal archs in "wrong" order
    right = np.array([1.0, 2.0, 3.0, 0.5, 0.1])  # the same archs in the accurate order
    assert C.kendall_tau(scores, truth) < C.kendall_tau(right, truth) == pytest.approx(1.0)
    # differences below 0.1 points do not count: both orders are equally good
    assert C.sparse_kendall_tau(scores, truth, 0.1) == pytest.approx(C.sparse_kendall_tau(right, truth, 0.1))
    binned = np.array([3, 3, 3, 2, 1])
    assert C.sparse_kendall_tau(scores, truth, 0.1) == pytest.approx(stats.kendalltau(scores, binned).statistic)
    assert C.sparse_kendall_tau(scores, truth, threshold=0.01) == pytest.approx(C.kendall_tau(scores, truth))
    with pytest.raises(ValueError):
        C.sparse_kendall_tau(scores, truth, threshold=0)


def test_bootstrap_interval_is_seeded_and_contains_the_estimate():
    rng = np.random.default_rng(1)
    t = rng.standard_normal(300)
    s = t + rng.standard_normal(300)
    a = C.bootstrap_ci(s, t, C.kendall_tau, n_boot=100, seed=3)
    assert a == C.bootstrap_ci(s, t, C.kendall_tau, n_boot=100, seed=3)
    assert a[0] < C.kendall_tau(s, t) < a[1]


def test_non_finite_input_is_refused():
    with pytest.raises(ValueError, match="finite"):
        C.kendall_tau(np.array([1.0, np.nan]), np.array([1.0, 2.0]))


values = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=10, max_size=60, unique=True)


@settings(max_examples=40, deadline=None)
@given(values, st.integers(0, 2**31))
def test_rank_criteria_invariant_to_monotone_transforms(truth, seed):
    truth = np.array(truth)
    scores = np.random.default_rng(seed).permutation(len(truth)).astype(float)
    transformed = np.exp(scores / len(scores)) * 7 - 3
    for r in (0.1, 0.5):
        assert C.precision_at_top_k(scores, truth, r) == C.precision_at_top_k(transformed, truth, r)
        assert C.precision_at_bottom_k(scores, truth, r) == C.precision_at_bottom_k(transformed, truth, r)
        assert C.best_and_worst_rank_at_k(scores, truth, r) == C.best_and_worst_rank_at_k(transformed, truth, r)
    assert C.kendall_tau(scores, truth) == pytest.approx(C.kendall_tau(transformed, truth))
    assert C.spearman(scores, truth) == pytest.approx(C.spearman(transformed, truth))


@settings(max_examples=40, deadline=None)
@given(values)
def test_perfect_and_reversed_estimators(truth):
    truth = np.array(truth)
    for r in C.TOPK_RATIOS:
        if C.k_of(len(truth), r):
            assert C.precision_at_top_k(truth, truth, r) == 1.0
            assert C.precision_at_bottom_k(truth, truth, r) == 1.0
    assert C.kendall_tau(truth, truth) == pytest.approx(1.0)
    assert C.kendall_tau(-truth, truth) == pytest.approx(-1.0)
    assert C.best_and_worst_rank_at_k(truth, truth, 0.2) == (1, C.k_of(len(truth), 0.2))


def test_ties_in_scores_are_broken_by_position():
    scores = np.array([1.0, 1.0, 1.0, 0.0])
    truth = np.array([0.0, 3.0, 2.0, 1.0])
    # all three tied archs rank by position: predicted top-1 is index 0 (true rank 4)
    assert C.best_and_worst_rank_at_k(scores, truth, 0.25) == (4, 4)
    assert C.kendall_tau(scores, truth) == pytest.approx(stats.kendalltau(scores, truth).statistic)
