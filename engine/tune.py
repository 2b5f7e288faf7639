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
"""
from __future__ import annotations

import json
import logging
import os
import signal
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import ray

from archscore.estimators import criteria as C
from archscore.estimators.one_shot import Heuristics
from archscore.estimators.one_shot.search import MUTABLE_KEYS, SearchSpace
from archscore.spaces import get_space

from .errors import RunError, SweepInterrupted
from .lease import Lease
from .resources import ActorShape, wait_for_resources
from .sink import Store, describe_differences
from .supernet import truth_sample
from .sweep import _ensure_ray

log = logging.getLogger("archscore")

RUN_FILE = "tune.json"
EXPERIMENT = "experiment"
CHECKPOINT_FILE = "checkpoint.pt"
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
    base = replace(config.base, epochs=config.epochs)
    search = SearchSpace.from_mapping(config.search, base)
    if config.scheduler == "pbt":
        mutable = [d.key for d in search.searched if d.key in MUTABLE_KEYS and d.kind != "grid"]
        if not mutable:
            raise ValueError("pbt mutates hyperparameters of running trials; the search space has none it can "
                             f"mutate (searchable by pbt: {', '.join(MUTABLE_KEYS)})")
    macro = space.macro(**config.macro)
    space.supernet(macro.with_overrides(base.macro_overrides()), **base.module_options())
    dynamic = [d for d in search.dimensions if d.key == "dynamic_channels" and True in d.values]
    if base.dynamic_channels or dynamic:
        space.supernet(macro, dynamic_channels=True)  # raises where the space has no varying channels
    data = _check_data(config.data, macro, _portions(search))
    names, values, metric = truth_sample(config.truth, config.space, config.metric, config.truth_archs)
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


def _check_data(spec: str, macro: Any, portions: list[float]) -> str:
    from archscore.estimators.one_shot.scoring import VALID_FRACTION
    from archscore.estimators.training import split, to_tensor

    from .data import DataSpec, load_images
    from .scoring import input_shape_of

    data = DataSpec.parse(spec).canonical()
    shape = input_shape_of(macro)
    try:  # the whole source loads and fits the network: fail before anything starts
        images = load_images(DataSpec.parse(data), getattr(macro, "num_classes", 10), shape)
        to_tensor(images.test_x[:1], images, shape)
        for portion in portions:
            split(images, portion, VALID_FRACTION, seed=0)
    except ValueError as exc:
        raise ValueError(f"data source {data}: {exc}") from None
    return data


def run_tune(config: TuneConfig) -> pa.Table:
    """Run (or continue) the search; returns the trials table. See the module docstring.

    Ctrl-C is Tune's: the first stops the experiment after saving its state, the second at once.

    Raises:
        ValueError: a bad setting (nothing started), or OUT holds a search with other settings.
        RunError: resources, Tune's own failure; SweepInterrupted when stopped (rerun to resume).
    """
    prepared = prepare(config)
    store = Store(config.out)
    _check_same_run(store, prepared.record, config.out)
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
        _check_same_run(store, prepared.record, config.out)
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
            tuner = tune.Tuner(trainable, param_space=_param_space(prepared.search),
                               tune_config=_tune_config(config, prepared.search),
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

        table, best = trials_table(grid, prepared, config.cpus_per_trial, gpus)
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
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()
        log.warning("stopping: Tune saves the experiment, then trials.parquet is written (again to stop at once)")
        os.kill(os.getpid(), signal.SIGUSR1)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # ours forwards to Tune's SIGUSR1 handler
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        if previous_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = previous_env


def _param_space(search: SearchSpace) -> dict[str, Any]:
    from ray import tune

    def domain(d: Any) -> Any:
        if d.kind == "choice":
            return tune.choice(list(d.values))
        if d.kind == "grid":
            return tune.grid_search(list(d.values))
        return {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}[d.kind](*d.values)

    return {d.key: domain(d) for d in search.searched}


def _tune_config(config: TuneConfig, search: SearchSpace) -> Any:
    from ray import tune
    from ray.tune.schedulers import (ASHAScheduler, FIFOScheduler, HyperBandScheduler,
                                     PopulationBasedTraining)
    from ray.tune.search.basic_variant import BasicVariantGenerator

    if config.scheduler == "asha":
        scheduler = ASHAScheduler(time_attr="epoch", max_t=config.epochs, grace_period=config.grace_period,
                                  reduction_factor=config.reduction_factor)
    elif config.scheduler == "hyperband":
        scheduler = HyperBandScheduler(time_attr="epoch", max_t=config.epochs,
                                       reduction_factor=config.reduction_factor)
    elif config.scheduler == "pbt":
        scheduler = PopulationBasedTraining(time_attr="epoch", perturbation_interval=config.perturbation_interval,
                                            hyperparam_mutations=pbt_mutations(search),
                                            custom_explore_fn=KeepInSearchSpace(search), synch=config.pbt_synch)
    else:
        scheduler = FIFOScheduler()
    # max_concurrent_trials of TuneConfig applies to Searchers only; the variant generator limits itself
    return tune.TuneConfig(metric="objective", mode="max", scheduler=scheduler, num_samples=config.num_samples,
                           search_alg=BasicVariantGenerator(random_state=config.search_seed,
                                                            max_concurrent=config.max_concurrent_trials or 0))


def pbt_mutations(search: SearchSpace) -> dict[str, Any]:
    """What PBT may resample or perturb: choices as lists (PBT then shifts to a neighbouring value;
    a text value is never multiplied), ranges as Tune domains (perturbed x0.8 / x1.2, then kept in
    range by :class:`KeepInSearchSpace`). Grid keys and keys that shape the supernet are not mutated."""
    from ray import tune

    out: dict[str, Any] = {}
    for d in search.searched:
        if d.key not in MUTABLE_KEYS or d.kind == "grid":
            continue
        if d.kind == "choice":
            out[d.key] = list(d.values)
        else:
            out[d.key] = {"uniform": tune.uniform, "loguniform": tune.loguniform, "randint": tune.randint}[d.kind](
                *d.values)
    return out


class KeepInSearchSpace:
    """PBT's explore step, after its perturbation: clip each range key back into its range (an
    integer key to an integer), so a perturbed config is always one the search space allows."""

    def __init__(self, search: SearchSpace) -> None:
        self.ranges = {d.key: (d.kind, d.values) for d in search.searched
                       if d.kind in ("uniform", "loguniform", "randint")}

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        for key, (kind, (low, high)) in self.ranges.items():
            if key in config:
                if kind == "randint":
                    config[key] = int(min(max(round(config[key]), low), high - 1))
                else:
                    config[key] = float(min(max(config[key], low), high))
        return config


def _trial(config: dict[str, Any], setup: dict[str, Any]) -> None:
    """One trial: train a supernet epoch by epoch, reporting tuning-set ranking quality and a checkpoint."""
    import torch
    from ray import tune

    torch.set_num_threads(setup["threads"])
    record = setup["record"]
    trainer, space = trainer_for(record, config)
    archs = [space.parse(s) for s in setup["tuning"][0]]
    truth = np.asarray(setup["tuning"][1], dtype=np.float64)
    trial_id = tune.get_context().get_trial_id()
    restored: dict[str, Any] = {"restored_from": None, "restored_weights": None}
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = torch.load(Path(directory) / CHECKPOINT_FILE, map_location=trainer.device, weights_only=False)
        may_differ = MUTABLE_KEYS if record["scheduler"] == "pbt" else ()
        trainer.load_state(state, may_differ=may_differ)
        restored = {"restored_from": f"{state.get('trial_id')}@{state['epoch']}",
                    "restored_weights": state.get("weights_sha256")}
    while trainer.epoch < trainer.heuristics.epochs:
        metrics = trainer.train_epoch()
        metrics["current_lr"] = metrics.pop("lr")  # "lr" is the heuristic (the initial rate)
        start = _now()
        scores, _ = trainer.scorer(record["eval_batches"], record["eval_batch_size"]).score(archs)
        metrics.update(ranking_metrics("tuning_", scores, truth))
        metrics["score_seconds"] = _now() - start
        metrics["objective"] = _objective(metrics["tuning_" + record["objective"]])
        state = trainer.state()
        state["trial_id"], state["weights_sha256"] = trial_id, _weights_sha256(trainer.model)
        metrics.update(restored, weights_sha256=state["weights_sha256"])
        restored = {"restored_from": None, "restored_weights": None}
        with tempfile.TemporaryDirectory() as directory:
            torch.save(state, Path(directory) / CHECKPOINT_FILE)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def trainer_for(record: dict[str, Any], config: dict[str, Any]) -> tuple[Any, Any]:
    """(a supernet trainer for one trial's sampled config, the space): in the trial and when scoring its test split."""
    from archscore.estimators.one_shot import SupernetTrainer

    from .actors import _pick_device
    from .data import DataSpec, load_images
    from .scoring import input_shape_of

    space = get_space(record["space"])
    macro = space.macro(**record["macro"])
    heuristics = SearchSpace.from_mapping(record["search"], Heuristics.from_mapping(record["base"])).heuristics(
        {k: v for k, v in config.items() if k in record["search"]})
    shape = input_shape_of(macro.with_overrides(heuristics.macro_overrides()))
    images = load_images(DataSpec.parse(record["data"]), getattr(macro, "num_classes", 10), shape)
    return SupernetTrainer(space, macro, heuristics, images, record["data"], shape, _pick_device()), space


def ranking_metrics(prefix: str, scores: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Kendall tau, sparse Kendall tau and P@top5% of subnet scores against truth, named with ``prefix``."""
    return {prefix + "kendall_tau": C.kendall_tau(scores, truth),
            prefix + "sparse_kendall_tau": C.sparse_kendall_tau(scores, truth, 0.1),
            prefix + "p_at_top_5pct": C.precision_at_top_k(scores, truth, 0.05)}


def _objective(value: float) -> float:
    """What the scheduler compares: the tuning metric, with an undefined one (every subnet scored
    the same, so the ranking says nothing) counted as 0, a ranking with no information."""
    return float(value) if np.isfinite(value) else 0.0


def _weights_sha256(model: Any) -> str:
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _now() -> float:
    import time

    return time.perf_counter()


def _check_same_run(store: Store, record: dict[str, Any], out: str) -> None:
    previous = store.read(RUN_FILE)
    if previous is not None:
        there = json.loads(previous)
        if there != record:
            raise ValueError(f"{out} holds a tune run with other settings; use another --out. Differences:\n  "
                             + "\n  ".join(describe_differences(there, record)))

