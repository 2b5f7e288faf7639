"""The main job: score a stream of architectures with estimators into an exactly-once dataset.

>>> from archscore import SweepConfig, run_sweep, Sample          # doctest: +SKIP
>>> run_sweep(SweepConfig(space="nb201", estimators=["params", "flops"],
...                       source=Sample(1000, seed=0), out="runs/demo"))  # doctest: +SKIP

The order of work is what makes a failed run harmless: every check that depends only on the
config runs first (nothing started, nothing written); then Ray starts and the request is
checked against what the cluster has; then the output location is leased to this writer and
opened; rows are committed as they finish. A failure that is the same for every architecture is
a :class:`~archscore.engine.run.errors.RunError`, never a dataset of error rows; a location whose
earlier run committed nothing accepts a corrected config.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from archscore.spaces import Space

from archscore.engine.run.errors import ClusterLost, UniformFailure
from archscore.engine.run.inputs import EnumerateAll, InputSource
from archscore.engine.run.lifecycle import LeasedRun, default_gpus, leased_run
from archscore.engine.sweep.outcome import StatusCounts, UniformFailureCheck
from archscore.engine.run.progress import Progress, format_rate
from archscore.engine.run.resources import ActorShape, alive_nodes, describe_cluster, fits
from archscore.engine.sweep.scheduler import Scheduler, StreamStats
from archscore.engine.sweep.scoring import RowBuilder, ScoringPlan, WorkBatch, prepare_plan
from archscore.engine.run.sink import ResultSink

log = logging.getLogger("archscore")

ANALYTIC_BATCH = 1024
MODEL_BATCH = 8


@dataclass
class SweepConfig:
    """Options of a sweep; the CLI's flags map one to one onto these fields."""

    space: str
    estimators: list[str]
    out: str
    source: InputSource = field(default_factory=EnumerateAll)
    seeds: list[int] = field(default_factory=lambda: [0])
    #: Architectures per work batch; default 1024 for analytic estimators, 8 when a model is built.
    batch_size: int | None = None
    macro: dict[str, Any] = field(default_factory=dict)
    #: options per estimator, e.g. ``{"naswot": {"relu_modules": "name"}}``
    estimator_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: data source of data-dependent estimators; None means ``synthetic``
    data: str | None = None
    data_batch_size: int = 64
    address: str | None = None
    num_actors: int | None = None
    #: GPUs per actor; None: 1 when the cluster has GPUs, else 0 (CPU actors).
    gpus_per_actor: float | None = None
    cpus_per_actor: float = 1.0
    max_in_flight: int = 2
    rows_per_part: int = 65_536
    #: a part is also committed once this many seconds of finished rows have gathered
    commit_every_s: float = 30.0
    progress: bool = True
    #: modules that register user spaces or estimators, imported in the driver and every worker
    plugins: list[str] = field(default_factory=list)
    #: take over the output location even if another writer's lease looks alive
    takeover: bool = False
    #: seconds to wait for the cluster to provide the actors; None: 0 on an embedded local Ray
    #: (it cannot grow), 120 on a cluster joined with ``address`` (it may autoscale)
    resource_timeout_s: float | None = None
    #: seconds an actor may take to start (load models, data) before it counts as dead
    actor_start_timeout_s: float = 300.0
    #: seconds the cluster may be unable to host any actor (a dead node) before the run fails
    cluster_grace_s: float = 10.0

    def plan(self) -> ScoringPlan:
        return ScoringPlan(self.space, tuple(self.estimators), dict(self.macro),
                           {k: dict(v) for k, v in self.estimator_config.items()},
                           self.data, self.data_batch_size, tuple(self.plugins))


