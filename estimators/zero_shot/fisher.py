"""Fisher (Theis et al. 2018; Turner et al. 2020) as a proxy (zero-cost-nas ``fisher``).

The activation is each conv/linear layer's output (zero-cost-nas hooks an identity placed right
after the layer), its gradient that of the cross-entropy; computed in the fused data pass.
"""
from ..base import ESTIMATORS
from .suite import ZeroShotEstimator


@ESTIMATORS.register("fisher")
class Fisher(ZeroShotEstimator):
    """Sum over layers and channels of 0.5 * mean over the batch of (sum over space of a * dL/da)^2."""

    needs = frozenset({"fisher"})

    def compute(self, sig):
        return sig.fisher
