"""Plain encodings per space: one-hot ops and adjacency, a fixed-length float vector.

These are the encodings NASLib's predictors and most predictor papers start from ("adjacency
one-hot"): NB201 one-hot ops on its 6 edges; NB101 the upper-triangular adjacency of the pruned
cell padded to 7 vertices (padding before the output) and one-hot interior ops; DARTS per cell
one-hot ops on each of the 14 candidate edges; NDS one-hot choices per stage.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from archscore.spaces import Space

MAX_NB101 = 7


def nb101_padded(arch: Any) -> tuple[np.ndarray, list[int]]:
    """The pruned cell as a 7x7 adjacency and 7 vertex labels (-1 input, op code, -2 output,
    -3 padding), padded before the output as ReNAS and NASLib pad; a degenerate cell is all padding."""
    adj = np.zeros((MAX_NB101, MAX_NB101), dtype=np.float64)
    labels = [-3] * MAX_NB101
    if arch.pruned is None:
        return adj, labels
    rows, ops = arch.pruned
    n = len(rows)
    place = list(range(n - 1)) + [MAX_NB101 - 1]  # vertex -> padded position
    for i, row in enumerate(rows):
        for j in range(n):
            if row >> j & 1:
                adj[place[i], place[j]] = 1.0
    labels[0], labels[MAX_NB101 - 1] = -1, -2
    for v, op in enumerate(ops, start=1):
        labels[v] = op
    return adj, labels


def _nb201(space: Space, archs: Sequence[Any]) -> np.ndarray:
    from archscore.spaces.nb201 import OPS

    ops = np.array([a.ops for a in archs], dtype=np.int64)  # (n, 6)
    return np.eye(len(OPS))[ops].reshape(len(archs), -1)


def _nb101(space: Space, archs: Sequence[Any]) -> np.ndarray:
    from archscore.spaces.nb101_graph import OPS

    iu = np.triu_indices(MAX_NB101, 1)
    out = np.zeros((len(archs), len(iu[0]) + (MAX_NB101 - 2) * len(OPS)))
    for k, arch in enumerate(archs):
        adj, labels = nb101_padded(arch)
        out[k, :len(iu[0])] = adj[iu]
        for v, label in enumerate(labels[1:-1]):
            if label >= 0:
                out[k, len(iu[0]) + v * len(OPS) + label] = 1.0
    return out


def _darts(space: Space, archs: Sequence[Any]) -> np.ndarray:
    from archscore.spaces.darts import NODES, OPS

    edges = [(src, node) for node in range(NODES) for src in range(node + 2)]  # 14 candidate edges
    index = {e: i for i, e in enumerate(edges)}
    out = np.zeros((len(archs), 2, len(edges), len(OPS)))
    for k, arch in enumerate(archs):
        for c, cell in enumerate(arch.cells()):
            for p, (src, op) in enumerate(cell):
                out[k, c, index[src, p // 2], op] += 1.0
    return out.reshape(len(archs), -1)


def _nds(space: Space, archs: Sequence[Any]) -> np.ndarray:
    from archscore.spaces.nds import GRIDS

    rows = []
    for arch in archs:
        row: list[float] = []
        for name, choices in GRIDS[arch.block]:
            for value in getattr(arch, name):
                row += [float(value == c) for c in choices]
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(len(archs), -1)


ENCODERS: dict[str, Callable[[Space, Sequence[Any]], np.ndarray]] = {
    "nb201": _nb201, "nb101": _nb101, "darts": _darts, "nds_resnet": _nds, "nds_resnext_a": _nds}
