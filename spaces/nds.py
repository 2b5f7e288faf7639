"""NDS ResNet and ResNeXt-A (Radosavovic et al. 2019, "On Network Design Spaces for Visual
Recognition"), the CIFAR design spaces whose sampled networks the NDS data holds.

Three stages (strides 1, 2, 2) after a CIFAR stem (3x3 conv to 16 channels, BN, ReLU); each stage
has a depth and a width, and for ResNeXt-A a bottleneck multiplier and a group count; every
parameter is drawn uniformly and independently per stage. Ranges (NDS Table 1, as Ning et al.'s
own NDS code, walkerning/aw_nas ``examples/research/surgery/nds/plugin/germ_nds.py``, lists them):

- ``nds_resnet``: basic residual blocks; depth in {1, 2, 3, 4, 6, 8, 12, 16, 24}, width in
  {16, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256}: 108^3 = 1,259,712 networks.
- ``nds_resnext_a``: bottleneck blocks; depth in {1, 2, 4, 8, 16}, width in {16, 32, 64, 128, 256},
  bottleneck multiplier in {0.25, 0.5, 1} (the paper's ratio b in {4, 2, 1}), groups in {1, 2, 4}:
  225^3 = 11,390,625 networks. Every bottleneck width is a multiple of 4, so every group count fits.

Blocks and complexity follow pycls (facebookresearch/pycls, the NDS-era ``anynet.py`` and
``metrics.py``, 996cb1d): params count every conv, BN (2 per channel) and the classifier with its
bias; FLOPs count ``k^2 Cin Cout / groups`` per conv output position and ``in x out`` for the
classifier (BN, ReLU, additions and pooling are free), on 32x32 inputs.
The NDS accuracies are not shipped with archscore; load them as a generic truth file
(``arch`` in this module's string form) when you have them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterator

import numpy as np

from .base import SPACES, MacroConfig, Space

STAGES = 3
STRIDES = (1, 2, 2)
STEM_WIDTH = 16


@dataclass(frozen=True, slots=True)
class NdsArch:
    """Per-stage depths and widths, and (ResNeXt-A) bottleneck multipliers and group counts;
    ``block`` is ``basic`` or ``bottleneck``. Validated by its space's ranges on construction."""

    depths: tuple[int, ...]
    widths: tuple[int, ...]
    bot_muls: tuple[float, ...] = (1.0, 1.0, 1.0)
    groups: tuple[int, ...] = (1, 1, 1)
    block: str = "basic"
    index: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        grid = GRIDS.get(self.block)
        if grid is None:
            raise ValueError(f"NDS block {self.block!r} is not one of {sorted(GRIDS)}")
        index = 0
        for name, choices in grid:
            values = getattr(self, name)
            if len(values) != STAGES:
                raise ValueError(f"NDS {self.block} {name} needs {STAGES} values (one per stage), got {list(values)}")
            norm = []
            for stage, value in enumerate(values):
                if isinstance(value, bool) or value not in choices:
                    raise ValueError(f"NDS {self.block} stage {stage + 1} {name[:-1]} {value!r} is not one of "
                                     f"{list(choices)}")
                norm.append(type(choices[0])(value))
            object.__setattr__(self, name, tuple(norm))
        for stage in range(STAGES):  # stage-major mixed radix: stage 1's choices most significant
            for name, choices in grid:
                index = index * len(choices) + choices.index(getattr(self, name)[stage])
        object.__setattr__(self, "index", index)


RESNET_GRID = (("depths", (1, 2, 3, 4, 6, 8, 12, 16, 24)),
               ("widths", (16, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256)))
RESNEXT_GRID = (("depths", (1, 2, 4, 8, 16)), ("widths", (16, 32, 64, 128, 256)),
                ("bot_muls", (0.25, 0.5, 1.0)), ("groups", (1, 2, 4)))
GRIDS = {"basic": RESNET_GRID, "bottleneck": RESNEXT_GRID}
SHORT = {"depths": "ds", "widths": "ws", "bot_muls": "bms", "groups": "gs"}
LONG = {**{v: k for k, v in SHORT.items()}, "bot_muls": "bot_muls", "num_gs": "groups"}


