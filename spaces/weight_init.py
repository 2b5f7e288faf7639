"""The initialisation the reference codebases of NB101 (NASBench-PyTorch) and NDS (pycls) share."""
from __future__ import annotations

import math

from torch import nn


def fan_out_normal_init(model: nn.Module) -> None:
    """Convs He-normal by ``k*k*out_channels`` fan-out (groups not divided out), BN weight 1 and
    bias 0 (when affine), linear layers N(0, 0.01) with zero bias."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.data.normal_(0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))
        elif isinstance(m, nn.BatchNorm2d) and m.affine:
            m.weight.data.fill_(1.0)
            m.bias.data.zero_()
        elif isinstance(m, nn.Linear):
            m.weight.data.normal_(0, 0.01)
            m.bias.data.zero_()
