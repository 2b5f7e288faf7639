"""How well an estimator ranks architectures: the criteria of the field, as pure functions.

Every function takes ``scores`` (the estimator's, higher = predicted better; negate scores of a
lower-is-better estimator first) and ``truth`` (higher = better, e.g. accuracy) as 1-D arrays of
the same length, already free of NaN. Rankings break ties by position (a stable sort of
``-score``), so every criterion is invariant to strictly increasing transforms of the scores.
Definitions follow Ning et al.'s evaluation code (aw_nas) and Yu et al. 2020 (sparse tau).
"""
from __future__ import annotations

import numpy as np
from scipy import stats

TOPK_RATIOS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)
BRWR_RATIOS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.2)


def _check(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores, truth = np.asarray(scores, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if scores.shape != truth.shape or scores.ndim != 1:
        raise ValueError(f"scores and truth must be 1-D of equal length, got {scores.shape} and {truth.shape}")
    if not (np.isfinite(scores).all() and np.isfinite(truth).all()):
        raise ValueError("scores and truth must be finite (drop non-ok rows first)")
    return scores, truth


def order_desc(values: np.ndarray) -> np.ndarray:
    """Indices from best to worst; ties keep their input order."""
    return np.argsort(-np.asarray(values, dtype=np.float64), kind="stable")


def kendall_tau(scores: np.ndarray, truth: np.ndarray) -> float:
    """Kendall's tau-b (ties counted as scipy does)."""
    scores, truth = _check(scores, truth)
    return float(stats.kendalltau(scores, truth).statistic) if len(scores) > 1 else float("nan")


def spearman(scores: np.ndarray, truth: np.ndarray) -> float:
    scores, truth = _check(scores, truth)
    return float(stats.spearmanr(scores, truth).statistic) if len(scores) > 1 else float("nan")


def pearson(scores: np.ndarray, truth: np.ndarray) -> float:
    scores, truth = _check(scores, truth)
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
    return len(set(order_desc(scores)[:k]) & set(order_desc(truth)[:k])) / k


def precision_at_bottom_k(scores: np.ndarray, truth: np.ndarray, ratio: float) -> float:
    """Fraction of the estimator's bottom K whose true rank is within the true bottom K."""
    scores, truth = _check(scores, truth)
    return precision_at_top_k(-scores[::-1], -truth[::-1], ratio)


def kendall_tau_top_k(scores: np.ndarray, truth: np.ndarray, ratio: float) -> float:
    """Kendall tau between scores and truth inside the estimator's top-K set."""
    scores, truth = _check(scores, truth)
    k = k_of(len(scores), ratio)
    if k < 2:
        return float("nan")
    top = order_desc(scores)[:k]
    return float(stats.kendalltau(scores[top], truth[top]).statistic)


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
    ranks = true_ranks(truth)[order_desc(scores)[:k]]
    return int(ranks.min()), int(ranks.max())


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
    """Percentile bootstrap interval of ``statistic(scores, truth)`` over architectures (seeded)."""
    scores, truth = _check(scores, truth)
    if len(scores) < 3 or n_boot < 1:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(scores), size=len(scores))
        values.append(statistic(scores[idx], truth[idx]))
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))
