"""archscore: score neural architectures with efficient performance estimators, at scale.

The repository keeps ``engine/``, ``estimators/`` and ``spaces/`` at its top level; installed,
they are ``archscore.engine``, ``archscore.estimators`` and ``archscore.spaces`` (doors open one
way: engine -> estimators -> spaces). The public API is re-exported here:

>>> from archscore import SweepConfig, Sample, run_sweep, read_results   # doctest: +SKIP
"""
from .engine import (VERSION, EnumerateAll, FromFile, FromIterable, InputSource, Sample, SweepConfig,
                     SweepSummary, read_results, run_sweep)

__version__ = VERSION
__all__ = ["EnumerateAll", "FromFile", "FromIterable", "InputSource", "Sample", "SweepConfig", "SweepSummary",
           "VERSION", "__version__", "read_results", "run_sweep"]
