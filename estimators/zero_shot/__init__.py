"""Zero-shot proxies: one small file per proxy, fused by :mod:`.suite` over :mod:`.passes`."""
from . import (az_nas, epe_nas, fisher, grad_norm, gradsign, grasp, jacob_cov, l2_norm, naswot,  # noqa: F401
               plain, snip, swap, synflow, te_nas, zen)
from .suite import ZeroShotEstimator, ZeroShotGroup

__all__ = ["ZeroShotEstimator", "ZeroShotGroup"]
