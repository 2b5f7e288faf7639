"""The ranking criteria: hand-checkable examples, scipy agreement, and properties."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from archscore.engine.evaluation import criteria as C

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


def test_non_finite_truth_is_refused_and_a_non_finite_score_is_a_failure():
    with pytest.raises(ValueError, match="finite"):
        C.kendall_tau(np.array([1.0, 2.0]), np.array([1.0, np.nan]))
    assert C.kendall_tau(np.array([1.0, np.nan]), np.array([1.0, 2.0])) == pytest.approx(-1.0)
    assert C.failed(np.array([1.0, np.nan, np.inf, -np.inf])).tolist() == [False, True, True, True]


def test_failures_rank_last_tied_like_a_sentinel_in_the_correlations():
    rng = np.random.default_rng(4)
    truth = rng.standard_normal(40)
    scores = truth + rng.standard_normal(40)
    scores[[3, 7, 11, 30]] = [np.nan, np.inf, -np.inf, np.nan]
    sentinel = np.where(np.isfinite(scores), scores, -1e9)  # what the published code does, here as the check
    assert C.kendall_tau(scores, truth) == pytest.approx(stats.kendalltau(sentinel, truth).statistic)
    assert C.spearman(scores, truth) == pytest.approx(stats.spearmanr(sentinel, truth).statistic)
    ok = np.isfinite(scores)
    assert C.pearson(scores, truth) == pytest.approx(stats.pearsonr(scores[ok], truth[ok]).statistic)
    assert C.sparse_kendall_tau(scores, truth, 0.5) == pytest.approx(C.sparse_kendall_tau(sentinel, truth, 0.5))


def test_a_top_k_cut_inside_the_failed_block_counts_against_the_estimator():
    truth = TRUTH  # index i has true rank i + 1
    scores = np.array([np.nan, np.nan, 10.0, 9.0, 8.0, 7.0, 6.0, 5.0, np.nan, 4.0])
    # predicted order: 2, 3, 4, 5, 6, 7, 9, then the failures truly worst first: 8, 1, 0
    assert C.predicted_order(scores, truth).tolist() == [2, 3, 4, 5, 6, 7, 9, 8, 1, 0]
    # top 8 = the 7 ok archs + failure 8 (true rank 9): true top 8 = {0..7}; hits {2..7}
    assert C.precision_at_top_k(scores, truth, 0.8) == pytest.approx(6 / 8)
    assert C.best_and_worst_rank_at_k(scores, truth, 0.8) == (3, 10)  # 9 is ok, true rank 10
    # bottom 2 = failures 1 and 0, the truly best: no hit in the true bottom 2 {8, 9}
    assert C.precision_at_bottom_k(scores, truth, 0.2) == 0.0
    # tau inside the top 8: the failure is tied below the seven scores
    top = [2, 3, 4, 5, 6, 7, 9, 8]
    expected = stats.kendalltau(np.append(scores[top[:-1]], -1e9), truth[top]).statistic
    assert C.kendall_tau_top_k(scores, truth, 0.8) == pytest.approx(expected)


def test_every_failure_is_the_worst_case():
    truth = TRUTH
    scores = np.full(len(truth), np.nan)
    assert np.isnan(C.kendall_tau(scores, truth)) and np.isnan(C.pearson(scores, truth))
    assert C.precision_at_top_k(scores, truth, 0.2) == 0.0 and C.precision_at_bottom_k(scores, truth, 0.2) == 0.0
    assert C.best_and_worst_rank_at_k(scores, truth, 0.2) == (9, 10)


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


@settings(max_examples=40, deadline=None)
@given(values, st.integers(0, 2**31), st.floats(0.0, 0.6))
def test_with_failures_rank_criteria_ignore_row_order_and_monotone_transforms(truth, seed, fail_rate):
    """With distinct scores and truth, the failed block makes no criterion depend on row order."""
    rng = np.random.default_rng(seed)
    truth = np.array(truth)
    scores = rng.permutation(len(truth)).astype(float)
    scores[rng.random(len(truth)) < fail_rate] = np.nan
    transformed = np.exp(scores / len(scores)) * 7 - 3
    perm = rng.permutation(len(truth))
    for other_scores, other_truth in ((transformed, truth), (scores[perm], truth[perm])):
        for r in (0.1, 0.3, 0.5, 0.9):
            assert C.precision_at_top_k(scores, truth, r) == C.precision_at_top_k(other_scores, other_truth, r)
            assert C.precision_at_bottom_k(scores, truth, r) == C.precision_at_bottom_k(other_scores, other_truth, r)
            assert (C.best_and_worst_rank_at_k(scores, truth, r)
                    == C.best_and_worst_rank_at_k(other_scores, other_truth, r))
            a, b = C.kendall_tau_top_k(scores, truth, r), C.kendall_tau_top_k(other_scores, other_truth, r)
            assert a == pytest.approx(b, nan_ok=True)
        assert C.kendall_tau(scores, truth) == pytest.approx(C.kendall_tau(other_scores, other_truth), nan_ok=True)
        assert C.spearman(scores, truth) == pytest.approx(C.spearman(other_scores, other_truth), nan_ok=True)


@settings(max_examples=40, deadline=None)
@given(values, st.integers(0, 2**31))
def test_failing_can_only_lower_a_perfect_estimator(truth, seed):
    """A perfect estimator that fails somewhere never scores above its failure-free self."""
    rng = np.random.default_rng(seed)
    truth = np.array(truth)
    scores = truth.copy()
    scores[rng.random(len(truth)) < 0.3] = np.nan
    for r in (0.1, 0.2, 0.5):
        if C.k_of(len(truth), r):
            assert C.precision_at_top_k(scores, truth, r) <= C.precision_at_top_k(truth, truth, r) == 1.0
            assert C.best_and_worst_rank_at_k(scores, truth, r)[1] >= C.best_and_worst_rank_at_k(truth, truth, r)[1]
    assert C.kendall_tau(scores, truth) <= 1.0


def test_ndcg_equals_sklearn_with_vkdnws_exponential_gain():
    """VKDNW's notebooks: sklearn ndcg_score(2**acc - 1, scores, k, ignore_ties=True), acc in percent."""
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(3)
    truth = rng.uniform(80, 94.5, 300)
    scores = truth + rng.normal(0, 3, 300)  # distinct scores: no tie order to disagree on
    for k in (1, 10, 100, 300, 1000):
        expect = ndcg_score(2 ** truth[None] - 1, scores[None], k=k, ignore_ties=True)
        assert C.ndcg(scores, truth, k) == pytest.approx(expect, rel=1e-9)
    assert C.ndcg(truth, truth, 50) == pytest.approx(1.0)
    assert C.ndcg(-truth, truth, 50) < C.ndcg(scores, truth, 50)


def test_ndcg_ranks_failures_last_and_one_point_halves_the_gain():
    truth = np.array([94.0, 93.0, 50.0])
    # the best predicted last: gain of the top is twice the second's, far more than the third's
    assert C.ndcg(np.array([0.0, 2.0, 1.0]), truth, 1) == pytest.approx(0.5, rel=1e-12)
    assert C.ndcg(np.array([np.nan, 2.0, 1.0]), truth, 3) == C.ndcg(np.array([-1.0, 2.0, 1.0]), truth, 3)
