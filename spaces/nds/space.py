"""The NDS ResNet and ResNeXt-A space object: what archscore asks of a space (:class:`~archscore.spaces.base.Space`)
over the values and pure functions of :mod:`.arch`. Networks (:mod:`.model`) and supernets
(:mod:`.supernet`) are imported late, when one is built."""
from __future__ import annotations

import json
from typing import Any, ClassVar, Iterator, Sequence

import numpy as np

from ..base import SPACES, Space
from . import features
from .arch import GRIDS, LONG, NdsArch, NdsMacro, SHORT, STAGES, capped, costs


class NdsSpace(Space):
    """Common machinery of the NDS spaces; subclasses set the block and its grid."""

    block: ClassVar[str]
    macro_type = NdsMacro
    samples_classes = True  # every setting is its own class
    supernet_dynamic_channels = True  # the ordinal supernet's only form

    @classmethod
    def grid(cls) -> tuple[tuple[str, tuple[Any, ...]], ...]:
        return GRIDS[cls.block]

    @classmethod
    def radices(cls) -> list[int]:
        return [len(choices) for _ in range(STAGES) for _, choices in cls.grid()]

    def decode(self, encoding: Any) -> NdsArch:
        if isinstance(encoding, bool) or not isinstance(encoding, (int, np.integer)):
            raise ValueError(f"{self.name} encoding must be an int in 0..{self.size - 1}, got "
                             f"{type(encoding).__name__} {encoding!r}")
        if not 0 <= encoding < self.size:
            raise ValueError(f"{self.name} encoding {encoding} is out of range 0..{self.size - 1}")
        digits, rest = [], int(encoding)
        for radix in reversed(self.radices()):
            rest, digit = divmod(rest, radix)
            digits.append(digit)
        digits.reverse()
        values: dict[str, list[Any]] = {name: [] for name, _ in self.grid()}
        for i, digit in enumerate(digits):
            name, choices = self.grid()[i % len(self.grid())]
            values[name].append(choices[digit])
        return NdsArch(block=self.block, **{k: tuple(v) for k, v in values.items()})

    def encode(self, arch: NdsArch) -> int:
        return arch.index

    def to_string(self, arch: NdsArch) -> str:
        return ";".join(f"{SHORT[name]}={','.join(_num(v) for v in getattr(arch, name))}" for name, _ in self.grid())

    def one_hot(self, archs: Sequence[NdsArch]) -> np.ndarray:
        return features.one_hot(archs)

    def parse(self, text: str) -> NdsArch:
        """``ds=1,2,4;ws=16,32,64`` (ResNeXt-A adds ``;bms=...;gs=...``), or a JSON mapping with
        NDS's keys (``ds``, ``ws``, ``bot_muls``, ``num_gs``), 3 values each."""
        if not isinstance(text, str):
            raise ValueError(f"{self.name} string must be str, got {type(text).__name__}")
        text = text.strip()
        if text.startswith("{"):
            try:
                raw = json.loads(text)
            except ValueError:
                raise ValueError(f"{self.name} mapping {text[:60]!r} is not JSON") from None
        else:
            raw = {}
            for part in filter(None, text.split(";")):
                key, sep, values = part.partition("=")
                if not sep:
                    raise ValueError(f"{self.name} string part {part!r} must read key=v1,v2,v3")
                try:
                    raw[key.strip()] = [float(v) if "." in v else int(v) for v in values.split(",")]
                except ValueError:
                    raise ValueError(f"{self.name} string part {part!r} has a value that is not a number") from None
        fields = {}
        for key, values in raw.items():
            name = LONG.get(key, key)
            if name not in dict(self.grid()):
                raise ValueError(f"{self.name} has no parameter {key!r}; it has "
                                 f"{', '.join(SHORT[n] for n, _ in self.grid())}")
            fields[name] = tuple(values)
        missing = [SHORT[n] for n, _ in self.grid() if n not in fields]
        if missing:
            raise ValueError(f"{self.name} string {text[:60]!r} lacks {', '.join(missing)}")
        return NdsArch(block=self.block, **fields)

    def canonical_string(self, arch: NdsArch) -> str:
        return self.to_string(arch)  # no two settings build the same network

    def sample(self, n: int, rng: np.random.Generator) -> list[NdsArch]:
        """``n`` distinct networks; each stage parameter uniform and independent (NDS's sampling)."""
        if not 0 <= n <= self.size:
            raise ValueError(f"cannot sample {n} distinct {self.name} architectures; the space has {self.size:,}")
        return [self.decode(int(i)) for i in rng.choice(self.size, size=n, replace=False)]

    def enumerate(self) -> Iterator[NdsArch]:
        return (self.decode(i) for i in range(self.size))

    def supernet(self, macro: NdsMacro, **options: Any) -> Any:
        """:class:`~archscore.spaces.nds.supernet.NdsSupernet` over the grid (capped by the macro);
        options: ``bn_affine``, ``bn_track_running_stats``, ``path_dropout``; ``dynamic_channels``
        is always on (refused off), ``wsbn`` and ``topology=nodes`` are refused (cell-space switches)."""
        from .supernet import NdsSupernet

        return NdsSupernet(dict(self.grid()), self.block, macro, **self.supernet_options(macro, **options))

    def supernet_options(self, macro: NdsMacro, **options: Any) -> dict[str, Any]:
        capped(dict(self.grid()), macro)  # raises on a cap below every choice
        if options.pop("dynamic_channels", True) is False:
            raise ValueError("the NDS supernet always shares weights across widths by slicing (Ning et al.'s "
                             "ordinal supernet); dynamic_channels=false is not offered")
        if options.pop("wsbn", False):
            raise ValueError("wsbn (a BN after each parameter-free op) applies to cell spaces; NDS blocks have none")
        if options.pop("topology", "edges") != "edges":
            raise ValueError("topology=nodes shares op sets across a cell's edges; NDS has no cells")
        return options

    def supernet_covers(self, arch: NdsArch, macro: NdsMacro) -> bool:
        choices = capped(dict(self.grid()), macro)
        return all(v in choices[name] for name in choices for v in getattr(arch, name))

    def sample_subnet(self, rng: np.random.Generator, macro: NdsMacro) -> NdsArch:
        """One setting, each stage parameter uniform over the (capped) grid, as NDS and Ning et al. sample."""
        choices = capped(dict(self.grid()), macro)
        return NdsArch(block=self.block, **{name: tuple(values[int(i)] for i in rng.integers(len(values), size=STAGES))
                                            for name, values in choices.items()})

    def params(self, arch: NdsArch, macro: NdsMacro) -> int:
        return costs(arch, macro)[0]

    def flops(self, arch: NdsArch, macro: NdsMacro) -> float:
        return float(costs(arch, macro)[1])

    def build(self, arch: NdsArch, macro: NdsMacro) -> Any:
        from .model import NdsNetwork

        return NdsNetwork(arch, macro)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and not isinstance(v, float) else repr(float(v))


@SPACES.register("nds_resnet")
class NdsResNetSpace(NdsSpace):
    """NDS ResNet (CIFAR): 3 stages of basic residual blocks, per-stage depth and width."""

    block = "basic"
    size = 108 ** 3

    def examples(self) -> list[NdsArch]:
        """The smallest settings (sampled ones reach 24 blocks of 256 channels)."""
        return [self.parse(t) for t in ("ds=1,1,1;ws=16,24,16", "ds=1,2,1;ws=24,16,32")]


@SPACES.register("nds_resnext_a")
class NdsResNeXtASpace(NdsSpace):
    """NDS ResNeXt-A (CIFAR): 3 stages of bottleneck blocks, per-stage depth, width, bottleneck and groups."""

    block = "bottleneck"
    size = 225 ** 3

    def examples(self) -> list[NdsArch]:
        """The smallest settings (sampled ones reach 24 blocks of 256 channels)."""
        return [self.parse(t) for t in ("ds=1,1,1;ws=16,32,16;bms=0.25,0.5,1.0;gs=1,2,4",
                                                  "ds=1,2,1;ws=32,16,16;bms=1.0,0.25,0.5;gs=4,1,2")]
