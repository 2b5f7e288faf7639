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

from dataclasses import dataclass, field
from typing import Any, Iterator

from ..base import MacroConfig

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


def capped(grid: dict[str, tuple[Any, ...]], macro: NdsMacro) -> dict[str, tuple[Any, ...]]:
    """The grid with depths and widths above the macro's caps removed (0: no cap).

    Raises:
        ValueError: a cap below every choice.
    """
    out = dict(grid)
    for name, cap in (("depths", macro.max_depth), ("widths", macro.max_width)):
        if cap:
            out[name] = tuple(v for v in grid[name] if v <= cap)
            if not out[name]:
                raise ValueError(f"NDS macro max_{name[:-1]}={cap} is below every choice {list(grid[name])}")
    return out