@dataclass
class SweepSummary:
    out: str
    rows_written: int
    rows_resumed: int
    batches_skipped: int
    seconds: float
    stats: StreamStats
    repaired: list[str]
    statuses: StatusCounts = field(default_factory=StatusCounts)
    archs_per_seed: int | None = None
    seeds: int = 1
    estimators: int = 1

    @property
    def ok(self) -> bool:
        """False when this run wrote rows and none of them is ok."""
        return self.rows_written == 0 or self.statuses.ok > 0

    def __str__(self) -> str:
        s = self.stats
        archs = f"{self.archs_per_seed:,} archs x {self.seeds} seed{'s' if self.seeds != 1 else ''}" \
            if self.archs_per_seed is not None else f"{self.seeds} seed{'s' if self.seeds != 1 else ''}"
        rate = format_rate(s.items, self.seconds)
        lines = [f"scored {s.items:,} items ({archs}) with {self.estimators} estimator"
                 f"{'s' if self.estimators != 1 else ''}: wrote {self.rows_written:,} rows to {self.out} "
                 f"in {self.seconds:.1f}s ({rate} items/s)"]
        lines += [f"  {line}" for line in self.statuses.lines()]
        if self.rows_resumed:
            lines.append(f"resumed: {self.rows_resumed:,} rows ({self.batches_skipped} batches) were already there")
        if s.retried or s.split or s.isolated or s.actors_replaced:
            lines.append(f"faults: {s.retried} batches retried, {s.split} split, {s.isolated} archs isolated, "
                         f"{s.actors_replaced} actors replaced")
        if not self.ok:
            lines.append("no row is ok: every estimator failed on every architecture")
        return "\n".join(lines)


def work_batches(space: Space, source: InputSource, seeds: list[int], batch_size: int,
                  done: set[int]) -> Iterator[WorkBatch]:
    """Numbered batches of the input (seed-major); ids already in ``done`` are skipped."""
    batch_id = 0
    for seed in seeds:
        index = 0
        for chunk in source.chunks(space, batch_size):
            if batch_id not in done:
                yield WorkBatch(batch_id, seed, chunk, index)
            batch_id += 1
            index += len(chunk)


class _Health:
    """Raises :class:`ClusterLost` once the alive nodes cannot host every actor for ``grace_s``
    (a replacement that can never start would otherwise wait for ever)."""

    def __init__(self, shape: ActorShape, grace_s: float) -> None:
        self.shape = shape
        self.grace_s = grace_s
        self.lost_since: float | None = None

    def __call__(self) -> None:
        nodes = alive_nodes()
        if fits(self.shape, nodes) == self.shape.n:
            self.lost_since = None
            return
        now = time.monotonic()
        if self.lost_since is None:
            self.lost_since = now
            log.warning("the alive nodes cannot host the %s (%s); waiting %.0fs for the cluster to recover",
                        self.shape, describe_cluster(nodes), self.grace_s)
        elif now - self.lost_since > self.grace_s:
            raise ClusterLost(f"the Ray cluster can no longer host the scorer actors ({describe_cluster(nodes)}; "
                              f"a node died?) for {now - self.lost_since:.0f}s")


