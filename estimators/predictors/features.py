"""Featurizers: what a predictor sees of an architecture, separate from the model that learns.

A featurizer is a value object: ``transform(space, archs)`` gives one row per architecture, a
vector (``kind = "vector"``) or a stack of planes (``kind = "tensor"``, ReNAS's input). A list of
featurizers is concatenated by :class:`FeatureSet`: vectors side by side, at most one tensor kept
apart for models with a convolutional branch (models without one flatten it).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
from scipy.stats import rankdata

from archscore._core import Registry
from archscore.spaces import Space, get_space, list_spaces
from archscore.spaces.graf_paths import check_variant


FEATURIZERS: Registry[type["Featurizer"]] = Registry("featurizer")
TRANSFORMS = ("rank", "zscore")


class Featurizer(ABC):
    name: ClassVar[str]
    kind: ClassVar[str] = "vector"
    #: the optional space method it reads (see :meth:`Space.provides`); None: any space
    space_method: ClassVar[str | None] = None

    @classmethod
    def defined_for(cls) -> list[str]:
        """The registered spaces this featurizer can describe."""
        return [s for s in list_spaces() if cls.space_method is None or get_space(s).provides(cls.space_method)]

    def check(self, space: Space) -> None:
        """Raise ``ValueError`` if this featurizer cannot describe ``space``'s architectures."""
        if self.space_method is not None and not space.provides(self.space_method):
            raise ValueError(f"featurizer {self.name!r} is defined for {', '.join(self.defined_for())}, "
                             f"not {space.name!r} (the space has no {self.space_method})")

    @abstractmethod
    def transform(self, space: Space, archs: Sequence[Any]) -> np.ndarray:
        """(n, d) for a vector featurizer, (n, planes, h, w) for a tensor one; NaN where unknown."""

    def missing(self, space: Space, archs: Sequence[Any]) -> np.ndarray:
        """True for architectures this featurizer knows nothing about (default: none)."""
        return np.zeros(len(archs), dtype=bool)

    def describe(self) -> str:
        return self.name


@FEATURIZERS.register("encoding")
@dataclass(frozen=True)
class Encoding(Featurizer):
    """One-hot ops and adjacency (each space's :meth:`Space.one_hot`)."""

    name: ClassVar[str] = "encoding"
    space_method: ClassVar[str] = "one_hot"

    def transform(self, space: Space, archs: Sequence[Any]) -> np.ndarray:
        self.check(space)
        return space.one_hot(archs)


@FEATURIZERS.register("renas")
@dataclass(frozen=True)
class RenasTensor(Featurizer):
    """ReNAS's type/FLOPs/params planes (each space's :meth:`Space.renas_tensor`) at ``macro``
    (overrides of the space's defaults, whose widths and resolutions the costs are computed at)."""

    macro: tuple[tuple[str, Any], ...] = ()
    name: ClassVar[str] = "renas"
    kind: ClassVar[str] = "tensor"
    space_method: ClassVar[str] = "renas_tensor"

    def transform(self, space: Space, archs: Sequence[Any]) -> np.ndarray:
        self.check(space)
        return space.renas_tensor(archs, space.macro(**dict(self.macro)))


@FEATURIZERS.register("graf")
@dataclass(frozen=True)
class Graf(Featurizer):
    """GRAF (Kadlecová et al., ICML 2024): op counts, the shortest path and the most operations on
    a path through each subset of operations, and node degrees, exactly the features of
    zc_combine's config for the space (``nb201_full``, ``nb101_first``, ``nb301_full``; each
    space's :meth:`Space.graf`). ``variant`` ``paper`` (default: the published code, zc_combine
    456a12c) or ``head`` (zc_combine 5a14948's later max-op-on-path); ``graf:head`` in a spec."""

    variant: str = "paper"
    name: ClassVar[str] = "graf"
    space_method: ClassVar[str] = "graf"

    def __post_init__(self) -> None:
        check_variant(self.variant)

    def check(self, space: Space) -> None:
        if not space.provides("graf"):
            raise ValueError(f"featurizer 'graf' is defined for {', '.join(self.defined_for())}, not {space.name!r}: "
                             "GRAF's features are paths and degrees of a cell's operation graph, which zc_combine "
                             "defines for NB201, NB101 and DARTS cells only (an NDS ResNet/ResNeXt is a stack of "
                             "residual blocks described by widths, depths and groups; use encoding there)")

    def transform(self, space: Space, archs: Sequence[Any]) -> np.ndarray:
        self.check(space)
        return np.asarray(space.graf(archs, self.variant), dtype=np.float64).reshape(len(archs), -1)

    def describe(self) -> str:
        return f"graf({self.variant})"


