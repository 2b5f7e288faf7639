"""The engine: the only room that knows Ray, files and processes.

Sub-packages by concern: :mod:`.run` (the machinery every workflow shares: schema, sink, lease,
resources, data, the leased-run lifecycle), :mod:`.sweep` (streaming scoring over actors),
:mod:`.tune` (Ray Tune over supernet heuristics), :mod:`.evaluation` (truth, criteria, evaluate,
report) and :mod:`.workflows` (supernet training, predictor fit); :mod:`.cli` is a thin layer
over them.
"""
from archscore._core import VERSION

from .run import RESULT_SCHEMA, EnumerateAll, FromFile, FromIterable, InputSource, Sample, read_results
from .sweep import SweepConfig, SweepSummary, run_sweep

__all__ = ["EnumerateAll", "FromFile", "FromIterable", "InputSource", "Sample", "RESULT_SCHEMA",
           "VERSION", "read_results", "SweepConfig", "SweepSummary", "run_sweep"]
