"""Fisher (Theis et al. 2018; Turner et al. 2020) as a proxy (zero-cost-nas / NASLib ``fisher``).

The activation is each conv/linear layer's output (zero-cost-nas hooks an identity placed right
after the layer), its gradient that of the cross-entropy; computed in the fused data pass. The
references compute one value F_c per output channel, broadcast it over the weight's
``shape[1:]`` and sum every element (``sum_arr``), so each channel counts fan_in times
(fan_in = C_in/groups x kh x kw for a convolution, in_features for a linear layer); so does this.
"""
from ..base import ESTIMATORS
from .suite import ZeroShotEstimator


@ESTIMATORS.register("fisher")
class Fisher(ZeroShotEstimator):
    """Sum over conv/linear layers of fan_in x sum over output channels c of F_c, with
    F_c = 0.5 * mean over the batch of (sum over space of a_c * dL/da_c)^2."""

    needs = frozenset({"fisher"})

    def compute(self, sig):
        return sig.fisher
