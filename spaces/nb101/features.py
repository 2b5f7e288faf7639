"""What learned predictors read of an NB101 cell.

The one-hot encoding NASLib's predictors and most predictor papers start from: the upper-triangular
adjacency of the pruned cell padded to 7 vertices (padding before the output) and one-hot interior
ops. ReNAS's feature tensor (Xu et al., CVPR 2021), as the paper describes it: 19 planes of 7x7 over
the pruned cell padded to 7 vertices. Plane 0 is the *type matrix*: entry (i, j) is vertex j's type
code (input 1, conv1x1 2, conv3x3 3, max-pool 4, output 5) where the edge i -> j exists, else 0.
Then, for each of the network's 9 cells, a FLOPs plane and a params plane: entry (i, j) is what
vertex j costs in that cell (its op at its channel count and resolution, plus its 1x1 projection
from the cell input where it has one) where i -> j exists. FLOPs are in units of 1e7, params of
1e5, as in the NAR rebuild (the official encoder is not public: see docs/workflows/predictors.md).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .arch import NB101Arch, NB101Macro, conv_bn_relu_costs, stacks
from .cells import compute_vertex_channels
from .graph import OPS

MAX_VERTICES = 7
FLOPS_UNIT, PARAMS_UNIT = 1e7, 1e5
RENAS_TYPE = {-1: 1, 1: 2, 0: 3, 2: 4, -2: 5}  # our labels (-1 input, OPS index, -2 output) -> ReNAS codes


def padded(arch: NB101Arch) -> tuple[np.ndarray, list[int]]:
    """The pruned cell as a 7x7 adjacency and 7 vertex labels (-1 input, op code, -2 output,
    -3 padding), padded before the output as ReNAS and NASLib pad; a degenerate cell is all padding."""
    adj = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.float64)
    labels = [-3] * MAX_VERTICES
    if arch.pruned is None:
        return adj, labels
    rows, ops = arch.pruned
    n = len(rows)
    place = list(range(n - 1)) + [MAX_VERTICES - 1]  # vertex -> padded position
    for i, row in enumerate(rows):
        for j in range(n):
            if row >> j & 1:
                adj[place[i], place[j]] = 1.0
    labels[0], labels[MAX_VERTICES - 1] = -1, -2
    for v, op in enumerate(ops, start=1):
        labels[v] = op
    return adj, labels


def one_hot(archs: Sequence[NB101Arch]) -> np.ndarray:
    """(n, 36): the padded upper-triangular adjacency, then one-hot ops of the 5 interior vertices."""
    iu = np.triu_indices(MAX_VERTICES, 1)
    out = np.zeros((len(archs), len(iu[0]) + (MAX_VERTICES - 2) * len(OPS)))
    for k, arch in enumerate(archs):
        adj, labels = padded(arch)
        out[k, :len(iu[0])] = adj[iu]
        for v, label in enumerate(labels[1:-1]):
            if label >= 0:
                out[k, len(iu[0]) + v * len(OPS) + label] = 1.0
    return out


def renas_tensor(archs: Sequence[NB101Arch], macro: NB101Macro) -> np.ndarray:
    """(n, 19, 7, 7) at the default macro: the type plane, then FLOPs and params planes per cell."""
    cells = [(c_in, c_out, hw) for count, c_in, c_out, hw in stacks(macro) for _ in range(count)]
    out = np.zeros((len(archs), 1 + 2 * len(cells), MAX_VERTICES, MAX_VERTICES))
    for k, arch in enumerate(archs):
        adj, labels = padded(arch)
        types = np.array([RENAS_TYPE.get(label, 0) for label in labels], dtype=np.float64)
        out[k, 0] = adj * types[None, :]
        if arch.pruned is None:
            continue
        rows, ops = arch.pruned
        n = len(rows)
        place = list(range(n - 1)) + [MAX_VERTICES - 1]
        for c, (c_in, c_out, hw) in enumerate(cells):
            channels = compute_vertex_channels(rows, c_in, c_out) if n > 2 else [c_in, c_out]
            flops, params = np.zeros(MAX_VERTICES), np.zeros(MAX_VERTICES)
            for v in range(1, n):
                p = f = 0
                if rows[0] >> v & 1:
                    p, f = conv_bn_relu_costs(1, c_in, channels[v], hw)  # projection from the cell input
                if v < n - 1:
                    ch = channels[v]
                    op_p, op_f = (conv_bn_relu_costs(3, ch, ch, hw), conv_bn_relu_costs(1, ch, ch, hw),
                                  (0, 9 * ch * hw))[ops[v - 1]]
                    p, f = p + op_p, f + op_f
                params[place[v]], flops[place[v]] = p, f
            out[k, 1 + 2 * c] = adj * (flops / FLOPS_UNIT)[None, :]
            out[k, 2 + 2 * c] = adj * (params / PARAMS_UNIT)[None, :]
    return out
