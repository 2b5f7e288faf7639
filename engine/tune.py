"""``archscore tune``: Ray Tune over supernet-training heuristics, ranked against stand-alone truth.

Each trial trains one supernet with :class:`~archscore.estimators.one_shot.SupernetTrainer` (a
Tune function trainable) and reports every epoch, with a checkpoint, how well its subnets rank the
*tuning* truth architectures. The truth sample is split once (seeded) into a tuning set, which Tune
optimises, and a held-out *test* set, scored once per trial on its last checkpoint, so the table
shows whether the search overfits the tuning set.

Layout of ``--out``::

    OUT/tune.json        what determines the run (space, data, search space, truth split, scheduler)
    OUT/experiment/      Ray Tune's experiment directory (its trial directories and checkpoints)
    OUT/trials.parquet   one row per (trial, epoch); see :func:`trials_table`
    OUT/best/            the best trial's last checkpoint (``oneshot.checkpoint=OUT/best``) and best.json
    OUT/report.html      tau per epoch, the best configurations, which heuristics matter

A rerun into the same ``--out`` continues the experiment (Tune's restore): finished trials stay
finished, interrupted ones continue from their last checkpoint, errored ones stay errors.

This module validates and drives; :mod:`.tune_trial` is what runs in a trial, :mod:`.tune_search`
maps the search space onto Tune, :mod:`.tune_results` and :mod:`.tune_report` write the outputs.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import ray

from archscore.estimators.one_shot import Heuristics, check_settings
from archscore.estimators.one_shot.search import MUTABLE_KEYS, SearchSpace
from archscore.spaces import get_space

from .errors import RunError, SweepInterrupted
from .lease import Lease
from .resources import ActorShape, wait_for_resources
from .sink import Store, refuse_other_settings
from .supernet import check_training_data, truth_sample
from .sweep import _ensure_ray, _stop_on_signals
from .tune_search import param_space, tune_settings
from .tune_trial import _trial

log = logging.getLogger("archscore")

RUN_FILE = "tune.json"
EXPERIMENT = "experiment"
SCHEDULERS = ("asha", "hyperband", "pbt", "fifo")
#: what Tune may optimise, each measured on the tuning split
OBJECTIVES = ("kendall_tau", "sparse_kendall_tau", "p_at_top_5pct")


@dataclass
class TuneConfig:
    space: str
    data: str
    truth: str
    out: str
    search: dict[str, Any] = field(default_factory=dict)
    metric: str | None = None
    base: Heuristics = field(default_factory=Heuristics)
    macro: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    num_samples: int = 8
    scheduler: str = "asha"
    objective: str = "kendall_tau"
    grace_period: int = 1
    reduction_factor: float = 3.0
    perturbation_interval: int = 2
    #: pbt: exploit and explore once every trial reached the interval (Jaderberg et al.'s synchronous
    #: variant, appendix A.1): reproducible with few trials on few workers. False: each trial on its own
    pbt_synch: bool = True
    truth_archs: int = 100
    test_fraction: float = 0.5
    eval_batches: int = 4
    eval_batch_size: int = 256
    search_seed: int = 0
    gpus_per_trial: float | None = None
    cpus_per_trial: float = 1.0
    max_concurrent_trials: int | None = None
    address: str | None = None
    resource_timeout_s: float | None = None
    takeover: bool = False


@dataclass
class Prepared:
    """A validated run: its search space, the record that determines it, and the truth split."""

    search: SearchSpace
    record: dict[str, Any]
    tuning: tuple[list[str], np.ndarray]
    test: tuple[list[str], np.ndarray]


def prepare(config: TuneConfig) -> Prepared:
    """Validate everything that can be checked without Ray; raises ``ValueError`` naming the part."""
    space = get_space(config.space)
    if config.epochs < 1:
        raise ValueError(f"--epochs must be >= 1 (got {config.epochs})")
    if config.num_samples < 1:
        raise ValueError(f"--num-samples must be >= 1 (got {config.num_samples})")
    if config.scheduler not in SCHEDULERS:
        raise ValueError(f"--scheduler {config.scheduler!r}: choose one of {', '.join(SCHEDULERS)}")
    if config.objective not in OBJECTIVES:
        raise ValueError(f"--objective {config.objective!r}: choose one of {', '.join(OBJECTIVES)}")
    if not 0 < config.test_fraction < 1:
        raise ValueError(f"--test-fraction must be in (0, 1) (got {config.test_fraction})")
    if config.grace_period < 1 or config.reduction_factor <= 1 or config.perturbation_interval < 1:
        raise ValueError("--grace-period and --perturbation-interval must be >= 1, --reduction-factor > 1")
    if config.cpus_per_trial <= 0 or (config.gpus_per_trial or 0) < 0:
        raise ValueError("--cpus-per-trial must be > 0 and --gpus-per-trial >= 0")
    if config.max_concurrent_trials is not None and config.max_concurrent_trials < 1:
        raise ValueError(f"--max-concurrent-trials must be >= 1 (got {config.max_concurrent_trials})")
    if "://" in config.out:
        raise ValueError("archscore tune writes --out through Ray Tune's local storage: give a directory on a "
                         "filesystem every node sees (local for one machine, NFS for a cluster), not a URI")
    base = replace(config.base, epochs=config.epochs).for_space(space)
    search = SearchSpace.from_mapping(config.search, base)
    if config.scheduler == "pbt":
        mutable = [d.key for d in search.searched if d.key in MUTABLE_KEYS and d.kind != "grid"]
        if not mutable:
            raise ValueError("pbt mutates hyperparameters of running trials; the search space has none it can "
                             f"mutate (searchable by pbt: {', '.join(MUTABLE_KEYS)})")
    macro = space.macro(**config.macro)
    supernet_macro = check_settings(space, macro, base)
    for d in search.dimensions:  # every listed value of the discrete keys, one at a time
        if d.kind in ("constant", "choice", "grid"):
            for value in d.values:
                try:
                    check_settings(space, macro, Heuristics.from_mapping({d.key: value}, base))
                except ValueError as exc:
                    raise ValueError(f"search space {d.key}={value!r}: {exc}") from None
    data = check_training_data(config.data, macro, _portions(search))
    names, values, metric = truth_sample(config.truth, config.space, config.metric, config.truth_archs,
                                         supernet_macro)
    order = np.random.default_rng(1).permutation(len(names))
    n_test = int(round(config.test_fraction * len(names)))
    if n_test < 2 or len(names) - n_test < 3:
        raise ValueError(f"{len(names)} truth architectures cannot be split into >= 3 tuning and >= 2 test "
                         f"architectures at --test-fraction {config.test_fraction}")
    test_idx, tune_idx = sorted(order[:n_test]), sorted(order[n_test:])
    tuning = ([names[i] for i in tune_idx], values[tune_idx])
    test = ([names[i] for i in test_idx], values[test_idx])
    record = {"space": config.space, "macro": macro.as_dict(), "data": data, "base": base.as_dict(),
              "search": search.as_dict(), "epochs": config.epochs, "num_samples": config.num_samples,
              "scheduler": config.scheduler, "objective": config.objective, "grace_period": config.grace_period,
              "reduction_factor": config.reduction_factor, "perturbation_interval": config.perturbation_interval,
              "pbt_synch": config.pbt_synch,
              "search_seed": config.search_seed, "eval_batches": config.eval_batches,
              "eval_batch_size": config.eval_batch_size,
              "truth": {"source": config.truth, "metric": metric, "tuning": tuning[0], "test": test[0]}}
    return Prepared(search, record, tuning, test)


def _portions(search: SearchSpace) -> list[float]:
    """The smallest data portion a trial can get (and the base's): each must leave non-empty splits."""
    portions = [search.base.data_portion]
    for d in search.dimensions:
        if d.key == "data_portion":
            portions.append(min(d.values))
    return portions


def run_tune(config: TuneConfig) -> pa.Table:
    """Run (or continue) the search; returns the trials table. See the module docstring.

    Ctrl-C is Tune's: the first stops the experiment after saving its state, the second at once.

    Raises:
        ValueError: a bad setting (nothing started), or OUT holds a search with other settings.
        RunError: resources, Tune's own failure; SweepInterrupted when stopped (rerun to resume).
    """
    prepared = prepare(config)
    store = Store(config.out)
    refuse_other_settings(store, RUN_FILE, prepared.record, config.out, "tune")
    started = _ensure_ray(config.address)
    try:
        return _run(config, prepared, store, embedded=started)
    finally:
        if started:
            ray.shutdown()


def _run(config: TuneConfig, prepared: Prepared, store: Store, embedded: bool) -> pa.Table:
    from ray import tune

    gpus = config.gpus_per_trial
    if gpus is None:
        gpus = 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0
    timeout = config.resource_timeout_s if config.resource_timeout_s is not None else (0.0 if embedded else 120.0)
    wait_for_resources(ActorShape(1, config.cpus_per_trial, gpus), timeout)
    store.makedirs()
    # Tune saves the experiment's state every few seconds: a killed driver's rerun then redoes at
    # most that much (its trials continue from their own checkpoints)
    previous_period = os.environ.get("TUNE_GLOBAL_CHECKPOINT_S")
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")
    lease = Lease(store, takeover=config.takeover).acquire()
    try:
        refuse_other_settings(store, RUN_FILE, prepared.record, config.out, "tune")
        store.write(RUN_FILE, json.dumps(prepared.record, indent=2, sort_keys=True).encode())
        setup = {"record": prepared.record, "tuning": (prepared.tuning[0], prepared.tuning[1].tolist()),
                 "threads": max(1, int(config.cpus_per_trial))}
        trainable = tune.with_resources(tune.with_parameters(_trial, setup=setup),
                                        {"cpu": config.cpus_per_trial, "gpu": gpus})
        experiment = store.path(EXPERIMENT)
        if tune.Tuner.can_restore(experiment):
            log.info("continuing the search in %s", experiment)
            tuner = tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=False)
        else:
            tuner = tune.Tuner(trainable, param_space=param_space(prepared.search),
                               tune_config=tune_settings(config, prepared.search),
                               run_config=tune.RunConfig(name=EXPERIMENT, storage_path=store.root,
                                                         checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
                                                         verbose=1))
        interrupted = threading.Event()
        try:
            with _interrupt_tune_on_signals(interrupted):
                grid = tuner.fit()
        except tune.TuneError as exc:
            raise RunError(f"Ray Tune failed: {exc}") from exc
        lease.check()
        from .tune_results import trials_table, write_outputs

        table, best = trials_table(grid, prepared, config.cpus_per_trial, gpus, interrupted.is_set())
        write_outputs(store, table, best, prepared)
        if interrupted.is_set():
            raise SweepInterrupted("stopped on request; trials.parquet shows where each trial stands")
        return table
    finally:
        if previous_period is None:
            os.environ.pop("TUNE_GLOBAL_CHECKPOINT_S", None)
        lease.release()


@contextmanager
def _interrupt_tune_on_signals(interrupted: threading.Event) -> Iterator[None]:
    """Ctrl-C or SIGTERM: Tune's own graceful stop (it saves the experiment, then ends; SIGUSR1 is
    its signal for that), remembered here so the run reports an interruption, not a finished search.
    A second one stops at once."""
    previous_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # ours forwards to Tune's SIGUSR1 handler
    try:
        with _stop_on_signals(interrupted, "stopping: Tune saves the experiment, then trials.parquet is written "
                                           "(again to stop at once)",
                              on_first=lambda: os.kill(os.getpid(), signal.SIGUSR1)):
            yield
    finally:
        if previous_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = previous_env
