"""GRAF's 47 NB101 features: zc_combine's ``configs/nb101_first.json``, as its own code computes them.

Ops sit on vertices. The graph is the cell as given (NASLib's key, not pruned), vertices 0..n-1,
edges in row-major matrix order (``nx.from_numpy_array``). Op ids are NASLib's, which name the
columns: 0 input, 1 output, 2 max-pool, 3 conv1x1, 4 conv3x3.

- ``op_count_{op}`` (5): vertices with the op (input and output once each).
- ``min_path_len_banned_S`` (7, S from () to two ops): fewest edges input -> output avoiding
  vertices whose op is in S; n (the output's index + 1) when there is no such path.
- ``max_op_on_path_allowed_S`` (7): ``paper`` (zc_combine@456a12c): vertices with an op in S on
  the path networkx's Bellman-Ford returns for weights -1 (target's op in S) / +1, 0 when the
  output is unreachable; ``head`` (zc_combine@5a14948): the longest input -> output path over
  vertices with an op in S, counted as its vertices - 4 (zc_combine subtracts 2 twice), -4 when
  there is none.
- ``node_degree_allowed_S_{in_degree,out_degree,avg_in,avg_out}`` (7 x 4): the output's
  predecessors with an op in S, the input's successors with an op in S, and edges whose source
  (avg_in) or target (avg_out) op is in S, divided by n.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from ..graf_paths import (adjacency, bellman_ford_path, check_variant, longest_path_nodes, shortest_path_length,
                          subset_name, subsets)
from .arch import NASLIB_OPS, NB101Arch

INPUT_ID, OUTPUT_ID = 0, 1
BANNED = subsets((2, 3, 4), empty=True, largest=2)
ALLOWED = subsets((2, 3, 4))
DEGREES = ("in_degree", "out_degree", "avg_in", "avg_out")


def names() -> list[str]:
    return ([f"op_count_{i}" for i in range(len(NASLIB_OPS))]
            + [f"min_path_len_banned_{subset_name(s)}" for s in BANNED]
            + [f"max_op_on_path_allowed_{subset_name(s)}" for s in ALLOWED]
            + [f"node_degree_allowed_{subset_name(s)}_{d}" for s in ALLOWED for d in DEGREES])


def _max_on_path(ops: list[int], edges: list[tuple[int, int]], allowed: set[int], start: int, end: int,
                 variant: str) -> int:
    if variant == "head":
        keep = allowed | {INPUT_ID, OUTPUT_ID}
        adj = adjacency((u, v) for u, v in edges if ops[u] in keep and ops[v] in keep)
        nodes = longest_path_nodes(adj, start, end)
        return (0 if nodes is None else nodes) - 4
    path = bellman_ford_path(adjacency(edges, range(len(ops))), start, end,
                             lambda u, v: -1 if ops[v] in allowed else 1)
    return 0 if path is None else sum(ops[v] in allowed for v in path[1:])


@lru_cache(maxsize=65536)
def _row(arch: NB101Arch, variant: str) -> tuple[float, ...]:
    ops = [NASLIB_OPS.index(op) for op in arch.op_names()]
    m = arch.matrix()
    n = len(ops)
    edges = [(int(u), int(v)) for u, v in zip(*np.nonzero(m))]
    start, end = ops.index(INPUT_ID), ops.index(OUTPUT_ID)
    row: list[float] = [ops.count(i) for i in range(len(NASLIB_OPS))]
    for banned in BANNED:
        adj = adjacency((u, v) for u, v in edges if ops[u] not in banned and ops[v] not in banned)
        length = shortest_path_length(adj, start, end)
        row.append(end + 1 if length is None else length)
    row += [_max_on_path(ops, edges, set(s), start, end, variant) for s in ALLOWED]
    for s in ALLOWED:
        row += [sum(v == end and ops[u] in s for u, v in edges), sum(u == start and ops[v] in s for u, v in edges),
                sum(ops[u] in s for u, _ in edges) / n, sum(ops[v] in s for _, v in edges) / n]
    return tuple(float(x) for x in row)


def graf(archs: Sequence[NB101Arch], variant: str = "paper") -> np.ndarray:
    """(n, 47) float64 in :func:`names` order."""
    check_variant(variant)
    return np.array([_row(a, variant) for a in archs], dtype=np.float64).reshape(len(archs), len(names()))
