"""``archscore supernet train``: one supernet trained on a Ray actor, checkpointed every epoch.

Layout of a run directory::

    OUT/supernet.json            what determines the run (space, macro, heuristics, data, truth)
    OUT/checkpoint.pt            the latest checkpoint (replaced atomically each epoch)
    OUT/checkpoints/epoch-NNNN.pt  every epoch's checkpoint (score them as separate estimators)
    OUT/metrics.parquet          one row per epoch: train loss/accuracy, seconds, and with --truth
                                 Kendall tau, sparse Kendall tau and P@top5% on held-out truth archs,
                                 and the bias of the scores: Kendall tau with params, FLOPs and each
                                 op's count (``bias_tau_params``, ``bias_tau_ops_<op>``, ...), the
                                 truth archs' scores (``truth_scores``) and Kendall tau with the
                                 previous epoch's (``tau_previous_epoch``: the variance across epochs)

The trainer (plain torch, :mod:`archscore.estimators.one_shot.trainer`) runs on one actor (a GPU
when the cluster has one); the driver writes every file, so a kill at any moment leaves the last
whole checkpoint, and a rerun with the same settings continues from it.
"""
from __future__ import annotations

import io
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray

from archscore.engine.evaluation import criteria as C
from archscore.estimators.one_shot import Heuristics, check_settings
from archscore.spaces import get_space

from archscore.engine.run.errors import RunError, SweepInterrupted, last_line
from archscore.engine.run.lifecycle import LeasedRun, default_gpus, leased_run
from archscore.engine.run.resources import ActorShape
from archscore.engine.evaluation.evaluate import bias_covariates
from archscore.engine.evaluation.truth import truth_sample
from archscore.engine.run.data import check_training_data
from archscore.engine.run.sink import Store, refuse_other_settings

log = logging.getLogger("archscore")

RUN_FILE = "supernet.json"
LATEST = "checkpoint.pt"


@dataclass
class SupernetConfig:
    space: str
    data: str
    out: str
    heuristics: Heuristics = field(default_factory=Heuristics)
    macro: dict[str, Any] = field(default_factory=dict)
    #: a truth location or file, its metric, and how many of its architectures to rank each epoch
    truth: str | None = None
    metric: str | None = None
    truth_archs: int = 100
    eval_batches: int = 4
    eval_batch_size: int = 256
    address: str | None = None
    gpus: float | None = None
    cpus: float = 1.0
    resource_timeout_s: float | None = None
    takeover: bool = False


class _SupernetActor:
    def __init__(self, space: str, macro: dict[str, Any], heuristics: dict[str, Any], data: str,
                 threads: int) -> None:
        import torch

        from archscore.estimators.one_shot import SupernetTrainer

        from archscore.engine.run.resources import worker_device
        from archscore.engine.run.data import DataSpec, input_shape_of, load_images

        device = worker_device()
        torch.set_num_threads(threads)
        sp = get_space(space)
        m = sp.macro(**macro)
        shape = input_shape_of(m)
        images = load_images(DataSpec.parse(data), getattr(m, "num_classes", 10), shape)
        self.trainer = SupernetTrainer(sp, m, Heuristics.from_mapping(heuristics), images, data, shape, device)
        self.space = sp

    def load(self, blob: bytes) -> int:
        import torch

        # the driver allowed only the number of epochs to differ (extending a run)
        self.trainer.load_state(torch.load(io.BytesIO(blob), map_location=self.trainer.device, weights_only=False),
                                may_differ=("epochs",))
        return self.trainer.epoch

    def train_epoch(self) -> dict[str, float]:
        return self.trainer.train_epoch()

    def checkpoint(self) -> bytes:
        import torch

        buf = io.BytesIO()
        torch.save(self.trainer.state(), buf)
        return buf.getvalue()

    def score(self, strings: list[str], eval_batches: int, batch_size: int) -> list[float]:
        archs = [self.space.parse(s) for s in strings]
        return self.trainer.scorer(eval_batches, batch_size).score(archs)[0].tolist()


