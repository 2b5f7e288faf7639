"""TE-NAS (Chen et al., ICLR 2021; VITA-Group/TENAS @ 9df78ff): the NTK condition number and the
number of linear regions, whose ranks the authors add (``archscore ensemble --preset te_nas``).

- ``te_nas_ntk`` (lower is better): on the data batch (the authors: 72 CIFAR images), train mode,
  at the build's initialisation (the authors' launcher asks for an init name its code does not
  know, so their networks keep PyTorch's default init too).
- ``te_nas_lr`` (higher is better): distinct ReLU patterns of ``batches`` x ``samples`` random
  ``size`` x ``size`` crops of the batch (the authors: 3 x 1000 crops of 3x3). Deliberately
  different: the authors count regions of a separate one-channel, stem-less, C=1 network of the
  first cell; here the scored network itself is counted, and 4x4 is the smallest crop every
  NB201 network passes (two stride-2 reductions).
"""
from __future__ import annotations

from ..base import ESTIMATORS
from .suite import ZeroShotEstimator


@ESTIMATORS.register("te_nas_ntk")
class TeNasNtk(ZeroShotEstimator):
    """Condition number of the empirical NTK of the batch (lower is better)."""

    higher_is_better = False
    needs = frozenset({"ntk_condition"})
    min_batch = 2

    def compute(self, sig):
        return sig.ntk_condition


@ESTIMATORS.register("te_nas_lr")
class TeNasLinearRegions(ZeroShotEstimator):
    """Distinct ReLU activation patterns of random crops of the batch (higher is better)."""

    needs = frozenset({"linear_regions"})

    def __init__(self, samples: int = 1000, batches: int = 3, size: int = 4) -> None:
        """Raises:
            ValueError: a count or size below 1 (``samples`` below 2).
        """
        samples, batches, size = int(samples), int(batches), int(size)
        if samples < 2 or batches < 1 or size < 1:
            raise ValueError(f"te_nas_lr needs samples >= 2, batches >= 1, size >= 1; got {samples}, {batches}, {size}")
        defaults = {"samples": 1000, "batches": 3, "size": 4}
        given = {"samples": samples, "batches": batches, "size": size}
        super().__init__(**{k: v for k, v in given.items() if defaults[k] != v})
        self.variant = (samples, batches, size)

    def compute(self, sig):
        return sig.linear_regions[self.variant]
