"""grad_norm (Abdelfattah et al. 2021, zero-cost-nas ``grad_norm``)."""
from ..base import ESTIMATORS
from .suite import ZeroShotEstimator


@ESTIMATORS.register("grad_norm")
class GradNorm(ZeroShotEstimator):
    """Sum over conv/linear layers of ||dL/dW||_2 (cross-entropy, train-mode BN)."""

    needs = frozenset({"grads"})

    def compute(self, sig):
        return float(sum(g.double().norm() for g in sig.grads))
