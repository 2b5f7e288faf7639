"""The outputs of ``archscore tune``: the trials table, held-out test scores, ``best/`` and the report.

Everything here is built from what Tune persisted (each trial's ``result.json`` and checkpoint
directories) and the trials' statuses, so every epoch a trial reported before an interruption is
in the table after the resume. (Tune persists its search algorithm's state but not its
scheduler's: after a resume, ASHA's rungs and PBT's bookkeeping start from the trials' new
reports, so an interrupted ASHA run may stop or keep other trials than an uninterrupted one.)

A trial's rows are its lineage: one row per epoch, the last report of each epoch. A trial that
continued from an earlier checkpoint (its own after a restore, or a PBT donor's) replaces what it
had reported for those epochs; ``restored_from`` names where each continuation began.
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
from ray.exceptions import RayError

from archscore.estimators.one_shot import Heuristics
from archscore.estimators.one_shot.search import MUTABLE_KEYS, SearchSpace

from archscore.engine.run.errors import RunError, last_line
from archscore.engine.run.sink import Store
from archscore.engine.tune.config import EXPERIMENT, Prepared
from archscore.engine.evaluation import criteria as C
from archscore.engine.tune.trial import CHECKPOINT_FILE, trainer_for

log = logging.getLogger("archscore")

TRIALS_FILE = "trials.parquet"
BEST_DIR = "best"
REPORT_FILE = "report.html"
METRICS = ("train_loss", "train_accuracy", "current_lr", "seconds", "score_seconds", "tuning_kendall_tau",
           "tuning_sparse_kendall_tau", "tuning_p_at_top_5pct", "objective", "time_total_s")
TEST_METRICS = ("test_kendall_tau", "test_sparse_kendall_tau", "test_p_at_top_5pct")
#: trials whose last checkpoint is scored on the held-out test split
TESTED = ("finished", "stopped early")
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
                      pa.field("test_error", pa.string()), pa.field("final", pa.bool_()), pa.field("checkpoint", pa.string()),
                      pa.field("restored_from", pa.string()), pa.field("restored_weights", pa.string()),
                      pa.field("weights_sha256", pa.string())])


def trials_table(grid: Any, prepared: Prepared, cpus: float, gpus: float,
                 interrupted: bool = False) -> tuple[pa.Table, dict[str, Any] | None]:
    """One row per (trial, epoch) and the best trial's final row (None if no trial has a checkpoint)."""
    store_root = os.path.dirname(grid.experiment_path.rstrip("/"))
    store = Store(store_root if "://" not in grid.experiment_path else grid.experiment_path.rsplit("/", 1)[0])
    trials = _trials(grid, interrupted)
    epochs = prepared.record["epochs"]
    rows: list[dict[str, Any]] = []
    for result in grid:
        trial_dir = os.path.basename(result.path.rstrip("/"))
        trial_rel = f"{EXPERIMENT}/{trial_dir}"
        reports = trial_reports(store, trial_rel)
        if trial_dir not in trials:
            raise RunError(f"Tune returned a result for {trial_dir}, a trial its experiment does not list")
        trial_id, status = trials[trial_dir]
        error = last_line(result.error) if result.error is not None else None
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
    _add_test_scores(rows, prepared, cpus, gpus, _previous_test_scores(store))
    table = pa.Table.from_pylist(rows, schema=schema())
    return table, best_row(rows)


def _trials(grid: Any, interrupted: bool) -> dict[str, tuple[str, str]]:
    """trial directory name -> (trial id, terminated / error / running / pending).

    After an interruption: as saved (Tune saves the trials as running, then marks them terminated
    in memory; the saved state is what a resume reads). After a whole run: the driver's own, final
    statuses (the last saved state can lag a trial's end).

    Raises:
        RunError: the statuses cannot be read.
    """
    from ray.tune import ExperimentAnalysis

    if interrupted:
        trials = ExperimentAnalysis(grid.experiment_path).trials
    else:
        trials = getattr(getattr(grid, "_experiment_analysis", None), "trials", None)
        if trials is None:
            raise RunError("this Ray version's ResultGrid does not expose its trials' statuses "
                           "(ResultGrid._experiment_analysis.trials); archscore tune needs them for trials.parquet")
    if not trials and len(grid):
        raise RunError(f"Tune's experiment in {grid.experiment_path} lists no trials")
    status = {"TERMINATED": "terminated", "ERROR": "error", "PENDING": "pending"}
    return {os.path.basename(t.path.rstrip("/")): (t.trial_id, status.get(t.status, "running")) for t in trials}


def trial_reports(store: Store, trial_rel: str) -> list[dict[str, Any]]:
    """The trial's reports in order, one per epoch (a report repeated after a restore keeps its last)."""
    raw = store.read(f"{trial_rel}/result.json")
    if not raw:
        return []
    by_epoch: dict[int, dict[str, Any]] = {}
    for number, line in enumerate(raw.decode(errors="replace").splitlines(), 1):
        if line.strip():
            try:
                report = json.loads(line)
            except ValueError:  # a line half-written when the driver was killed; Tune appends after it
                log.warning("%s/result.json line %d is not whole JSON; it is skipped", trial_rel, number)
                continue
            if "epoch" in report:
                by_epoch.pop(int(report["epoch"]), None)  # re-insert: the order is the last report's
                by_epoch[int(report["epoch"])] = report
    return sorted(by_epoch.values(), key=lambda r: r["epoch"])