def train_supernet(config: SupernetConfig, should_stop: threading.Event | None = None) -> pa.Table:
    """Train (or continue) a supernet; returns the metrics table. See the module docstring.

    Raises:
        ValueError: a bad setting (nothing started), or OUT holds a run with other settings.
        RunError: resources, an interruption (the last checkpoint is kept).
    """
    space = get_space(config.space)
    heuristics = config.heuristics.for_space(space)
    macro = check_settings(space, space.macro(**config.macro), heuristics)
    data = check_training_data(config.data, macro)
    truth = truth_sample(config.truth, config.space, config.metric, config.truth_archs, macro) if config.truth else None
    record = {"space": config.space, "macro": macro.as_dict(), "heuristics": heuristics.as_dict(),
              "data": data, "truth": None if truth is None else {"archs": truth[0], "metric": truth[2]},
              "eval_batches": config.eval_batches, "eval_batch_size": config.eval_batch_size}
    store = Store(config.out)
    _check_same_run(store, record, config.out)  # before anything starts; again under the lease
    stop = should_stop or threading.Event()

    def shape_of(resources: dict[str, float]) -> ActorShape:
        return ActorShape(1, config.cpus, default_gpus(config.gpus, resources))

    with leased_run(store, address=config.address, shape_of=shape_of, resource_timeout_s=config.resource_timeout_s,
                    takeover=config.takeover, stop=stop, directories=("checkpoints",),
                    stop_message="stopping: the epoch in progress is dropped, the last whole checkpoint is kept "
                                 "(press Ctrl-C again to stop at once)") as run:
        return _train(config, record, truth, store, run)


def _train(config: SupernetConfig, record: dict[str, Any], truth: Any, store: Store, run: LeasedRun) -> pa.Table:
    stop, lease, gpus = run.stop, run.lease, run.shape.gpus
    started_with = _check_same_run(store, record, config.out)
    if started_with is not None:
        log.warning("%s: training to %s epochs instead of the %s it was started with; the learning-rate schedule "
                    "follows the new length from the step reached", config.out, record["heuristics"]["epochs"],
                    started_with)
    store.write(RUN_FILE, json.dumps(record, indent=2, sort_keys=True).encode())
    actor_cls = ray.remote(num_cpus=config.cpus, num_gpus=gpus)(_SupernetActor)
    actor = actor_cls.remote(config.space, record["macro"], record["heuristics"], record["data"],
                             max(1, int(config.cpus)))
    try:
        rows = read_metrics(store)
        blob, name = intact_checkpoint(store, config.out)
        if blob is not None:
            epoch = _get(actor.load.remote(blob), stop)
            rows = [r for r in rows if r["epoch"] <= epoch]
            log.info("resuming %s from its epoch-%d checkpoint (%s)", config.out, epoch, name)
        else:
            epoch = 0
        covariates = None if truth is None else bias_covariates(config.space, truth[0], record["macro"])
        epochs = config.heuristics.epochs
        while epoch < epochs:
            metrics = _get(actor.train_epoch.remote(), stop)
            epoch = int(metrics["epoch"])
            if truth is not None:
                start = time.perf_counter()
                scored = actor.score.remote(truth[0], config.eval_batches, config.eval_batch_size)
                scores = np.array(_get(scored, stop))
                metrics.update(C.one_shot_criteria(scores, truth[1]))
                metrics.update(C.bias_criteria(scores, covariates))
                metrics.update({"n_truth_archs": len(truth[0]), "score_seconds": time.perf_counter() - start})
                # Ning et al.'s variance across epochs: how far this epoch's ranking moved from the last one's
                previous = rows[-1].get("truth_scores") if rows else None
                metrics["tau_previous_epoch"] = tau_with_previous(scores, previous)
                metrics["truth_scores"] = scores.tolist()
            blob = _get(actor.checkpoint.remote(), stop)
            lease.check()
            rows.append(metrics)
            write_metrics(store, rows)  # rows past the latest checkpoint are dropped on resume
            store.write(f"checkpoints/epoch-{epoch:04d}.pt", blob)
            store.write(LATEST, blob)  # the epoch's checkpoint is whole before it becomes the latest
            log.info("epoch %d/%d: %s", epoch, epochs, ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                                                               if k != "epoch" and isinstance(v, float)))
    finally:  # also on an error or Ctrl-C: a live actor would hold its CPU in a shared cluster
        ray.kill(actor)
    return pa.Table.from_pylist(rows)


