"""The main job: score a stream of architectures with estimators into an exactly-once dataset.

>>> from engine import SweepConfig, run_sweep, Sample          # doctest: +SKIP
>>> run_sweep(SweepConfig(space="nb201", estimators=["params", "flops"],
...                       source=Sample(1000, seed=0), out="runs/demo"))  # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import ray

from archscore.estimators import get_estimator
from archscore.spaces import Space, get_space

from .inputs import EnumerateAll, InputSource
from .progress import Progress
from .scheduler import Scheduler, StreamStats
from .scoring import RowBuilder, ScoringPlan, WorkBatch, load_plugins, resolve_macro
from .sink import ResultSink

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
    estimator_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: str | None = None
    data_batch_size: int = 64
    address: str | None = None
    num_actors: int | None = None
    #: GPUs per actor; None: 1 when the cluster has GPUs, else 0 (CPU actors).
    gpus_per_actor: float | None = None
    cpus_per_actor: float = 1.0
    max_in_flight: int = 2
    rows_per_part: int = 65_536
    progress: bool = True
    #: modules that register user spaces or estimators, imported in the driver and every worker
    plugins: list[str] = field(default_factory=list)

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

    def __str__(self) -> str:
        s = self.stats
        rate = s.items / self.seconds if self.seconds else 0.0
        text = (f"wrote {self.rows_written:,} rows to {self.out} in {self.seconds:.1f}s "
                f"({s.items:,} archs, {rate:,.0f} archs/s)")
        if self.rows_resumed:
            text += f"; resumed: {self.rows_resumed:,} rows ({self.batches_skipped} batches) were already there"
        if s.retried or s.split or s.isolated or s.actors_replaced:
            text += (f"; faults: {s.retried} batches retried, {s.split} split, {s.isolated} archs isolated, "
                     f"{s.actors_replaced} actors replaced")
        return text


def _work_batches(space: Space, source: InputSource, seeds: list[int], batch_size: int,
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


def _ensure_ray(address: str | None) -> bool:
    """Connect to ``address``, or start an embedded local Ray. True if we started it."""
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private, embedded single-machine run
        ray.init(include_dashboard=False, log_to_driver=True)
    return True


def run_sweep(config: SweepConfig) -> SweepSummary:
    """Run (or resume) a sweep; see :class:`SweepConfig`.

    Raises:
        KeyError: an unknown space or estimator.
        ValueError: a bad option, or ``out`` holds a run with another config.
    """
    load_plugins(config.plugins)
    space = get_space(config.space)
    resolve_macro(space, config.plan())  # validate macro and data before starting anything
    estimators = [get_estimator(n, **config.estimator_config.get(n, {})) for n in config.estimators]
    if not estimators:
        raise ValueError("no estimators given")
    if len(set(config.estimators)) != len(config.estimators):
        raise ValueError(f"estimators listed twice: {config.estimators}")
    builds_models = any(e.needs_data for e in estimators)
    batch_size = config.batch_size or (MODEL_BATCH if builds_models else ANALYTIC_BATCH)
    plan = config.plan()
    input_desc = config.source.describe()
    run_config = {**plan.as_dict(), "input": input_desc, "seeds": list(config.seeds),
                  "batch_size": batch_size}
    sink = ResultSink(config.out, run_config, config.rows_per_part).open()
    if sink.done:
        log.info("resuming %s: %d batches (%s rows) already written, skipping them",
                 config.out, len(sink.done), f"{sink.resumed_rows:,}")
    started = _ensure_ray(config.address)
    start = time.monotonic()
    try:
        resources = ray.cluster_resources()
        gpus = config.gpus_per_actor
        if gpus is None:
            gpus = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
        if config.num_actors:
            n_actors = config.num_actors
        elif gpus > 0:
            n_actors = max(1, int(resources.get("GPU", 0) // gpus))
        else:
            n_actors = max(1, int(resources.get("CPU", 1) // config.cpus_per_actor))
        from .actors import make_actor_class

        actor_cls = make_actor_class(config.cpus_per_actor, gpus)
        threads = max(1, int(config.cpus_per_actor))
        scheduler = Scheduler(lambda: actor_cls.remote(plan, threads), n_actors, config.max_in_flight)
        log.info("scoring with %d actors (%s CPU, %s GPU each)", n_actors, config.cpus_per_actor, gpus)
        per_seed = {"all": space.size, "sample": input_desc.get("n")}.get(input_desc["kind"])
        total = per_seed * len(config.seeds) - sink.resumed_rows // len(estimators) if per_seed else None
        progress = Progress(total, "sweep", enabled=config.progress)
        skipped = len(sink.done)
        rows = RowBuilder(space, config.estimators, worker="driver")
        try:
            stats = scheduler.run(_work_batches(space, config.source, config.seeds, batch_size, set(sink.done)),
                                  on_done=sink.add, failure_rows=rows.failure_rows, on_progress=progress.update)
        finally:
            sink.flush()  # whatever finished is complete: keep it, even when interrupted
            progress.close()
            scheduler.shutdown()
    finally:
        if started:
            ray.shutdown()
    return SweepSummary(config.out, sink.rows_committed, sink.resumed_rows, skipped,
                        time.monotonic() - start, stats, sink.repaired)
