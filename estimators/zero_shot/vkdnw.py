"""VKDNW (Týbl & Neumann, CVPR 2025; ondratybl/VKDNW @ 6901b65): the entropy of the deciles of the
Fisher information's spectrum (see :mod:`.vkdnw_pass`), on the network re-initialised from the seed
and a Gaussian batch of ``--data-batch-size`` images (the authors: 64), as their NB201 runs.

- ``vkdnw_entropy``: the entropy alone;
- ``vkdnw_dim``: the number of parameter tensors (the paper's aleph, "No. of trainable layers");
- ``vkdnw``: VKDNW_single, the authors' lexicographic order of (dim, entropy), as one number:
  10 * dim + entropy (dim is an integer and entropy <= ln 9 < 10, so the order is theirs).

Their aggregated VKDNW_agg is ``archscore ensemble --preset vkdnw_agg``. Options: ``params``
(the first 128 parameter tensors, as the authors), ``input="data"``, ``reinit=False``.
"""
from __future__ import annotations

from ..base import ESTIMATORS
from .az_nas import input_and_reinit
from .suite import ZeroShotEstimator


class _VkdnwPart(ZeroShotEstimator):
    needs = frozenset({"vkdnw"})

    def __init__(self, params: int = 128, input: str = "gaussian", reinit: bool = True) -> None:
        """Raises:
            ValueError: ``params`` below 1, or ``input`` not ``gaussian`` or ``data``.
        """
        params = int(params)
        if params < 1:
            raise ValueError(f"{type(self).__name__} option params must be at least 1; got {params}")
        reinit, config = input_and_reinit(type(self).__name__, input, reinit)
        super().__init__(**({"params": params} if params != 128 else {}), **config)
        self.variant = (params, input, reinit)
        self.needs_data = input == "data"

    def part(self, sig) -> dict[str, float]:
        return sig.vkdnw[self.variant]


@ESTIMATORS.register("vkdnw")
class Vkdnw(_VkdnwPart):
    """VKDNW_single: parameter tensors first, Fisher-spectrum entropy breaking ties (higher is better)."""

    def compute(self, sig):
        part = self.part(sig)
        return 10.0 * part["dim"] + part["entropy"]


@ESTIMATORS.register("vkdnw_entropy")
class VkdnwEntropy(_VkdnwPart):
    """Entropy of the normalised deciles of the Fisher information's singular values."""

    def compute(self, sig):
        return self.part(sig)["entropy"]


@ESTIMATORS.register("vkdnw_dim")
class VkdnwDim(_VkdnwPart):
    """Number of parameter tensors of the network."""

    def compute(self, sig):
        return self.part(sig)["dim"]
