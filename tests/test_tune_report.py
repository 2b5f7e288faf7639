"""The `archscore tune` report: its statistics on synthetic trials, and that it renders for every kind of run
(no Ray: tables are built directly with the trials table's schema)."""
import math

import numpy as np
import pyarrow as pa
import pytest

from archscore.engine.tune import report as R
from archscore._core import VERSION
from archscore.engine.tune.results import schema

SEARCH = {"sampling": {"choice": ["uniform", "fairnas"]}, "lr": {"loguniform": [0.005, 0.1]},
          "momentum": 0.9}


def record(search=None, scheduler="asha", **extra):
    return {"space": "nb201", "macro": {"C": 4, "N": 1}, "data": "synthetic", "base": {"lr": 0.025, "seed": 0},
            "search": SEARCH if search is None else search, "epochs": 3, "num_samples": 12,
            "scheduler": scheduler, "objective": "kendall_tau", "grace_period": 1, "reduction_factor": 3.0,
            "perturbation_interval": 1, "search_seed": 0, "eval_batches": 1, "eval_batch_size": 64,
            "truth": {"source": "truth.csv", "metric": "test-accuracy", "tuning": ["a"] * 30, "test": ["b"] * 10},
            **extra}


def row(trial, epoch, status, objective=None, final=False, error=None, **values):
    out = {"trial_id": trial, "epoch": epoch, "status": status, "error": error, "final": final,
           "objective": objective, "tuning_kendall_tau": objective, "sampling": "uniform", "lr": 0.025,
           "momentum": 0.9, "bn_track_running_stats": False}
    out.update(values)
    if final and objective is not None:
        out["test_kendall_tau"] = objective - 0.05
    return out


