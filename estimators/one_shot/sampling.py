"""Which subnets a supernet training step trains (the ``sampling`` heuristic)."""
from __future__ import annotations

from typing import Any, Hashable

import numpy as np


class PathSampler:
    """Draws the architectures of one training step.

    - ``uniform`` (SPOS): each decision (an edge's op) uniform and independent; ``archs_per_step``
      such paths. A space without independent decisions (NB101's graphs) draws from its own
      uniform sampler.
    - ``fairnas`` (strict fairness, Chu et al.): per decision a random permutation of its options;
      the k-th path takes the k-th element of each, so one round trains every option of every
      decision exactly once. ``archs_per_step`` rounds up to whole rounds. Only where every decision
      has the same options (NB201's edges); refused elsewhere.
    - ``deiso`` (Ning et al.): uniform over canonical classes (one representative per class: the
      first in enumeration order), so isomorphic cells are not drawn more often than others. Where
      the space's sampler already draws classes uniformly (NB101, NDS), that sampler.
    """

    def __init__(self, space: Any, sampling: str, archs_per_step: int, rng: np.random.Generator,
                 macro: Any = None) -> None:
        shape = space.choice_shape()
        if sampling == "fairnas" and (shape is None or len(set(shape)) != 1):
            raise ValueError(f"sampling=fairnas needs decisions with equal option counts (an edge's ops); "
                             f"space {space.name!r} has {'none' if shape is None else sorted(set(shape))}: "
                             "use uniform or deiso")
        self.space, self.sampling, self.k, self.rng, self.shape = space, sampling, archs_per_step, rng, shape
        self.macro = space.macro() if macro is None else macro
        self.pool: list[Hashable] | None = None
        if sampling == "deiso" and not space.samples_classes:
            if space.size is None:
                raise ValueError(f"sampling=deiso needs a finite space to enumerate its canonical classes; "
                                 f"{space.name!r} is not: use uniform")
            self.pool = representatives(space)

    def step(self) -> list[Hashable]:
        if (self.sampling == "uniform" and self.shape is None) or (self.sampling == "deiso" and self.pool is None):
            # the space's own uniform sampler: a graph space (NB101), or one whose sampler already
            # draws canonical classes uniformly (deiso there)
            return [self.space.sample_subnet(self.rng, self.macro) for _ in range(self.k)]
        if self.sampling == "uniform":
            return [self.space.from_choices([self.rng.integers(n) for n in self.shape]) for _ in range(self.k)]
        if self.sampling == "fairnas":
            width = max(self.shape)
            rounds = -(-self.k // width)
            archs = []
            for _ in range(rounds):
                perms = [self.rng.permutation(width) % n for n in self.shape]
                archs += [self.space.from_choices([int(p[i]) for p in perms]) for i in range(width)]
            return archs
        assert self.pool is not None
        return [self.pool[int(i)] for i in self.rng.integers(len(self.pool), size=self.k)]


def representatives(space: Any) -> list[Hashable]:
    """One architecture per canonical class of a finite space (the first in enumeration order)."""
    seen: dict[str, Hashable] = {}
    for arch in space.enumerate():
        seen.setdefault(space.canonical_hash(arch), arch)
    return list(seen.values())
