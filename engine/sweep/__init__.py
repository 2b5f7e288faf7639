"""The sweep: a stream of architectures scored by estimators on Ray actors (bounded in flight,
retried, isolated on failure) into an exactly-once results dataset."""
from .driver import SweepConfig, SweepSummary, run_sweep

__all__ = ["SweepConfig", "SweepSummary", "run_sweep"]
