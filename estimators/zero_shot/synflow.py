"""SynFlow (Tanaka et al. 2020) as a proxy (zero-cost-nas / NASLib ``synflow`` and ``synflow_bn``).

Absolute weights in float64, one all-ones input, R = sum of outputs, score sum |W * dR/dW| over
conv/linear weights; ``synflow`` bypasses BN (as NASLib's ``bn=False`` copy), ``synflow_bn``
keeps it in train mode. Documented transform: the estimator reports ln(score) (as NASLib's
published values do), since raw values reach 1e30..1e60; ``exp(score)`` recovers the raw value
and ranks are unchanged. A raw score of 0 gives -inf (status ``nonfinite``).
"""
import math

from ..base import ESTIMATORS
from .suite import ZeroShotEstimator


def _log(raw: float) -> float:
    return math.log(raw) if raw > 0 else float("-inf")


@ESTIMATORS.register("synflow")
class Synflow(ZeroShotEstimator):
    """ln of sum |W * dR/dW| with |W|, all-ones input, BN bypassed (data-free)."""

    needs = frozenset({"synflow"})

    def compute(self, sig):
        return _log(sig.synflow)


@ESTIMATORS.register("synflow_bn")
class SynflowBN(ZeroShotEstimator):
    """ln of sum |W * dR/dW| with |W|, all-ones input, BN in train mode (data-free)."""

    needs = frozenset({"synflow_bn"})

    def compute(self, sig):
        return _log(sig.synflow_bn)
