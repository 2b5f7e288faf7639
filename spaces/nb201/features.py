"""What learned predictors read of an NB201 cell: the one-hot encoding (5 ops on each of its
6 edges) and ReNAS's feature tensor, 4x4 over the cell's nodes: plane 0 holds the op code of edge
i -> j (none 0, skip 1, conv1x1 2, conv3x3 3, avg-pool 4); then a FLOPs and a params plane of each
of the 3N cells (15 at N=5: 31 planes), FLOPs in units of 1e7, params of 1e5 (Xu et al., CVPR 2021)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .arch import EDGES, OP_INDEX, OPS, NB201Arch, NB201Macro

FLOPS_UNIT, PARAMS_UNIT = 1e7, 1e5


def one_hot(archs: Sequence[NB201Arch]) -> np.ndarray:
    """(n, 30): one-hot ops of the 6 edges in the official string's order."""
    ops = np.array([a.ops for a in archs], dtype=np.int64).reshape(len(archs), len(EDGES))
    return np.eye(len(OPS))[ops].reshape(len(archs), -1)


def renas_tensor(archs: Sequence[NB201Arch], macro: NB201Macro) -> np.ndarray:
    """(n, 1 + 6N, 4, 4): the op-code plane, then FLOPs and params planes per cell."""
    stages = [(macro.C, macro.input_size), (2 * macro.C, macro.input_size // 2), (4 * macro.C, macro.input_size // 4)]
    cells = [stage for stage in stages for _ in range(macro.N)]
    cost = np.zeros((len(cells), 2, len(OPS)))  # per cell: (flops, params) of each op
    for c, (ch, size) in enumerate(cells):
        hw = size * size
        cost[c, :, OP_INDEX["nor_conv_1x1"]] = ch * ch * hw, ch * ch + 2 * ch
        cost[c, :, OP_INDEX["nor_conv_3x3"]] = 9 * ch * ch * hw, 9 * ch * ch + 2 * ch
        cost[c, :, OP_INDEX["avg_pool_3x3"]] = 9 * ch * hw, 0
    cost[:, 0] /= FLOPS_UNIT
    cost[:, 1] /= PARAMS_UNIT
    ops = np.array([a.ops for a in archs], dtype=np.int64)  # (n, 6)
    out = np.zeros((len(archs), 1 + 2 * len(cells), 4, 4))
    for e, (i, j) in enumerate(EDGES):
        out[:, 0, i, j] = ops[:, e]
        out[:, 1:, i, j] = cost[:, :, ops[:, e]].transpose(2, 0, 1).reshape(len(archs), -1)
    return out
