"""The engine: Ray actors, streaming scheduler, exactly-once Parquet output, CLI. Only the
engine knows Ray, files and processes."""
from .inputs import EnumerateAll, FromFile, FromIterable, InputSource, Sample
from .schema import RESULT_SCHEMA, VERSION
from .sink import read_results
from .sweep import SweepConfig, SweepSummary, run_sweep

__all__ = ["EnumerateAll", "FromFile", "FromIterable", "InputSource", "Sample", "RESULT_SCHEMA",
           "VERSION", "read_results", "SweepConfig", "SweepSummary", "run_sweep"]
