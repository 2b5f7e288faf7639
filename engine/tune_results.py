"""The outputs of ``archscore tune``: the trials table, held-out test scores, ``best/`` and the report.

Everything here is built from what Tune persisted (each trial's ``result.json`` and checkpoint
directories) and the trials' statuses, so an interrupted and resumed experiment gives the same
table as an uninterrupted one.
"""
from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import fields
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import ray

from archscore.estimators.one_shot import Heuristics
from archscore.estimators.one_shot.search import MUTABLE_KEYS, SearchSpace

from .sink import Store
from .tune import CHECKPOINT_FILE, EXPERIMENT, _Prepared, _ranking, _trainer

log = logging.getLogger("archscore")

TRIALS_FILE = "trials.parquet"
BEST_DIR = "best"
REPORT_FILE = "report.html"
METRICS = ("train_loss", "train_accuracy", "current_lr", "seconds", "score_seconds", "tuning_kendall_tau",
           "tuning_sparse_kendall_tau", "tuning_p_at_top_5pct", "objective", "time_total_s")
TEST_METRICS = ("test_kendall_tau", "test_sparse_kendall_tau", "test_p_at_top_5pct")
#: a trial's status in the table
STATUSES = ("finished", "stopped early", "error", "running", "pending")


def _arrow_type(annotation: Any) -> pa.DataType:
    kind = str(annotation)
    if kind.startswith("bool"):
        return pa.bool_()
    if kind.startswith("int"):
        return pa.int64()
    if kind.startswith("float"):
        return pa.float64()
    return pa.string()


def schema() -> pa.Schema:
    """trial_id, epoch, status, error, every heuristic (typed), the reported metrics, the held-out test
    metrics (on each trial's final row), and where the epoch's checkpoint is."""
    heuristic_fields = [pa.field(f.name, _arrow_type(f.type)) for f in fields(Heuristics)]
    return pa.schema([pa.field("trial_id", pa.string()), pa.field("epoch", pa.int64()),
                      pa.field("status", pa.string()), pa.field("error", pa.string()), *heuristic_fields,
                      *[pa.field(m, pa.float64()) for m in METRICS], *[pa.field(m, pa.float64()) for m in TEST_METRICS],
                      pa.field("final", pa.bool_()), pa.field("checkpoint", pa.string()),
                      pa.field("restored_from", pa.string()), pa.field("restored_weights", pa.string()),
                      pa.field("weights_sha256", pa.string())])


def trials_table(grid: Any, prepared: _Prepared, cpus: float, gpus: float) -> tuple[pa.Table, dict[str, Any] | None]:
    """One row per (trial, epoch) and the best trial's final row (None if no trial has a checkpoint)."""
    store_root = os.path.dirname(grid.experiment_path.rstrip("/"))
    store = Store(store_root if "://" not in grid.experiment_path else grid.experiment_path.rsplit("/", 1)[0])
    statuses = _statuses(grid)
    epochs = prepared.record["epochs"]
    rows: list[dict[str, Any]] = []
    for result in grid:
        trial_rel = f"{EXPERIMENT}/{os.path.basename(result.path.rstrip('/'))}"
        reports = _reports(store, trial_rel)
        trial_id = reports[-1]["trial_id"] if reports else _trial_id_of(result)
        status = statuses.get(trial_id, "pending")
        error = _error_message(result.error) if result.error is not None else None
        if error is not None:
            status = "error"
        elif status == "terminated":
            status = "finished" if reports and reports[-1]["epoch"] >= epochs else "stopped early"
        if not reports:
            rows.append(_row(prepared.search, trial_id, None, status, error, result.config or {}, {}, None, False))
            continue
        for i, report in enumerate(reports):
            checkpoint = report.get("checkpoint_dir_name")
            path = store.path(trial_rel, checkpoint) if checkpoint else None
            rows.append(_row(prepared.search, trial_id, report["epoch"], status, error, report.get("config") or {},
                             report, path, i == len(reports) - 1))
    _add_test_scores(rows, prepared, cpus, gpus)
    table = pa.Table.from_pylist(rows, schema=schema())
    return table, _best(rows)


def _statuses(grid: Any) -> dict[str, str]:
    """trial id -> terminated / error / running / pending, from the experiment's trials."""
    analysis = getattr(grid, "_experiment_analysis", None)
    out = {}
    for trial in getattr(analysis, "trials", None) or []:
        out[trial.trial_id] = {"TERMINATED": "terminated", "ERROR": "error", "PENDING": "pending"}.get(
            trial.status, "running")
    return out


def _reports(store: Store, trial_rel: str) -> list[dict[str, Any]]:
    """The trial's reports in order, one per epoch (a report repeated after a restore keeps its last)."""
    raw = store.read(f"{trial_rel}/result.json")
    if not raw:
        return []
    by_epoch: dict[int, dict[str, Any]] = {}
    for line in raw.decode().splitlines():
        if line.strip():
            report = json.loads(line)
            if "epoch" in report:
                by_epoch.pop(int(report["epoch"]), None)  # re-insert: the order is the last report's
                by_epoch[int(report["epoch"])] = report
    return sorted(by_epoch.values(), key=lambda r: r["epoch"])


