"""The NAS-Bench-101 space object: what archscore asks of a space (:class:`~archscore.spaces.base.Space`)
over the values and pure functions of :mod:`.arch`. Networks (:mod:`.model`) and supernets
(:mod:`.supernet`) are imported late, when one is built."""
from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

from ..base import SPACES, Space
from . import enumeration, features
from . import graf as graf_features
from .graph import OPS
from .arch import NB101Arch, NB101Macro, SIZE, canonical_string, costs, decode, from_spec, parse, to_string


@SPACES.register("nb101")
class NB101Space(Space):
    """NAS-Bench-101: 423,624 unique cells of up to 7 vertices and 9 edges."""

    size = SIZE
    macro_type = NB101Macro
    samples_classes = True  # the enumeration holds one cell per module hash
    supernet_dynamic_channels = True  # Yu et al.'s nasbench101 supernet slices channels

    def decode(self, encoding: Any) -> NB101Arch:
        return decode(encoding)

    def encode(self, arch: NB101Arch) -> int:
        return arch.encoding

    naslib_order = 1  # keys are the matrix's entries then op codes, which parse reads

    def op_counts(self, archs: Sequence[NB101Arch]) -> dict[str, np.ndarray]:
        """Vertices of the pruned cell carrying each op (a degenerate cell has none)."""
        counts = np.zeros((len(archs), len(OPS)))
        for k, arch in enumerate(archs):
            if arch.pruned is not None:
                for op in arch.pruned[1]:
                    counts[k, op] += 1
        return {name: counts[:, i] for i, name in enumerate(OPS)}

    def graf(self, archs: Sequence[NB101Arch], variant: str = "paper") -> np.ndarray:
        return graf_features.graf(archs, variant)

    def graf_names(self) -> list[str]:
        return graf_features.names()

    def one_hot(self, archs: Sequence[NB101Arch]) -> np.ndarray:
        return features.one_hot(archs)

    def renas_tensor(self, archs: Sequence[NB101Arch], macro: NB101Macro) -> np.ndarray:
        return features.renas_tensor(archs, macro)

    def parse(self, text: str) -> NB101Arch:
        return parse(text)

    def to_string(self, arch: NB101Arch) -> str:
        return to_string(arch)

    def canonical_string(self, arch: NB101Arch) -> str:
        return canonical_string(arch)

    def sample(self, n: int, rng: np.random.Generator) -> list[NB101Arch]:
        """``n`` distinct cells uniformly over the 423,624 unique ones (the cached enumeration)."""
        if not 0 <= n <= SIZE:
            raise ValueError(f"cannot sample {n} distinct NB101 architectures; the space has {SIZE}")
        encodings, _ = enumeration.table()
        return [decode(int(encodings[i])) for i in rng.choice(SIZE, size=n, replace=False)]

    def examples(self) -> list[NB101Arch]:
        """Three small cells (sampling would need the enumeration table)."""
        c3, c1, mp = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
        return [from_spec([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", c3, mp, "output"]),
                from_spec([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", c1, c3, "output"]),
                from_spec([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", mp, "output"])]

    def enumerate(self) -> Iterator[NB101Arch]:
        encodings, _ = enumeration.table()
        return (decode(int(c)) for c in encodings)

    def params(self, arch: NB101Arch, macro: NB101Macro) -> int:
        return costs(arch, macro)[0]

    def flops(self, arch: NB101Arch, macro: NB101Macro) -> float:
        return float(costs(arch, macro)[1])

    def build(self, arch: NB101Arch, macro: NB101Macro) -> Any:
        from .model import NB101Network

        return NB101Network(arch.pruned, macro)

    def supernet(self, macro: NB101Macro, **options: Any) -> Any:
        """:class:`~archscore.spaces.nb101.supernet.NB101Supernet`; options: ``bn_affine``,
        ``bn_track_running_stats``, ``dynamic_channels``, ``path_dropout``; ``wsbn`` and
        ``topology=nodes`` are refused (defined here for NB201 and DARTS cells only)."""
        from .supernet import NB101Supernet

        return NB101Supernet(macro, **self.supernet_options(macro, **options))

    def supernet_options(self, macro: NB101Macro, **options: Any) -> dict[str, Any]:
        if options.pop("wsbn", False):
            raise ValueError("wsbn (a BN after each parameter-free op) is not built for NB101's supernet; "
                             "its only parameter-free op, max-pool, feeds sums that BN-ReLU convs normalise")
        if options.pop("topology", "edges") != "edges":
            raise ValueError("topology=nodes shares op sets across a cell's edges, defined for NB201 and DARTS; "
                             "NB101's supernet has one op set per vertex slot (topology=edges)")
        return options

    # -- batched forms ----------------------------------------------------------------------------
    def decode_many(self, items: Sequence[Any]) -> tuple[list[NB101Arch | None], list[str | None]]:
        if isinstance(items, np.ndarray) and items.dtype.kind in "iu":
            items = items.tolist()
        return super().decode_many(items)

    def describe_many(self, archs: Sequence[NB101Arch]) -> tuple[list[str], list[str]]:
        """Strings, and hashes looked up in the enumeration table when it is cached (computed for
        cells not in it)."""
        cached = enumeration.table_if_cached()
        if cached is None:
            return super().describe_many(archs)
        encodings, hashes = cached
        codes = np.fromiter((a.encoding for a in archs), dtype=np.int64, count=len(archs))
        at = np.minimum(np.searchsorted(encodings, codes), len(encodings) - 1)
        found = encodings[at] == codes
        out = []
        for arch, hit, h in zip(archs, found.tolist(), hashes[at].tolist()):
            out.append(h.decode() if hit else self.canonical_hash(arch))
        return [to_string(a) for a in archs], out

    def costs_many(self, archs: Sequence[NB101Arch], macro: NB101Macro) -> tuple[np.ndarray, np.ndarray]:
        pairs = [costs(a, macro) for a in archs]
        return (np.array([p for p, _ in pairs], dtype=np.float64).reshape(len(archs)),
                np.array([f for _, f in pairs], dtype=np.float64).reshape(len(archs)))
