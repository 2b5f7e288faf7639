"""NAS-Bench-201: :mod:`.arch` (values, strings, costs), :mod:`.space` (the space object),
:mod:`.model` (the network), :mod:`.supernet` (the weight-sharing supernet), :mod:`.features`
(what predictors read)."""
from .arch import (EDGES, NUM_EDGES, OP_INDEX, OPS, SIZE, NB201Arch, NB201Macro, decode, from_naslib_key, parse,
                   to_string)
from .space import NB201Space

__all__ = ["EDGES", "NUM_EDGES", "NB201Arch", "NB201Macro", "NB201Space", "OPS", "OP_INDEX", "SIZE", "decode",
           "from_naslib_key", "parse", "to_string"]
