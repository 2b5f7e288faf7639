"""The run machinery every workflow shares: the results schema, errors, the output store and
its exactly-once sink, the writer's lease, cluster resources, progress, data and architecture
sources, and the one leased-run lifecycle (Ray, signals, resources, lease)."""
from .errors import (ActorSetupFailed, ClusterLost, LeaseHeld, LeaseLost, ResourcesUnavailable,
                     RunError, SweepInterrupted, UniformFailure)
from .lifecycle import LeasedRun, leased_run
from .inputs import EnumerateAll, FromFile, FromIterable, InputSource, Sample
from .schema import RESULT_SCHEMA, STATUS_ERROR, STATUS_INVALID, STATUS_NONFINITE, STATUS_OK, STATUSES
from .sink import ConfigMismatch, ResultSink, Store, read_results

__all__ = ["ActorSetupFailed", "ClusterLost", "ConfigMismatch", "EnumerateAll", "FromFile", "FromIterable",
           "InputSource", "LeaseHeld", "LeasedRun", "LeaseLost", "RESULT_SCHEMA", "ResourcesUnavailable", "ResultSink", "RunError",
           "STATUSES", "STATUS_ERROR", "STATUS_INVALID", "STATUS_NONFINITE", "STATUS_OK", "Sample", "Store",
           "SweepInterrupted", "UniformFailure", "leased_run", "read_results"]
