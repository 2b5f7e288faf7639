"""GradSign (Zhang & Jia, ICLR 2022; cmu-catalyst/GradSign ``grad_conflict``, the NB201 path).

Per-sample gradients of the cross-entropy on every conv/linear weight, each sample forwarded
alone in train mode; the score counts how far the samples' gradient signs agree per weight:
sum_k |sum_i sign(g_ik)| (the reference's ``np.nansum``; its standalone script's ``nanmean``
variant divides by the number of weights, which ranks differently and is not the NB201 path).
The authors ran one batch of 128 CIFAR images; the batch here is the run's ``--data-batch-size``.
"""
from ..base import ESTIMATORS
from .suite import ZeroShotEstimator


@ESTIMATORS.register("gradsign")
class GradSign(ZeroShotEstimator):
    """sum over weights of |sum over samples of sign(dL_i/dw)| (higher is better)."""

    needs = frozenset({"gradsign"})

    def compute(self, sig):
        return sig.gradsign
