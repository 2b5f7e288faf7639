"""NAS-Bench-101 cell graphs: pruning to the computed subgraph, and the benchmark's graph hash.

A cell is an upper-triangular 0/1 adjacency matrix over up to 7 vertices (``matrix[src, dst]``)
and one op per vertex: ``input`` first, ``output`` last, and one of :data:`OPS` in between.
Both functions follow the benchmark's own code (google-research/nasbench ``b942470``):
``ModelSpec._prune`` (a vertex not on an input-to-output path is dropped; the order of the
others is kept) and ``graph_util.hash_module`` (an iterated neighbourhood MD5, equal for
isomorphic labelled graphs), so :func:`cell_hash` is the key the published dataset is indexed by.
The NB101 space builds on these; its edge limit (9) applies to the pruned matrix, as the
benchmark's ``_check_spec`` does.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

#: interior ops in the benchmark's ``available_ops`` order, which sets the hash labels 0, 1, 2
OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
INPUT, OUTPUT = "input", "output"
MAX_VERTICES, MAX_EDGES = 7, 9


def check_cell(matrix: np.ndarray, ops: Sequence[str]) -> np.ndarray:
    """The matrix as a 0/1 int array.

    Raises:
        ValueError: not square, ops of another length, not strictly upper triangular, entries
            other than 0/1, or ops not ``input ... output`` with interior ops from :data:`OPS`.
    """
    m = np.asarray(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"NB101 cell matrix must be square, got shape {m.shape}")
    if len(ops) != m.shape[0]:
        raise ValueError(f"NB101 cell has {m.shape[0]} vertices but {len(ops)} ops")
    if not np.isin(m, (0, 1)).all():
        raise ValueError("NB101 cell matrix entries must be 0 or 1")
    m = m.astype(np.int64)
    if np.tril(m).any():
        raise ValueError("NB101 cell matrix must be strictly upper triangular (edges go from lower to higher vertices)")
    if len(ops) < 2 or ops[0] != INPUT or ops[-1] != OUTPUT:
        raise ValueError(f"NB101 cell ops must start with {INPUT!r} and end with {OUTPUT!r}, got {list(ops)}")
    bad = [op for op in ops[1:-1] if op not in OPS]
    if bad:
        raise ValueError(f"NB101 cell op(s) {bad} are not among {list(OPS)}")
    return m


def prune(matrix: np.ndarray, ops: Sequence[str]) -> tuple[np.ndarray, list[str]] | None:
    """The cell without vertices that are not on a path from input to output, or None when the
    input does not reach the output (the cell computes nothing)."""
    m = np.asarray(matrix)
    n = m.shape[0]
    from_input = _reach(m, 0)
    to_output = _reach(m.T, n - 1)
    keep = [v for v in range(n) if v in from_input and v in to_output]
    if len(keep) < 2:
        return None
    return m[np.ix_(keep, keep)], [ops[v] for v in keep]


def _reach(adjacency: np.ndarray, start: int) -> set[int]:
    seen, frontier = {start}, [start]
    while frontier:
        for w in np.flatnonzero(adjacency[frontier.pop()]):
            if int(w) not in seen:
                seen.add(int(w))
                frontier.append(int(w))
    return seen


def labels_of(ops: Sequence[str]) -> list[int]:
    """The hash labels: -1 for input, -2 for output, an interior op's index in :data:`OPS`."""
    return [-1] + [OPS.index(op) for op in ops[1:-1]] + [-2]


def graph_hash(matrix: np.ndarray, labels: Sequence[int]) -> str:
    """The benchmark's hash of a (pruned) labelled DAG: each vertex starts as the MD5 of its
    (out-degree, in-degree, label); then, as many times as there are vertices, becomes the MD5 of
    its in-neighbours' sorted hashes, its out-neighbours' sorted hashes and its own; the graph's
    hash is the MD5 of the sorted vertex hashes. Text forms match Python's ``str`` of ints."""
    m = np.asarray(matrix)
    n = m.shape[0]
    ins = [int(x) for x in m.sum(axis=0)]
    outs = [int(x) for x in m.sum(axis=1)]
    hashes = [_md5(str((outs[v], ins[v], int(labels[v])))) for v in range(n)]
    preds = [np.flatnonzero(m[:, v]) for v in range(n)]
    succs = [np.flatnonzero(m[v, :]) for v in range(n)]
    for _ in range(n):
        hashes = [_md5("".join(sorted(hashes[w] for w in preds[v])) + "|"
                       + "".join(sorted(hashes[w] for w in succs[v])) + "|" + hashes[v]) for v in range(n)]
    return _md5(str(sorted(hashes)))


def cell_hash(matrix: np.ndarray, ops: Sequence[str]) -> str | None:
    """The benchmark's key of a cell (pruned first); None for a cell whose input does not reach its output.

    Raises:
        ValueError: a malformed cell (see :func:`check_cell`).
    """
    pruned = prune(check_cell(matrix, ops), ops)
    if pruned is None:
        return None
    return graph_hash(pruned[0], labels_of(pruned[1]))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()
