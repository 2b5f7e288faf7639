"""Jacobian covariance (Mellor et al. 2020 v1; zero-cost-nas ``jacob_cov``).

Deliberate difference: the eigenvalues of the (symmetric) correlation matrix come from
``eigvalsh``, not ``eig``, which can return complex values through round-off.
"""
import numpy as np

from ..base import ESTIMATORS
from .suite import ZeroShotEstimator

EPS = 1e-5


@ESTIMATORS.register("jacob_cov")
class JacobCov(ZeroShotEstimator):
    """-sum(log(v + 1e-5) + 1/(v + 1e-5)) over eigenvalues v of corrcoef(d sum(logits) / dx)."""

    needs = frozenset({"jacobian"})
    min_batch = 2

    def compute(self, sig):
        if sig.jacobian.shape[0] < 2:
            raise ValueError("jacob_cov needs a data batch of at least 2 inputs")
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.corrcoef(sig.jacobian)
        if not np.isfinite(corr).all():
            raise ValueError("jacob_cov: an input's Jacobian is constant, its correlation is undefined")
        v = np.linalg.eigvalsh(corr)
        return float(-np.sum(np.log(v + EPS) + 1.0 / (v + EPS)))
