"""Which subnets a supernet training step trains (the ``sampling`` heuristic).

One registered class per sampling: a new one is a class here with its decorator, and the
``sampling`` heuristic accepts its name. What a sampler needs of a space it asks the space
(:meth:`~archscore.spaces.base.Space.choice_shape`, ``from_choices``, ``sample_subnet``), and it
refuses, naming the space, where the space cannot give it.
"""
from __future__ import annotations

from typing import Any, Hashable

import numpy as np

from archscore._core import Registry

SAMPLERS: Registry[type["Sampler"]] = Registry("sampling")


class Sampler:
    """Draws the architectures of one training step; ``archs_per_step`` paths per step."""

    name: str

    def __init__(self, space: Any, archs_per_step: int, rng: np.random.Generator, macro: Any = None) -> None:
        self.space, self.k, self.rng = space, archs_per_step, rng
        self.shape = space.choice_shape()
        self.macro = space.macro() if macro is None else macro

    def own_sampler(self) -> list[Hashable]:
        """The space's own uniform sampler over the supernet built at ``macro``."""
        return [self.space.sample_subnet(self.rng, self.macro) for _ in range(self.k)]

    def step(self) -> list[Hashable]:
        raise NotImplementedError(f"sampling {self.name!r} defines no step")


@SAMPLERS.register("uniform")
class Uniform(Sampler):
    """SPOS: each decision (an edge's op) uniform and independent. A space without independent
    decisions (NB101's graphs) draws from its own uniform sampler."""

    def step(self) -> list[Hashable]:
        if self.shape is None:
            return self.own_sampler()
        return [self.space.from_choices([self.rng.integers(n) for n in self.shape]) for _ in range(self.k)]


@SAMPLERS.register("fairnas")
class FairNas(Sampler):
    """Strict fairness (Chu et al.): per decision a random permutation of its options; the k-th
    path takes the k-th element of each, so one round trains every option of every decision
    exactly once. ``archs_per_step`` rounds up to whole rounds. Only where every decision has the
    same options (NB201's edges); refused elsewhere."""

    def __init__(self, space: Any, archs_per_step: int, rng: np.random.Generator, macro: Any = None) -> None:
        super().__init__(space, archs_per_step, rng, macro)
        if self.shape is None or len(set(self.shape)) != 1:
            raise ValueError(f"sampling=fairnas needs decisions with equal option counts (an edge's ops); "
                             f"space {space.name!r} has {'none' if self.shape is None else sorted(set(self.shape))}: "
                             "use uniform or deiso")

    def step(self) -> list[Hashable]:
        width = max(self.shape)
        archs = []
        for _ in range(-(-self.k // width)):
            perms = [self.rng.permutation(width) % n for n in self.shape]
            archs += [self.space.from_choices([int(p[i]) for p in perms]) for i in range(width)]
        return archs


@SAMPLERS.register("deiso")
class DeIsomorphic(Sampler):
    """Ning et al.: uniform over canonical classes (one representative per class: the first in
    enumeration order), so isomorphic cells are not drawn more often than others. Where the
    space's sampler already draws classes uniformly (NB101, NDS), that sampler."""

    def __init__(self, space: Any, archs_per_step: int, rng: np.random.Generator, macro: Any = None) -> None:
        super().__init__(space, archs_per_step, rng, macro)
        self.pool: list[Hashable] | None = None
        if not space.samples_classes:
            if space.size is None:
                raise ValueError(f"sampling=deiso needs a finite space to enumerate its canonical classes; "
                                 f"{space.name!r} is not: use uniform")
            self.pool = representatives(space)

    def step(self) -> list[Hashable]:
        if self.pool is None:
            return self.own_sampler()
        return [self.pool[int(i)] for i in self.rng.integers(len(self.pool), size=self.k)]


def PathSampler(space: Any, sampling: str, archs_per_step: int, rng: np.random.Generator,  # noqa: N802
                macro: Any = None) -> Sampler:
    """The registered sampler ``sampling`` for ``space`` (a factory: the name reads as a class).

    Raises:
        KeyError: no such sampling. ValueError: the space cannot be sampled so.
    """
    return SAMPLERS.get(sampling)(space, archs_per_step, rng, macro)


def representatives(space: Any) -> list[Hashable]:
    """One architecture per canonical class of a finite space (the first in enumeration order)."""
    seen: dict[str, Hashable] = {}
    for arch in space.enumerate():
        seen.setdefault(space.canonical_hash(arch), arch)
    return list(seen.values())
