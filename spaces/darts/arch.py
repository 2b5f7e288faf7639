"""DARTS / NAS-Bench-301 (Liu et al. 2019; Siems et al. 2020): a normal and a reduction cell.

Each cell has 4 intermediate nodes; node ``i`` (2..5) sums two ops applied to two distinct earlier
states (0 = c_{k-2}, 1 = c_{k-1}, 2.. = earlier nodes); the cell outputs the concatenation of
nodes 2..5. Ops are the 7 of NB301's configspace (DARTS's primitives without ``none``).

- value: per cell 8 ``(input, op)`` pairs, two per node, in the order given (NASLib's compact
  genotype order, so its keys round-trip).
- string: DARTS's own ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=range(2, 6),
  reduce=[...], reduce_concat=range(2, 6))``; ``parse`` also reads NASLib's compact genotype,
  the key of ``zc_nasbench301.json`` (``[[(input, op index), ...8], [...8]]``).
- encoding: 16 bytes, one per pair (``input * 7 + op``), normal cell first.
- identity: genotypes compute the same function when a node's two pairs are swapped or the
  intermediate nodes are renumbered consistently (the output concatenates them all; the next
  cell's 1x1 preprocessing absorbs the channel order). The canonical string sorts each node's
  pairs and takes the smallest over the valid renumberings; the two cells are never swapped.
- sampling as NB301/NASLib sample: per node, two distinct inputs in random order and two ops,
  uniformly and independently, normal and reduction cells independently.
- costs: see :mod:`archscore.spaces.darts.model` for the network and :func:`costs` for the
  counting convention (NASLib's published ``params``/``flops`` are reproduced exactly by
  ``cell_bn="naslib"``).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import lru_cache
import itertools
from itertools import permutations
from typing import Any, Sequence

import numpy as np

from ..base import MacroConfig

OPS: tuple[str, ...] = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                        "dil_conv_3x3", "dil_conv_5x5")  # NASLib's compact-genotype op indices
OP_INDEX = {op: i for i, op in enumerate(OPS)}
NODES, PAIRS = 4, 8
CELLS = ("normal", "reduce")
Cell = tuple[tuple[int, int], ...]


def check_cell(cell: Sequence[Sequence[int]], name: str) -> Cell:
    """The cell as a tuple of (input, op) int pairs. Raises ``ValueError`` naming the part."""
    if len(cell) != PAIRS:
        raise ValueError(f"DARTS {name} cell needs {PAIRS} (input, op) pairs (2 per node), got {len(cell)}")
    out = []
    for k, pair in enumerate(cell):
        node = 2 + k // 2
        if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair):
            raise ValueError(f"DARTS {name} cell pair {k} (node {node}) {pair!r} must be (input, op index)")
        src, op = int(pair[0]), int(pair[1])
        if not 0 <= src < node:
            raise ValueError(f"DARTS {name} cell node {node} input {src} must be an earlier state, 0..{node - 1}")
        if not 0 <= op < len(OPS):
            raise ValueError(f"DARTS {name} cell node {node} op {op} is not an op index 0..{len(OPS) - 1} {OPS}")
        out.append((src, op))
    for i in range(NODES):
        if out[2 * i][0] == out[2 * i + 1][0]:
            raise ValueError(f"DARTS {name} cell node {i + 2} takes input {out[2 * i][0]} twice; "
                             "a node takes two distinct inputs")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class DartsArch:
    """A genotype: ``normal`` and ``reduce`` cells of 8 ``(input, op index)`` pairs each."""

    normal: Cell
    reduce: Cell
    encoding: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        normal, reduce = check_cell(self.normal, "normal"), check_cell(self.reduce, "reduce")
        object.__setattr__(self, "normal", normal)
        object.__setattr__(self, "reduce", reduce)
        object.__setattr__(self, "encoding", bytes(src * len(OPS) + op for src, op in normal + reduce))

    def cells(self) -> tuple[Cell, Cell]:
        return self.normal, self.reduce

    def __str__(self) -> str:
        return to_string(self)


def decode(encoding: Any) -> DartsArch:
    if not isinstance(encoding, (bytes, bytearray)):
        raise ValueError(f"DARTS encoding must be {2 * PAIRS} bytes, got {type(encoding).__name__} {encoding!r}")
    if len(encoding) != 2 * PAIRS:
        raise ValueError(f"DARTS encoding must be {2 * PAIRS} bytes, got {len(encoding)}")
    pairs = [divmod(b, len(OPS)) for b in encoding]
    return DartsArch(tuple(pairs[:PAIRS]), tuple(pairs[PAIRS:]))


def to_string(arch: DartsArch) -> str:
    def genes(cell: Cell) -> str:
        return "[" + ", ".join(f"('{OPS[op]}', {src})" for src, op in cell) + "]"

    return (f"Genotype(normal={genes(arch.normal)}, normal_concat=range(2, 6), "
            f"reduce={genes(arch.reduce)}, reduce_concat=range(2, 6))")


_GENOTYPE = re.compile(r"^\s*Genotype\((?P<body>.*)\)\s*$", re.S)
_FIELD = re.compile(r"(normal|reduce)(_concat)?\s*=\s*(\[[^\]]*\]|range\(\s*2\s*,\s*6\s*\))")


def parse(text: str) -> DartsArch:
    if not isinstance(text, str):
        raise ValueError(f"DARTS string must be str, got {type(text).__name__}")
    match = _GENOTYPE.match(text)
    if match:
        return _parse_genotype(match.group("body"))
    if text.strip()[:1] == "[":
        return _parse_compact(text)
    raise ValueError(f"DARTS string {text[:60]!r} must be a Genotype(normal=..., reduce=...) or NASLib's compact "
                     "genotype [[(input, op), ...], [...]]")


def _parse_genotype(body: str) -> DartsArch:
    fields = {name + (concat or ""): value for name, concat, value in _FIELD.findall(body)}
    cells = {}
    for name in CELLS:
        if name not in fields:
            raise ValueError(f"DARTS Genotype has no {name}=[...] list")
        concat = fields.get(name + "_concat", "range(2, 6)")
        if concat.startswith("[") and _literal(concat, f"{name}_concat") != [2, 3, 4, 5]:
            raise ValueError(f"DARTS Genotype {name}_concat {concat} is not supported; cells concatenate nodes 2..5")
        genes = _literal(fields[name], name)
        pairs = []
        for k, gene in enumerate(genes):
            if not (isinstance(gene, tuple) and len(gene) == 2 and isinstance(gene[0], str)):
                raise ValueError(f"DARTS Genotype {name} gene {k} {gene!r} must be ('op name', input)")
            if gene[0] not in OP_INDEX:
                raise ValueError(f"DARTS Genotype {name} gene {k}: unknown op {gene[0]!r}; ops: {', '.join(OPS)}")
            pairs.append((gene[1], OP_INDEX[gene[0]]))
        cells[name] = pairs
    return DartsArch(tuple(cells["normal"]), tuple(cells["reduce"]))


def _parse_compact(text: str) -> DartsArch:
    value = _literal(text, "compact genotype")
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise ValueError(f"NASLib compact genotype {text[:60]!r} must be [normal pairs, reduce pairs]")
    return DartsArch(tuple(map(tuple, value[0])), tuple(map(tuple, value[1])))


def _literal(text: str, what: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        raise ValueError(f"DARTS {what} {text[:60]!r} is not a Python literal") from None


@lru_cache(maxsize=1)
def _node_orders() -> tuple[tuple[int, ...], ...]:
    """Renumberings of nodes 2..5 as maps old -> new (index = old node - 2)."""
    return tuple(tuple(p) for p in permutations(range(2, 2 + NODES)))


def canonical_cell(cell: Cell) -> Cell:
    """The smallest form, over valid renumberings of the intermediate nodes, of the cell with
    each node's pairs sorted."""
    best = None
    for new in _node_orders():
        rename = (0, 1, *new)
        if any(rename[src] >= rename[2 + k // 2] for k, (src, _) in enumerate(cell)):
            continue
        nodes = [None] * NODES
        for i in range(NODES):
            a, b = cell[2 * i], cell[2 * i + 1]
            nodes[new[i] - 2] = tuple(sorted(((rename[a[0]], a[1]), (rename[b[0]], b[1]))))
        form = tuple(p for node in nodes for p in node)
        if best is None or form < best:
            best = form
    return best


def canonical_string(arch: DartsArch) -> str:
    return "|".join(",".join(f"{src}{OPS[op]}" for src, op in canonical_cell(c)) for c in arch.cells())


#: per node i (0..3), its possible input pairs in order
INPUT_PAIRS = tuple(tuple(itertools.combinations(range(i + 2), 2)) for i in range(NODES))


def sample_cell(rng: np.random.Generator) -> Cell:
    pairs = []
    for i in range(NODES):
        ops = rng.integers(0, len(OPS), size=2)
        inputs = rng.choice(i + 2, size=2, replace=False)
        pairs += [(int(inputs[0]), int(ops[0])), (int(inputs[1]), int(ops[1]))]
    return tuple(pairs)


@dataclass(frozen=True)
class DartsMacro(MacroConfig):
    """The network around the cells; defaults are NB301's training network (DARTS ``NetworkCIFAR``
    at C=32 with 8 cells: ``N`` normal cells per stage, so ``3N + 2`` cells, reductions at 1/3 and
    2/3). ``cell_bn``: ``affine`` (DARTS, NB301) or ``naslib`` (NASLib's zero-cost graph: BN
    without affine parameters in the cell ops and after pooling, which reproduces the published
    ``params``/``flops`` exactly)."""

    C: int = 32
    N: int = 2
    num_classes: int = 10
    in_channels: int = 3
    input_size: int = 32
    cell_bn: str = "affine"

    def __post_init__(self) -> None:
        for name in ("C", "N", "num_classes", "in_channels", "input_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"DARTS macro {name} must be >= 1, got {getattr(self, name)}")
        if self.C % 2:
            raise ValueError(f"DARTS macro C must be even (factorized reductions halve it), got {self.C}")
        if self.input_size % 4:
            raise ValueError(f"DARTS macro input_size must be a multiple of 4 (two reductions), got {self.input_size}")
        if self.cell_bn not in ("affine", "naslib"):
            raise ValueError(f"DARTS macro cell_bn must be 'affine' or 'naslib', got {self.cell_bn!r}")

    @property
    def layers(self) -> int:
        return 3 * self.N + 2


def layout(macro: DartsMacro) -> list[tuple[bool, bool, int, int, int, int]]:
    """Per cell: (reduction, previous was reduction, C_prev_prev, C_prev, C, input size)."""
    out, layers = [], macro.layers
    c_pp = c_p = 3 * macro.C
    c, size, reduction_prev = macro.C, macro.input_size, False
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            c *= 2
        out.append((reduction, reduction_prev, c_pp, c_p, c, size))
        if reduction:
            size //= 2
        reduction_prev = reduction
        c_pp, c_p = c_p, 4 * c
    return out


def op_costs(op: int, c: int, h_in: int, stride: int, affine: bool, pool_bn: bool) -> tuple[int, int]:
    """(params, FLOPs) of one cell op, tensorwatch's way: conv k^2 Cin/groups Cout per output
    position, BN 2 (affine) or 1 per element, ReLU 1 per input element, pooling k^2 per output."""
    h = h_in // stride
    hw_in, hw = h_in * h_in, h * h
    bn_p, bn_f = (2 * c, 2 * c * hw) if affine else (0, c * hw)
    name = OPS[op]
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        return 0, 9 * c * hw + (c * hw if pool_bn else 0)
    if name == "skip_connect":
        if stride == 1:
            return 0, 0
        return c * c + bn_p, c * hw_in + c * c * hw + bn_f  # FactorizedReduce(C, C)
    k = 3 if name.endswith("3x3") else 5
    if name.startswith("sep"):
        return 2 * (k * k * c + c * c) + 2 * bn_p, c * hw_in + 2 * (k * k * c + c * c) * hw + c * hw + 2 * bn_f
    return k * k * c + c * c + bn_p, c * hw_in + (k * k * c + c * c) * hw + bn_f  # dil_conv


@lru_cache(maxsize=1 << 16)
def cell_costs(cell: Cell, reduction: bool, reduction_prev: bool, c_pp: int, c_p: int, c: int, size: int,
                cell_bn: str) -> tuple[int, int]:
    affine, pool_bn = cell_bn == "affine", cell_bn == "naslib"
    params = flops = 0
    hw = size * size
    if reduction_prev:  # FactorizedReduce(C_pp, C) from twice the size
        params += c_pp * c + 2 * c
        flops += c_pp * 4 * hw + c_pp * c * hw + 2 * c * hw
    else:
        params += c_pp * c + 2 * c
        flops += c_pp * hw + c_pp * c * hw + 2 * c * hw
    params += c_p * c + 2 * c
    flops += c_p * hw + c_p * c * hw + 2 * c * hw
    for k, (src, op) in enumerate(cell):
        stride = 2 if reduction and src < 2 else 1
        h_in = size if stride == 2 or not reduction else size // 2
        p, f = op_costs(op, c, h_in, stride, affine, pool_bn)
        params, flops = params + p, flops + f
    return params, flops


def costs(arch: DartsArch, macro: DartsMacro) -> tuple[int, int]:
    """(params, FLOPs). FLOPs count as tensorwatch does on NASLib's graph: the stem conv and BN,
    every ReLU, conv and BN, pooling ops, the global pool as ``C (H + 1)^2`` (tensorwatch's
    adaptive-pool formula) and the classifier as ``in x out``; additions and concatenation are free."""
    s, c3 = macro.input_size, 3 * macro.C
    params = 9 * macro.in_channels * c3 + 2 * c3
    flops = (9 * macro.in_channels * c3 + 2 * c3) * s * s
    for reduction, reduction_prev, c_pp, c_p, c, size in layout(macro):
        p, f = cell_costs(arch.reduce if reduction else arch.normal, reduction, reduction_prev, c_pp, c_p, c,
                           size, macro.cell_bn)
        params, flops = params + p, flops + f
    c_last, h_last = 4 * layout(macro)[-1][4], macro.input_size // 4
    params += c_last * macro.num_classes + macro.num_classes
    flops += c_last * (h_last + 1) ** 2 + c_last * macro.num_classes
    return params, flops
