"""The NAS-Bench-101 weight-sharing supernet, as Yu et al. build it (kcyu2014/nas-landmarkreg
``a00c361``, ``nasws/cnn/search_space/nasbench101/model_search.py``).

Each cell has five vertex slots, each with a conv3x3-BN-ReLU, a conv1x1-BN-ReLU and a max-pool,
and a 1x1 conv-BN-ReLU projection of the cell input per slot and for the output. A call runs one
architecture's pruned cell: its vertex ``i`` uses slot ``i`` by position (the output is always
the output), channels follow the benchmark's ``compute_vertex_channels``, inputs from earlier
vertices are truncated, the output concatenates its feeders (plus the input's projection when
the input feeds it). So the subnet computes the stand-alone
:class:`~archscore.spaces.nb101.model.NB101Network` of the architecture with inherited weights
(a test). How a slot of width ``w`` gets weights (the ``dynamic_channels`` heuristic):

- ``True`` (Yu et al.'s ``nasbench101`` default, ``fixed_chunck``): one conv and BN of the full
  output width per op; a width ``w`` uses the first ``w`` output (and input) channels and the
  first ``w`` BN entries.
- ``False``: every width a slot can take owns its conv and BN; nothing is shared across widths
  (Yu et al.'s baseline instead restricts the space to cells whose output has a fixed number of
  feeders, ``nasbench101_fixchannel``; that sub-space is not offered here).

A cell whose input does not reach its output outputs zeros, as the stand-alone network does.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .arch import NB101Arch, NB101Macro
from .cells import compute_vertex_channels
from .graph import OPS
from .model import BN_EPS, BN_MOMENTUM
from ..supernet_parts import SlicedConvBn, drop_path
from ..weight_init import fan_out_normal_init

SLOTS = 5


def widths(c_out: int) -> tuple[int, ...]:
    """Every width an interior vertex can take in a cell of ``c_out`` output channels: the
    output's share over 1..5 feeders (remainders rounded up for the first ones)."""
    out = set()
    for k in range(1, SLOTS + 1):
        share, extra = divmod(c_out, k)
        out |= {share, share + 1} if extra else {share}
    return tuple(sorted(w for w in out if w > 0))


