"""GraSP (Wang et al. 2020) as a proxy (zero-cost-nas ``grasp``, T=1, one split).

zero-cost-nas computes g from one forward and H·g from a second forward with a graph; the
fused data pass takes both from one forward (train-mode BN makes the two forwards identical).
"""
from ..base import ESTIMATORS
from .suite import ZeroShotEstimator, layer_sum


@ESTIMATORS.register("grasp")
class Grasp(ZeroShotEstimator):
    """Sum of -W * (H g) over conv/linear weights, H the Hessian of the loss, g its gradient."""

    needs = frozenset({"grads", "hg"})

    def compute(self, sig):
        return layer_sum([-w * hg for w, hg in zip(sig.weights, sig.hg)])