def synthetic(n=12, stopped=(), seed=0):
    """n trials over 3 epochs whose objective is set by sampling (+ small noise); lr is irrelevant.
    Trials in `stopped` stop early after epoch 1."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        sampling, lr = ("fairnas", "uniform")[i % 2], float(np.exp(rng.uniform(np.log(0.005), np.log(0.1))))
        last = 1 if i in stopped else 3
        for epoch in range(1, last + 1):
            obj = (0.6 if sampling == "fairnas" else 0.2) + 0.05 * epoch + rng.normal(0, 0.03)
            rows.append(row(f"t{i:02d}", epoch, "stopped early" if i in stopped else "finished", obj,
                            epoch == last, sampling=sampling, lr=lr))
    return pa.Table.from_pylist(rows, schema=schema())


def best_of(table):
    finals = [r for r in table.to_pylist() if r["final"] and r["status"] == "finished"]
    return max(finals, key=lambda r: r["objective"]) if finals else None


def test_searched_keys_leave_constants_out():
    assert R.searched(record()) == {"sampling": "choice", "lr": "loguniform"}
    assert R.searched(record(search={"lr": 0.1})) == {}


def test_variance_fraction_basics():
    y = np.array([0.0, 0.0, 1.0, 1.0])
    assert R.variance_fraction(np.array([0, 0, 1, 1]), y)[0] == pytest.approx(1.0)
    assert R.variance_fraction(np.array([0, 1, 0, 1]), y)[0] == pytest.approx(0.0)
    assert math.isnan(R.variance_fraction(np.array([0, 1, 0, 1]), np.ones(4))[0])
    assert list(R.groups_of([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], numeric=True)) == [0, 0, 1, 1, 2, 2]


def test_importance_finds_the_heuristic_that_matters():
    rows = R.rows_at(synthetic(), None)
    assert len(rows) == 12
    items = {it["key"]: it for it in R.importance(rows, R.searched(record()))}
    assert R.importance(rows, R.searched(record()))[0]["key"] == "sampling"
    assert items["sampling"]["fraction"] > 0.9 and items["sampling"]["lo"] > items["sampling"]["chance"] > 0
    assert items["sampling"]["fraction"] > items["lr"]["fraction"]
    assert items["lr"]["rho_lo"] < 0 < items["lr"]["rho_hi"]
    means = {m["value"]: m for m in items["sampling"]["means"]}
    assert means["fairnas"]["lo"] > means["uniform"]["hi"]  # intervals separate the two values
    assert means["fairnas"]["n"] == means["uniform"]["n"] == 6
    again = {it["key"]: it for it in R.importance(rows, R.searched(record()))}
    assert again["lr"]["rho_lo"] == items["lr"]["rho_lo"]  # seeded: the same numbers every time


def test_group_means_and_spearman_small_inputs():
    means = R.group_means([True, False, True], np.array([1.0, 0.0, 3.0]))
    assert [(m["value"], m["n"], m["mean"]) for m in means] == [(False, 1, 0.0), (True, 2, 2.0)]
    assert math.isnan(means[0]["lo"])  # one trial: no interval
    assert all(math.isnan(v) for v in R.spearman_ci([1, 2], np.array([1.0, 2.0])))
    rho, lo, hi = R.spearman_ci([1, 2, 3, 4, 5], np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert rho == pytest.approx(1.0) and lo <= hi <= 1.0 + 1e-9


def test_common_epoch_with_stopped_early_trials():
    rows = [row("a", e, "finished", 0.1 * e, e == 3) for e in (1, 2, 3)]
    rows += [row("b", e, "stopped early", 0.1 * e, e == 2) for e in (1, 2)]
    rows += [row("c", 1, "error", 0.3, True, error="boom")]  # errors do not hold the epoch back
    rows += [row("d", None, "pending")]  # nor trials without a report
    table = pa.Table.from_pylist(rows, schema=schema())
    assert R.common_epoch(table) == 2
    assert sorted(r["trial_id"] for r in R.rows_at(table, 2)) == ["a", "b"]
    assert [r["trial_id"] for r in R.rows_at(table, None)] == ["a"]
    table = synthetic(stopped=(0, 3))
    assert R.common_epoch(table) == 1
    assert len(R.rows_at(table, 1)) == 12 and len(R.rows_at(table, None)) == 10


def sections(text):
    for needle in ("What was run", "by epoch", "Best configurations", "Tuning versus held-out test",
                   "Which heuristics matter", f"archscore {VERSION}"):
        assert needle in text, needle
    assert text.startswith("<!doctype html>") and "src=\"http" not in text


def test_report_synthetic_with_early_stopping():
    table = synthetic(stopped=(0, 3))
    best = best_of(table)
    text = R.tune_report_html(table, record(), best)
    sections(text)
    assert "asha (grace_period=1, reduction_factor=3.0)" in text
    assert "12 of 12 requested: 10 finished, 2 stopped early" in text
    assert "30 tuning / 10 held-out test" in text and "test-accuracy" in text
    assert "<b>sampling</b> choice" in text and "<b>lr</b> loguniform" in text and "momentum=0.9" in text
    assert "at epoch 1 (the largest epoch all of them reached): 12 trials" in text
    assert "Finished trials at their last epoch: 10 trials" in text
    assert f"{best['trial_id']} ★" in text
    assert text.count("data:image/png;base64,") == 4  # curves, transfer, two attribution panels


def test_report_single_trial():
    table = pa.Table.from_pylist([row("solo", e, "finished", 0.2 * e, e == 2) for e in (1, 2)], schema=schema())
    text = R.tune_report_html(table, record(), best_of(table))
    sections(text)
    assert "needs at least 3 trials" in text and "solo ★" in text


def test_report_all_errors():
    rows = [row(f"e{i}", None, "error", error=f"ValueError: heuristic <lr> bad {i}") for i in range(3)]
    rows += [row("late", e, "error", float("nan"), e == 2, error="CUDA out of memory") for e in (1, 2)]
    text = R.tune_report_html(pa.Table.from_pylist(rows, schema=schema()), record(), None)
    sections(text)
    assert "4 error" in text and "ValueError: heuristic &lt;lr&gt; bad 2" in text and "CUDA out of memory" in text
    assert "No non-error trial has reported an epoch" in text


def test_report_only_pending_and_without_searched_keys():
    rows = [row(f"p{i}", None, "pending") for i in range(2)]
    text = R.tune_report_html(pa.Table.from_pylist(rows, schema=schema()), record(), None)
    sections(text)
    assert "No trial has reported an epoch yet" in text and "2 pending" in text
    text = R.tune_report_html(pa.Table.from_pylist([], schema=schema()), record(), None)
    sections(text)
    assert "0 of 12 requested: none" in text
    text = R.tune_report_html(synthetic(), record(search={"lr": 0.05}), best_of(synthetic()))
    assert "nothing to attribute" in text and "nothing searched" in text


def test_report_with_nans():
    table = synthetic().to_pylist()
    for r in table[:6]:
        r["objective"] = r["tuning_kendall_tau"] = float("nan")
        r["test_kendall_tau"] = None
    text = R.tune_report_html(pa.Table.from_pylist(table, schema=schema()), record(), None)
    sections(text)
    assert "left out: no finite objective" in text


def test_pbt_uses_the_config_on_the_row():
    rows = [row("a", 1, "finished", 0.1, lr=0.01), row("a", 2, "finished", 0.5, True, lr=0.05)]
    rows += [row(t, e, "finished", 0.2 * e, e == 2, lr=0.02 * e) for t in ("b", "c", "d") for e in (1, 2)]
    table = pa.Table.from_pylist(rows, schema=schema())
    assert [r["lr"] for r in R.rows_at(table, 2) if r["trial_id"] == "a"] == [0.05]
    text = R.tune_report_html(table, record(scheduler="pbt", search={"lr": {"loguniform": [0.01, 0.1]}}), None)
    sections(text)
    assert "PBT changes hyperparameters within a trial" in text and "pbt (perturbation_interval=1" in text


def test_bool_key_and_a_running_trial():
    rows = [row(f"t{i}", e, "finished", (0.5 if i % 2 else 0.1) + 0.01 * i, e == 3, bn_track_running_stats=bool(i % 2))
            for i in range(6) for e in (1, 2, 3)]
    rows += [row("run", e, "running", 0.3, e == 2, bn_track_running_stats=True) for e in (1, 2)]
    table = pa.Table.from_pylist(rows, schema=schema())
    assert R.common_epoch(table) == 2 and len(R.rows_at(table, 2)) == 7 and len(R.rows_at(table, None)) == 6
    keys = {"bn_track_running_stats": "choice"}
    (item,) = R.importance(R.rows_at(table, None), keys)
    assert [m["value"] for m in item["means"]] == [False, True] and item["fraction"] > 0.9
    text = R.tune_report_html(table, record(search={"bn_track_running_stats": {"choice": [False, True]}}), None)
    sections(text)
    assert "6 finished, 1 running" in text and "Finished trials at their last epoch: 6 trials" in text
