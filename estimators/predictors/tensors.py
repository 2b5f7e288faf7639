"""ReNAS's feature tensor (Xu et al., CVPR 2021) and its analogues for NB201 and DARTS.

NB101, as the paper describes it: 19 planes of 7x7 over the pruned cell padded to 7 vertices
(padding before the output). Plane 0 is the *type matrix*: entry (i, j) is vertex j's type code
(input 1, conv1x1 2, conv3x3 3, max-pool 4, output 5) where the edge i -> j exists, else 0. Then,
for each of the network's 9 cells, a FLOPs plane and a params plane: entry (i, j) is what vertex j
costs in that cell (its op at its channel count and resolution, plus its 1x1 projection from the
cell input where it has one) where i -> j exists. FLOPs are in units of 1e7, params of 1e5, as
in the NAR rebuild (the official encoder is not public: see the README).

NB201 (4x4 over the cell's nodes, ops on edges): plane 0 holds the op code of edge i -> j
(none 0, skip 1, conv1x1 2, conv3x3 3, avg-pool 4); then FLOPs and params planes of each of the
3N cells (15 at N=5: 31 planes). DARTS (7x7: two inputs, four intermediate nodes, the output):
one type plane per cell kind (op index + 1 on each chosen edge, 8 from intermediate nodes to
the output), then FLOPs and params planes of each of the 3N+2 cells (18 planes at N=2).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from archscore.spaces import MacroConfig, Space

from .encodings import MAX_NB101, nb101_padded

FLOPS_UNIT, PARAMS_UNIT = 1e7, 1e5
NB101_TYPE = {-1: 1, 1: 2, 0: 3, 2: 4, -2: 5}  # our labels (-1 input, OPS index, -2 output) -> ReNAS codes


def _nb101(space: Space, macro: MacroConfig, archs: Sequence[Any]) -> np.ndarray:
    from archscore.spaces.nb101 import _conv_bn_relu, _modules
    from archscore.spaces.nb101_cells import compute_vertex_channels

    cells = [(c_in, c_out, hw) for count, c_in, c_out, hw in _modules(macro) for _ in range(count)]
    out = np.zeros((len(archs), 1 + 2 * len(cells), MAX_NB101, MAX_NB101))
    for k, arch in enumerate(archs):
        adj, labels = nb101_padded(arch)
        types = np.array([NB101_TYPE.get(label, 0) for label in labels], dtype=np.float64)
        out[k, 0] = adj * types[None, :]
        if arch.pruned is None:
            continue
        rows, ops = arch.pruned
        n = len(rows)
        place = list(range(n - 1)) + [MAX_NB101 - 1]
        for c, (c_in, c_out, hw) in enumerate(cells):
            channels = compute_vertex_channels(rows, c_in, c_out) if n > 2 else [c_in, c_out]
            flops, params = np.zeros(MAX_NB101), np.zeros(MAX_NB101)
            for v in range(1, n):
                p = f = 0
                if rows[0] >> v & 1:
                    p, f = _conv_bn_relu(1, c_in, channels[v], hw)  # projection from the cell input
                if v < n - 1:
                    ch = channels[v]
                    op_p, op_f = (_conv_bn_relu(3, ch, ch, hw), _conv_bn_relu(1, ch, ch, hw),
                                  (0, 9 * ch * hw))[ops[v - 1]]
                    p, f = p + op_p, f + op_f
                params[place[v]], flops[place[v]] = p, f
            out[k, 1 + 2 * c] = adj * (flops / FLOPS_UNIT)[None, :]
            out[k, 2 + 2 * c] = adj * (params / PARAMS_UNIT)[None, :]
    return out


def _nb201(space: Space, macro: MacroConfig, archs: Sequence[Any]) -> np.ndarray:
    from archscore.spaces.nb201 import EDGES, OP_INDEX, OPS

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


def _darts(space: Space, macro: MacroConfig, archs: Sequence[Any]) -> np.ndarray:
    from archscore.spaces.darts import NODES, OPS, _layout, _op_costs

    layout = _layout(macro)
    affine, pool_bn = macro.cell_bn == "affine", macro.cell_bn == "naslib"
    size = NODES + 3
    out = np.zeros((len(archs), 2 + 2 * len(layout), size, size))
    for k, arch in enumerate(archs):
        for t, cell in enumerate(arch.cells()):
            for p, (src, op) in enumerate(cell):
                out[k, t, src, 2 + p // 2] += op + 1
            out[k, t, 2:2 + NODES, size - 1] = len(OPS) + 1
        for c, (reduction, _, _, _, ch, hw_size) in enumerate(layout):
            for p, (src, op) in enumerate(arch.reduce if reduction else arch.normal):
                stride = 2 if reduction and src < 2 else 1
                h_in = hw_size if stride == 2 or not reduction else hw_size // 2
                params, flops = _op_costs(op, ch, h_in, stride, affine, pool_bn)
                out[k, 2 + 2 * c, src, 2 + p // 2] += flops / FLOPS_UNIT
                out[k, 3 + 2 * c, src, 2 + p // 2] += params / PARAMS_UNIT
    return out


TENSORS: dict[str, Callable[[Space, MacroConfig, Sequence[Any]], np.ndarray]] = {
    "nb101": _nb101, "nb201": _nb201, "darts": _darts}
