"""The NAS-Bench-201 space object: what archscore asks of a space (:class:`~archscore.spaces.base.Space`)
over the values and pure functions of :mod:`.arch`. Networks (:mod:`.model`) and supernets
(:mod:`.supernet`) are imported late, when one is built."""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterator, Sequence

import numpy as np

from ..base import SPACES, Space
from . import features
from . import graf as graf_features
from .arch import (NB201Arch, NB201Macro, NUM_EDGES, OPS, SIZE, all_archs, cost_tables, decode, from_naslib_key,
                   parse, to_string, unique_string)


@SPACES.register("nb201")
class NB201Space(Space):
    """NAS-Bench-201 (NATS-Bench topology search space)."""

    size = SIZE
    macro_type = NB201Macro

    def decode(self, encoding: Any) -> NB201Arch:
        return decode(encoding)

    def encode(self, arch: NB201Arch) -> int:
        return arch.index

    naslib_order = 0
    #: NB201's truth CSVs: NAS-Landscapes' averaged results, and NATS-Bench's three datasets
    truth_layouts = {
        "arch_str": {"valid-accuracy": "valid_accuracy", "test-accuracy": "test_accuracy",
                     "train-accuracy": "train_accuracy", "valid-loss": "valid_loss", "test-loss": "test_loss",
                     "train-loss": "train_loss"},
        "ArchitectureString": {"CIFAR10TestAccuracy200Epochs": "cifar10_test_accuracy",
                               "CIFAR100TestAccuracy200Epochs": "cifar100_test_accuracy",
                               "ImageNetTestAccuracy200Epochs": "imagenet16_120_test_accuracy"},
    }

    def from_naslib_key(self, key: str) -> NB201Arch:
        """NASLib's op-tuple key, e.g. ``"(0, 2, 3, 2, 3, 1)"`` (its own op codes and edge order)."""
        return from_naslib_key(key)

    def op_counts(self, archs: Sequence[NB201Arch]) -> dict[str, np.ndarray]:
        """Edges carrying each op (0-6), "none" included."""
        ops = np.array([a.ops for a in archs], dtype=np.int64).reshape(len(archs), NUM_EDGES)
        return {name: (ops == i).sum(1).astype(np.float64) for i, name in enumerate(OPS)}

    def graf(self, archs: Sequence[NB201Arch], variant: str = "paper") -> np.ndarray:
        return graf_features.graf(archs, variant)

    def graf_names(self) -> list[str]:
        return graf_features.names()

    def one_hot(self, archs: Sequence[NB201Arch]) -> np.ndarray:
        return features.one_hot(archs)

    def renas_tensor(self, archs: Sequence[NB201Arch], macro: NB201Macro) -> np.ndarray:
        return features.renas_tensor(archs, macro)

    def parse(self, text: str) -> NB201Arch:
        return parse(text)

    def to_string(self, arch: NB201Arch) -> str:
        return to_string(arch)

    def canonical_string(self, arch: NB201Arch) -> str:
        return unique_string(arch)

    def sample(self, n: int, rng: np.random.Generator) -> list[NB201Arch]:
        if not 0 <= n <= SIZE:
            raise ValueError(f"cannot sample {n} distinct NB201 architectures; the space has {SIZE}")
        return [all_archs()[i] for i in rng.choice(SIZE, size=n, replace=False)]

    def examples(self) -> list[NB201Arch]:
        """Three fixed cells (encodings 15623, 9876, 4321) that every estimator scores finitely."""
        return [self.decode(i) for i in (15623, 9876, 4321)]

    def enumerate(self) -> Iterator[NB201Arch]:
        return iter(all_archs())

    def params(self, arch: NB201Arch, macro: NB201Macro) -> int:
        base, per_op, _, _ = cost_tables(macro)
        return base + int(per_op[list(arch.ops)].sum())

    def flops(self, arch: NB201Arch, macro: NB201Macro) -> float:
        _, _, base, per_op = cost_tables(macro)
        return base + float(per_op[list(arch.ops)].sum())

    def build(self, arch: NB201Arch, macro: NB201Macro) -> Any:
        from .model import NB201Network

        return NB201Network(arch.ops, macro)

    def supernet(self, macro: NB201Macro, **options: Any) -> Any:
        """:class:`~archscore.spaces.nb201.supernet.NB201Supernet`; options: ``bn_affine``,
        ``bn_track_running_stats``, ``wsbn``, ``topology``, ``path_dropout``, ``dynamic_channels``
        (refused: NB201's channel counts do not vary)."""
        from .supernet import NB201Supernet

        return NB201Supernet(macro, **self.supernet_options(macro, **options))

    def supernet_options(self, macro: NB201Macro, **options: Any) -> dict[str, Any]:
        from ..supernet_parts import refuse_dynamic_channels

        refuse_dynamic_channels("NB201", options)
        return options

    def choice_shape(self) -> tuple[int, ...]:
        return (len(OPS),) * NUM_EDGES

    def from_choices(self, choices: Sequence[int]) -> NB201Arch:
        return NB201Arch(tuple(int(c) for c in choices))

    def subnet_key(self, arch: NB201Arch) -> tuple[int, ...]:
        return arch.ops

    # -- batched forms: table lookups over the whole (small) space ------------------------------
    def decode_many(self, items: Sequence[Any]) -> tuple[list[NB201Arch | None], list[str | None]]:
        if isinstance(items, np.ndarray) and items.dtype.kind in "iu":
            ok = (items >= 0) & (items < SIZE)
            if ok.all():
                table = all_archs()
                return [table[i] for i in items.tolist()], [None] * len(items)
        return super().decode_many(items)

    def describe_many(self, archs: Sequence[NB201Arch]) -> tuple[list[str], list[str]]:
        strings, hashes = _describe_tables()
        idx = [a.index for a in archs]
        return [strings[i] for i in idx], [hashes[i] for i in idx]

    def costs_many(self, archs: Sequence[NB201Arch], macro: NB201Macro) -> tuple[np.ndarray, np.ndarray]:
        base_p, per_op_p, base_f, per_op_f = cost_tables(macro)
        ops = np.array([a.ops for a in archs], dtype=np.int64).reshape(len(archs), NUM_EDGES)
        return (base_p + per_op_p[ops].sum(axis=1)).astype(np.float64), base_f + per_op_f[ops].sum(axis=1)


@lru_cache(maxsize=1)
def _describe_tables() -> tuple[list[str], list[str]]:
    space = NB201Space()
    archs = all_archs()
    return [to_string(a) for a in archs], [Space.canonical_hash(space, a) for a in archs]