def _trial_id_of(result: Any) -> str:
    name = os.path.basename(result.path.rstrip("/"))
    parts = name.split("_")
    return "_".join(parts[2:4]) if len(parts) > 3 else name


def _error_message(error: Any) -> str:
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    return lines[-1] if lines else type(error).__name__


def _row(search: SearchSpace, trial_id: str, epoch: int | None, status: str, error: str | None,
         config: dict[str, Any], report: dict[str, Any], checkpoint: str | None, final: bool) -> dict[str, Any]:
    try:
        heuristics = search.heuristics({k: v for k, v in config.items() if k in search.as_dict()}).as_dict()
    except ValueError:  # the sampled combination itself was invalid: the trial's error says so
        heuristics = {**search.base.as_dict(), **{k: v for k, v in config.items()}}
    row = {"trial_id": trial_id, "epoch": epoch, "status": status, "error": error, **heuristics,
           **{m: _float(report.get(m)) for m in METRICS}, **{m: None for m in TEST_METRICS},
           "final": final, "checkpoint": checkpoint, "restored_from": report.get("restored_from"),
           "restored_weights": report.get("restored_weights"), "weights_sha256": report.get("weights_sha256")}
    row["_config"] = config
    return row


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _add_test_scores(rows: list[dict[str, Any]], prepared: _Prepared, cpus: float, gpus: float) -> None:
    """Score each trial's last checkpoint on the held-out test architectures (in parallel, as trials run)."""
    finals = [r for r in rows if r["final"] and r["checkpoint"] and r["status"] != "error"]
    score = ray.remote(num_cpus=cpus, num_gpus=gpus)(_score_test)
    refs = [score.remote(prepared.record, r["_config"], os.path.join(r["checkpoint"], CHECKPOINT_FILE),
                         prepared.test[0], prepared.test[1].tolist(), max(1, int(cpus))) for r in finals]
    for row, metrics in zip(finals, ray.get(refs)):
        row.update(metrics)
    for row in rows:
        del row["_config"]


def _score_test(record: dict[str, Any], config: dict[str, Any], checkpoint: str, archs: list[str],
                truth: list[float], threads: int) -> dict[str, float]:
    import torch

    torch.set_num_threads(threads)
    trainer, space = _trainer(record, config)
    with open(checkpoint, "rb") as fh:
        state = torch.load(io.BytesIO(fh.read()), map_location=trainer.device, weights_only=False)
    trainer.load_state(state, may_differ=MUTABLE_KEYS if record["scheduler"] == "pbt" else ())
    scores, _ = trainer.scorer(record["eval_batches"], record["eval_batch_size"]).score(
        [space.parse(s) for s in archs])
    return _ranking("test_", scores, np.asarray(truth, dtype=np.float64))


def _best(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The final row with the highest objective among finished trials (among all trials with a
    checkpoint when none finished): the search's choice, made on the tuning split only."""
    finals = [r for r in rows if r["final"] and r["checkpoint"] and r["status"] != "error"]
    finished = [r for r in finals if r["status"] == "finished"] or finals
    if not finished:
        return None
    return max(finished, key=lambda r: (r["objective"] if r["objective"] is not None else -np.inf))


def write_outputs(store: Store, table: pa.Table, best: dict[str, Any] | None, prepared: _Prepared) -> None:
    """trials.parquet, best/ and report.html, each written whole (atomically on local disks)."""
    from .schema import VERSION
    from .tune_report import tune_report_html

    meta = {b"archscore.version": VERSION.encode(), b"archscore.tune": json.dumps(prepared.record).encode()}
    buf = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), buf)
    store.write(TRIALS_FILE, buf.getvalue())
    if best is not None:
        store.makedirs(BEST_DIR)
        with open(os.path.join(best["checkpoint"], CHECKPOINT_FILE), "rb") as fh:
            store.write(f"{BEST_DIR}/{CHECKPOINT_FILE}", fh.read())
        summary = {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                   for k, v in best.items() if k != "error"}
        summary.update(version=VERSION, picked_by=f"highest {prepared.record['objective']} on the tuning split at "
                       "the trial's last epoch, among finished trials")
        store.write(f"{BEST_DIR}/best.json", json.dumps(summary, indent=2, default=str).encode())
    store.write(REPORT_FILE, tune_report_html(table, prepared.record, best).encode())
    status_of = dict(zip(table.column("trial_id").to_pylist(), table.column("status").to_pylist()))
    counts = {s: list(status_of.values()).count(s) for s in STATUSES}
    log.info("wrote %s: %d trials (%s), %d rows", store.path(TRIALS_FILE), len(status_of),
             ", ".join(f"{n} {s}" for s, n in counts.items() if n), table.num_rows)
