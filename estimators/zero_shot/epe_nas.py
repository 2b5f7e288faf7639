"""EPE-NAS (Lopes et al. 2021; VascoLopes/EPE-NAS ``eval_score_perclass``).

Per class c present in the batch, s_c = sum_ij log(|corrcoef(J_c)|_ij + 1e-5) over the Jacobians
of that class's samples (a class with one sample contributes log(1 + 1e-5)). Up to 100 classes
the score is sum_c |s_c|; above 100 classes each s_c is divided by its sample count and the score
is sum_{c,c'} |s_c - s_c'| / (number of classes seen). Unlike the published scripts, which read
the class count from the network output and so never reached the second form in NASLib, the
class count of the data is passed explicitly.
"""
import numpy as np

from ..base import ESTIMATORS
from .suite import ZeroShotEstimator

EPS = 1e-5


def epe_score(jacobian: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    per_class = {}
    for c in np.unique(labels):
        rows = jacobian[labels == c]
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.atleast_2d(np.corrcoef(rows)) if len(rows) > 1 else np.ones((1, 1))
        s = float(np.sum(np.log(np.abs(corr) + EPS)))
        if num_classes > 100:
            s /= len(corr)
        per_class[int(c)] = s
    values = np.array(list(per_class.values()))
    if num_classes <= 100:
        return float(np.sum(np.abs(values)))
    return float(np.abs(values[:, None] - values[None, :]).sum() / len(values))


@ESTIMATORS.register("epe_nas")
class EpeNas(ZeroShotEstimator):
    """Sum over classes of |sum log(|per-class Jacobian correlation| + 1e-5)|."""

    needs = frozenset({"jacobian", "labels"})

    def compute(self, sig):
        return epe_score(sig.jacobian, sig.labels.cpu().numpy(), sig.num_classes)
