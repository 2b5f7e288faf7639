"""Zero-shot proxies: one small file per proxy, fused by :mod:`.suite` over :mod:`.passes`."""
from . import (az_nas, epe_nas, fisher, grad_norm, gradsign, grasp, jacob_cov, l2_norm, meco,  # noqa: F401
               naswot, plain, snip, swap, synflow, te_nas, vkdnw, zen, zico)
from .suite import ZeroShotEstimator, ZeroShotGroup

__all__ = ["ZeroShotEstimator", "ZeroShotGroup"]
