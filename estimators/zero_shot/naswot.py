"""NASWOT relu-logdet (Mellor et al. 2021, v2; BayesWatch nas-without-training, NASLib ``nwot``).

K = sum over the counted modules of c c^T + (1-c)(1-c)^T with c the binary pattern (> 0) of each
module's input per sample; the score is log|det K|. Which modules count is the option
``relu_modules``:

- ``"nn.ReLU"`` (default): every ``nn.ReLU``, as NASLib's ``nwot`` counts in NB201.
- ``"name"``: every module whose class name contains "ReLU", as the original script selects
  (it tests ``'ReLU' in str(type(module))``, whose module path is left out here). In NB201 that
  also takes each ``ReLUConvBN`` block, whose input is its inner ReLU's, so every convolution's
  ReLU pattern enters K twice.

Every selected module counts: the original's visited-in-backward filter drops none in NB201, whose
every ReLU lies on a path to the output (its ``none`` edges multiply by zero and stay in the graph).
"""
import numpy as np

from ..base import ESTIMATORS
from .suite import ZeroShotEstimator

#: option value -> the data pass's kernel signal (see ``passes.RELU_SELECTIONS``)
RELU_MODULES = {"nn.ReLU": "relu_kernel", "name": "relu_kernel_by_name"}


@ESTIMATORS.register("naswot")
class Naswot(ZeroShotEstimator):
    """log|det K| of the ReLU-pattern agreement kernel of the batch (``relu_modules``: which
    modules count, ``"nn.ReLU"`` as NASLib or ``"name"`` as the original script)."""

    needs = frozenset({"relu_kernel"})

    def __init__(self, relu_modules: str = "nn.ReLU") -> None:
        """Raises:
            ValueError: ``relu_modules`` is not one of ``"nn.ReLU"``, ``"name"``.
        """
        if relu_modules not in RELU_MODULES:
            allowed = ", ".join(repr(v) for v in RELU_MODULES)
            raise ValueError(f"naswot option relu_modules must be one of {allowed}; got {relu_modules!r}")
        super().__init__(relu_modules=relu_modules)
        self.signal = RELU_MODULES[relu_modules]
        self.needs = frozenset({self.signal})

    def compute(self, sig):
        kernel = getattr(sig, self.signal)
        if kernel is None:
            option = self.config["relu_modules"]
            raise ValueError(f"NASWOT: the network has no module that relu_modules={option!r} counts")
        sign, logdet = np.linalg.slogdet(kernel)
        if sign == 0:
            raise ValueError("NASWOT kernel is singular (two inputs share every ReLU pattern)")
        return float(logdet)
