"""SWAP (Peng et al., ICLR 2024; pym1024/SWAP ``src/metrics/swap.py``).

The number of distinct sample-wise activation patterns: one no-grad train-mode forward of the
first ``samples`` images of the batch (the authors' driver: 16), every ``nn.ReLU`` output on a 4-D
map hooked, each output position a neuron whose pattern is its sign over the samples. With ``mu``
and ``sigma`` (thousands of parameters) the count is multiplied by the size regulariser
exp(-(P - mu)^2 / sigma), P = every parameter in thousands (``utilities.py``: divided by sigma, not
2 sigma^2). The authors' code ships no NB201 values of mu and sigma (its driver is DARTS-only and
unregularised), so there is no default: give both or neither.

Deliberately not done: the authors' driver re-draws Gaussian weights 32 times and averages; here
the network is scored at the build's own initialisation, as every fused proxy, one repeat.
"""
import math

from ..base import ESTIMATORS
from .suite import ZeroShotEstimator


@ESTIMATORS.register("swap")
class Swap(ZeroShotEstimator):
    """Distinct ReLU sign patterns over ``samples`` images, optionally size-regularised (higher is better)."""

    needs = frozenset({"swap"})
    min_batch = 16  # the default samples; an instance takes its own

    def __init__(self, samples: int = 16, mu: float | None = None, sigma: float | None = None) -> None:
        """Raises:
            ValueError: ``samples`` below 2, only one of ``mu``/``sigma``, or ``sigma`` not positive.
        """
        samples = int(samples)
        if samples < 2:
            raise ValueError(f"swap option samples must be at least 2; got {samples}")
        if (mu is None) != (sigma is None):
            raise ValueError("swap's size regulariser needs both mu and sigma (thousands of parameters), or neither")
        if sigma is not None and float(sigma) <= 0:
            raise ValueError(f"swap option sigma must be positive; got {sigma}")
        config = {"samples": samples} if samples != 16 else {}
        if mu is not None:
            config.update(mu=float(mu), sigma=float(sigma))
        super().__init__(**config)
        self.samples, self.mu, self.sigma = samples, mu, sigma
        self.min_batch = samples

    def compute(self, sig):
        count = sig.swap[self.samples]
        if self.mu is None:
            return count
        return count * math.exp(-((sig.params_k - float(self.mu)) ** 2) / float(self.sigma))
