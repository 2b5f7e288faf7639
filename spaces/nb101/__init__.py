"""NAS-Bench-101: :mod:`.graph` and :mod:`.cells` (cell graphs, pruning, the benchmark's hash),
:mod:`.enumeration` (the 423,624 cells), :mod:`.arch` (values, strings, costs), :mod:`.space`,
:mod:`.model`, :mod:`.supernet`, :mod:`.features` (what predictors read)."""
from . import enumeration
from .arch import (SIZE, NB101Arch, NB101Macro, costs, from_naslib_key, from_spec, naslib_key, network_costs, parse,
                   to_string)
from .graph import OPS
from .space import NB101Space

__all__ = ["NB101Arch", "NB101Macro", "NB101Space", "OPS", "SIZE", "costs", "enumeration", "from_naslib_key",
           "from_spec", "naslib_key", "network_costs", "parse", "to_string"]
