"""The NAS-Bench-201 weight-sharing supernet: every candidate op on every edge, a subnet per call.

``NB201Supernet(macro, ...)(x, ops)`` runs the subnet ``ops`` (an architecture's 6 op indices):
each edge evaluates only its chosen op (``none`` edges are skipped as the stand-alone cell skips
them), so an unused op is never touched, not even by autograd. The macro skeleton (stem, three
stages with residual reductions, classifier) is the stand-alone network's. Heuristic switches
that change the module (BN options, a BN per parameter-free op, ops on nodes, path dropout) are
plain arguments here; the value object that names them lives with the estimators.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .arch import EDGES, OPS, NB201Macro
from .model import ResNetBasicblock, make_op
from ..supernet_parts import drop_path, set_batch_norms

PARAMETER_FREE = ("skip_connect", "avg_pool_3x3")


def op_sets(topology: str) -> tuple[int, ...]:
    """Which op set each edge uses. ``edges``: one per edge. ``nodes`` (Yu et al.'s op_on_node):
    edges leaving the cell input own theirs; the edges from intermediate nodes into a node share
    one set per target node."""
    if topology == "edges":
        return tuple(range(len(EDGES)))
    if topology == "nodes":
        sets: dict[tuple[str, int], int] = {}
        return tuple(sets.setdefault(("input", e) if src == 0 else ("node", dst), len(sets))
                     for e, (src, dst) in enumerate(EDGES))
    raise ValueError(f"supernet topology must be 'edges' or 'nodes', got {topology!r}")


class CandidateOps(nn.Module):
    """The five NB201 ops of one op set; ``wsbn`` adds a BN after each parameter-free op."""

    def __init__(self, c: int, wsbn: bool) -> None:
        super().__init__()
        ops = []
        for name in OPS:
            op = make_op(name, c)
            if wsbn and name in PARAMETER_FREE:
                op = nn.Sequential(op, nn.BatchNorm2d(c))
            ops.append(op)
        self.ops = nn.ModuleList(ops)

    def forward(self, x: torch.Tensor, op: int) -> torch.Tensor:
        return self.ops[op](x)


class SupernetCell(nn.Module):
    def __init__(self, c: int, topology: str, wsbn: bool) -> None:
        super().__init__()
        self.sets = op_sets(topology)
        self.candidates = nn.ModuleList(CandidateOps(c, wsbn) for _ in range(max(self.sets) + 1))

    def forward(self, x: torch.Tensor, ops: Sequence[int]) -> torch.Tensor:
        nodes = [x]
        none = OPS.index("none")
        for node in range(1, 4):
            incoming = [(e, src) for e, (src, dst) in enumerate(EDGES) if dst == node]
            live = [(e, src) for e, src in incoming if ops[e] != none]
            if not live:  # every input is `none`: the node is exact zeros
                nodes.append(torch.zeros_like(nodes[0]))
                continue
            terms = [self.candidates[self.sets[e]](nodes[src], ops[e]) for e, src in live]
            nodes.append(sum(terms[1:], terms[0]))
        return nodes[3]


class NB201Supernet(nn.Module):
    """All 15,625 NB201 networks with shared weights; see the module docstring.

    Args:
        bn_affine, bn_track_running_stats: options of every BN layer.
        wsbn: a BN per parameter-free candidate op.
        topology: ``edges`` or ``nodes`` (see :func:`op_sets`).
        path_dropout: rate of dropping a cell's output per sample while training, scaled by depth.
    """

    def __init__(self, macro: NB201Macro, bn_affine: bool = True, bn_track_running_stats: bool = False,
                 wsbn: bool = False, topology: str = "edges", path_dropout: float = 0.0) -> None:
        super().__init__()
        C, N = macro.C, macro.N
        self.path_dropout = path_dropout
        self.generator: torch.Generator | None = None  # path dropout's stream; the trainer sets its own
        self.stem = nn.Sequential(nn.Conv2d(macro.in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        layers: list[nn.Module] = []
        c = C
        for stage in range(3):
            if stage:
                layers.append(ResNetBasicblock(c, 2 * c))
                c *= 2
            layers.extend(SupernetCell(c, topology, wsbn) for _ in range(N))
        self.layers = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, macro.num_classes)
        set_batch_norms(self, bn_affine, bn_track_running_stats)

    def forward(self, x: torch.Tensor, ops: Sequence[int]) -> torch.Tensor:
        if len(ops) != len(EDGES):
            raise ValueError(f"an NB201 subnet needs {len(EDGES)} edge ops, got {len(ops)}")
        x = self.stem(x)
        n_cells = sum(isinstance(m, SupernetCell) for m in self.layers)
        i = 0
        for layer in self.layers:
            if isinstance(layer, SupernetCell):
                out = layer(x, ops)
                if self.training and self.path_dropout > 0:
                    out = drop_path(out, self.path_dropout * (i + 1) / n_cells, self.generator)
                x, i = out, i + 1
            else:
                x = layer(x)
        return self.classifier(self.global_pooling(self.lastact(x)).flatten(1))