@dataclass(frozen=True)
class NdsMacro(MacroConfig):
    """Outside the searched stages: classes, input channels and size (CIFAR by default).
    ``max_depth`` / ``max_width`` cap the weight-sharing supernet to a sub-grid (0: no cap; a
    low-fidelity supernet); stand-alone networks and costs do not read them."""

    num_classes: int = 10
    in_channels: int = 3
    input_size: int = 32
    max_depth: int = 0
    max_width: int = 0

    def __post_init__(self) -> None:
        for name in ("num_classes", "in_channels", "input_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"NDS macro {name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_depth", "max_width"):
            if getattr(self, name) < 0:
                raise ValueError(f"NDS macro {name} must be >= 0 (0: no cap), got {getattr(self, name)}")


def _conv(k: int, c_in: int, c_out: int, hw: int, groups: int = 1) -> tuple[int, int]:
    weights = k * k * c_in * c_out // groups
    return weights, weights * hw


def blocks(arch: NdsArch) -> Iterator[tuple[int, int, int, float, int]]:
    """(w_in, w_out, stride, bot_mul, groups) of every block, stage by stage."""
    w_in = STEM_WIDTH
    for stage in range(STAGES):
        for b in range(arch.depths[stage]):
            yield w_in, arch.widths[stage], STRIDES[stage] if b == 0 else 1, arch.bot_muls[stage], arch.groups[stage]
            w_in = arch.widths[stage]


def costs(arch: NdsArch, macro: NdsMacro) -> tuple[int, int]:
    """(params, FLOPs) as pycls counts them (see the module docstring)."""
    size = macro.input_size
    p, f = _conv(3, macro.in_channels, STEM_WIDTH, size * size)
    params, flops = p + 2 * STEM_WIDTH, f
    for w_in, w_out, stride, bot_mul, groups in blocks(arch):
        size_out = (size - 1) // stride + 1
        hw = size_out * size_out
        if w_in != w_out or stride != 1:
            p, f = _conv(1, w_in, w_out, hw)
            params, flops = params + p + 2 * w_out, flops + f
        if arch.block == "basic":
            parts = [_conv(3, w_in, w_out, hw), _conv(3, w_out, w_out, hw)]
            bn = 2 * w_out + 2 * w_out
        else:
            w_b = int(round(w_out * bot_mul))
            parts = [_conv(1, w_in, w_b, size * size), _conv(3, w_b, w_b, hw, groups), _conv(1, w_b, w_out, hw)]
            bn = 2 * w_b + 2 * w_b + 2 * w_out
        params += sum(p for p, _ in parts) + bn
        flops += sum(f for _, f in parts)
        size = size_out
    w = arch.widths[-1]
    return params + w * macro.num_classes + macro.num_classes, flops + w * macro.num_classes


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
        """:class:`~archscore.spaces.nds_supernet.NdsSupernet` over the grid (capped by the macro);
        options: ``bn_affine``, ``bn_track_running_stats``, ``path_dropout``; ``dynamic_channels``
        is always on (refused off), ``wsbn`` and ``topology=nodes`` are refused (cell-space switches)."""
        from .nds_supernet import NdsSupernet

        return NdsSupernet(dict(self.grid()), self.block, macro, **self.supernet_options(macro, **options))

    def supernet_options(self, macro: NdsMacro, **options: Any) -> dict[str, Any]:
        from .nds_supernet import capped

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
        from .nds_supernet import capped

        choices = capped(dict(self.grid()), macro)
        return all(v in choices[name] for name in choices for v in getattr(arch, name))

    def sample_subnet(self, rng: np.random.Generator, macro: NdsMacro) -> NdsArch:
        """One setting, each stage parameter uniform over the (capped) grid, as NDS and Ning et al. sample."""
        from .nds_supernet import capped

        choices = capped(dict(self.grid()), macro)
        return NdsArch(block=self.block, **{name: tuple(values[int(i)] for i in rng.integers(len(values), size=STAGES))
                                            for name, values in choices.items()})

    def params(self, arch: NdsArch, macro: NdsMacro) -> int:
        return costs(arch, macro)[0]

    def flops(self, arch: NdsArch, macro: NdsMacro) -> float:
        return float(costs(arch, macro)[1])

    def build(self, arch: NdsArch, macro: NdsMacro) -> Any:
        from .nds_model import NdsNetwork

        return NdsNetwork(arch, macro)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and not isinstance(v, float) else repr(float(v))


@SPACES.register("nds_resnet")
class NdsResNetSpace(NdsSpace):
    """NDS ResNet (CIFAR): 3 stages of basic residual blocks, per-stage depth and width."""

    block = "basic"
    size = 108 ** 3


@SPACES.register("nds_resnext_a")
class NdsResNeXtASpace(NdsSpace):
    """NDS ResNeXt-A (CIFAR): 3 stages of bottleneck blocks, per-stage depth, width, bottleneck and groups."""

    block = "bottleneck"
    size = 225 ** 3
