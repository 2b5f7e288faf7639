"""GRAF's 191 NB201 features: zc_combine's ``configs/nb201_full.json``, as its own code computes them.

The graph is zc_combine's (``nb201_to_graph``): nodes 1-4 (input 1, output 4), all 6 edges with
their op, ``none`` included, added in the order (1,2),(1,3),(1,4),(2,3),(2,4),(3,4). Ops are
zc_combine's ids, which name the columns: 0 skip, 1 none, 2 conv3x3, 3 conv1x1, 4 avg-pool.

- ``op_count_{op}`` (5): edges carrying the op.
- ``min_path_len_banned_S`` (31, S from () to every 4 ops): fewest edges 1 -> 4 over edges whose
  op is not in S; 5 when there is no such path.
- ``max_op_on_path_allowed_S`` (31): ``paper`` (zc_combine@456a12c, the published numbers): the
  edges with an op in S on the path networkx's Bellman-Ford returns for weights -1 (op in S) / +1;
  ``head`` (zc_combine@5a14948): edges on the longest 1 -> 4 path over edges with an op in S, -1
  when there is none.
- ``node_degree_allowed_S_{in_degree,out_degree,avg_in,avg_out}`` (31 x 4): edges with an op in S
  leaving node 1, entering node 4, and (both averages, equal by construction) their count / 4.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from ..graf_paths import (adjacency, bellman_ford_path, check_variant, longest_path_nodes, shortest_path_length,
                          subset_name, subsets)
from .arch import NB201Arch

ZC_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
#: archscore op index (none, skip, 1x1, 3x3, avg) -> zc_combine's id
ZC_ID = (1, 0, 3, 2, 4)
#: zc_combine's edge order, and where each edge sits in NB201Arch.ops
ZC_EDGES = ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))
_OUR_EDGE = (0, 1, 3, 2, 4, 5)
START, END = 1, 4
BANNED = subsets(range(5), empty=True, largest=4)
ALLOWED = subsets(range(5))
DEGREES = ("in_degree", "out_degree", "avg_in", "avg_out")


def names() -> list[str]:
    return ([f"op_count_{i}" for i in range(5)]
            + [f"min_path_len_banned_{subset_name(s)}" for s in BANNED]
            + [f"max_op_on_path_allowed_{subset_name(s)}" for s in ALLOWED]
            + [f"node_degree_allowed_{subset_name(s)}_{d}" for s in ALLOWED for d in DEGREES])


def zc_edges(arch: NB201Arch) -> dict[tuple[int, int], int]:
    """zc_combine's edge dict of the cell: (u, v) -> zc op id, in its insertion order."""
    return {e: ZC_ID[arch.ops[k]] for e, k in zip(ZC_EDGES, _OUR_EDGE)}


def _max_on_path(edges: dict[tuple[int, int], int], allowed: set[int], variant: str) -> int:
    if variant == "head":
        nodes = longest_path_nodes(adjacency(e for e, op in edges.items() if op in allowed), START, END)
        return -1 if nodes is None else nodes - 1
    path = bellman_ford_path(adjacency(edges), START, END, lambda u, v: -1 if edges[u, v] in allowed else 1)
    return 0 if path is None else sum(edges[e] in allowed for e in zip(path, path[1:]))


@lru_cache(maxsize=None)
def _row(ops: tuple[int, ...], variant: str) -> tuple[float, ...]:
    edges = zc_edges(NB201Arch(ops))
    row: list[float] = [sum(op == i for op in edges.values()) for i in range(5)]
    for banned in BANNED:
        length = shortest_path_length(adjacency(e for e, op in edges.items() if op not in banned), START, END)
        row.append(END + 1 if length is None else length)
    row += [_max_on_path(edges, set(s), variant) for s in ALLOWED]
    for s in ALLOWED:
        kept = [e for e, op in edges.items() if op in s]
        row += [sum(u == START for u, _ in kept), sum(v == END for _, v in kept), len(kept) / 4, len(kept) / 4]
    return tuple(float(x) for x in row)


def graf(archs: Sequence[NB201Arch], variant: str = "paper") -> np.ndarray:
    """(n, 191) float64 in :func:`names` order."""
    check_variant(variant)
    return np.array([_row(a.ops, variant) for a in archs], dtype=np.float64).reshape(len(archs), len(names()))
