"""The NAS-Bench-201 network (NB201's ``TinyNetwork`` with an ``InferCell``), built from a cell.

Layer for layer as the benchmark trained it: a 3x3 stem with BN, three stages of N cells at C,
2C and 4C channels joined by residual reduction blocks, a BN-ReLU, global pooling and a linear
classifier. ``forward_features`` returns the map before global pooling (used by Zen-score).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .arch import EDGES, OPS, NB201Macro


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=True, track_running_stats=True),
        )


class Zero(nn.Module):
    """The ``none`` op: multiplies by zero (NB201 keeps the edge in the graph)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def _box_sum_3x3(x: torch.Tensor) -> torch.Tensor:
    """Sum over each 3x3 window (zero padding), per channel: a depthwise all-ones convolution."""
    channels = x.shape[1]
    return F.conv2d(x, x.new_ones(channels, 1, 3, 3), padding=1, groups=channels)


class _BoxAverage(torch.autograd.Function):
    """x -> box_sum(x) / counts. Its adjoint g -> box_sum(g / counts) is written as
    :class:`_BoxAverageAdjoint`, whose own backward is this function again, so every order of
    derivative stays one depthwise convolution. (Left to autograd, the double backward of a
    grouped convolution loops over the groups to form a weight gradient nobody asked for; that
    was a fifth of GraSP's Hessian-gradient product.) Written in the ``setup_context`` form with a
    generated vmap rule, so ``torch.func`` transforms (VKDNW's per-sample Jacobian) go through it."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _box_sum_3x3(x) / counts

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        ctx.save_for_backward(inputs[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (counts,) = ctx.saved_tensors
        return _BoxAverageAdjoint.apply(grad, counts), None


class _BoxAverageAdjoint(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(grad: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _box_sum_3x3(grad / counts)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[override]
        ctx.save_for_backward(inputs[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (counts,) = ctx.saved_tensors
        return _BoxAverage.apply(grad, counts), None


class AvgPool3x3(nn.AvgPool2d):
    """``avg_pool_3x3`` (stride 1, padding 1, padding not counted) computed as a depthwise
    all-ones 3x3 convolution divided by each window's size: the same values as
    ``nn.AvgPool2d(3, 1, 1, count_include_pad=False)``, about 5x faster forward and backward on CPU,
    where PyTorch's pooling kernel is slow (it dominated zero-shot scoring time)."""

    def __init__(self) -> None:
        super().__init__(3, stride=1, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = _box_sum_3x3(x.new_ones(1, 1, *x.shape[2:]))
        return _BoxAverage.apply(x, counts)


def make_op(name: str, c: int) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, 1, 1)
    if name == "avg_pool_3x3":
        return AvgPool3x3()
    raise ValueError(f"unknown NB201 op {name!r}")


class InferCell(nn.Module):
    def __init__(self, ops: Sequence[int], c: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(make_op(OPS[op], c) for op in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # A ``none`` edge adds exact zeros, so it is only evaluated when a node has nothing else:
        # the values are the same, and its multiply is not paid in every backward and double backward.
        return self._output(x, skip_none=True)

    def forward_every_edge(self, x: torch.Tensor) -> torch.Tensor:
        """NB201's own evaluation: all six edges, ``none`` included (what ``forward`` must equal)."""
        return self._output(x, skip_none=False)

    def _output(self, x: torch.Tensor, skip_none: bool) -> torch.Tensor:
        nodes = [x]
        for node in range(1, 4):
            incoming = [(edge, src) for edge, (src, dst) in zip(self.edges, EDGES) if dst == node]
            if skip_none:
                incoming = [(edge, src) for edge, src in incoming if not isinstance(edge, Zero)] or incoming[:1]
            terms = [edge(nodes[src]) for edge, src in incoming]
            nodes.append(sum(terms[1:], terms[0]))
        return nodes[3]


class ResNetBasicblock(nn.Module):
    """NB201's reduction block: two ReLU-conv-BN and an avg-pool + 1x1-conv shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    def __init__(self, ops: Sequence[int], macro: NB201Macro) -> None:
        super().__init__()
        C, N = macro.C, macro.N
        self.stem = nn.Sequential(
            nn.Conv2d(macro.in_channels, C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C))
        cells: list[nn.Module] = []
        c = C
        for stage in range(3):
            if stage:
                cells.append(ResNetBasicblock(c, 2 * c))
                c *= 2
            cells.extend(InferCell(ops, c) for _ in range(N))
        self.cells = nn.Sequential(*cells)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, macro.num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.lastact(self.cells(self.stem(x)))

    def cell_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The stem's output and each cell's and reduction block's (AZ-NAS's ``extract_cell_features``)."""
        feats = [self.stem(x)]
        for cell in self.cells:
            feats.append(cell(feats[-1]))
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pooling(self.forward_features(x)).flatten(1))