@FEATURIZERS.register("zse")
@dataclass(frozen=True, eq=False)
class ZeroShotFeatures(Featurizer):
    """Scores of zero-shot (or any) estimators, looked up by the architecture's canonical hash,
    so an isomorphic twin of a scored architecture shares its scores. Values are transformed over
    the whole scored population (no labels involved): ``rank`` (default) maps each estimator to
    its percentile rank in [0, 1], higher = better by the estimator's direction; ``zscore``
    standardises. Unknown or failed scores are NaN (models impute them)."""

    estimators: tuple[str, ...]
    table: Mapping[str, np.ndarray] = field(repr=False)  # canonical hash -> transformed scores
    transform_name: str = "rank"
    source: str = ""
    space: str = ""
    name: ClassVar[str] = "zse"

    @classmethod
    def from_scores(cls, space: str, scores: Mapping[str, tuple[Sequence[str], np.ndarray]],
                    higher_is_better: Mapping[str, bool], transform: str = "rank", source: str = "") -> "ZeroShotFeatures":
        """Build from each estimator's ``(canonical hashes, scores)`` rows (NaN where it failed);
        rows of one class (seeds, isomorphic twins) are averaged first.

        Raises:
            ValueError: an unknown transform, no estimators, or an estimator with no finite score.
        """
        if transform not in TRANSFORMS:
            raise ValueError(f"zero-shot feature transform must be one of {TRANSFORMS}, got {transform!r}")
        if not scores:
            raise ValueError(f"no estimator scores in {source or 'the results'} to use as features")
        keys = np.unique(np.concatenate([np.asarray(h, dtype=object).astype(str) for h, _ in scores.values()]))
        columns = []
        for name, (hashes, values) in scores.items():
            inverse = np.searchsorted(keys, np.asarray(hashes, dtype=object).astype(str))
            v = np.asarray(values, dtype=np.float64)
            ok = np.isfinite(v)
            if not ok.any():
                raise ValueError(f"estimator {name!r} has no finite score in {source or 'the results'}")
            sums = np.bincount(inverse[ok], weights=v[ok], minlength=len(keys))
            counts = np.bincount(inverse[ok], minlength=len(keys))
            mean = np.full(len(keys), np.nan)
            mean[counts > 0] = sums[counts > 0] / counts[counts > 0]
            if not higher_is_better.get(name, True):
                mean = -mean
            finite = np.isfinite(mean)
            col = np.full(len(keys), np.nan)
            if transform == "rank":
                col[finite] = (rankdata(mean[finite]) - 0.5) / finite.sum()
            else:
                std = mean[finite].std()
                col[finite] = (mean[finite] - mean[finite].mean()) / (std if std > 0 else 1.0)
            columns.append(col)
        matrix = np.stack(columns, axis=1)
        return cls(tuple(scores), dict(zip(keys.tolist(), matrix)), transform, source, space)

    def check(self, space: Space) -> None:
        if self.space and space.name != self.space:
            raise ValueError(f"zero-shot features come from a {self.space!r} sweep ({self.source}); "
                             f"these architectures are {space.name!r}")

    def transform(self, space: Space, archs: Sequence[Any]) -> np.ndarray:
        self.check(space)
        blank = np.full(len(self.estimators), np.nan)
        return np.stack([self.table.get(space.canonical_hash(a), blank) for a in archs]) if archs else \
            np.zeros((0, len(self.estimators)))

    def missing(self, space: Space, archs: Sequence[Any]) -> np.ndarray:
        return np.array([space.canonical_hash(a) not in self.table for a in archs], dtype=bool)

    def describe(self) -> str:
        return f"zse({self.transform_name}: {','.join(self.estimators)} from {self.source or 'scores'})"


def make_featurizer(spec: "str | Featurizer") -> Featurizer:
    """A featurizer from a registered name without data (``encoding``, ``renas``, ``graf``, or
    ``graf:VARIANT``) or as given."""
    if isinstance(spec, Featurizer):
        return spec
    name, sep, arg = spec.partition(":")
    cls = FEATURIZERS.get(name)
    if cls is ZeroShotFeatures:
        raise ValueError("zero-shot features need a sweep's results: give them as zse:PATH "
                         "(archscore predictor fit) or a ZeroShotFeatures object")
    if cls is Graf and sep:
        return Graf(variant=arg)
    if sep:
        raise ValueError(f"featurizer {spec!r}: only graf takes an option (graf:VARIANT) and zse a path (zse:PATH)")
    return cls()


@dataclass(frozen=True, eq=False)
class FeatureSet:
    """Featurizers concatenated: ``transform`` gives (tensor or None, vector or None)."""

    featurizers: tuple[Featurizer, ...]

    @classmethod
    def of(cls, features: "str | Featurizer | Sequence[str | Featurizer]") -> "FeatureSet":
        items = [s.strip() for s in features.split(",")] if isinstance(features, str) else \
            ([features] if isinstance(features, Featurizer) else list(features))
        if not items:
            raise ValueError("a predictor needs at least one featurizer")
        made = tuple(make_featurizer(f) for f in items)
        if sum(f.kind == "tensor" for f in made) > 1:
            raise ValueError("at most one tensor featurizer (renas) per predictor")
        return cls(made)

    def check(self, space: Space) -> None:
        for f in self.featurizers:
            f.check(space)

    @property
    def has_tensor(self) -> bool:
        return any(f.kind == "tensor" for f in self.featurizers)

    def transform(self, space: Space, archs: Sequence[Any]) -> tuple[np.ndarray | None, np.ndarray | None]:
        tensor, vectors = None, []
        for f in self.featurizers:
            x = np.asarray(f.transform(space, archs), dtype=np.float64)
            if f.kind == "tensor":
                tensor = x
            else:
                vectors.append(x.reshape(len(archs), -1))
        return tensor, (np.concatenate(vectors, axis=1) if vectors else None)

    def flat(self, space: Space, archs: Sequence[Any]) -> np.ndarray:
        """Everything as one vector per architecture (for models without a convolutional branch)."""
        tensor, vector = self.transform(space, archs)
        parts = ([tensor.reshape(len(archs), -1)] if tensor is not None else []) + ([vector] if vector is not None else [])
        return np.concatenate(parts, axis=1)

    def missing(self, space: Space, archs: Sequence[Any]) -> np.ndarray:
        out = np.zeros(len(archs), dtype=bool)
        for f in self.featurizers:
            out |= f.missing(space, archs)
        return out

    def describe(self) -> str:
        return " + ".join(f.describe() for f in self.featurizers)
