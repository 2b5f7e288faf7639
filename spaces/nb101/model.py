"""The NAS-Bench-101 network, built from a pruned cell as the benchmark's ``model_builder`` does.

Layer for layer as NASBench-PyTorch's ``Network`` (romulus0914/NASBench-PyTorch ``37bc332``), the
port NASLib computes its NB101 data on: a 3x3 conv-BN-ReLU stem of ``C`` channels; ``stacks``
stacks of ``N`` cells, a 2x2 max-pool and channel doubling before every stack but the first; a
global mean and a linear classifier. In a cell, vertex ``t`` sums its interior inputs (truncated
to its channels) and a 1x1 conv-BN-ReLU projection of the cell input, then applies its op; the
output concatenates the vertices feeding it and adds a projection of the input when the input
feeds it directly. Channels follow :func:`~archscore.spaces.nb101.cells.compute_vertex_channels`.

Two deliberate differences from that port, neither changing parameters or train-mode outputs:
BN momentum is the TensorFlow original's decay 0.997 written as PyTorch momentum 0.003 (the port
passes 0.997 to PyTorch, i.e. the opposite), and the port's unused ``Placeholder`` scalars are not
created. Weights are initialised as the port does (He-normal by fan-out for convs, N(0, 0.01) for
the classifier), since the published NB101 zero-cost scores were computed on those.
A disconnected cell (input not reaching output) outputs zeros.
"""
from __future__ import annotations

import torch
from torch import nn

from .arch import NB101Macro
from .cells import compute_vertex_channels
from .graph import OPS
from ..weight_init import fan_out_normal_init

BN_MOMENTUM, BN_EPS = 0.003, 1e-5


class ConvBnRelu(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM), nn.ReLU())


def make_op(op: int, channels: int) -> nn.Module:
    name = OPS[op]
    if name == "conv3x3-bn-relu":
        return ConvBnRelu(channels, channels, 3)
    if name == "conv1x1-bn-relu":
        return ConvBnRelu(channels, channels, 1)
    return nn.MaxPool2d(3, 1, 1)


class Cell(nn.Module):
    def __init__(self, rows: tuple[int, ...], ops: tuple[int, ...], c_in: int, c_out: int) -> None:
        super().__init__()
        self.rows, n = rows, len(rows)
        self.channels = compute_vertex_channels(rows, c_in, c_out)
        self.vertex_ops = nn.ModuleList(make_op(op, self.channels[t]) for t, op in enumerate(ops, start=1))
        self.projections = nn.ModuleDict({str(t): ConvBnRelu(c_in, self.channels[t], 1)
                                          for t in range(1, n) if rows[0] >> t & 1})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows, out = self.rows, len(self.rows) - 1
        tensors = [x]
        concat = []
        for t in range(1, out):
            ch = self.channels[t]
            fan_in = [tensors[src][:, :ch] for src in range(1, t) if rows[src] >> t & 1]
            if rows[0] >> t & 1:
                fan_in.append(self.projections[str(t)](x))
            tensors.append(self.vertex_ops[t - 1](sum(fan_in[1:], fan_in[0])))
            if rows[t] >> out & 1:
                concat.append(tensors[t])
        if not concat:
            return self.projections[str(out)](x)
        y = concat[0] if len(concat) == 1 else torch.cat(concat, 1)
        if rows[0] >> out & 1:
            y = y + self.projections[str(out)](x)
        return y


class ZeroCell(nn.Module):
    """A cell whose input does not reach its output: zeros of the output's shape."""

    def __init__(self, c_out: int) -> None:
        super().__init__()
        self.c_out = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], self.c_out, *x.shape[2:])


class NB101Network(nn.Module):
    def __init__(self, pruned: tuple[tuple[int, ...], tuple[int, ...]] | None, macro: NB101Macro) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBnRelu(macro.in_channels, macro.C, 3)]
        c_in = c_out = macro.C
        for stack in range(macro.stacks):
            if stack:
                layers.append(nn.MaxPool2d(2, 2))
                c_out *= 2
            for _ in range(macro.N):
                layers.append(ZeroCell(c_out) if pruned is None else Cell(*pruned, c_in, c_out))
                c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_out, macro.num_classes)
        fan_out_normal_init(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def cell_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem's output and each cell's (the stacks' max-pools are not cells)."""
        feats, out = [], x
        for layer in self.layers:
            out = layer(out)
            if not isinstance(layer, nn.MaxPool2d):
                feats.append(out)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x).mean((2, 3)))
