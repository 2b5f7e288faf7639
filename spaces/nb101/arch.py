"""NAS-Bench-101 (Ying et al. 2019): a cell DAG of up to 7 vertices and 9 edges, stacked 3 x 3.

An architecture is a cell as given (its adjacency and interior ops), kept unpruned like the
benchmark's ``ModelSpec.original_matrix``, so that data indexed by raw matrices (NASLib's keys)
join row for row. What it computes is its *pruned* cell (vertices off every input-to-output path
dropped, as the benchmark does); the 9-edge limit applies to that. A cell whose input does not
reach its output is a valid, degenerate architecture (the benchmark's ``valid_spec = False``): its
cells output zeros and it costs no cell parameters.

- identity: the benchmark's own module hash of the pruned cell (``canonical_string``), so cells
  join with published NB101 data by isomorphism class; every disconnected cell is one class.
- ``enumerate``/``sample``: the 423,624 unique cells (one per class, unpruned = pruned), in
  encoding order, from a table computed once and cached (:mod:`.enumeration`).
- strings: ``"0111010/0000001/.../0000000:input,conv1x1-bn-relu,...,output"`` (matrix rows, then
  ops); ``parse`` also reads NASLib's ``zc_nasbench101.json`` keys (49 matrix entries, then 7 op
  codes) and the benchmark's ``(matrix, ops)`` form, as a Python/JSON literal or ``{"matrix", "ops"}``.
- costs follow what the published NB101 data reports (NASLib's ``params``/``flops``, counted by
  tensorwatch on the NASBench-PyTorch network): params count every conv, BN (2 per channel) and the
  classifier with its bias; FLOPs count a conv-BN-ReLU as ``k^2 Cin Cout HW + 2 Cout HW + Cout HW``,
  a max-pool as ``k^2 C H_out W_out`` and the classifier as ``in x out`` (no bias); additions,
  concatenation, truncation and the global mean are free. (NB201's counter differs: it follows
  NB201's own published convention.)
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from . import enumeration
from ..base import MacroConfig
from .cells import (check, compute_vertex_channels, edge_count, module_hash, pack, prune, unpack)
from .graph import INPUT, MAX_EDGES, OPS, OUTPUT, check_cell

OP_CODE = {op: i for i, op in enumerate(OPS)}
#: NASLib's op codes in its zc keys (``nasbench101/conversions.py``)
NASLIB_OPS = (INPUT, OUTPUT, "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu")
DISCONNECTED = "disconnected"
SIZE = enumeration.SIZE


@dataclass(frozen=True, slots=True)
class NB101Arch:
    """One cell: ``rows[i]`` has bit ``j`` set for an edge i -> j; ``ops`` are the interior
    vertices' op codes (indices into :data:`OPS`). Vertex 0 is the input, the last the output.

    Raises:
        ValueError: naming the part: vertex count, a row off the upper triangle, an op code, or
            more than 9 edges left after pruning.
    """

    rows: tuple[int, ...]
    ops: tuple[int, ...]
    encoding: int = field(init=False, repr=False, compare=False)
    #: (rows, ops) of the pruned cell; None when the input does not reach the output
    pruned: tuple[tuple[int, ...], tuple[int, ...]] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rows, ops = tuple(int(r) if isinstance(r, np.integer) else r for r in self.rows), \
            tuple(int(o) if isinstance(o, np.integer) else o for o in self.ops)
        check(rows, ops)
        self._finish(rows, ops, pack(rows, ops))

    def _finish(self, rows: tuple[int, ...], ops: tuple[int, ...], encoding: int) -> None:
        pruned = prune(rows, ops)
        if pruned is not None and edge_count(pruned[0]) > MAX_EDGES:
            raise ValueError(f"NB101 cell has {edge_count(pruned[0])} edges after pruning; "
                             f"the benchmark allows at most {MAX_EDGES}")
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "ops", ops)
        object.__setattr__(self, "encoding", encoding)
        object.__setattr__(self, "pruned", pruned)

    @property
    def num_vertices(self) -> int:
        return len(self.rows)

    @property
    def is_connected(self) -> bool:
        """False for the degenerate cell whose input does not reach its output."""
        return self.pruned is not None

    def matrix(self) -> np.ndarray:
        """The adjacency matrix as given (``matrix[src, dst]``), int64."""
        n = len(self.rows)
        return np.array([[row >> j & 1 for j in range(n)] for row in self.rows], dtype=np.int64)

    def op_names(self) -> list[str]:
        return [INPUT, *(OPS[o] for o in self.ops), OUTPUT]

    def __str__(self) -> str:
        return to_string(self)


def from_spec(matrix: Any, ops: Sequence[Any]) -> NB101Arch:
    """A cell from the benchmark's ``ModelSpec(matrix, ops)`` form (op names, with input and output).

    Raises:
        ValueError: malformed matrix or ops (see :func:`~archscore.spaces.nb101.graph.check_cell`).
    """
    m = check_cell(np.asarray(matrix), list(ops))
    rows = tuple(int(sum(1 << j for j in np.flatnonzero(row))) for row in m)
    return NB101Arch(rows, tuple(OP_CODE[op] for op in ops[1:-1]))


def from_naslib_key(codes: Sequence[int]) -> NB101Arch:
    """A cell from NASLib's key: ``n*n`` matrix entries (row-major) then ``n`` op codes of :data:`NASLIB_OPS`."""
    n = next((v for v in range(2, 8) if v * v + v == len(codes)), None)
    if n is None:
        raise ValueError(f"NASLib NB101 key has {len(codes)} numbers; it needs n*n matrix entries then n op codes "
                         "(56 for 7 vertices)")
    bad = [c for c in codes[n * n:] if not (isinstance(c, int) and 0 <= c < len(NASLIB_OPS))]
    if bad:
        raise ValueError(f"NASLib NB101 key op code(s) {bad} are not in 0..{len(NASLIB_OPS) - 1} {NASLIB_OPS}")
    matrix = np.array(codes[:n * n]).reshape(n, n)
    return from_spec(matrix, [NASLIB_OPS[c] for c in codes[n * n:]])


