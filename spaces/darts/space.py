"""The DARTS / NB301 space object: what archscore asks of a space (:class:`~archscore.spaces.base.Space`)
over the values and pure functions of :mod:`.arch`. Networks (:mod:`.model`) and supernets
(:mod:`.supernet`) are imported late, when one is built."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..base import SPACES, Space
from . import features
from . import graf as graf_features
from .arch import (CELLS, DartsArch, DartsMacro, INPUT_PAIRS, NODES, OPS, canonical_string, costs, decode, parse,
                   sample_cell, to_string)


@SPACES.register("darts")
class DartsSpace(Space):
    """DARTS / NAS-Bench-301: a normal and a reduction cell of 4 nodes over 7 ops each."""

    size = None
    #: per cell, node i has C(i+2, 2) input pairs x 49 op pairs: (1*3*6*10 * 49^4)^2
    size_note = f"{(180 * 49 ** 4) ** 2:.2e} genotypes (sampled)"
    macro_type = DartsMacro

    def decode(self, encoding: Any) -> DartsArch:
        return decode(encoding)

    def encode(self, arch: DartsArch) -> bytes:
        return arch.encoding

    naslib_order = 2  # NB301's compact genotype keys, which parse reads

    def op_counts(self, archs: Sequence[DartsArch]) -> dict[str, np.ndarray]:
        """Chosen edges carrying each op, over both cells (0-16)."""
        counts = np.zeros((len(archs), len(OPS)))
        for k, arch in enumerate(archs):
            for cell in arch.cells():
                for _, op in cell:
                    counts[k, op] += 1
        return {name: counts[:, i] for i, name in enumerate(OPS)}

    def graf(self, archs: Sequence[DartsArch], variant: str = "paper") -> np.ndarray:
        return graf_features.graf(archs, variant)

    def graf_names(self) -> list[str]:
        return graf_features.names()

    def one_hot(self, archs: Sequence[DartsArch]) -> np.ndarray:
        return features.one_hot(archs)

    def renas_tensor(self, archs: Sequence[DartsArch], macro: DartsMacro) -> np.ndarray:
        return features.renas_tensor(archs, macro)

    def parse(self, text: str) -> DartsArch:
        return parse(text)

    def to_string(self, arch: DartsArch) -> str:
        return to_string(arch)

    def canonical_string(self, arch: DartsArch) -> str:
        return canonical_string(arch)

    def sample(self, n: int, rng: np.random.Generator) -> list[DartsArch]:
        """``n`` genotypes sampled as NB301 does, distinct up to equivalence."""
        if n < 0:
            raise ValueError(f"cannot sample {n} architectures")
        out, seen = [], set()
        while len(out) < n:
            arch = DartsArch(sample_cell(rng), sample_cell(rng))
            key = canonical_string(arch)
            if key not in seen:
                seen.add(key)
                out.append(arch)
        return out

    def params(self, arch: DartsArch, macro: DartsMacro) -> int:
        return costs(arch, macro)[0]

    def flops(self, arch: DartsArch, macro: DartsMacro) -> float:
        return float(costs(arch, macro)[1])

    def build(self, arch: DartsArch, macro: DartsMacro) -> Any:
        from .model import DartsNetwork

        return DartsNetwork(arch, macro)

    def supernet(self, macro: DartsMacro, **options: Any) -> Any:
        """:class:`~archscore.spaces.darts.supernet.DartsSupernet`; options: ``bn_affine``,
        ``bn_track_running_stats``, ``wsbn``, ``topology``, ``path_dropout`` (``dynamic_channels``
        refused: a DARTS cell's channel counts do not vary)."""
        from .supernet import DartsSupernet

        return DartsSupernet(macro, **self.supernet_options(macro, **options))

    def supernet_options(self, macro: DartsMacro, **options: Any) -> dict[str, Any]:
        from ..supernet_parts import refuse_dynamic_channels

        refuse_dynamic_channels("DARTS", options)
        if macro.cell_bn != "affine":
            raise ValueError("the DARTS supernet takes its BN options from the heuristics; "
                             f"macro cell_bn={macro.cell_bn!r} applies to stand-alone networks only")
        return options

    def choice_shape(self) -> tuple[int, ...]:
        """Per cell (normal, reduce), per node i: which input pair (C(i+2, 2)), then each input's op."""
        return tuple(n for _ in CELLS for i in range(NODES) for n in (len(INPUT_PAIRS[i]), len(OPS), len(OPS)))

    def from_choices(self, choices: Sequence[int]) -> DartsArch:
        if len(choices) != len(self.choice_shape()):
            raise ValueError(f"a DARTS genotype is {len(self.choice_shape())} choices, got {len(choices)}")
        cells = []
        for c in range(len(CELLS)):
            pairs = []
            for i in range(NODES):
                pair, op_a, op_b = (int(v) for v in choices[3 * (NODES * c + i): 3 * (NODES * c + i) + 3])
                a, b = INPUT_PAIRS[i][pair]
                pairs += [(a, op_a), (b, op_b)]
            cells.append(tuple(pairs))
        return DartsArch(*cells)
