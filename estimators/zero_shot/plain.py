"""plain (Mozer & Smolensky 1989; zero-cost-nas ``plain``)."""
from ..base import ESTIMATORS
from .suite import ZeroShotEstimator, layer_sum


@ESTIMATORS.register("plain")
class Plain(ZeroShotEstimator):
    """Sum of W * dL/dW over conv/linear weights (no absolute value)."""

    needs = frozenset({"grads"})

    def compute(self, sig):
        return layer_sum([w * g for w, g in zip(sig.weights, sig.grads)])
