"""A search space over supernet heuristics: each key a constant or one distribution, validated up front.

The YAML (or mapping) form, as ``archscore tune --search FILE`` reads it::

    sampling: {choice: [uniform, fairnas, deiso]}
    bn_track_running_stats: {choice: [false, true]}
    lr: {loguniform: [0.005, 0.1]}
    path_dropout: {uniform: [0.0, 0.3]}
    bn_recalibrate_batches: {randint: [0, 9]}     # Tune's convention: the upper end is excluded
    batch_size: 64                                # a constant
    seed: {grid: [0, 1, 2]}                       # every value, in every sample (Tune's grid_search)

A ``grid`` key multiplies the trials: ``--num-samples N`` draws N configurations for each grid
value (each grid combination), as in Tune.
Keys not named keep the base heuristics (the defaults, or ``--set``). ``epochs`` is the run's
``--epochs`` (the scheduler's time axis), so it is refused here. Every value a distribution can
produce is checked against :class:`~.heuristics.Heuristics` (both ends of a range, every choice)
before anything starts; the error names the key. This module knows nothing of Ray: the engine maps
a :class:`Dimension` onto ``ray.tune`` sampling functions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Mapping

from .heuristics import Heuristics

DISTRIBUTIONS = ("choice", "grid", "uniform", "loguniform", "randint")
#: keys population-based training may change while a trial continues from another trial's checkpoint:
#: they leave the supernet's parameters, buffers and data split as they are
MUTABLE_KEYS = ("lr", "momentum", "weight_decay", "grad_clip", "sampling", "archs_per_step", "path_dropout")
NOT_SEARCHABLE = {"epochs": "the number of epochs is the run's --epochs (the scheduler's time axis)"}


@dataclass(frozen=True)
class Dimension:
    key: str
    kind: str  # "constant" or one of DISTRIBUTIONS
    values: tuple[Any, ...]  # constant: (value,); choice: the values; ranges: (low, high)

    def as_yaml_value(self) -> Any:
        return self.values[0] if self.kind == "constant" else {self.kind: list(self.values)}


@dataclass(frozen=True)
class SearchSpace:
    base: Heuristics
    dimensions: tuple[Dimension, ...]

    @classmethod
    def from_yaml(cls, text: str, base: Heuristics | None = None) -> "SearchSpace":
        """Raises: ValueError: not YAML, not a mapping, or a bad key or value (named)."""
        import yaml

        try:
            mapping = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"the search file is not valid YAML: {exc}") from None
        return cls.from_mapping({} if mapping is None else mapping, base)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], base: Heuristics | None = None) -> "SearchSpace":
        """Raises: ValueError: an unknown or unsearchable key, or a bad value, naming the key."""
        base = base or Heuristics()
        if not isinstance(mapping, Mapping):
            raise ValueError(f"the search space must map heuristic keys to values, not {type(mapping).__name__}")
        known = {f.name: f for f in fields(Heuristics)}
        dims = []
        for key, spec in mapping.items():
            if key not in known:
                raise ValueError(f"unknown heuristic {key!r} in the search space; known: {', '.join(known)}")
            if key in NOT_SEARCHABLE:
                raise ValueError(f"{key!r} cannot be searched: {NOT_SEARCHABLE[key]}")
            dims.append(_dimension(key, str(known[key].type), spec, base))
        return cls(base, tuple(dims))

    @property
    def searched(self) -> tuple[Dimension, ...]:
        return tuple(d for d in self.dimensions if d.kind != "constant")

    @property
    def grid_size(self) -> int:
        """Configurations per sample: the product of the grid keys' lengths (1 without grids)."""
        return int(math.prod(len(d.values) for d in self.dimensions if d.kind == "grid"))

    def constants(self) -> dict[str, Any]:
        return {d.key: d.values[0] for d in self.dimensions if d.kind == "constant"}

    def heuristics(self, sampled: Mapping[str, Any]) -> Heuristics:
        """The base with the constants and one sample of the distributions applied."""
        return Heuristics.from_mapping({**self.constants(), **sampled}, self.base)

    def as_dict(self) -> dict[str, Any]:
        return {d.key: d.as_yaml_value() for d in self.dimensions}

    def with_base(self, base: Heuristics) -> "SearchSpace":
        return replace(self, base=base)


def _dimension(key: str, kind_of_key: str, spec: Any, base: Heuristics) -> Dimension:
    def check(value: Any) -> Any:
        try:
            return getattr(Heuristics.from_mapping({key: value}, base), key)
        except ValueError as exc:
            raise ValueError(f"search space {key}: {exc}") from None

    if isinstance(spec, (list, tuple, set)):
        raise ValueError(f"search space {key}: a list is not a value; write {{choice: {list(spec)}}} to search "
                         "over it")
    if not isinstance(spec, Mapping):
        return Dimension(key, "constant", (check(spec),))
    if len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ValueError(f"search space {key}: give a constant or exactly one of {', '.join(DISTRIBUTIONS)} "
                         f"(got {dict(spec)!r})")
    kind, args = next(iter(spec.items()))
    if kind in ("choice", "grid"):
        if not isinstance(args, (list, tuple)) or not args:
            raise ValueError(f"search space {key}: {kind} takes a non-empty list of values")
        values = tuple(check(v) for v in args)
        if len(set(values)) != len(values):
            raise ValueError(f"search space {key}: {kind} lists a value twice ({list(values)})")
        return Dimension(key, kind, values)
    numeric = kind_of_key.startswith(("int", "float"))
    if not numeric:
        raise ValueError(f"search space {key}: {kind} needs a numeric heuristic; {key} is "
                         f"{kind_of_key.split(' ')[0]}, use choice")
    bounds = [_number(a) for a in args] if isinstance(args, (list, tuple)) and len(args) == 2 else [None]
    if not all(b is not None and math.isfinite(b) for b in bounds):
        raise ValueError(f"search space {key}: {kind} takes [low, high], two finite numbers (got {args!r})")
    low, high = bounds
    if not low < high:
        raise ValueError(f"search space {key}: {kind} needs low < high (got [{low}, {high}])")
    if kind == "randint":
        if not all(float(a).is_integer() for a in args):
            raise ValueError(f"search space {key}: randint takes integer bounds (got {args!r})")
        low, high = int(low), int(high)
        check(low), check(high - 1)  # the upper end is excluded, as in Tune
        return Dimension(key, kind, (low, high))
    if kind_of_key.startswith("int"):
        raise ValueError(f"search space {key}: {key} is an integer; use randint or choice, not {kind}")
    if kind == "loguniform" and low <= 0:
        raise ValueError(f"search space {key}: loguniform needs low > 0 (got {low})")
    check(low), check(high)
    return Dimension(key, kind, (float(low), float(high)))


def _number(value: Any) -> float | int | None:
    """A YAML bound as a number: PyYAML reads ``1e-3`` (no dot) as text, so numeric text counts."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