def _row(search: SearchSpace, trial_id: str, epoch: int | None, status: str, error: str | None,
         config: dict[str, Any], report: dict[str, Any], checkpoint: str | None, final: bool) -> dict[str, Any]:
    try:
        heuristics = search.heuristics({k: v for k, v in config.items() if k in search.as_dict()}).as_dict()
    except ValueError:  # the sampled combination itself was invalid: the trial's error says so
        heuristics = {**search.base.as_dict(), **{k: v for k, v in config.items()}}
    row = {"trial_id": trial_id, "epoch": epoch, "status": status, "error": error, **heuristics,
           **{m: _float(report.get(m)) for m in METRICS}, **{m: None for m in TEST_METRICS}, "test_error": None,
           "final": final, "checkpoint": checkpoint, "restored_from": report.get("restored_from"),
           "restored_weights": report.get("restored_weights"), "weights_sha256": report.get("weights_sha256")}
    row["_config"] = config
    return row


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _previous_test_scores(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    """(trial id, checkpoint) -> test metrics from an earlier trials.parquet: a resumed run does not
    score an unchanged checkpoint again."""
    raw = store.read(TRIALS_FILE)
    if not raw:
        return {}
    rows = pq.read_table(io.BytesIO(raw)).to_pylist()
    return {(r["trial_id"], r["checkpoint"]): {m: r.get(m) for m in (*TEST_METRICS, "test_error")}
            for r in rows if r["final"] and r["checkpoint"] and r["test_kendall_tau"] is not None}


def _add_test_scores(rows: list[dict[str, Any]], prepared: Prepared, cpus: float, gpus: float,
                     previous: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Score the last checkpoint of each finished or stopped trial on the held-out test architectures,
    in parallel on the trials' resources. A scoring failure is that row's ``test_error``."""
    finals = [r for r in rows if r["final"] and r["checkpoint"] and r["status"] in TESTED]
    todo = []
    for row in finals:
        known = previous.get((row["trial_id"], row["checkpoint"]))
        if known is not None:
            row.update(known)
        else:
            todo.append(row)
    score = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_score_test)
    refs: list[Any] = []
    try:
        for r in todo:
            refs.append(score.remote(prepared.record, r["_config"], os.path.join(r["checkpoint"], CHECKPOINT_FILE),
                                     prepared.test[0], prepared.test[1].tolist(), max(1, int(cpus))))
        for row, ref in zip(todo, refs):
            try:
                row.update(ray.get(ref))
            except RayError as exc:
                row["test_error"] = last_line(exc)
    except BaseException:  # Ctrl-C: scoring left running would hold the trials' CPUs in a shared cluster
        for ref in refs:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # already finished, or Ray is going down: the interrupt is what matters
                pass
        raise
    for row in rows:
        del row["_config"]


def _score_test(record: dict[str, Any], config: dict[str, Any], checkpoint: str, archs: list[str],
                truth: list[float], threads: int) -> dict[str, float]:
    import torch

    torch.set_num_threads(threads)
    trainer, space = trainer_for(record, config)
    with open(checkpoint, "rb") as fh:
        state = torch.load(io.BytesIO(fh.read()), map_location=trainer.device, weights_only=False)
    trainer.load_state(state, may_differ=MUTABLE_KEYS if record["scheduler"] == "pbt" else ())
    scores, _ = trainer.scorer(record["eval_batches"], record["eval_batch_size"]).score(
        [space.parse(s) for s in archs])
    return C.one_shot_criteria(scores, np.asarray(truth, dtype=np.float64), "test_")


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The final row with the highest objective among finished trials (among all trials with a
    checkpoint when none finished): the search's choice, made on the tuning split only."""
    finals = [r for r in rows if r["final"] and r["checkpoint"] and r["status"] in TESTED]
    finished = [r for r in finals if r["status"] == "finished"] or finals
    if not finished:
        return None
    return max(finished, key=lambda r: (r["objective"] if r["objective"] is not None else -np.inf))


def write_outputs(store: Store, table: pa.Table, best: dict[str, Any] | None, prepared: Prepared) -> None:
    """trials.parquet, best/ and report.html, each written whole (atomically on local disks)."""
    from archscore._core import VERSION
    from archscore.engine.tune.report import tune_report_html

    meta = {b"archscore.version": VERSION.encode(), b"archscore.tune": json.dumps(prepared.record).encode()}
    buf = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), buf)
    store.write(TRIALS_FILE, buf.getvalue())
    if best is None:  # no trial has a checkpoint to offer: leave no earlier run's choice behind
        store.delete(f"{BEST_DIR}/{CHECKPOINT_FILE}")
        store.delete(f"{BEST_DIR}/best.json")
    else:
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
