"""What learned predictors read of a DARTS genotype: per cell one-hot ops on each of the 14
candidate edges, and ReNAS's feature tensor's analogue, 7x7 (two inputs, four intermediate nodes,
the output): one type plane per cell kind (op index + 1 on each chosen edge, 8 from intermediate
nodes to the output), then FLOPs and params planes of each of the 3N+2 cells (18 planes at N=2),
FLOPs in units of 1e7, params of 1e5."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .arch import NODES, OPS, DartsArch, DartsMacro, layout, op_costs

FLOPS_UNIT, PARAMS_UNIT = 1e7, 1e5


def one_hot(archs: Sequence[DartsArch]) -> np.ndarray:
    """(n, 2 x 14 x 7): per cell kind, the op chosen on each candidate edge (counted twice if twice)."""
    edges = [(src, node) for node in range(NODES) for src in range(node + 2)]  # 14 candidate edges
    index = {e: i for i, e in enumerate(edges)}
    out = np.zeros((len(archs), 2, len(edges), len(OPS)))
    for k, arch in enumerate(archs):
        for c, cell in enumerate(arch.cells()):
            for p, (src, op) in enumerate(cell):
                out[k, c, index[src, p // 2], op] += 1.0
    return out.reshape(len(archs), -1)


def renas_tensor(archs: Sequence[DartsArch], macro: DartsMacro) -> np.ndarray:
    """(n, 2 + 2(3N+2), 7, 7): two type planes, then FLOPs and params planes per cell."""
    cells = layout(macro)
    affine, pool_bn = macro.cell_bn == "affine", macro.cell_bn == "naslib"
    size = NODES + 3
    out = np.zeros((len(archs), 2 + 2 * len(cells), size, size))
    for k, arch in enumerate(archs):
        for t, cell in enumerate(arch.cells()):
            for p, (src, op) in enumerate(cell):
                out[k, t, src, 2 + p // 2] += op + 1
            out[k, t, 2:2 + NODES, size - 1] = len(OPS) + 1
        for c, (reduction, _, _, _, ch, hw_size) in enumerate(cells):
            for p, (src, op) in enumerate(arch.reduce if reduction else arch.normal):
                stride = 2 if reduction and src < 2 else 1
                h_in = hw_size if stride == 2 or not reduction else hw_size // 2
                params, flops = op_costs(op, ch, h_in, stride, affine, pool_bn)
                out[k, 2 + 2 * c, src, 2 + p // 2] += flops / FLOPS_UNIT
                out[k, 3 + 2 * c, src, 2 + p // 2] += params / PARAMS_UNIT
    return out
