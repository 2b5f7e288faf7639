"""The DARTS evaluation network (``NetworkCIFAR`` of quark0/darts ``f276dd3``, ``model.py`` and
``operations.py``), built from a genotype as NAS-Bench-301 trains it.

A 3x3 stem to 3C channels with BN; ``3N + 2`` cells with reductions (channels doubled, stride 2 on
the ops that read the cell inputs) at 1/3 and 2/3; each cell preprocesses its two inputs with a
ReLU-1x1 conv-BN (a factorized reduction for c_{k-2} after a reduction cell), sums two ops per node
and concatenates nodes 2..5; global average pooling and a linear classifier. Training-only parts
of NB301's recipe (the auxiliary head, drop-path) are not built: they do not change the network
that is scored. ``cell_bn="naslib"`` builds NASLib's zero-cost variant instead (non-affine BN in
the cell ops and after pooling ops).
"""
from __future__ import annotations

import torch
from torch import nn

from .arch import OPS, DartsArch, DartsMacro, layout


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out, affine=affine))


class DilConv(nn.Sequential):
    def __init__(self, c: int, kernel: int, stride: int, padding: int, affine: bool) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c, c, kernel, stride, padding, dilation=2, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine))


class SepConv(nn.Sequential):
    def __init__(self, c: int, kernel: int, stride: int, padding: int, affine: bool) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c, c, kernel, stride, padding, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine),
                         nn.ReLU(inplace=False), nn.Conv2d(c, c, kernel, 1, padding, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c, affine=affine))


class FactorizedReduce(nn.Module):
    """Halves the resolution with two 1x1 stride-2 convs, the second shifted by one pixel."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def make_op(op: int, c: int, stride: int, cell_bn: str) -> nn.Module:
    affine = cell_bn == "affine"
    name = OPS[op]
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        pool = (nn.MaxPool2d(3, stride, 1) if name == "max_pool_3x3"
                else nn.AvgPool2d(3, stride, 1, count_include_pad=False))
        return pool if affine else nn.Sequential(pool, nn.BatchNorm2d(c, affine=False))
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine)
    kernel = 3 if name.endswith("3x3") else 5
    if name.startswith("sep"):
        return SepConv(c, kernel, stride, kernel // 2, affine)
    return DilConv(c, kernel, stride, 2 * (kernel // 2), affine)


class Cell(nn.Module):
    def __init__(self, pairs: tuple[tuple[int, int], ...], c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool, cell_bn: str) -> None:
        super().__init__()
        self.preprocess0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0)
        self.indices = [src for src, _ in pairs]
        self.ops = nn.ModuleList(make_op(op, c, 2 if reduction and src < 2 else 1, cell_bn) for src, op in pairs)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(len(self.ops) // 2):
            states.append(self.ops[2 * i](states[self.indices[2 * i]])
                          + self.ops[2 * i + 1](states[self.indices[2 * i + 1]]))
        return torch.cat(states[2:], dim=1)


class DartsNetwork(nn.Module):
    def __init__(self, arch: DartsArch, macro: DartsMacro) -> None:
        super().__init__()
        c3 = 3 * macro.C
        self.stem = nn.Sequential(nn.Conv2d(macro.in_channels, c3, 3, padding=1, bias=False), nn.BatchNorm2d(c3))
        self.cells = nn.ModuleList(
            Cell(arch.reduce if reduction else arch.normal, c_pp, c_p, c, reduction, reduction_prev, macro.cell_bn)
            for reduction, reduction_prev, c_pp, c_p, c, _ in layout(macro))
        c_last = 4 * layout(macro)[-1][4]
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_last, macro.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return s1

    def cell_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem's output and each cell's."""
        s0 = s1 = self.stem(x)
        feats = [s1]
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
            feats.append(s1)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pooling(self.forward_features(x)).flatten(1))