class SlicedConvBnRelu(SlicedConvBn):
    """A stride-1 :class:`SlicedConvBn` with the benchmark's BN settings, then ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, affine: bool, track: bool) -> None:
        super().__init__(c_in, c_out, kernel, 1, affine, track, BN_EPS, BN_MOMENTUM)

    def forward(self, x: torch.Tensor, c_out: int) -> torch.Tensor:  # type: ignore[override]
        return F.relu(super().forward(x, c_out))


class PerWidthConvBnRelu(nn.Module):
    """One conv-BN-ReLU per width a slot can take (``dynamic_channels=False``)."""

    def __init__(self, c_in: int | None, c_out: int, kernel: int, affine: bool, track: bool) -> None:
        super().__init__()
        self.by_width = nn.ModuleDict({
            str(w): SlicedConvBnRelu(c_in if c_in is not None else w, w, kernel, affine, track) for w in widths(c_out)})

    def forward(self, x: torch.Tensor, c_out: int) -> torch.Tensor:
        return self.by_width[str(c_out)](x, c_out)


class VertexSlot(nn.Module):
    def __init__(self, c_in: int, c_out: int, dynamic: bool, affine: bool, track: bool) -> None:
        super().__init__()

        def unit(c_from: int | None, kernel: int) -> nn.Module:
            if dynamic:
                return SlicedConvBnRelu(c_out if c_from is None else c_from, c_out, kernel, affine, track)
            return PerWidthConvBnRelu(c_from, c_out, kernel, affine, track)

        self.ops = nn.ModuleDict({"conv3x3-bn-relu": unit(None, 3), "conv1x1-bn-relu": unit(None, 1)})
        self.projection = unit(c_in, 1)

    def forward(self, x: torch.Tensor, op: int, width: int) -> torch.Tensor:
        name = OPS[op]
        if name == "maxpool3x3":
            return F.max_pool2d(x, 3, 1, 1)
        return self.ops[name](x, width)


class SupernetCell(nn.Module):
    def __init__(self, c_in: int, c_out: int, dynamic: bool, affine: bool, track: bool) -> None:
        super().__init__()
        self.c_in, self.c_out = c_in, c_out
        self.slots = nn.ModuleList(VertexSlot(c_in, c_out, dynamic, affine, track) for _ in range(SLOTS))
        self.output_projection = SlicedConvBnRelu(c_in, c_out, 1, affine, track)

    def forward(self, x: torch.Tensor, pruned: tuple[tuple[int, ...], tuple[int, ...]] | None) -> torch.Tensor:
        if pruned is None:
            return x.new_zeros(x.shape[0], self.c_out, *x.shape[2:])
        rows, ops = pruned
        out = len(rows) - 1
        channels = compute_vertex_channels(rows, self.c_in, self.c_out)
        tensors, concat = [x], []
        for t in range(1, out):
            ch, slot = channels[t], self.slots[t - 1]
            fan_in = [tensors[src][:, :ch] for src in range(1, t) if rows[src] >> t & 1]
            if rows[0] >> t & 1:
                fan_in.append(slot.projection(x, ch))
            tensors.append(slot(sum(fan_in[1:], fan_in[0]), ops[t - 1], ch))
            if rows[t] >> out & 1:
                concat.append(tensors[t])
        if not concat:
            return self.output_projection(x, self.c_out)
        y = concat[0] if len(concat) == 1 else torch.cat(concat, 1)
        if rows[0] >> out & 1:
            y = y + self.output_projection(x, self.c_out)
        return y


class NB101Supernet(nn.Module):
    """All 423,624 NB101 cells with shared weights; see the module docstring.

    Args:
        bn_affine, bn_track_running_stats: options of every BN layer (the stem BN is always affine).
        dynamic_channels: share weights across a slot's widths by slicing (see the module docstring).
        path_dropout: rate of dropping a cell's output per sample while training, scaled by depth.
    """

    def __init__(self, macro: NB101Macro, bn_affine: bool = True, bn_track_running_stats: bool = False,
                 dynamic_channels: bool = True, path_dropout: float = 0.0) -> None:
        super().__init__()
        self.path_dropout = path_dropout
        self.generator: torch.Generator | None = None  # path dropout's stream; the trainer sets its own
        # the stem is not searched: its BN is affine whatever the cells' BN (as in nasws)
        self.stem = SlicedConvBnRelu(macro.in_channels, macro.C, 3, True, bn_track_running_stats)
        cells: list[nn.Module] = []
        c_in = c_out = macro.C
        for stack in range(macro.stacks):
            if stack:
                c_out *= 2
            for _ in range(macro.N):
                cells.append(SupernetCell(c_in, c_out, dynamic_channels, bn_affine, bn_track_running_stats))
                c_in = c_out
        self.cells = nn.ModuleList(cells)
        self.N, self.C = macro.N, macro.C
        self.classifier = nn.Linear(c_out, macro.num_classes)
        fan_out_normal_init(self)

    def forward(self, x: torch.Tensor, arch: Any) -> torch.Tensor:
        if not isinstance(arch, NB101Arch):
            raise ValueError(f"an NB101 subnet is an NB101Arch, got {type(arch).__name__}")
        pruned = arch.pruned
        x = self.stem(x, self.C)
        for i, cell in enumerate(self.cells):
            if i and i % self.N == 0:
                x = F.max_pool2d(x, 2, 2)
            x = cell(x, pruned)
            if self.training and self.path_dropout > 0:
                x = drop_path(x, self.path_dropout * (i + 1) / len(self.cells), self.generator)
        return self.classifier(x.mean((2, 3)))
