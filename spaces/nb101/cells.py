"""NAS-Bench-101 cells as bit patterns: the value type's compact encoding, pruning and hashing.

A cell of V vertices (2 <= V <= 7) is stored as V row bitmasks (bit ``j`` of ``rows[i]`` is the
edge i -> j) and V - 2 interior op codes (indices into :data:`~archscore.spaces.nb101.graph.OPS`).
Its integer encoding packs, from the least significant bit: V - 2 in 3 bits, the 21 upper-triangular
edge bits (edge x -> y at bit ``x + y(y-1)/2``, the benchmark's ``generate_graphs`` order), then
2 bits per interior op. Every cell is one int below 2**34.

Everything here is plain Python on ints: decoding, pruning and costs run for every one of the
423,624 cells of a sweep, where numpy's per-call overhead on 7x7 arrays would dominate.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

from .graph import MAX_VERTICES, OPS

V_BITS, EDGE_BITS, OP_BITS = 3, 21, 2
EDGE_SHIFT, OP_SHIFT = V_BITS, V_BITS + EDGE_BITS
ENCODING_LIMIT = 1 << (OP_SHIFT + OP_BITS * (MAX_VERTICES - 2))


def edge_bit(src: int, dst: int) -> int:
    return src + dst * (dst - 1) // 2


_EDGE_OF_BIT = [(x, y) for y in range(MAX_VERTICES) for x in range(y)]  # bit x + y(y-1)/2 -> (x, y)


def pack(rows: Sequence[int], ops: Sequence[int]) -> int:
    """The encoding of a (checked) cell."""
    code = len(rows) - 2
    for src, row in enumerate(rows):
        dst = src + 1
        row >>= dst
        while row:
            if row & 1:
                code |= 1 << (EDGE_SHIFT + edge_bit(src, dst))
            row >>= 1
            dst += 1
    for i, op in enumerate(ops):
        code |= op << (OP_SHIFT + OP_BITS * i)
    return code


def unpack(code: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(rows, ops) of an encoding; raises ``ValueError`` naming the bad field."""
    if isinstance(code, bool) or not isinstance(code, int):
        raise ValueError(f"NB101 encoding must be an int, got {type(code).__name__} {code!r}")
    if not 0 <= code < ENCODING_LIMIT:
        raise ValueError(f"NB101 encoding {code} is out of range 0..{ENCODING_LIMIT - 1}")
    n = (code & 7) + 2
    if n > MAX_VERTICES:
        raise ValueError(f"NB101 encoding {code}: vertex field says {n} vertices; at most {MAX_VERTICES}")
    edges = (code >> EDGE_SHIFT) & ((1 << EDGE_BITS) - 1)
    if edges >> (n * (n - 1) // 2):
        raise ValueError(f"NB101 encoding {code}: edge bits set beyond a {n}-vertex cell")
    rows = [0] * n
    while edges:
        low = edges & -edges
        src, dst = _EDGE_OF_BIT[low.bit_length() - 1]
        rows[src] |= 1 << dst
        edges ^= low
    op_field = code >> OP_SHIFT
    if op_field >> (OP_BITS * (n - 2)):
        raise ValueError(f"NB101 encoding {code}: op bits set beyond a {n}-vertex cell's {n - 2} interior ops")
    ops = tuple((op_field >> (OP_BITS * i)) & 3 for i in range(n - 2))
    if 3 in ops:
        raise ValueError(f"NB101 encoding {code}: interior op code 3 is not an op (0..{len(OPS) - 1})")
    return tuple(rows), ops


def check(rows: Sequence[int], ops: Sequence[int]) -> None:
    """Raises ``ValueError`` naming the part: vertex count, a row off the upper triangle, an op code."""
    n = len(rows)
    if not 2 <= n <= MAX_VERTICES:
        raise ValueError(f"NB101 cell has {n} vertices; it needs 2..{MAX_VERTICES}")
    if len(ops) != n - 2:
        raise ValueError(f"NB101 cell of {n} vertices needs {n - 2} interior ops, got {len(ops)}")
    for i, row in enumerate(rows):
        if isinstance(row, bool) or not isinstance(row, int) or row < 0 or row >> n:
            raise ValueError(f"NB101 cell row {i} {row!r} is not a bitmask of {n} vertices")
        if row & ((2 << i) - 1):
            raise ValueError(f"NB101 cell matrix must be strictly upper triangular: row {i} has an edge to "
                             f"vertex {min(j for j in range(i + 1) if row >> j & 1)}")
    for i, op in enumerate(ops):
        if isinstance(op, bool) or not isinstance(op, int) or not 0 <= op < len(OPS):
            raise ValueError(f"NB101 cell op of vertex {i + 1} is {op!r}; ops are codes 0..{len(OPS) - 1} of {OPS}")


def prune(rows: Sequence[int], ops: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The benchmark's ``ModelSpec._prune``: drop vertices off every input-to-output path, keeping
    the others' order; None when the input does not reach the output."""
    n = len(rows)
    forward = 1
    for v in range(n):
        if forward >> v & 1:
            forward |= rows[v]
    if not forward >> (n - 1) & 1:
        return None
    backward = 1 << (n - 1)
    for v in range(n - 2, -1, -1):
        if rows[v] & backward:
            backward |= 1 << v
    keep = [v for v in range(n) if (forward & backward) >> v & 1]
    if len(keep) == n:
        return tuple(rows), tuple(ops)
    new_rows = []
    for v in keep:
        row = 0
        for j, w in enumerate(keep):
            if rows[v] >> w & 1:
                row |= 1 << j
        new_rows.append(row)
    return tuple(new_rows), tuple(ops[v - 1] for v in keep[1:-1])


def edge_count(rows: Sequence[int]) -> int:
    return sum(bin(r).count("1") for r in rows)


def module_hash(rows: Sequence[int], ops: Sequence[int]) -> str:
    """The benchmark's ``graph_util.hash_module`` of a pruned cell (see
    :func:`~archscore.spaces.nb101.graph.graph_hash`, the array form it is tested against)."""
    n = len(rows)
    labels = [-1, *ops, -2]
    preds = [[w for w in range(n) if rows[w] >> v & 1] for v in range(n)]
    succs = [[w for w in range(n) if rows[v] >> w & 1] for v in range(n)]
    hashes = [_md5(str((len(succs[v]), len(preds[v]), labels[v]))) for v in range(n)]
    for _ in range(n):
        hashes = [_md5("".join(sorted([hashes[w] for w in preds[v]])) + "|"
                       + "".join(sorted([hashes[w] for w in succs[v]])) + "|" + hashes[v]) for v in range(n)]
    return _md5(str(sorted(hashes)))


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def compute_vertex_channels(rows: Sequence[int], c_in: int, c_out: int) -> list[int]:
    """The benchmark's ``model_builder.compute_vertex_channels`` on a pruned cell: the output's
    channels split evenly (the first vertices take the remainder) over the interior vertices
    that feed it; every other interior vertex takes the max of its interior successors."""
    n = len(rows)
    channels = [0] * n
    channels[0], channels[-1] = c_in, c_out
    if n == 2:
        return channels
    out = n - 1
    feeders = [v for v in range(1, out) if rows[v] >> out & 1]
    share, extra = divmod(c_out, len(feeders))
    for v in feeders:
        channels[v] = share + (1 if extra else 0)
        extra -= 1 if extra else 0
    for v in range(n - 3, 0, -1):
        if not rows[v] >> out & 1:
            channels[v] = max([channels[w] for w in range(v + 1, out) if rows[v] >> w & 1], default=0)
    return channels
