"""What a search space provides: a value type, encodings, enumeration, hashing and costs.

A space is a stateless object plus pure functions on frozen architecture values. It must not
build PyTorch modules except in :meth:`Space.build`, which imports torch lazily, so that
decoding, hashing and analytic costs stay cheap enough to stream millions of encodings.
"""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar, Hashable, Iterator, Sequence

import numpy as np

from archscore._core import Registry, UnknownSetting

SPACES: Registry[type["Space"]] = Registry("space")

Encoding = int | bytes


@dataclass(frozen=True)
class MacroConfig:
    """How an architecture is turned into a network: channels, depth, input and output sizes."""

    def with_overrides(self, overrides: dict[str, Any]) -> "MacroConfig":
        """A copy with ``overrides`` applied; values given as strings are converted.

        Raises:
            ValueError: an unknown field, or a value of the wrong type.
        """
        known = {f.name: f for f in fields(self)}
        typed = {}
        for key, value in overrides.items():
            if key not in known:
                raise UnknownSetting(f"unknown macro setting {key!r}; known: {', '.join(known)}")
            kind = type(getattr(self, key))
            try:
                typed[key] = kind(value)
            except (TypeError, ValueError):
                raise ValueError(f"macro setting {key}={value!r} is not a {kind.__name__}") from None
        return replace(self, **typed)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Space(ABC):
    """A search space. Subclasses are registered with ``@SPACES.register(name)``."""

    name: ClassVar[str]
    #: Number of architectures when finite and enumerable, else ``None``.
    size: ClassVar[int | None] = None
    #: How large a space without ``size`` is, in words (for ``archscore spaces``).
    size_note: ClassVar[str] = "unbounded"
    macro_type: ClassVar[type[MacroConfig]]
    #: ``sample`` draws canonical classes uniformly (one value per class), so de-isomorphic
    #: sampling is plain sampling
    samples_classes: ClassVar[bool] = False

    # -- encodings ----------------------------------------------------------------------------
    @abstractmethod
    def decode(self, encoding: Encoding) -> Hashable:
        """Architecture from its compact encoding. Raises ``ValueError`` naming the bad part."""

    @abstractmethod
    def encode(self, arch: Hashable) -> Encoding:
        """Compact, msgpack-friendly encoding (an int or bytes)."""

    @abstractmethod
    def parse(self, text: str) -> Hashable:
        """Architecture from the space's string form. Raises ``ValueError`` naming the bad part."""

    @abstractmethod
    def to_string(self, arch: Hashable) -> str:
        """The space's string form; ``parse(to_string(a)) == a``."""

    # -- identity -----------------------------------------------------------------------------
    @abstractmethod
    def canonical_string(self, arch: Hashable) -> str:
        """A string equal for two architectures iff they compute the same function."""

    def canonical_hash(self, arch: Hashable) -> str:
        """16 hex digits naming the architecture's equivalence class within this space."""
        key = f"{self.name}:{self.canonical_string(arch)}".encode()
        return hashlib.blake2b(key, digest_size=8).hexdigest()

    # -- populations --------------------------------------------------------------------------
    @abstractmethod
    def sample(self, n: int, rng: np.random.Generator) -> list[Hashable]:
        """``n`` distinct architectures drawn uniformly. Raises ``ValueError`` if n is too large."""

    def examples(self) -> list[Hashable]:
        """A few architectures whose networks are small and have parameters on live paths: what
        smoke tests and the conformance suites score (default: two seeded samples)."""
        return self.sample(2, np.random.default_rng(0))

    def enumerate(self) -> Iterator[Hashable]:
        """Every architecture, in encoding order. Only for finite spaces."""
        raise NotImplementedError(f"space {self.name!r} is not enumerable")

    # -- costs and modules --------------------------------------------------------------------
    def macro(self, **overrides: Any) -> MacroConfig:
        """The default macro config with ``overrides`` applied."""
        return self.macro_type().with_overrides(overrides)

    @abstractmethod
    def params(self, arch: Hashable, macro: MacroConfig) -> int:
        """Trainable parameter count of the built network, computed without building it."""

    @abstractmethod
    def flops(self, arch: Hashable, macro: MacroConfig) -> float:
        """Multiply-adds of one forward pass of one input, computed without building it."""

    @abstractmethod
    def build(self, arch: Hashable, macro: MacroConfig) -> Any:
        """The ``torch.nn.Module`` for ``arch``. Imports torch; call it late. Besides ``forward``
        (logits) it has ``forward_features`` (the map before global pooling), which proxies such
        as Zen-NAS read."""

    def supernet(self, macro: MacroConfig, **options: Any) -> Any:
        """The weight-sharing supernet (``module(x, arch) -> logits``); imports torch.

        Raises:
            NotImplementedError: the space has no supernet yet.
        """
        raise NotImplementedError(f"space {self.name!r} has no weight-sharing supernet")

    def supernet_options(self, macro: MacroConfig, **options: Any) -> dict[str, Any]:
        """Check supernet switches (the heuristics' module options) against this space without
        building anything; returns those the supernet module takes.

        Raises:
            ValueError: a switch this space's supernet refuses, naming it.
            NotImplementedError: the space has no supernet yet.
        """
        raise NotImplementedError(f"space {self.name!r} has no weight-sharing supernet")

    #: ``dynamic_channels`` when the heuristics leave it unset
    supernet_dynamic_channels: ClassVar[bool] = False

    def supernet_covers(self, arch: Hashable, macro: MacroConfig) -> bool:
        """Whether the supernet built at ``macro`` has ``arch`` (False only for a capped one)."""
        return True

    def sample_subnet(self, rng: np.random.Generator, macro: MacroConfig) -> Hashable:
        """One architecture of the supernet built at ``macro``, uniformly (for supernet training)."""
        return self.sample(1, rng)[0]

    def choice_shape(self) -> tuple[int, ...] | None:
        """Options per decision of a cell space (edges x ops), for path samplers; None if not one."""
        return None

    def from_choices(self, choices: Sequence[int]) -> Hashable:
        """The architecture of one option per decision (see :meth:`choice_shape`)."""
        raise NotImplementedError(f"space {self.name!r} is not a space of independent choices")

    def subnet_key(self, arch: Hashable) -> Any:
        """What a supernet's forward takes for ``arch`` (its op indices, for a cell space)."""
        return arch

    # -- what learned predictors and truth loaders read (optional) -------------------------------
    def one_hot(self, archs: Sequence[Hashable]) -> np.ndarray:
        """(n, d) floats: the plain encoding predictors start from (one-hot ops and adjacency).

        Raises:
            NotImplementedError: the space defines none.
        """
        raise NotImplementedError(f"space {self.name!r} defines no one-hot encoding")

    def renas_tensor(self, archs: Sequence[Hashable], macro: MacroConfig) -> np.ndarray:
        """(n, planes, h, w) floats: ReNAS's type / FLOPs / params planes (Xu et al., CVPR 2021),
        or the space's analogue, with costs at ``macro``.

        Raises:
            NotImplementedError: the space defines none.
        """
        raise NotImplementedError(f"space {self.name!r} defines no ReNAS tensor")

    def graf(self, archs: Sequence[Hashable], variant: str = "paper") -> np.ndarray:
        """(n, d) floats: GRAF's graph features (Kadlecová et al., ICML 2024), exactly those of
        zc_combine's config for the space, named by :meth:`graf_names`; ``variant`` ``"paper"``
        (the published code) or ``"head"`` (zc_combine's later max-op-on-path).

        Raises:
            NotImplementedError: GRAF defines no features for the space.
        """
        raise NotImplementedError(f"space {self.name!r} has no GRAF features")

    def graf_names(self) -> list[str]:
        """zc_combine's column names of :meth:`graf`, in order."""
        raise NotImplementedError(f"space {self.name!r} has no GRAF features")

    def op_counts(self, archs: Sequence[Hashable]) -> dict[str, np.ndarray]:
        """How often each operation occurs in each architecture (op name -> counts): what bias
        analyses correlate estimates with (Ning et al.: a supernet that prefers skips).

        Raises:
            NotImplementedError: the space's architectures are not made of a few named ops.
        """
        raise NotImplementedError(f"space {self.name!r} defines no op counts")

    #: published truth files' layouts the truth loader recognises: their architecture column ->
    #: {metric column as the file names it: friendly alias}
    truth_layouts: ClassVar[dict[str, dict[str, str]]] = {}

    #: where this space comes among those tried for a key of NASLib's published zero-cost files
    #: (lower first); None: NASLib publishes no such file for it
    naslib_order: ClassVar[int | None] = None

    def from_naslib_key(self, key: str) -> Hashable:
        """The architecture a key of NASLib's zero-cost json names (default: the string form).

        Raises:
            ValueError: not a key of this space, naming the bad part.
        """
        return self.parse(key)

    def provides(self, method: str) -> bool:
        """Whether this space implements the optional ``method`` (``one_hot``, ``renas_tensor``,
        ``supernet``), i.e. overrides the base's refusal."""
        return getattr(type(self), method) is not getattr(Space, method)

    # -- batched forms (override for speed) ------------------------------------------------------
    def decode_many(self, items: Sequence[Any]) -> tuple[list[Hashable | None], list[str | None]]:
        """Decode encodings (or parse strings) one by one; failures become error messages."""
        archs: list[Hashable | None] = []
        errors: list[str | None] = []
        for item in items:
            try:
                arch = self.parse(item) if isinstance(item, str) else self.decode(item)
            except ValueError as exc:
                archs.append(None)
                errors.append(str(exc))
            else:
                archs.append(arch)
                errors.append(None)
        return archs, errors

    def describe_many(self, archs: Sequence[Hashable]) -> tuple[list[str], list[str]]:
        """String forms and canonical hashes of ``archs``."""
        return [self.to_string(a) for a in archs], [self.canonical_hash(a) for a in archs]

    def costs_many(self, archs: Sequence[Hashable], macro: MacroConfig) -> tuple[np.ndarray, np.ndarray]:
        """Params and FLOPs of ``archs`` as float64 arrays."""
        params = np.array([self.params(a, macro) for a in archs], dtype=np.float64)
        flops = np.array([self.flops(a, macro) for a in archs], dtype=np.float64)
        return params, flops


def get_space(name: str) -> Space:
    """The registered space ``name`` (a fresh, stateless instance)."""
    return SPACES.get(name)()


def list_spaces() -> list[str]:
    return SPACES.names()
