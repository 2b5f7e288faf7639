"""Hyperparameters chosen on the training labels only: the inner loop of nested cross-validation.

A benchmark's held-out architectures are the outer loop's test set; whatever a model's defaults
are tuned on must come from inside its ``fit``, i.e. from the training labels. :func:`choose_by_cv`
splits the training rows into K folds (seeded), predicts each fold from a model fitted on the
others, and keeps the grid point whose pooled out-of-fold predictions rank best (Kendall tau
over all training rows: with 16 labels a per-fold tau of 3 points would be noise). Ties and
failures keep the earlier grid point, so the first one is the default of record.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from typing import Any, Callable, Mapping, Sequence

import numpy as np

#: fewest rows per fold for a fold to be scored; below two such folds the first grid point is kept
MIN_FOLD = 3

FitPredict = Callable[[dict[str, Any], np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class CvChoice:
    """What the inner loop chose and from what: ``folds`` are positions in the training rows."""

    chosen: dict[str, Any]
    taus: tuple[tuple[str, float], ...] = ()
    folds: tuple[np.ndarray, ...] = field(default=(), repr=False)
    reason: str = ""

    def summary(self) -> dict[str, Any]:
        return {"chosen": dict(self.chosen), "folds": len(self.folds), "taus": dict(self.taus), "reason": self.reason}


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination, the first value of each option first."""
    names = list(grid)
    return [dict(zip(names, values)) for values in product(*(grid[n] for n in names))]


def choose_by_cv(fit_predict: FitPredict, x: np.ndarray, y: np.ndarray, grid: Mapping[str, Sequence[Any]],
                 folds: int, seed: int) -> CvChoice:
    """The grid point with the best out-of-fold Kendall tau on ``(x, y)``, the training rows.

    ``fit_predict(params, x_train, y_train, x_test)`` fits a fresh model and predicts.
    """
    from scipy.stats import kendalltau

    points = grid_points(grid)
    if len(points) == 1:
        return CvChoice(points[0], reason="one grid point")
    k = min(int(folds), len(y) // MIN_FOLD)
    if k < 2:
        return CvChoice(points[0], reason=f"{len(y)} labels: too few for 2 folds of {MIN_FOLD}; first grid point kept")
    order = np.random.default_rng(seed).permutation(len(y))
    parts = tuple(np.sort(p) for p in np.array_split(order, k))
    taus: list[tuple[str, float]] = []
    best, best_tau = points[0], -np.inf
    for point in points:
        oof = np.empty(len(y))
        for test in parts:
            train = np.setdiff1d(np.arange(len(y)), test)
            oof[test] = fit_predict(point, x[train], y[train], x[test])
        tau = float(kendalltau(oof, y).statistic)
        taus.append((_label(point), tau))
        if np.isfinite(tau) and tau > best_tau:
            best, best_tau = point, tau
    return CvChoice(best, tuple(taus), parts, f"{k}-fold out-of-fold Kendall tau on the training labels")


def _label(point: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in point.items())
