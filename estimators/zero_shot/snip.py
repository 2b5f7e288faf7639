"""SNIP (Lee et al. 2019) as a proxy (zero-cost-nas ``snip``).

zero-cost-nas differentiates w.r.t. a weight mask at 1; that gradient is W * dL/dW, which the
fused data pass already has, so no masked forward is needed.
"""
from ..base import ESTIMATORS
from .suite import ZeroShotEstimator, layer_sum


@ESTIMATORS.register("snip")
class Snip(ZeroShotEstimator):
    """Sum of |W * dL/dW| over conv/linear weights."""

    needs = frozenset({"grads"})

    def compute(self, sig):
        return layer_sum([(w * g).abs() for w, g in zip(sig.weights, sig.grads)])
