"""MeCo (Jiang et al., NeurIPS 2023; HamsterMimi/MeCo @ 0d830dd): the sum over every module's output
of the smallest eigenvalue of its channel correlation on one image (see :mod:`.zico_meco_pass`).
The authors ran one image (``batch=1``, default); a larger ``batch`` changes only the batch
statistics of train-mode BN, sample 0 is still the one measured. Not offered: ``meco_opt``, whose
8-channel subsample the authors draw from an unseeded Python ``random``.
"""
from ..base import ESTIMATORS
from .suite import ZeroShotEstimator


@ESTIMATORS.register("meco")
class Meco(ZeroShotEstimator):
    """Sum over module outputs of min eig(channel correlation) of sample 0 (higher is better)."""

    needs = frozenset({"meco"})

    def __init__(self, batch: int = 1) -> None:
        """Raises:
            ValueError: ``batch`` below 1.
        """
        batch = int(batch)
        if batch < 1:
            raise ValueError(f"meco option batch must be at least 1; got {batch}")
        super().__init__(**({"batch": batch} if batch != 1 else {}))
        self.batch = batch
        self.min_batch = batch

    def compute(self, sig):
        return sig.meco[self.batch]
