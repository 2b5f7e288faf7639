"""How well an estimator ranks architectures: the criteria of the field, as pure functions.

Every function takes ``scores`` (the estimator's, higher = predicted better; negate scores of a
lower-is-better estimator first) and ``truth`` (higher = better, e.g. accuracy) as 1-D arrays of
the same length. ``truth`` must be finite. A score that is not a finite number (NaN, +-inf) is a
*failure*: the architecture ranks last, tied with the other failures, as the published protocols
(zero-cost-nas, NASLib, aw_nas) rank a failed score, without a sentinel value:

- Kendall tau-b, Spearman (average ranks) and sparse tau count the failures as one tie.
- Set criteria (P@top/bottom K, BR@K, WR@K, tau within the top K) need K definite members; where K
  cuts into the failed block, the block is ordered against the estimator (its truly worst members
  first), so a failure never earns credit, and the result does not depend on row order.
- Pearson is not a rank criterion and is computed over the finite scores only.

Among finite scores, rankings break ties by position (a stable sort of ``-score``, as aw_nas), so
every criterion is invariant to strictly increasing transforms of the finite scores.
Definitions follow Ning et al.'s evaluation code (aw_nas) and Yu et al. 2020 (sparse tau).
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from archscore.engine.evaluation.stats import percentile_interval

#: nDCG cutoffs (VKDNW's Table 1 reports P = 1000)
NDCG_KS = (100, 1000)
TOPK_RATIOS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)
BRWR_RATIOS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.2)
#: below this K a top-K criterion is a handful of architectures: reported, but not meaningful
MIN_MEANINGFUL_K = 5


def _check(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores, truth = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if scores.shape != truth.shape or scores.ndim != 1:
        raise ValueError(f"scores and truth must be 1-D of equal length, got {scores.shape} and {truth.shape}")
    if not np.isfinite(truth).all():
        raise ValueError("truth must be finite (a non-finite score is a failure; a non-finite truth is an error)")
    return scores, truth


def failed(scores: np.ndarray) -> np.ndarray:
    """Boolean mask of failures: scores that are not finite numbers."""
    return ~np.isfinite(np.asarray(scores, dtype=np.float64))


def _tied_last(scores: np.ndarray) -> np.ndarray:
    """Scores with every failure set to one value below all finite scores (for tie-aware statistics)."""
    return np.where(failed(scores), -np.inf, scores)


def order_desc(values: np.ndarray) -> np.ndarray:
    """Indices from best to worst; ties keep their input order."""
    return np.argsort(-np.asarray(values, dtype=np.float64), kind="stable")


def predicted_order(scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Indices from predicted best to predicted worst: finite scores descending (ties by position),
    then the failures, truly worst first (the order least favourable to the estimator)."""
    scores, truth = _check(scores, truth)
    bad = failed(scores)
    by_score = np.where(bad, 0.0, -scores)
    within_failed = np.where(bad, truth, 0.0)
    return np.lexsort((within_failed, by_score, bad))  # last key sorts first; lexsort is stable


def kendall_tau(scores: np.ndarray, truth: np.ndarray) -> float:
    """Kendall's tau-b (ties, including the tied block of failures, counted as scipy does)."""
    scores, truth = _check(scores, truth)
    return float(stats.kendalltau(_tied_last(scores), truth).statistic) if len(scores) > 1 else float("nan")


def spearman(scores: np.ndarray, truth: np.ndarray) -> float:
    """Spearman's rho on average ranks (failures share the last ranks' average)."""
    scores, truth = _check(scores, truth)
    return float(stats.spearmanr(_tied_last(scores), truth).statistic) if len(scores) > 1 else float("nan")


def pearson(scores: np.ndarray, truth: np.ndarray) -> float:
    """Pearson's r over the finite scores only (a value-based statistic has no place for a failure)."""
    scores, truth = _check(scores, truth)
    ok = ~failed(scores)
    scores, truth = scores[ok], truth[ok]
    if len(scores) < 2 or scores.std() == 0 or truth.std() == 0:
        return float("nan")
    return float(stats.pearsonr(scores, truth).statistic)


def k_of(n: int, ratio: float) -> int:
    """K = int(N * r), as aw_nas; 0 means the criterion is undefined at that ratio."""
    return int(n * ratio)


def precision_at_top_k(scores: np.ndarray, truth: np.ndarray, ratio: float) -> float:
    """Fraction of the estimator's top K whose true rank is within the true top K."""
    scores, truth = _check(scores, truth)
    k = k_of(len(scores), ratio)
    if k == 0:
        return float("nan")
    return len(set(predicted_order(scores, truth)[:k].tolist()) & set(order_desc(truth)[:k].tolist())) / k


