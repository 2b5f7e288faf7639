"""NASWOT relu-logdet (Mellor et al. 2021, v2; BayesWatch nas-without-training, NASLib ``nwot``).

K = sum over ReLU modules of c c^T + (1-c)(1-c)^T with c the binary pattern of each ReLU's input
per sample; the score is log|det K|. Every ReLU counts (as in NASLib; in NB201 every ReLU lies
on a path to the output, so the original's visited-in-backward filter selects the same set).
"""
import numpy as np

from ..base import ESTIMATORS
from .suite import ZeroShotEstimator


@ESTIMATORS.register("naswot")
class Naswot(ZeroShotEstimator):
    """log|det K| of the ReLU-pattern agreement kernel of the batch."""

    needs = frozenset({"relu_kernel"})

    def compute(self, sig):
        sign, logdet = np.linalg.slogdet(sig.relu_kernel)
        if sign == 0:
            raise ValueError("NASWOT kernel is singular (two inputs share every ReLU pattern)")
        return float(logdet)
