"""l2_norm (NAS-Bench-Suite-Zero; NASLib ``l2_norm``)."""
from ..base import ESTIMATORS
from .suite import ZeroShotEstimator


@ESTIMATORS.register("l2_norm")
class L2Norm(ZeroShotEstimator):
    """Sum over conv/linear layers of ||W||_2 at initialisation (data-free)."""

    needs = frozenset()

    def compute(self, sig):
        return float(sum(w.double().norm() for w in sig.weights))
