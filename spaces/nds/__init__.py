"""NDS ResNet and ResNeXt-A: :mod:`.arch` (per-stage settings, grids, costs), :mod:`.space` (the
two registered spaces), :mod:`.model` (pycls's AnyNet), :mod:`.supernet` (Ning et al.'s ordinal
supernet), :mod:`.features`."""
from .arch import GRIDS, STAGES, NdsArch, NdsMacro, capped
from .space import NdsResNetSpace, NdsResNeXtASpace, NdsSpace

__all__ = ["GRIDS", "NdsArch", "NdsMacro", "NdsResNeXtASpace", "NdsResNetSpace", "NdsSpace", "STAGES", "capped"]