def naslib_key(arch: NB101Arch) -> str:
    """NASLib's key of the cell as given (the inverse of :func:`from_naslib_key`)."""
    codes = arch.matrix().ravel().tolist() + [NASLIB_OPS.index(op) for op in arch.op_names()]
    return str(tuple(codes))


def to_string(arch: NB101Arch) -> str:
    n = len(arch.rows)
    return "/".join([_row_text(row, n) for row in arch.rows]) + ":" + _ops_text(arch.ops)


@lru_cache(maxsize=None)
def _row_text(row: int, n: int) -> str:
    return "".join("1" if row >> j & 1 else "0" for j in range(n))


@lru_cache(maxsize=None)
def _ops_text(ops: tuple[int, ...]) -> str:
    return ",".join([INPUT, *(OPS[o] for o in ops), OUTPUT])


def parse(text: str) -> NB101Arch:
    if not isinstance(text, str):
        raise ValueError(f"NB101 string must be str, got {type(text).__name__}")
    text = text.strip()
    if text[:1] in "([{":
        return _parse_literal(text)
    rows_text, sep, ops_text = text.partition(":")
    if not sep:
        raise ValueError(f"NB101 string {text[:60]!r} must read 'ROW/ROW/...:input,OP,...,output' "
                         "(or be a NASLib key or a (matrix, ops) literal)")
    row_texts = rows_text.split("/")
    for i, row in enumerate(row_texts):
        if len(row) != len(row_texts) or set(row) - {"0", "1"}:
            raise ValueError(f"NB101 matrix row {i} {row!r} must be {len(row_texts)} digits 0/1")
    ops = [op.strip() for op in ops_text.split(",")]
    matrix = [[int(c) for c in row] for row in row_texts]
    return from_spec(matrix, ops)


def _parse_literal(text: str) -> NB101Arch:
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ValueError(f"NB101 literal {text[:60]!r} is not a NASLib key or a (matrix, ops) literal") from None
    if isinstance(value, dict):
        if set(value) != {"matrix", "ops"}:
            raise ValueError(f"NB101 spec mapping must have exactly 'matrix' and 'ops', got {sorted(value)}")
        return from_spec(value["matrix"], value["ops"])
    if isinstance(value, (list, tuple)) and value and all(isinstance(c, int) and not isinstance(c, bool)
                                                           for c in value):
        return from_naslib_key(list(value))
    if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[1], (list, tuple)):
        try:
            return from_spec(value[0], value[1])
        except (TypeError, KeyError):
            raise ValueError(f"NB101 spec {text[:60]!r} must be (matrix of 0/1 rows, op names)") from None
    raise ValueError(f"NB101 literal {text[:60]!r} is neither a NASLib key (ints) nor a (matrix, ops) pair")


