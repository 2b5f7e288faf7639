"""Evaluate estimators against ground truth: join by canonical hash, compute every criterion.

Truth rows that share a canonical hash (isomorphic cells trained separately) are averaged, so an
architecture's truth is its equivalence class's mean. Each result row with status ``ok`` and a
finite score whose hash is in the truth is one point; the others are counted (``n_excluded``:
non-ok or non-finite; ``n_unmatched``: no truth) and reported, never silently dropped. Scores of a
lower-is-better estimator are negated before ranking.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from archscore.estimators import ESTIMATORS
from archscore.estimators import criteria as C
from archscore.spaces import get_space

from .schema import VERSION, config_of

CRITERIA_SCHEMA = pa.schema([
    pa.field("estimator", pa.string(), nullable=False),
    pa.field("seed", pa.int64()),            # null: across seeds
    pa.field("metric", pa.string(), nullable=False),
    pa.field("criterion", pa.string(), nullable=False),
    pa.field("ratio", pa.float64()),         # r for @K criteria, else null
    pa.field("value", pa.float64()),
    pa.field("ci_low", pa.float64()),
    pa.field("ci_high", pa.float64()),
    pa.field("n", pa.int64()),               # architectures the value is computed over
])


@dataclass
class EvalOptions:
    metric: str | None = None
    topk_ratios: tuple[float, ...] = C.TOPK_RATIOS
    brwr_ratios: tuple[float, ...] = C.BRWR_RATIOS
    sparse_threshold: float = 0.1
    n_boot: int = 200
    seed: int = 0


@dataclass
class Points:
    """The matched points of one (estimator, seed): oriented scores, truth, params, FLOPs."""

    estimator: str
    seed: int
    scores: np.ndarray
    truth: np.ndarray
    params: np.ndarray
    flops: np.ndarray
    hashes: np.ndarray
    higher_is_better: bool


@dataclass
class Evaluation:
    criteria: pa.Table
    points: list[Points] = field(default_factory=list)
    metric: str = ""
    notes: list[str] = field(default_factory=list)

    def value(self, estimator: str, criterion: str, seed: int | None = 0, ratio: float | None = None) -> float:
        for row in self.criteria.to_pylist():
            if (row["estimator"], row["criterion"], row["seed"], row["ratio"]) == (estimator, criterion, seed, ratio):
                return row["value"]
        raise KeyError((estimator, criterion, seed, ratio))


def pick_metric(truth: pa.Table, metric: str | None) -> str:
    candidates = [c for c in truth.column_names if c not in ("space", "arch", "hash")]
    if metric is None:
        for preferred in ("test_accuracy", "val_accuracy", "valid_accuracy", "cifar10_test_accuracy"):
            if preferred in candidates:
                return preferred
        if not candidates:
            raise ValueError("the truth table has no metric column")
        return candidates[0]
    if metric not in candidates:
        raise ValueError(f"truth has no metric {metric!r}; available: {candidates}")
    return metric


def _truth_by_hash(truth: pa.Table, metric: str) -> dict[str, float]:
    grouped = truth.group_by("hash").aggregate([(metric, "mean")])
    return dict(zip(grouped.column("hash").to_pylist(), grouped.column(f"{metric}_mean").to_pylist()))


def evaluate(results: pa.Table, truth: pa.Table, options: EvalOptions | None = None) -> Evaluation:
    """Every criterion for every (estimator, seed) in ``results`` against ``truth``."""
    opts = options or EvalOptions()
    metric = pick_metric(truth, opts.metric)
    by_hash = _truth_by_hash(truth, metric)
    rows: list[dict[str, Any]] = []
    ev = Evaluation(criteria=CRITERIA_SCHEMA.empty_table(), metric=metric)
    costs_cache: dict[tuple[str, str], tuple[float, float]] = {}
    # bias is measured against the costs of the networks that were scored (the run's macro config)
    macro_overrides = config_of(results.schema).get("macro", {})
    keys = results.select(["estimator", "seed"]).group_by(["estimator", "seed"]).aggregate([]).to_pylist()
    for key in sorted(keys, key=lambda k: (k["estimator"], k["seed"])):
        name, seed = key["estimator"], key["seed"]
        part = results.filter(pc.and_(pc.equal(results["estimator"], name), pc.equal(results["seed"], seed)))
        higher = ESTIMATORS.get(name).higher_is_better if name in ESTIMATORS else True
        if name not in ESTIMATORS and f"direction of {name}" not in " ".join(ev.notes):
            ev.notes.append(f"direction of {name} unknown (not a registered estimator); assumed higher is better")
        status = part.column("status").to_pylist()
        score = part.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
        hashes = part.column("hash").to_pylist()
        ok = np.array([s == "ok" for s in status]) & np.isfinite(score)
        matched = np.array([h in by_hash for h in hashes])
        use = ok & matched
        n_rows, n_excluded, n_unmatched = len(status), int((~ok).sum()), int((ok & ~matched).sum())
        s = score[use] if higher else -score[use]
        t = np.array([by_hash[h] for h, u in zip(hashes, use) if u], dtype=np.float64)
        space_names = part.column("space").to_pylist()
        archs = part.column("arch").to_pylist()
        params, flops = [], []
        for sp_name, arch, u in zip(space_names, archs, use):
            if u:
                if (sp_name, arch) not in costs_cache:
                    space = get_space(sp_name)
                    a, macro = space.parse(arch), space.macro(**macro_overrides)
                    costs_cache[sp_name, arch] = (space.params(a, macro), space.flops(a, macro))
                p, f = costs_cache[sp_name, arch]
                params.append(p)
                flops.append(f)
        pts = Points(name, seed, s, t, np.array(params, float), np.array(flops, float),
                     np.array([h for h, u in zip(hashes, use) if u]), higher)
        ev.points.append(pts)
        rows += _criteria_rows(pts, metric, opts, n_rows, n_excluded, n_unmatched)
    rows += _seed_rows(ev.points, metric)
    ev.criteria = pa.Table.from_pylist(rows, schema=CRITERIA_SCHEMA).replace_schema_metadata({
        b"archscore.version": VERSION.encode(),
        b"archscore.evaluation": json.dumps({"metric": metric, "sparse_threshold": opts.sparse_threshold,
                                              "n_boot": opts.n_boot, "seed": opts.seed,
                                              "notes": ev.notes}).encode()})
    return ev


def _row(estimator: str, seed: int | None, metric: str, criterion: str, value: float, n: int,
         ratio: float | None = None, ci: tuple[float, float] = (float("nan"), float("nan"))) -> dict[str, Any]:
    clean = lambda v: None if v is None or not np.isfinite(v) else float(v)  # noqa: E731
    return {"estimator": estimator, "seed": seed, "metric": metric, "criterion": criterion,
            "ratio": ratio, "value": clean(value), "ci_low": clean(ci[0]), "ci_high": clean(ci[1]), "n": n}


def _criteria_rows(pts: Points, metric: str, opts: EvalOptions, n_rows: int, n_excluded: int,
                   n_unmatched: int) -> list[dict[str, Any]]:
    s, t, n = pts.scores, pts.truth, len(pts.scores)
    row = partial(_row, pts.estimator, pts.seed, metric)
    out = [row("n_rows", n_rows, n_rows), row("n_excluded", n_excluded, n_rows),
           row("n_unmatched", n_unmatched, n_rows), row("n_used", n, n)]
    if n < 2:
        return out
    out.append(row("kendall_tau", C.kendall_tau(s, t), n,
                    ci=C.bootstrap_ci(s, t, C.kendall_tau, opts.n_boot, seed=opts.seed)))
    out.append(row("spearman", C.spearman(s, t), n,
                    ci=C.bootstrap_ci(s, t, C.spearman, opts.n_boot, seed=opts.seed)))
    out.append(row("pearson", C.pearson(s, t), n))
    out.append(row("sparse_kendall_tau", C.sparse_kendall_tau(s, t, opts.sparse_threshold), n))
    for r in opts.topk_ratios:
        k = C.k_of(n, r)
        out.append(row("p_at_top_k", C.precision_at_top_k(s, t, r), k, r))
        out.append(row("p_at_bottom_k", C.precision_at_bottom_k(s, t, r), k, r))
        out.append(row("kendall_tau_top_k", C.kendall_tau_top_k(s, t, r), k, r))
    for r in opts.brwr_ratios:
        k = C.k_of(n, r)
        br, wr = C.best_and_worst_rank_at_k(s, t, r)
        out += [row("br_at_k", br if k else float("nan"), k, r),
                row("wr_at_k", wr if k else float("nan"), k, r),
                row("br_at_k_rel", br / n if k else float("nan"), k, r),
                row("wr_at_k_rel", wr / n if k else float("nan"), k, r)]
    out.append(row("bias_params_spearman", C.spearman(s, pts.params), n))
    out.append(row("bias_flops_spearman", C.spearman(s, pts.flops), n))
    return out


def _seed_rows(points: list[Points], metric: str) -> list[dict[str, Any]]:
    """Variance over seeds (each seed also draws its own data batch and initialisation)."""
    out = []
    by_est: dict[str, list[Points]] = {}
    for p in points:
        by_est.setdefault(p.estimator, []).append(p)
    for name, pts in by_est.items():
        if len(pts) < 2:
            continue
        row = partial(_row, name, None, metric)  # seed None: across seeds
        taus = np.array([C.kendall_tau(p.scores, p.truth) for p in pts if len(p.scores) > 1])
        out += [row("kendall_tau_seed_mean", float(np.mean(taus)), len(taus)),
                row("kendall_tau_seed_std", float(np.std(taus, ddof=1)) if len(taus) > 1 else float("nan"), len(taus))]
        common = set.intersection(*(set(p.hashes.tolist()) for p in pts))
        if len(common) >= 2:
            mats = []
            for p in pts:
                first: dict[str, float] = {}
                for h, v in zip(p.hashes.tolist(), p.scores.tolist()):
                    first.setdefault(h, v)
                mats.append([first[h] for h in sorted(common)])
            m = np.array(mats)  # (seeds, archs)
            between = m.mean(0).std()
            rel = float(m.std(0, ddof=1).mean() / between) if between > 0 else float("nan")
            out.append(row("score_seed_std_rel", rel, len(common)))
    return out
