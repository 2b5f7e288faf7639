"""NAS-Bench-201: a cell of 4 nodes whose 6 edges each carry one of 5 operations.

Architecture values, the official string form, a compact integer encoding, NB201's own
equivalence (its ``to_unique_str(consider_zero=True)``), and analytic params/FLOPs. No torch here:
the network lives in :mod:`archscore.spaces.nb201.model` and is built late by :meth:`~archscore.spaces.nb201.space.NB201Space.build`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from ..base import MacroConfig

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
OP_INDEX = {op: i for i, op in enumerate(OPS)}
#: Edges (source, target) in the order of the official string: node 1's inputs, then node 2's, ...
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NUM_EDGES = len(EDGES)
SIZE = len(OPS) ** NUM_EDGES  # 15,625
_PLACE = np.array([len(OPS) ** (NUM_EDGES - 1 - e) for e in range(NUM_EDGES)], dtype=np.int64)


@dataclass(frozen=True, slots=True)
class NB201Arch:
    """One NB201 cell: ``ops[e]`` is the index into :data:`OPS` of edge ``EDGES[e]``.

    The integer encoding reads ``ops`` as a base-5 number, first edge most significant, so the
    all-``none`` cell is 0 and the all-``avg_pool_3x3`` cell is 15,624. It is *not* the
    benchmark's own index; join with ground truth through the canonical hash.
    """

    ops: tuple[int, ...]
    index: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.ops) != NUM_EDGES:
            raise ValueError(f"NB201 cell needs {NUM_EDGES} edge ops, got {len(self.ops)}: {self.ops!r}")
        index = 0
        for e, op in enumerate(self.ops):
            if not isinstance(op, (int, np.integer)) or not 0 <= op < len(OPS):
                raise ValueError(f"NB201 edge {e} op {op!r} is not an op index in 0..{len(OPS) - 1}")
            index = index * len(OPS) + int(op)
        object.__setattr__(self, "ops", tuple(int(op) for op in self.ops))
        object.__setattr__(self, "index", index)

    def __str__(self) -> str:
        return to_string(self)


def to_string(arch: NB201Arch) -> str:
    groups, e = [], 0
    for node in range(1, 4):
        terms = []
        for src in range(node):
            terms.append(f"{OPS[arch.ops[e]]}~{src}")
            e += 1
        groups.append("|" + "|".join(terms) + "|")
    return "+".join(groups)


def parse(text: str) -> NB201Arch:
    if not isinstance(text, str):
        raise ValueError(f"NB201 string must be str, got {type(text).__name__}")
    groups = text.strip().split("+")
    if len(groups) != 3:
        raise ValueError(f"NB201 string {text!r} must have 3 '+'-separated node groups, got {len(groups)}")
    ops: list[int] = []
    for node, group in enumerate(groups, start=1):
        if len(group) < 2 or group[0] != "|" or group[-1] != "|":
            raise ValueError(f"NB201 node {node} group {group!r} must look like '|op~0|...|'")
        terms = group[1:-1].split("|")
        if len(terms) != node:
            raise ValueError(f"NB201 node {node} group {group!r} must have {node} inputs, got {len(terms)}")
        for src, term in enumerate(terms):
            op, sep, source = term.partition("~")
            if not sep or source != str(src):
                raise ValueError(f"NB201 node {node} term {term!r} must read 'op~{src}'")
            if op not in OP_INDEX:
                raise ValueError(f"NB201 node {node} term {term!r}: unknown op {op!r}; known: {', '.join(OPS)}")
            ops.append(OP_INDEX[op])
    return NB201Arch(tuple(ops))


def decode(encoding: Any) -> NB201Arch:
    if isinstance(encoding, bool) or not isinstance(encoding, (int, np.integer)):
        raise ValueError(f"NB201 encoding must be an int in 0..{SIZE - 1}, got {type(encoding).__name__} {encoding!r}")
    if not 0 <= encoding < SIZE:
        raise ValueError(f"NB201 encoding {encoding} is out of range 0..{SIZE - 1}")
    return all_archs()[int(encoding)]


def unique_string(arch: NB201Arch) -> str:
    """NB201's ``CellStructure.to_unique_str(consider_zero=True)``, reproduced exactly.

    Skip connections pass their input's expression through, ``none`` (or a single-term zero
    input) gives ``#``, other ops wrap their input; a node is the sorted sum of its terms. This is
    the benchmark's own equivalence (6,466 classes over the 15,625 cells); it deliberately keeps
    terms such as ``#+0`` unsimplified, as the benchmark does, since a trained BN after a zero
    input is not zero.
    """
    nodes = {0: "0"}
    e = 0
    for node in range(1, 4):
        terms = []
        for src in range(node):
            op = OPS[arch.ops[e]]
            e += 1
            if op == "none" or nodes[src] == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(nodes[src])
            else:
                terms.append(f"({nodes[src]})@{op}")
        nodes[node] = "+".join(sorted(terms))
    return nodes[3]


@lru_cache(maxsize=1)
def all_archs() -> tuple[NB201Arch, ...]:
    digits = (np.arange(SIZE, dtype=np.int64)[:, None] // _PLACE) % len(OPS)
    return tuple(NB201Arch(tuple(row)) for row in digits.tolist())


@dataclass(frozen=True)
class NB201Macro(MacroConfig):
    """The network around the cell. Defaults are NB201's CIFAR-10 setting."""

    C: int = 16
    N: int = 5
    num_classes: int = 10
    in_channels: int = 3
    input_size: int = 32

    def __post_init__(self) -> None:
        for name in ("C", "N", "num_classes", "in_channels", "input_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"NB201 macro {name} must be >= 1, got {getattr(self, name)}")
        if self.input_size % 4:
            raise ValueError(f"NB201 macro input_size must be a multiple of 4 (two stride-2 stages), got {self.input_size}")


@lru_cache(maxsize=64)
def cost_tables(macro: NB201Macro) -> tuple[int, np.ndarray, float, np.ndarray]:
    """(base params, params per op, base flops, flops per op) summed over all cells.

    FLOPs follow NB201's counter: conv k*k*Cin*Cout per output position, linear in*out + out,
    pooling C*H*W*k*k per output, everything else (BN, ReLU, additions) free.
    """
    C, N, classes, cin, s = macro.C, macro.N, macro.num_classes, macro.in_channels, macro.input_size
    op_params = np.zeros(len(OPS), dtype=np.int64)
    op_flops = np.zeros(len(OPS), dtype=np.float64)
    stages = [(C, s), (2 * C, s // 2), (4 * C, s // 4)]
    for c, size in stages:
        hw = size * size
        op_params[OP_INDEX["nor_conv_1x1"]] += N * (c * c + 2 * c)
        op_params[OP_INDEX["nor_conv_3x3"]] += N * (9 * c * c + 2 * c)
        op_flops[OP_INDEX["nor_conv_1x1"]] += N * c * c * hw
        op_flops[OP_INDEX["nor_conv_3x3"]] += N * 9 * c * c * hw
        op_flops[OP_INDEX["avg_pool_3x3"]] += N * 9 * c * hw
    base_params = 9 * cin * C + 2 * C  # stem conv + BN
    base_flops = 9 * cin * C * s * s
    for (c_in, size_in), (c_out, size_out) in zip(stages, stages[1:]):
        hw = size_out * size_out
        base_params += 9 * c_in * c_out + 2 * c_out + 9 * c_out * c_out + 2 * c_out + c_in * c_out
        base_flops += 9 * c_in * c_out * hw + 9 * c_out * c_out * hw + 4 * c_in * hw + c_in * c_out * hw
    base_params += 2 * 4 * C + 4 * C * classes + classes  # last BN + classifier
    base_flops += 4 * C * classes + classes
    return int(base_params), op_params, float(base_flops), op_flops


#: NASLib's NB201 op codes and edge order (its zero-cost files' keys)
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
NASLIB_EDGE_TO_OURS = (0, 1, 3, 2, 4, 5)  # NASLib edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4)


def from_naslib_key(key: str) -> NB201Arch:
    """NASLib's NB201 op tuple key, e.g. ``"(0, 2, 3, 2, 3, 1)"``, as an architecture."""
    codes = [int(c) for c in re.findall(r"-?\d+", key)]
    if len(codes) != 6 or not all(0 <= c < 5 for c in codes):
        raise ValueError(f"NASLib NB201 key {key!r} must be 6 op codes in 0..4")
    ops = [0] * 6
    for pos, code in enumerate(codes):
        ops[NASLIB_EDGE_TO_OURS[pos]] = OPS.index(NASLIB_OPS[code])
    return NB201Arch(tuple(ops))
