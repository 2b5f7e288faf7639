"""The NDS networks as pycls builds them (facebookresearch/pycls ``anynet.py``, NDS-era 996cb1d):
``ResStemCifar``, ``ResBasicBlock`` / ``ResBottleneckBlock`` stages and ``AnyHead``, with pycls's
initialisation (He-normal by fan-out for convs, N(0, 0.01) for the classifier, BN 1/0)."""
from __future__ import annotations

import torch
from torch import nn

from .arch import STEM_WIDTH, NdsArch, NdsMacro, blocks
from ..weight_init import fan_out_normal_init


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out)]


class ResidualBlock(nn.Module):
    """``relu(skip(x) + f(x))``; the skip is a 1x1 conv-BN projection when the shape changes."""

    def __init__(self, w_in: int, w_out: int, stride: int, bot_mul: float, groups: int, block: str) -> None:
        super().__init__()
        self.proj = nn.Sequential(*conv_bn(w_in, w_out, 1, stride)) if w_in != w_out or stride != 1 else None
        if block == "basic":
            layers = [*conv_bn(w_in, w_out, 3, stride), nn.ReLU(), *conv_bn(w_out, w_out, 3)]
        else:
            w_b = int(round(w_out * bot_mul))
            layers = [*conv_bn(w_in, w_b, 1), nn.ReLU(), *conv_bn(w_b, w_b, 3, stride, groups), nn.ReLU(),
                      *conv_bn(w_b, w_out, 1)]
        self.f = nn.Sequential(*layers)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu((x if self.proj is None else self.proj(x)) + self.f(x))


class NdsNetwork(nn.Module):
    def __init__(self, arch: NdsArch, macro: NdsMacro) -> None:
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(macro.in_channels, STEM_WIDTH, 3), nn.ReLU())
        self.blocks = nn.Sequential(*(ResidualBlock(*b, arch.block) for b in blocks(arch)))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(arch.widths[-1], macro.num_classes)
        fan_out_normal_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x))

    def cell_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem's output and each residual block's."""
        feats = [self.stem(x)]
        for block in self.blocks:
            feats.append(block(feats[-1]))
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.forward_features(x)).flatten(1))