def precision_at_bottom_k(scores: np.ndarray, truth: np.ndarray, ratio: float) -> float:
    """Fraction of the estimator's bottom K whose true rank is within the true bottom K."""
    scores, truth = _check(scores, truth)
    k = k_of(len(scores), ratio)
    if k == 0:
        return float("nan")
    return len(set(predicted_order(scores, truth)[-k:].tolist()) & set(order_desc(truth)[-k:].tolist())) / k


def kendall_tau_top_k(scores: np.ndarray, truth: np.ndarray, ratio: float) -> float:
    """Kendall tau between scores and truth inside the estimator's top-K set."""
    scores, truth = _check(scores, truth)
    k = k_of(len(scores), ratio)
    if k < 2:
        return float("nan")
    top = predicted_order(scores, truth)[:k]
    return float(stats.kendalltau(_tied_last(scores[top]), truth[top]).statistic)


def true_ranks(truth: np.ndarray) -> np.ndarray:
    """1-based rank of each architecture in the truth (1 = best)."""
    ranks = np.empty(len(truth), dtype=np.int64)
    ranks[order_desc(truth)] = np.arange(1, len(truth) + 1)
    return ranks


def best_and_worst_rank_at_k(scores: np.ndarray, truth: np.ndarray, ratio: float) -> tuple[int, int]:
    """(BR@K, WR@K): best and worst true rank (1-based) among the estimator's top K; (0, 0) if K=0."""
    scores, truth = _check(scores, truth)
    k = k_of(len(scores), ratio)
    if k == 0:
        return 0, 0
    ranks = true_ranks(truth)[predicted_order(scores, truth)[:k]]
    return int(ranks.min()), int(ranks.max())


def ndcg(scores: np.ndarray, truth: np.ndarray, k: int) -> float:
    """nDCG@k as VKDNW (Týbl & Neumann 2025) reports it (sklearn ``ndcg_score`` in their notebooks):
    gain 2^truth - 1 with truth the accuracy in percent, discount 1/log2(j + 1) at predicted position
    j (1-based, best first), divided by the DCG of the true top k. Failures rank last (the order
    least favourable to the estimator); ties among finite scores break by position, as every
    criterion here. ``k`` is capped at the number of architectures."""
    scores, truth = _check(scores, truth)
    k = min(int(k), len(truth))
    if k < 1:
        return float("nan")
    top = truth.max()
    gain = np.exp2(truth - top) - np.exp2(-top)  # (2^t - 1) / 2^max: the same ratio, no overflow
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = float(np.sort(gain)[::-1][:k] @ discount)
    return float(gain[predicted_order(scores, truth)[:k]] @ discount / ideal) if ideal > 0 else float("nan")


def sparse_kendall_tau(scores: np.ndarray, truth: np.ndarray, threshold: float = 0.1) -> float:
    """Kendall tau against the truth binned as floor(truth / threshold) (dense ranks; Yu et al.):
    accuracy differences below ``threshold`` (0.1 percentage points by default) do not count."""
    scores, truth = _check(scores, truth)
    if threshold <= 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    binned = stats.rankdata(np.floor(truth / threshold), method="dense")
    return kendall_tau(scores, binned)


def bootstrap_ci(scores: np.ndarray, truth: np.ndarray, statistic, n_boot: int = 200, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(scores, truth)`` over architectures (seeded);
    failures are resampled with the rest, so the interval carries the failure rate's uncertainty."""
    scores, truth = _check(scores, truth)
    if len(scores) < 3 or n_boot < 1:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(scores), size=len(scores))
        values.append(statistic(scores[idx], truth[idx]))
    alpha = (1 - level) / 2
    return percentile_interval(np.asarray(values, dtype=np.float64), alpha, 1 - alpha)


def one_shot_criteria(scores: np.ndarray, truth: np.ndarray, prefix: str = "") -> dict[str, float]:
    """Kendall tau, sparse Kendall tau (bins of 0.1) and P@top5% of subnet scores against truth,
    each named with ``prefix``: what supernet training and Tune trials report every epoch."""
    return {prefix + "kendall_tau": kendall_tau(scores, truth),
            prefix + "sparse_kendall_tau": sparse_kendall_tau(scores, truth, 0.1),
            prefix + "p_at_top_5pct": precision_at_top_k(scores, truth, 0.05)}


def bias_criteria(scores: np.ndarray, covariates: dict[str, np.ndarray], prefix: str = "bias_tau_") -> dict[str, float]:
    """Kendall tau of the scores with each covariate (params, FLOPs, op counts), named with
    ``prefix``: Ning et al.'s bias analysis of one-shot estimates (a supernet that ranks by size
    or by skip count, whatever the truth says). NaN where a covariate is constant."""
    return {prefix + name: kendall_tau(scores, np.asarray(values, dtype=np.float64))
            for name, values in covariates.items()}
