"""The DARTS / NB301 weight-sharing supernet: every op on every edge of DARTS's search cell, one
genotype per call.

The search cell of DARTS (quark0/darts ``model_search.py``): node ``i`` (2..5) has an edge from
every earlier state, and every edge holds all candidate ops. ``DartsSupernet(macro, ...)(x, arch)``
runs the genotype ``arch``: each node evaluates only its two chosen (input, op) pairs and sums
them, so it computes exactly what DARTS's search network computes with one-hot architecture
weights (checked against quark0/darts on the same weights, see docs/spaces.md), and, with affine BN,
exactly the stand-alone :class:`~archscore.spaces.darts.model.DartsNetwork` of ``arch`` with the
inherited weights (a test). The 7 NB301 ops are the candidates; DARTS's ``none`` is not one, as no
NB301 genotype uses it. Stem, preprocessing, reductions and classifier are the stand-alone
network's, at the macro's C and N.
"""
from __future__ import annotations

import torch
from torch import nn

from .arch import NODES, OPS, DartsArch, DartsMacro, layout
from .model import FactorizedReduce, ReLUConvBN, make_op
from ..supernet_parts import drop_path, set_batch_norms

POOLS = ("max_pool_3x3", "avg_pool_3x3")


def edge_index(src: int, node: int) -> int:
    """Position of the edge ``src -> node`` (node 2..5) in DARTS's edge order (14 edges)."""
    return sum(range(2, node)) + src


def op_set_keys(topology: str) -> tuple[int, ...]:
    """Which op set each of the 14 edges uses: ``edges`` one each; ``nodes`` (Yu et al.'s
    op_on_node, as for NB201): edges from the cell inputs own theirs, edges from intermediate
    nodes into a node share one set per target node."""
    if topology not in ("edges", "nodes"):
        raise ValueError(f"supernet topology must be 'edges' or 'nodes', got {topology!r}")
    keys: dict[tuple, int] = {}
    out = []
    for node in range(2, 2 + NODES):
        for src in range(node):
            key = ("edge", src, node) if topology == "edges" or src < 2 else ("node", node)
            out.append(keys.setdefault(key, len(keys)))
    return tuple(out)


class CandidateOps(nn.Module):
    """The 7 ops of one op set; ``wsbn`` adds a BN after each pooling op (DARTS's MixedOp does)."""

    def __init__(self, c: int, stride: int, wsbn: bool) -> None:
        super().__init__()
        ops = []
        for i, name in enumerate(OPS):
            op = make_op(i, c, stride, "affine")
            if wsbn and name in POOLS:
                op = nn.Sequential(op, nn.BatchNorm2d(c))
            ops.append(op)
        self.ops = nn.ModuleList(ops)


class SupernetCell(nn.Module):
    def __init__(self, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool, topology: str,
                 wsbn: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0)
        self.sets = op_set_keys(topology)
        # an op set shared by edges from cell inputs and from nodes never happens (inputs own theirs),
        # so every set has one stride
        strides = {}
        for node in range(2, 2 + NODES):
            for src in range(node):
                strides[self.sets[edge_index(src, node)]] = 2 if reduction and src < 2 else 1
        self.candidates = nn.ModuleList(CandidateOps(c, strides[k], wsbn) for k in range(len(strides)))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, pairs: tuple[tuple[int, int], ...]) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(NODES):
            node = 2 + i
            terms = [self.candidates[self.sets[edge_index(src, node)]].ops[op](states[src])
                     for src, op in pairs[2 * i: 2 * i + 2]]
            states.append(terms[0] + terms[1])
        return torch.cat(states[2:], dim=1)


class DartsSupernet(nn.Module):
    """Every DARTS genotype with shared weights; see the module docstring.

    Args:
        bn_affine, bn_track_running_stats: options of every BN layer (the stem BN is always affine;
            DARTS's search cells: not affine).
        wsbn: a BN after each pooling candidate (DARTS's search network has it).
        topology: ``edges`` or ``nodes`` (see :func:`op_set_keys`).
        path_dropout: rate of dropping a cell's output per sample while training, scaled by depth.
    """

    def __init__(self, macro: DartsMacro, bn_affine: bool = True, bn_track_running_stats: bool = False,
                 wsbn: bool = False, topology: str = "edges", path_dropout: float = 0.0) -> None:
        super().__init__()
        c3 = 3 * macro.C
        self.path_dropout = path_dropout
        self.generator: torch.Generator | None = None  # path dropout's stream; the trainer sets its own
        self.stem = nn.Sequential(nn.Conv2d(macro.in_channels, c3, 3, padding=1, bias=False), nn.BatchNorm2d(c3))
        cells = layout(macro)
        self.cells = nn.ModuleList(SupernetCell(c_pp, c_p, c, reduction, reduction_prev, topology, wsbn)
                                   for reduction, reduction_prev, c_pp, c_p, c, _ in cells)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * cells[-1][4], macro.num_classes)
        set_batch_norms(self.cells, bn_affine, bn_track_running_stats)
        set_batch_norms(self.stem, True, bn_track_running_stats)  # not searched: affine, as quark0's search stem

    def forward(self, x: torch.Tensor, arch: DartsArch) -> torch.Tensor:
        if not isinstance(arch, DartsArch):
            raise ValueError(f"a DARTS subnet is a DartsArch, got {type(arch).__name__}")
        s0 = s1 = self.stem(x)
        n = len(self.cells)
        for i, cell in enumerate(self.cells):
            out = cell(s0, s1, arch.reduce if cell.reduction else arch.normal)
            if self.training and self.path_dropout > 0:
                out = drop_path(out, self.path_dropout * (i + 1) / n, self.generator)
            s0, s1 = s1, out
        return self.classifier(self.global_pooling(s1).flatten(1))
