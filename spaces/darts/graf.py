"""GRAF's 1,540 DARTS / NB301 features: zc_combine's ``configs/nb301_full.json``, as its own code
computes them, for the normal cell and then the reduction cell.

The graph of a cell is zc_combine's (``darts_to_graph``): nodes ``c_{k-2}``, ``c_{k-1}`` (the
cell's inputs), ``0``-``3`` (its four nodes) and ``c_{k}``; the genotype's pairs in order, node i's
two inputs -> ``str(i)``, then ``str(i) -> c_{k}`` (op ``out``) for i = 0..3. Op ids are
zc_combine's, which name the columns: 0 out, then archscore's (NASLib's) op index + 1.

- ``op_count_{normal,reduce}_{op}`` (16): edges carrying the op (``out`` is 4).
- ``max_op_on_path_allowed_S_{cell}_{input}`` (127 x 4, S every non-empty subset of ops 1-7):
  ``paper`` (zc_combine@456a12c): edges with an op in S on the path networkx's Bellman-Ford
  returns from the input to ``c_{k}`` for weights -1 (op in S) / +1 (``out`` edges weigh +1), 0
  when the input feeds no node; ``head`` (zc_combine@5a14948): edges on the longest such path over
  edges with an op in S or ``out``, out edge included, -1 when there is none.
- ``node_degree_allowed_S_{cell}_{input}_degree`` and ``_{cell}_avg_in`` / ``avg_out`` (127 x 8):
  edges with an op in S leaving each input, and their count over the graph's nodes (7, or 6 when
  an input feeds no node; both averages are equal by construction).

An input that feeds no node is not in zc_combine's graph, where its degree raises ``KeyError``;
here it is 0 (NB301's and NASLib's cells use both inputs).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from ..graf_paths import adjacency, bellman_ford_path, check_variant, longest_path_nodes, subset_name, subsets
from .arch import OPS, DartsArch

OUT = 0
INPUTS, OUTPUT = ("c_{k-2}", "c_{k-1}"), "c_{k}"
ALLOWED = subsets(range(1, len(OPS) + 1))
CELLS = ("normal", "reduce")


def names() -> list[str]:
    out = [f"op_count_{c}_{i}" for c in CELLS for i in range(len(OPS) + 1)]
    out += [f"max_op_on_path_allowed_{subset_name(s)}_{c}_{x}" for s in ALLOWED for c in CELLS for x in INPUTS]
    out += [f"node_degree_allowed_{subset_name(s)}_{c}_{d}" for s in ALLOWED for c in CELLS
            for d in (f"{INPUTS[0]}_degree", f"{INPUTS[1]}_degree", "avg_in", "avg_out")]
    return out


def zc_edges(cell: Sequence[tuple[int, int]]) -> dict[tuple[str, str], int]:
    """zc_combine's edge dict of one cell: (u, v) -> zc op id, in its insertion order."""
    edges: dict[tuple[str, str], int] = {}
    for k, (src, op) in enumerate(cell):
        edges[INPUTS[src] if src < 2 else str(src - 2), str(k // 2)] = op + 1
    for i in range(len(cell) // 2):
        edges[str(i), OUTPUT] = OUT
    return edges


def _max_on_path(edges: dict[tuple[str, str], int], allowed: set[int], start: str, variant: str) -> int:
    if variant == "head":
        keep = allowed | {OUT}
        nodes = longest_path_nodes(adjacency(e for e, op in edges.items() if op in keep), start, OUTPUT)
        return -1 if nodes is None else nodes - 1
    path = bellman_ford_path(adjacency(edges), start, OUTPUT, lambda u, v: -1 if edges[u, v] in allowed else 1)
    return 0 if path is None else sum(edges[e] in allowed for e in zip(path, path[1:]))


@lru_cache(maxsize=4096)
def _cell_features(cell: tuple[tuple[int, int], ...], variant: str) -> tuple[list[float], list[list[float]],
                                                                             list[list[float]]]:
    edges = zc_edges(cell)
    counts = [float(sum(op == i for op in edges.values())) for i in range(len(OPS) + 1)]
    nodes = {n for e in edges for n in e}
    paths, degrees = [], []
    for s in ALLOWED:
        allowed = set(s)
        paths.append([float(_max_on_path(edges, allowed, x, variant)) for x in INPUTS])
        kept = [e for e, op in edges.items() if op in allowed]
        degrees.append([float(sum(u == INPUTS[0] for u, _ in kept)), float(sum(u == INPUTS[1] for u, _ in kept)),
                        len(kept) / len(nodes), len(kept) / len(nodes)])
    return counts, paths, degrees


def graf(archs: Sequence[DartsArch], variant: str = "paper") -> np.ndarray:
    """(n, 1540) float64 in :func:`names` order."""
    check_variant(variant)
    rows = []
    for arch in archs:
        normal, reduce = (_cell_features(c, variant) for c in arch.cells())
        row = normal[0] + reduce[0]
        for i in range(len(ALLOWED)):
            row += normal[1][i] + reduce[1][i]
        for i in range(len(ALLOWED)):
            row += normal[2][i] + reduce[2][i]
        rows.append(row)
    return np.array(rows, dtype=np.float64).reshape(len(archs), len(names()))