def run_sweep(config: SweepConfig) -> SweepSummary:
    """Run (or resume) a sweep; see :class:`SweepConfig`.

    Raises:
        KeyError: an unknown space or estimator.
        ValueError: a bad option or input (nothing was started or written).
        ConfigMismatch: ``out`` holds rows of a run with another config.
        RunError: the run cannot go on (resources, a dead cluster, a set-up failure shared by
            every architecture, another writer, a stop request); committed rows are kept and
            rerunning the same config resumes.
    """
    plan, space, estimators = prepare_plan(config.plan())
    config.source.validate(space)
    if not config.seeds or len(set(config.seeds)) != len(config.seeds):
        raise ValueError(f"--seeds must name distinct seeds, got {config.seeds}")
    builds_models = any(e.builds_models for e in estimators)
    preferred = [e.archs_per_batch for e in estimators if e.archs_per_batch]
    batch_size = config.batch_size or (min(preferred) if preferred else MODEL_BATCH if builds_models
                                       else ANALYTIC_BATCH)
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    for value, name in ((config.gpus_per_actor or 0.0, "--gpus-per-actor"), (config.cpus_per_actor, "--cpus-per-actor")):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    if config.num_actors is not None and config.num_actors < 1:
        raise ValueError(f"--actors must be >= 1, got {config.num_actors}")
    if config.max_in_flight < 1 or config.rows_per_part < 1 or config.commit_every_s <= 0:
        raise ValueError("max_in_flight and rows_per_part must be >= 1 and commit_every_s > 0")
    run_config = {**plan.as_dict(), "input": config.source.describe(), "seeds": list(config.seeds),
                  "batch_size": batch_size}
    sink = ResultSink(config.out, run_config, config.rows_per_part, info={"input": config.source.info()},
                      flush_every_s=config.commit_every_s)
    sink.check_config()  # read-only: a mismatch fails before anything starts
    stop = threading.Event()

    def shape_of(resources: dict[str, float]) -> ActorShape:
        gpus = default_gpus(config.gpus_per_actor, resources)
        if config.num_actors:
            n_actors = config.num_actors
        elif gpus > 0:
            n_actors = max(1, int(resources.get("GPU", 0) // gpus))
        else:
            n_actors = max(1, int(resources.get("CPU", 1) // max(config.cpus_per_actor, 1e-9)))
        return ActorShape(n_actors, config.cpus_per_actor, gpus)

    with leased_run(sink.store, address=config.address, shape_of=shape_of, resource_timeout_s=config.resource_timeout_s,
                    takeover=config.takeover, stop=stop) as run:
        sink.lease = run.lease
        return _run(config, plan, space, estimators, batch_size, sink, run)


def _run(config: SweepConfig, plan: ScoringPlan, space: Space, estimators: list[Any], batch_size: int,
         sink: ResultSink, run: LeasedRun) -> SweepSummary:
    shape, stop, embedded = run.shape, run.stop, run.embedded
    sink.open()
    if sink.done:
        log.info("resuming %s: %d batches (%s rows) already written, skipping them",
                 config.out, len(sink.done), f"{sink.resumed_rows:,}")
    from archscore.engine.sweep.actors import make_actor_class

    actor_cls = make_actor_class(config.cpus_per_actor, shape.gpus)
    threads = max(1, int(config.cpus_per_actor))
    start = time.monotonic()
    scheduler = Scheduler(lambda: actor_cls.remote(plan, threads), shape.n, config.max_in_flight,
                          ping_timeout_s=config.actor_start_timeout_s, should_stop=stop.is_set,
                          health=_Health(shape, config.cluster_grace_s if embedded
                                         else max(config.cluster_grace_s, run.resource_timeout_s)))
    log.info("scoring with %s", shape)
    per_seed = config.source.count(space)
    total = per_seed * len(config.seeds) - sink.resumed_rows // len(estimators) if per_seed else None
    progress = Progress(total, "sweep", enabled=config.progress)
    skipped = len(sink.done)
    rows = RowBuilder(space, config.estimators, worker="driver")
    statuses = StatusCounts()
    check = UniformFailureCheck()
    held_since = time.monotonic()

    def on_done(batch_id: int, table: Any) -> None:
        check.add(table)
        if not check.decided and time.monotonic() - held_since > config.commit_every_s:
            check.decide()  # do not hold finished work longer than a commit interval
        sink.hold = not check.decided  # nothing committed until the first rows pass the check
        statuses.add(table)
        sink.add(batch_id, table)

    try:
        stats = scheduler.run(work_batches(space, config.source, config.seeds, batch_size, set(sink.done)),
                              on_done=on_done, failure_rows=rows.failure_rows, on_progress=progress.update)
    except BaseException:
        _finish(progress, scheduler, sink, check, failing=True)
        raise
    _finish(progress, scheduler, sink, check, failing=False)
    if stats.items == 0 and not sink.resumed_rows:
        raise ValueError("the input has no architectures")
    return SweepSummary(config.out, sink.rows_committed, sink.resumed_rows, skipped, time.monotonic() - start,
                        stats, sink.repaired, statuses, per_seed, len(config.seeds), len(estimators))


def _finish(progress: Progress, scheduler: Scheduler, sink: ResultSink, check: UniformFailureCheck,
            failing: bool) -> None:
    """Stop the actors and commit what finished (also when interrupted), unless the first rows
    show a failure shared by every architecture. When the run is already failing, an error here
    is logged and the original one is raised by the caller."""
    progress.close()
    scheduler.shutdown()
    try:
        check.decide()
    except UniformFailure:
        sink.discard()
        if not failing:
            raise
        return
    sink.hold = False
    try:
        sink.flush()
    except Exception:
        if not failing:
            raise
        log.exception("committing the finished batches failed")
