"""Run-level errors: failures that are the same for every architecture, raised before (or
instead of) writing rows. Per-architecture failures are never raised: they are rows."""
from __future__ import annotations

from typing import Any


def last_line(error: Any) -> str:
    """The last non-empty line of an error's text: a remote (Ray) error's own message, without
    the traceback Ray puts before it."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    return lines[-1] if lines else type(error).__name__


class RunError(RuntimeError):
    """The run cannot go on; committed rows are kept and a rerun of the same command resumes."""


class SweepInterrupted(RunError):
    """Stopped on request (Ctrl-C / SIGINT / SIGTERM) after committing what had finished."""


class ActorSetupFailed(RunError):
    """A scorer actor's constructor raised: the same failure would hit every architecture."""


class UniformFailure(RunError):
    """An estimator failed with one and the same message on every one of the first architectures."""


class ResourcesUnavailable(RunError):
    """The cluster cannot host the requested actors (within the wait allowed)."""


class ClusterLost(RunError):
    """The cluster can no longer host the run's actors (a node died)."""


class LeaseHeld(RunError):
    """Another live writer holds the output location."""


class LeaseLost(RunError):
    """This writer's lease was taken over; it must not commit any more."""
