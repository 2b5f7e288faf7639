"""The statistics the evaluation criteria and Tune's report share: percentile intervals of
bootstrap samples and Spearman's rho computed row-wise over resamples."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

NAN = float("nan")


def percentile_interval(samples: np.ndarray, lower: float = 0.025, upper: float = 0.975,
                        holding: float | None = None) -> tuple[float, float]:
    """The ``lower`` and ``upper`` quantiles of the finite ``samples`` (NaN, NaN if none). With
    ``holding``, widened to hold that estimate: resampling duplicates units (trials), which can
    inflate a statistic so that the whole interval otherwise sits beside the estimate."""
    ok = np.asarray(samples, dtype=np.float64)
    ok = ok[np.isfinite(ok)]
    if len(ok) == 0 or (holding is not None and not math.isfinite(holding)):
        return NAN, NAN
    lo, hi = float(np.quantile(ok, lower)), float(np.quantile(ok, upper))
    if holding is not None:
        lo, hi = min(lo, holding), max(hi, holding)
    return lo, hi


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row of ``x`` with the same row of ``y``; NaN where a row is constant."""
    rx, ry = stats.rankdata(x, axis=1), stats.rankdata(y, axis=1)
    rx, ry = rx - rx.mean(1, keepdims=True), ry - ry.mean(1, keepdims=True)
    den = np.sqrt((rx ** 2).sum(1) * (ry ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(1) / den, NAN)


def spearman_ci(x: np.ndarray, y: np.ndarray, n_boot: int, seed: int) -> tuple[float, float, float]:
    """Spearman's rho of ``x`` with ``y`` and its bootstrap 95% interval over pairs (widened to
    hold rho); NaN for fewer than 3 pairs."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) < 3:
        return NAN, NAN, NAN
    idx = np.random.default_rng(seed).integers(0, len(x), (n_boot, len(x)))
    rho = float(spearman_rows(x[None], y[None])[0])
    return (rho, *percentile_interval(spearman_rows(x[idx], y[idx]), holding=rho))
