"""Streams work batches through a pool of scorer actors with bounded in-flight work.

``ray.util.ActorPool`` submits its whole input up front and drops dead actors; this scheduler
keeps at most ``max_in_flight`` batches per actor (backpressure: the input is pulled only as
results come back). A batch whose actor died is retried alone on an idle actor, so that a failure
there can only be its own; a batch that fails alone is split, down to the single architecture that
kills workers, which gets error rows after failing alone twice, while its neighbours score. Actors
that stay dead are replaced (Ray restarts an actor a few times itself). It gives up, with an error, only when
``max_replacements`` replacements in a row score nothing, so a broken worker set-up cannot hang it.

It never blocks for long: it waits on results in short slices, between which it honours a stop
request (``should_stop``) and runs the driver's cluster health check (``health``, which raises
when the cluster can no longer host an actor). An actor whose constructor raises is a run error
(:class:`~archscore.engine.run.errors.ActorSetupFailed`): every actor would fail the same way.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pyarrow as pa
import ray
from ray.exceptions import RayError, RayTaskError

from archscore.engine.run.errors import ActorSetupFailed, RunError, SweepInterrupted, last_line
from archscore.engine.run.schema import table_from_ipc
from archscore.engine.sweep.scoring import WorkBatch

log = logging.getLogger(__name__)


@dataclass
class _Task:
    batch: WorkBatch
    attempts: int = 0


@dataclass
class StreamStats:
    batches: int = 0
    items: int = 0
    retried: int = 0
    split: int = 0
    isolated: int = 0
    actors_replaced: int = 0
    #: monotonic times: every actor constructed (models, data loaded), last batch finished
    ready: float | None = None
    last_done: float | None = None

    @property
    def streaming_seconds(self) -> float:
        """Seconds from all actors being ready to the last finished batch (no start-up)."""
        return (self.last_done - self.ready) if self.ready and self.last_done else 0.0


@dataclass
class _OpenBatch:
    remaining: int
    tables: list[tuple[int, pa.Table]] = field(default_factory=list)


class Scheduler:
    """Runs batches on actors made by ``make_actor``; see the module docstring."""

    def __init__(self, make_actor: Callable[[], Any], n_actors: int, max_in_flight: int = 2,
                 max_replacements: int = 8, ping_timeout_s: float = 300.0,
                 should_stop: Callable[[], bool] = lambda: False, health: Callable[[], None] = lambda: None,
                 health_every_s: float = 2.0, wait_slice_s: float = 0.5) -> None:
        if n_actors < 1 or max_in_flight < 1:
            raise ValueError("need at least one actor and one batch in flight per actor")
        self.make_actor = make_actor
        self.actors = [make_actor() for _ in range(n_actors)]
        self.max_in_flight = max_in_flight
        self.max_replacements = max_replacements
        self.ping_timeout_s = ping_timeout_s
        self.should_stop, self.health = should_stop, health
        self.health_every_s, self.wait_slice_s = health_every_s, wait_slice_s
        self._last_health = 0.0
        self.stats = StreamStats()
        self._replaced_since_progress = 0  # replacements since the last batch that scored

    def _between_waits(self) -> None:
        """Honour a stop request and check the cluster's health (throttled)."""
        if self.should_stop():
            raise SweepInterrupted("stopped on request")
        now = time.monotonic()
        if now - self._last_health >= self.health_every_s:
            self._last_health = now
            self.health()

    def _await_actor(self, a: int) -> bool:
        """Wait (in slices) until actor ``a`` answers; False if it stays dead past the timeout.

        Raises:
            ActorSetupFailed: its constructor raised.
        """
        ref = self.actors[a].ping.remote()
        deadline = time.monotonic() + self.ping_timeout_s
        while True:
            ready, _ = ray.wait([ref], timeout=self.wait_slice_s)
            if ready:
                try:
                    ray.get(ref)
                    return True
                except RayError as exc:
                    if getattr(exc, "_actor_init_failed", False):
                        raise ActorSetupFailed(f"setting up a scorer actor failed: {last_line(exc)}") from None
                    return False
            self._between_waits()
            if time.monotonic() > deadline:
                return False

    def run(self, batches: Iterator[WorkBatch], on_done: Callable[[int, pa.Table], None],
            failure_rows: Callable[[WorkBatch, str], pa.Table],
            on_progress: Callable[[int], None] | None = None) -> StreamStats:
        """Score every batch; ``on_done(batch_id, table)`` is called once per input batch."""
        suspects: deque[_Task] = deque()  # failed once: each is rerun alone on an idle actor
        pending: dict[Any, tuple[int, _Task, bool]] = {}
        load = [0] * len(self.actors)
        exclusive = [False] * len(self.actors)
        open_batches: dict[int, _OpenBatch] = {}
        source = iter(batches)
        exhausted = False
        for a in range(len(self.actors)):  # wait for start-up, so that a broken set-up fails here
            if not self._await_actor(a):
                log.warning("actor %d failed to start", a)
                self._replace(a)
        self.stats.ready = time.monotonic()

        def finish(task: _Task, table: pa.Table) -> None:
            entry = open_batches[task.batch.batch_id]
            entry.tables.append((task.batch.first_index, table))
            entry.remaining -= 1
            if on_progress:
                on_progress(len(task.batch))
            if entry.remaining == 0:
                del open_batches[task.batch.batch_id]
                tables = [t for _, t in sorted(entry.tables, key=lambda x: x[0])]
                self.stats.batches += 1
                self.stats.last_done = time.monotonic()
                on_done(task.batch.batch_id, tables[0] if len(tables) == 1 else pa.concat_tables(tables))

        def submit(a: int, task: _Task, alone: bool) -> None:
            pending[self.actors[a].score.remote(task.batch)] = (a, task, alone)
            load[a] += 1
            exclusive[a] = alone

        while True:
            for a in range(len(self.actors)):
                if exclusive[a]:
                    continue
                if suspects:  # a suspect runs alone, so that a failure can only be its own
                    if load[a] == 0:
                        submit(a, suspects.popleft(), alone=True)
                    continue  # meanwhile this actor gets no new work and drains
                while load[a] < self.max_in_flight and not exhausted:
                    try:  # fresh input is pulled only into free slots: backpressure
                        batch = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    open_batches[batch.batch_id] = _OpenBatch(remaining=1)
                    self.stats.items += len(batch)
                    submit(a, _Task(batch), alone=False)
            if not pending:
                break
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=self.wait_slice_s)
            for ref in ready:
                a, task, alone = pending.pop(ref)
                load[a] -= 1
                exclusive[a] = False
                try:
                    table = table_from_ipc(ray.get(ref))
                except RayError as exc:
                    self._failed(a, task, alone, exc, suspects, open_batches, finish, failure_rows)
                else:
                    self._replaced_since_progress = 0
                    finish(task, table)
            self._between_waits()  # after handling what finished, so no finished batch is lost
        return self.stats

    def _failed(self, a: int, task: _Task, alone: bool, exc: Exception, suspects: deque[_Task],
                open_batches: dict[int, _OpenBatch], finish: Callable[[_Task, pa.Table], None],
                failure_rows: Callable[[WorkBatch, str], pa.Table]) -> None:
        """Blame a task only for failures it had to itself: batches that shared the dying actor are
        retried alone; a batch that fails alone is split; a single architecture that fails alone
        twice is isolated with error rows."""
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        log.warning("batch %d (%d items%s) failed on actor %d: %s", task.batch.batch_id, len(task.batch),
                    ", alone" if alone else "", a, reason)
        if not isinstance(exc, RayTaskError):  # the worker died or is restarting: wait or replace
            self._ensure_alive(a)
        if not alone:
            self.stats.retried += 1
            suspects.append(task)
        elif len(task.batch) > 1:
            self.stats.split += 1
            left, right = task.batch.split()
            open_batches[task.batch.batch_id].remaining += 1
            suspects.extend([_Task(left), _Task(right)])
        elif task.attempts == 0:
            suspects.append(_Task(task.batch, 1))
        else:
            self.stats.isolated += 1
            finish(task, failure_rows(task.batch, f"scoring this architecture failed its worker twice: {reason}"))

    def _ensure_alive(self, a: int) -> None:
        """Wait for Ray's restart of actor ``a``; replace it if it stays dead."""
        if not self._await_actor(a):
            self._replace(a)

    def _replace(self, a: int) -> None:
        if self._replaced_since_progress >= self.max_replacements:
            raise RunError(f"scorer actors were replaced {self._replaced_since_progress} times without "
                               "scoring a batch in between; giving up (see the actor logs for the cause)")
        self._replaced_since_progress += 1
        self.stats.actors_replaced += 1
        log.warning("actor %d is dead; starting a replacement", a)
        try:
            ray.kill(self.actors[a], no_restart=True)
        except RayError:
            pass
        self.actors[a] = self.make_actor()

    def shutdown(self) -> None:
        for actor in self.actors:
            try:
                ray.kill(actor, no_restart=True)
            except RayError:
                pass
