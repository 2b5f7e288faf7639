"""One run's life, the same for a sweep, supernet training and a Tune search.

Order matters: checks that need no cluster come before this (in each driver); then Ray is
started (embedded, private, for this run) or joined; Ctrl-C is taken over; the cluster is
asked for what the run needs (at once on an embedded Ray, which cannot grow; up to two
minutes on a joined cluster, which may autoscale); then the output is leased to this writer.
Leaving the context releases the lease and stops an embedded Ray, whatever happened.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import ray

from .lease import Lease
from .resources import ActorShape, wait_for_resources
from .sink import Store

log = logging.getLogger("archscore")

#: seconds to wait for resources on a joined cluster (it may autoscale); an embedded Ray cannot grow
JOINED_RESOURCE_TIMEOUT_S = 120.0
STOP_MESSAGE = "stopping: committing the finished batches (press Ctrl-C again to stop at once)"


def _isatty(stream: Any) -> bool:
    return stream is not None and stream.isatty()


def ensure_ray(address: str | None) -> bool:
    """Connect to ``address``, or start an embedded local Ray. True if this call started it."""
    if ray.is_initialized():
        return False
    if not (_isatty(sys.stdout) and _isatty(sys.stderr)):  # worker log prefixes without colour codes in logs
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private, embedded single-machine run
        ray.init(include_dashboard=False, log_to_driver=True)
    return True


@contextmanager
def stop_on_signals(stop: threading.Event, message: str = STOP_MESSAGE,
                    on_first: Callable[[], None] | None = None) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM): set ``stop``, log ``message``, call ``on_first``; the run stops
    after committing what finished. Second: stop at once. Off the main thread: nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        log.warning(message)
        if on_first is not None:
            on_first()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def default_gpus(requested: float | None, resources: dict[str, float]) -> float:
    """``requested``, or 1 GPU per worker when the cluster has GPUs, else 0 (CPU workers)."""
    if requested is not None:
        return requested
    return 1.0 if resources.get("GPU", 0) >= 1 else 0.0


@dataclass
class LeasedRun:
    """What a driver learns while its run starts: whether Ray is its own (embedded), the
    workers the cluster hosts, the resource wait it used, the lease, and the stop request."""

    embedded: bool
    shape: ActorShape
    resource_timeout_s: float
    lease: Lease
    stop: threading.Event


@contextmanager
def leased_run(store: Store, *, address: str | None, shape_of: Callable[[dict[str, float]], ActorShape],
               resource_timeout_s: float | None = None, takeover: bool = False,
               stop: threading.Event | None = None, handle_signals: bool = True,
               directories: tuple[str, ...] = (), stop_message: str = STOP_MESSAGE) -> Iterator[LeasedRun]:
    """Start or join Ray, take Ctrl-C (unless ``handle_signals`` is off: Tune has its own), wait
    for ``shape_of(cluster resources)``, create ``store``'s ``directories`` and lease it.

    Raises:
        ResourcesUnavailable: the cluster cannot host the shape in time.
        LeaseHeld: another writer's lease on ``store`` looks alive (unless ``takeover``).
    """
    stop = stop if stop is not None else threading.Event()
    Lease(store, takeover=takeover).precheck()  # a live writer is named before Ray starts
    embedded = ensure_ray(address)
    try:
        with stop_on_signals(stop, stop_message) if handle_signals else nullcontext():
            shape = shape_of(ray.cluster_resources())
            timeout = resource_timeout_s if resource_timeout_s is not None else (
                0.0 if embedded else JOINED_RESOURCE_TIMEOUT_S)
            wait_for_resources(shape, timeout, should_stop=stop.is_set)
            store.makedirs()
            for directory in directories:
                store.makedirs(directory)
            lease = Lease(store, takeover=takeover).acquire()
            try:
                yield LeasedRun(embedded, shape, timeout, lease, stop)
            finally:
                lease.release()
    finally:
        if embedded:
            ray.shutdown()