def intact_checkpoint(store: Store, out: str) -> tuple[bytes | None, str | None]:
    """The newest checkpoint that loads: ``checkpoint.pt``, else the newest intact
    ``checkpoints/epoch-N.pt`` (a crash or a full disk can leave the latest unreadable, and
    every epoch's copy is kept); ``(None, None)`` for a run with no checkpoint.

    Raises:
        ValueError: there are checkpoints and none of them loads.
    """
    import torch

    names = [LATEST] + [f"checkpoints/{n}" for n in sorted(store.list("checkpoints"), reverse=True)
                        if n.startswith("epoch-") and n.endswith(".pt")]
    broken = []
    for name in names:
        blob = store.read(name)
        if blob is None:
            continue
        try:
            torch.load(io.BytesIO(blob), map_location="cpu", weights_only=False)
        except Exception as exc:
            broken.append(f"{name} ({type(exc).__name__})")
            log.warning("%s/%s does not load (%s: %s); trying the one before", out, name, type(exc).__name__, exc)
            continue
        return blob, name
    if broken:
        raise ValueError(f"no checkpoint in {out} loads ({', '.join(broken)}); move them away (or pass another "
                         "--out) to train from the start")
    return None, None


def tau_with_previous(scores: np.ndarray, previous: Sequence[float] | None) -> float:
    """Kendall tau of this epoch's scores with the last epoch's, over the cells both scored finitely."""
    if previous is None or len(previous) != len(scores):
        return float("nan")
    prev = np.asarray(previous, dtype=np.float64)
    both = np.isfinite(prev) & np.isfinite(scores)
    return C.kendall_tau(scores[both], prev[both]) if both.sum() > 1 else float("nan")


def _check_same_run(store: Store, record: dict[str, Any], out: str) -> int | None:
    """A run file without a checkpoint holds nothing to continue: only a run with one is protected.
    Only the number of epochs may differ: continuing a run for more epochs is extending it (the
    learning-rate schedule is then the new length's from the step reached). Returns the epochs the
    run was started with when they differ, else None."""
    if store.size(LATEST) is None:
        return None
    previous = store.read(RUN_FILE)
    there = json.loads(previous).get("heuristics", {}).get("epochs") if previous is not None else None
    if there is None or there == record["heuristics"].get("epochs"):
        there = None
    comparable = record if there is None else {**record, "heuristics": {**record["heuristics"], "epochs": there}}
    refuse_other_settings(store, RUN_FILE, comparable, out, "supernet")
    if there is not None:
        wanted = record["heuristics"]["epochs"]
        reached = max((int(r["epoch"]) for r in read_metrics(store)), default=0)
        if wanted < reached:
            raise ValueError(f"{out} has trained {reached} epochs already: --epochs {wanted} would train nothing. "
                             f"Give --epochs {there} (as it was started) or more than {reached} to extend it, or "
                             f"score an earlier epoch's checkpoint ({out}/checkpoints/epoch-{wanted:04d}.pt)")
    return there


def _get(ref: Any, stop: threading.Event) -> Any:
    """``ray.get`` in short slices, so that a stop request ends the wait within a second.

    Raises:
        SweepInterrupted: on a stop request. RunError: the actor failed (its error named).
    """
    from ray.exceptions import RayError

    while True:
        ready, _ = ray.wait([ref], timeout=0.5)
        if ready:
            try:
                return ray.get(ref)
            except RayError as exc:
                raise RunError(f"the supernet actor failed: {last_line(exc)}") from None
        if stop.is_set():
            raise SweepInterrupted("stopped on request; the last whole checkpoint is kept")


def read_metrics(store: Store) -> list[dict[str, Any]]:
    raw = store.read("metrics.parquet")
    return pq.read_table(io.BytesIO(raw)).to_pylist() if raw else []


def write_metrics(store: Store, rows: list[dict[str, Any]]) -> None:
    from archscore._core import VERSION

    keys = list(dict.fromkeys(k for r in rows for k in r))  # every row's columns: a resumed run may add some
    table = pa.Table.from_pylist([{k: r.get(k) for k in keys} for r in rows])
    table = table.replace_schema_metadata({b"archscore.version": VERSION.encode()})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    store.write("metrics.parquet", buf.getvalue())
