"""The NDS ResNet / ResNeXt-A weight-sharing supernet, as Ning et al. train it (walkerning/aw_nas
``732a003``, ``examples/research/surgery/nds/plugin/germ_nds.py`` with ``force_ordinal``, the
setting of their ``*_ordinal_search.yaml`` runs).

Every stage allocates its largest depth of blocks at its largest width (bottleneck: the largest
``round(width x bot_mul)``); a network of depth ``d`` runs the first ``d`` blocks, a width ``w``
takes the first ``w`` channels of every conv, BN and the classifier (ordinal slicing). A grouped
3x3 conv with ``g`` groups reads the block diagonal of the dense full-width weight: output
channel ``o`` uses input columns ``(o // (W/g)) * (W/g) + i`` for ``i < w/g`` (aw_nas's
``GroupMaskHandler``), so every group count shares one weight. The stem (pycls ``ResStemCifar``)
is not searched. One deliberate difference: a block has a projection shortcut exactly where the
stand-alone pycls network has one (aw_nas's first block of every stage always projects, because
its width decisions compare as objects); so a subnet computes the stand-alone
:class:`~archscore.spaces.nds.model.NdsNetwork` of its setting with inherited weights wherever
groups are 1 or the bottleneck is at full width (a test).

``NdsMacro.max_depth`` / ``max_width`` below the grid's largest give a low-fidelity supernet over
the sub-grid (its sampler draws only there; a larger setting is refused per architecture).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .arch import STAGES, STEM_WIDTH, STRIDES, NdsArch, NdsMacro, capped
from ..supernet_parts import SlicedConvBn, drop_path
from ..weight_init import fan_out_normal_init


class SupernetBlock(nn.Module):
    def __init__(self, w_in: int, w_out: int, w_b: int, stride: int, block: str, project: bool, affine: bool,
                 track: bool) -> None:
        super().__init__()
        self.block, self.stride = block, stride
        self.proj = SlicedConvBn(w_in, w_out, 1, stride, affine, track) if project else None
        if block == "basic":
            self.convs = nn.ModuleList([SlicedConvBn(w_in, w_out, 3, stride, affine, track),
                                        SlicedConvBn(w_out, w_out, 3, 1, affine, track)])
        else:
            self.convs = nn.ModuleList([SlicedConvBn(w_in, w_b, 1, 1, affine, track),
                                        SlicedConvBn(w_b, w_b, 3, stride, affine, track),
                                        SlicedConvBn(w_b, w_out, 1, 1, affine, track)])

    def forward(self, x: torch.Tensor, w_out: int, bot_mul: float, groups: int) -> torch.Tensor:
        if self.block == "basic":
            f = self.convs[1](F.relu(self.convs[0](x, w_out)), w_out)
        else:
            w_b = int(round(w_out * bot_mul))
            f = self.convs[2](F.relu(self.convs[1](F.relu(self.convs[0](x, w_b)), w_b, groups)), w_out)
        skip = x if x.shape[1] == w_out and self.stride == 1 else self.proj(x, w_out)
        return F.relu(skip + f)


class NdsSupernet(nn.Module):
    """Every network of an NDS grid (up to the macro's caps) with shared weights.

    Args:
        grid: the space's grid, ``(name, choices)`` per stage parameter.
        block: ``basic`` or ``bottleneck``.
        bn_affine, bn_track_running_stats: options of every BN layer (the stem BN is always affine).
        path_dropout: rate of dropping a stage's output per sample while training, scaled by depth.
    """

    def __init__(self, grid: dict[str, tuple[Any, ...]], block: str, macro: NdsMacro, bn_affine: bool = True,
                 bn_track_running_stats: bool = False, path_dropout: float = 0.0) -> None:
        super().__init__()
        self.block, self.path_dropout = block, path_dropout
        self.generator: torch.Generator | None = None  # path dropout's stream; the trainer sets its own
        self.choices = capped(grid, macro)
        max_depth, max_width = max(self.choices["depths"]), max(self.choices["widths"])
        max_bottleneck = int(round(max_width * max(self.choices.get("bot_muls", (1.0,)))))
        # the stem is not searched: its BN is affine whatever the blocks' BN (pycls's stem, as aw_nas)
        self.stem = SlicedConvBn(macro.in_channels, STEM_WIDTH, 3, 1, True, bn_track_running_stats)
        stages, w_in = [], STEM_WIDTH
        for stage in range(STAGES):
            blocks = nn.ModuleList()
            for b in range(max_depth):
                first = b == 0
                blocks.append(SupernetBlock(w_in if first else max_width, max_width, max_bottleneck,
                                            STRIDES[stage] if first else 1, block, first, bn_affine,
                                            bn_track_running_stats))
            stages.append(blocks)
            w_in = max_width
        self.stages = nn.ModuleList(stages)
        self.classifier = nn.Linear(max_width, macro.num_classes)
        fan_out_normal_init(self)

    def forward(self, x: torch.Tensor, arch: Any) -> torch.Tensor:
        if not isinstance(arch, NdsArch) or arch.block != self.block:
            raise ValueError(f"an NDS {self.block} subnet is an NdsArch of {self.block} blocks, got {arch!r}")
        for name, choices in self.choices.items():
            beyond = [v for v in getattr(arch, name) if v not in choices]
            if beyond:
                raise ValueError(f"{name} {beyond} are beyond this supernet's grid {list(choices)} "
                                 "(raise NdsMacro max_depth / max_width)")
        x = F.relu(self.stem(x, STEM_WIDTH))
        for stage, blocks in enumerate(self.stages):
            for b in range(arch.depths[stage]):
                x = blocks[b](x, arch.widths[stage], arch.bot_muls[stage], arch.groups[stage])
            if self.training and self.path_dropout > 0:
                x = drop_path(x, self.path_dropout * (stage + 1) / STAGES, self.generator)
        w = arch.widths[-1]
        return F.linear(x.mean((2, 3)), self.classifier.weight[:, :w], self.classifier.bias)