def decode(encoding: Any) -> NB101Arch:
    if isinstance(encoding, np.integer):
        encoding = int(encoding)
    rows, ops = unpack(encoding)  # checks what the bit layout leaves possible to get wrong
    arch = object.__new__(NB101Arch)
    arch._finish(rows, ops, encoding)
    return arch


def canonical_string(arch: NB101Arch) -> str:
    """The benchmark's module hash of the pruned cell, or ``disconnected``."""
    return DISCONNECTED if arch.pruned is None else module_hash(*arch.pruned)


@dataclass(frozen=True)
class NB101Macro(MacroConfig):
    """The network around the cell; defaults are the benchmark's (``C`` = stem channels, ``N`` = cells per stack)."""

    C: int = 128
    N: int = 3
    stacks: int = 3
    num_classes: int = 10
    in_channels: int = 3
    input_size: int = 32

    def __post_init__(self) -> None:
        for name in ("C", "N", "stacks", "num_classes", "in_channels", "input_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"NB101 macro {name} must be >= 1, got {getattr(self, name)}")
        if self.input_size % (1 << (self.stacks - 1)):
            raise ValueError(f"NB101 macro input_size must be a multiple of {1 << (self.stacks - 1)} "
                             f"({self.stacks - 1} max-pool downsamplings), got {self.input_size}")


def conv_bn_relu_costs(k: int, c_in: int, c_out: int, hw: int) -> tuple[int, int]:
    return k * k * c_in * c_out + 2 * c_out, k * k * c_in * c_out * hw + 3 * c_out * hw


def stacks(macro: NB101Macro) -> list[tuple[int, int, int, int]]:
    """(count, c_in, c_out, h*w) of the cells of each kind: the first of a stack after a
    downsampling takes the previous width and doubles it."""
    kinds, c, size = [], macro.C, macro.input_size
    for stack in range(macro.stacks):
        if stack:
            size //= 2
            kinds.append((1, c, 2 * c, size * size))
            c *= 2
            if macro.N > 1:
                kinds.append((macro.N - 1, c, c, size * size))
        else:
            kinds.append((macro.N, c, c, size * size))
    return kinds


@lru_cache(maxsize=1 << 15)
def structure_costs(rows: tuple[int, ...], macro: NB101Macro) -> tuple[int, int, tuple[tuple[tuple[int, int], ...], ...]]:
    """(params, flops) of a pruned cell's projections over the whole network, and per interior
    vertex the (params, flops) each op would add there."""
    n = len(rows)
    base_p = base_f = 0
    per_vertex = [[[0, 0] for _ in OPS] for _ in range(n - 2)]
    for count, c_in, c_out, hw in stacks(macro):
        if n == 2:
            p, f = conv_bn_relu_costs(1, c_in, c_out, hw)
            base_p, base_f = base_p + count * p, base_f + count * f
            continue
        channels = compute_vertex_channels(rows, c_in, c_out)
        for t in range(1, n):
            if rows[0] >> t & 1:
                p, f = conv_bn_relu_costs(1, c_in, channels[t], hw)
                base_p, base_f = base_p + count * p, base_f + count * f
        for t in range(1, n - 1):
            ch = channels[t]
            for op, (p, f) in enumerate((conv_bn_relu_costs(3, ch, ch, hw), conv_bn_relu_costs(1, ch, ch, hw), (0, 9 * ch * hw))):
                per_vertex[t - 1][op][0] += count * p
                per_vertex[t - 1][op][1] += count * f
    return base_p, base_f, tuple(tuple((p, f) for p, f in v) for v in per_vertex)


@lru_cache(maxsize=64)
def network_costs(macro: NB101Macro) -> tuple[int, int]:
    """(params, flops) outside the cells: the stem, the downsampling pools and the classifier."""
    s = macro.input_size
    p, f = conv_bn_relu_costs(3, macro.in_channels, macro.C, s * s)
    c = macro.C
    for _ in range(1, macro.stacks):
        s //= 2
        f += 4 * c * s * s
        c *= 2
    return p + c * macro.num_classes + macro.num_classes, f + c * macro.num_classes


def costs(arch: NB101Arch, macro: NB101Macro) -> tuple[int, int]:
    params, flops = network_costs(macro)
    if arch.pruned is None:
        return params, flops
    rows, ops = arch.pruned
    base_p, base_f, per_vertex = structure_costs(rows, macro)
    params, flops = params + base_p, flops + base_f
    for v, op in enumerate(ops):
        params += per_vertex[v][op][0]
        flops += per_vertex[v][op][1]
    return params, flops
