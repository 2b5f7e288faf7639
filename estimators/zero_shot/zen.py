"""Zen-score (Lin et al. 2021, Zen-NAS ``compute_zen_score``, repeat=1, mixup_gamma=0.01).

Data-free: Gaussian weights and inputs drawn from the seed. Needs the module's
``forward_features`` (the map before global pooling).
"""
from ..base import ESTIMATORS
from .suite import ZeroShotEstimator


@ESTIMATORS.register("zen")
class Zen(ZeroShotEstimator):
    """log E|f(x) - f(x + 0.01 e)| + sum over BN of log sqrt(mean running_var)."""

    needs = frozenset({"zen"})

    def compute(self, sig):
        return sig.zen
