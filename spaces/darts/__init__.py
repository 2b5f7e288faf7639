"""DARTS / NAS-Bench-301: :mod:`.arch` (genotypes, strings, canonical form, costs), :mod:`.space`,
:mod:`.model` (DARTS's NetworkCIFAR), :mod:`.supernet` (the search cell), :mod:`.features`."""
from .arch import CELLS, NODES, OP_INDEX, OPS, DartsArch, DartsMacro, layout, op_costs, parse, to_string
from .space import DartsSpace

__all__ = ["CELLS", "DartsArch", "DartsMacro", "DartsSpace", "NODES", "OPS", "OP_INDEX", "layout", "op_costs",
           "parse", "to_string"]
