"""ZiCo (Li et al., ICLR 2023; SLDGroup/ZiCo @ b0fec65): sum over conv/linear layers of the log of
the summed inverse coefficient of variation of the weights' gradients across batches (see
:mod:`.zico_meco_pass`). The authors ran 2 batches of 128 images; here the data batch is split
into ``batches`` chunks (default 2): ``--data-batch-size 256`` reproduces their sizes.
"""
from ..base import ESTIMATORS
from .suite import ZeroShotEstimator


@ESTIMATORS.register("zico")
class Zico(ZeroShotEstimator):
    """sum_l log sum_k mean|g_lk| / std(g_lk) over batches (higher is better)."""

    needs = frozenset({"zico"})
    min_batch = 2

    def __init__(self, batches: int = 2) -> None:
        """Raises:
            ValueError: ``batches`` below 2 (a standard deviation over one batch is 0).
        """
        batches = int(batches)
        if batches < 2:
            raise ValueError(f"zico option batches must be at least 2; got {batches}")
        super().__init__(**({"batches": batches} if batches != 2 else {}))
        self.batches = batches
        self.min_batch = batches

    def compute(self, sig):
        return sig.zico[self.batches]
