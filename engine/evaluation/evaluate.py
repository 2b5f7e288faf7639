"""Evaluate estimators against ground truth: join results to truth, compute every criterion.

The protocol, by default the one zero-cost-nas, NASLib and aw_nas compute their correlations with:

- **Truth** is each architecture's own published value, joined by the architecture's string form
  (truth rows of the same architecture are averaged). ``EvalOptions(truth_by_class=True)``
  instead gives every architecture the mean over its isomorphism class (canonical hash).
- **Every estimator is scored on the same architectures**: the evaluation set is every
  architecture with truth that appears in the results (any estimator, any seed). An
  (estimator, seed) without an ok, finite score for one of them (status not ``ok``, a NULL or
  non-finite score, or no row at all) *fails* there, and a failure ranks last, tied with the
  other failures (see :mod:`archscore.engine.evaluation.criteria`). ``drop_failed=True`` instead
  evaluates on the common subset where every estimator and seed is ok.
- Result rows without truth are counted (``n_unmatched``), never silently dropped; failures are
  counted per estimator and seed (``n_failed``, of which ``n_missing`` had no row).

Scores of a lower-is-better estimator are negated before ranking; so is a lower-is-better truth
metric (a name with ``loss`` or ``error``, unless ``truth_higher_is_better`` says otherwise).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from archscore._core import VERSION, file_sha256
from archscore.estimators import ESTIMATORS, base_name
from archscore.estimators.predictors import load as load_predictor
from archscore.engine.evaluation import criteria as C
from archscore.spaces import get_space

from archscore.engine.run.data import macro_for_data
from archscore.engine.run.schema import STATUS_OK, config_of
from archscore.engine.run.sink import RUN_FILE
from archscore.engine.evaluation.truth import pick_metric

CRITERIA_SCHEMA = pa.schema([
    pa.field("estimator", pa.string(), nullable=False),
    pa.field("seed", pa.int64()),            # null: across seeds
    pa.field("metric", pa.string(), nullable=False),
    pa.field("criterion", pa.string(), nullable=False),
    pa.field("ratio", pa.float64()),         # r for @K criteria, else null
    pa.field("value", pa.float64()),
    pa.field("ci_low", pa.float64()),
    pa.field("ci_high", pa.float64()),
    pa.field("n", pa.int64()),               # architectures the value is computed over (K for @K criteria)
])
EVALUATION_KEY = b"archscore.evaluation"
#: a truth metric whose name matches this is lower-is-better unless the options say otherwise
LOWER_IS_BETTER_METRIC = re.compile(r"loss|error", re.IGNORECASE)
MISSING = "missing"  # failure reason: the (estimator, seed) has no row for the architecture


@dataclass
class EvalOptions:
    #: truth column, under the file's own name or an alias (default: test accuracy, ...)
    metric: str | None = None
    #: False: each architecture's own truth (joined by string form); True: its isomorphism class's mean
    truth_by_class: bool = False
    #: False: a failed score ranks last, tied; True: only architectures every estimator and seed scored ok
    drop_failed: bool = False
    #: direction of the truth metric; None: lower is better for names with "loss" or "error"
    truth_higher_is_better: bool | None = None
    topk_ratios: tuple[float, ...] = C.TOPK_RATIOS
    brwr_ratios: tuple[float, ...] = C.BRWR_RATIOS
    sparse_threshold: float = 0.1
    #: cutoffs of nDCG (gain 2^truth - 1: defined for an accuracy in percent, higher is better)
    ndcg_ks: tuple[int, ...] = C.NDCG_KS
    n_boot: int = 200
    seed: int = 0
    #: leave out the architectures a ``predictor`` estimator of the run was trained on (by the
    #: join key: string form, or isomorphism class with ``truth_by_class``)
    exclude_training: bool = True

    def describe(self) -> dict[str, str]:
        """The protocol choices in words, as the report and criteria.parquet's metadata state them."""
        return {
            "truth": ("mean over the isomorphism class (canonical hash)" if self.truth_by_class
                      else "each architecture's own value (joined by its string form)"),
            "failures": ("dropped: evaluated on the architectures every estimator and seed scored ok"
                         if self.drop_failed else "ranked last, tied with the other failures"),
        }


@dataclass
class Points:
    """One (estimator, seed) on the evaluation's architectures: oriented scores (NaN: failed),
    oriented truth, params, FLOPs."""

    estimator: str
    seed: int
    scores: np.ndarray
    truth: np.ndarray
    params: np.ndarray
    flops: np.ndarray
    archs: np.ndarray
    higher_is_better: bool
    #: op name -> how often it occurs in each architecture (spaces made of named ops; NaN elsewhere)
    op_counts: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def failed(self) -> np.ndarray:
        return C.failed(self.scores)


@dataclass
class Evaluation:
    criteria: pa.Table
    points: list[Points] = field(default_factory=list)
    metric: str = ""
    notes: list[str] = field(default_factory=list)
    options: EvalOptions = field(default_factory=EvalOptions)
    #: architectures every criterion is computed over (the same for every estimator and seed)
    n: int = 0
    #: {(estimator, seed): {reason: architectures}}: failures in the evaluation set before any drop
    failures: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    #: architectures left out because some estimator or seed failed there (drop_failed only)
    n_dropped: int = 0
    #: the results' run config as the sweep recorded it ({} for published-score tables)
    run_config: dict[str, Any] = field(default_factory=dict)
    #: the macro config the costs (params, FLOPs) were computed with, per space
    macro: dict[str, dict[str, Any]] = field(default_factory=dict)
    metric_higher_is_better: bool = True

    def value(self, estimator: str, criterion: str, seed: int | None = 0, ratio: float | None = None) -> float:
        for row in self.criteria.to_pylist():
            if (row["estimator"], row["criterion"], row["seed"], row["ratio"]) == (estimator, criterion, seed, ratio):
                return row["value"]
        raise KeyError((estimator, criterion, seed, ratio))


def results_location_of(path: str | Path) -> Path | None:
    """The sweep output (a directory holding ``_run.json``) that ``path`` is, or lies inside; else None."""
    here = Path(path).expanduser().resolve()
    for candidate in (here, *here.parents):
        if (candidate / RUN_FILE).is_file():
            return candidate
    return None


def _truth_map(truth: pa.Table, metric: str, by_class: bool) -> tuple[dict[str, float], int]:
    """{join key: mean truth} over the rows with a finite value, and the number of rows without one."""
    key = "hash" if by_class else "arch"
    values = truth.column(metric).to_numpy(zero_copy_only=False).astype(np.float64)
    finite = np.isfinite(values)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for k, v, ok in zip(truth.column(key).to_pylist(), values.tolist(), finite.tolist()):
        if ok and k is not None:
            sums[k] = sums.get(k, 0.0) + v
            counts[k] = counts.get(k, 0) + 1
    return {k: sums[k] / counts[k] for k in sums}, int((~finite).sum())


def _macro_of(space_name: str, run_config: dict[str, Any]) -> Any:
    """The macro config the run scored with: its overrides, and the class count its data implies."""
    space = get_space(space_name)
    overrides = run_config.get("macro") or {}
    try:
        return macro_for_data(space, dict(overrides), run_config.get("data"))
    except ValueError:
        return space.macro(**overrides)


@dataclass
class _Scan:
    """One pass over the result rows: the evaluation set and each (estimator, seed)'s rows on it."""

    #: every architecture with truth in the results, in order of first appearance: (space, truth)
    universe: dict[str, tuple[str, float]] = field(default_factory=dict)
    n_rows: dict[tuple[str, int], int] = field(default_factory=dict)
    unmatched: dict[tuple[str, int], int] = field(default_factory=dict)
    #: the first ok, finite score of each architecture
    ok_score: dict[tuple[str, int], dict[str, float]] = field(default_factory=dict)
    #: why an architecture is not ok: the status of its first failed row
    not_ok: dict[tuple[str, int], dict[str, str]] = field(default_factory=dict)
    repeated: int = 0


def _scan(results: pa.Table, truth_of: dict[str, float], by_class: bool) -> _Scan:
    scan = _Scan()
    columns = [results.column(c).to_pylist() for c in ("space", "arch", "hash", "estimator", "seed", "status")]
    scores = results.column("score").to_numpy(zero_copy_only=False).astype(np.float64)  # NULL -> NaN
    for space, arch, h, name, seed, status, score in zip(*columns, scores.tolist()):
        key = (name, seed)
        ok_score = scan.ok_score.setdefault(key, {})
        not_ok = scan.not_ok.setdefault(key, {})
        scan.n_rows[key] = scan.n_rows.get(key, 0) + 1
        t = truth_of.get(h if by_class else arch)
        if t is None:
            scan.unmatched[key] = scan.unmatched.get(key, 0) + 1
            continue
        scan.universe.setdefault(arch, (space, t))
        if status == STATUS_OK and np.isfinite(score):
            if arch in ok_score:
                scan.repeated += 1
            else:
                ok_score[arch] = score
        else:
            not_ok.setdefault(arch, status if status != STATUS_OK else "nonfinite")
    return scan


def _ensemble_names(results: pa.Table) -> set[str]:
    """Estimators whose rows a rank aggregation wrote (higher is better by construction)."""
    from archscore.engine.evaluation.ensemble import ENSEMBLE_WORKER

    rows = results.filter(pc.equal(results["worker"], ENSEMBLE_WORKER)) if "worker" in results.column_names else None
    return set(rows.column("estimator").unique().to_pylist()) if rows is not None else set()


def evaluate(results: pa.Table, truth: pa.Table, options: EvalOptions | None = None) -> Evaluation:
    """Every criterion for every (estimator, seed) in ``results`` against ``truth``."""
    opts = options or EvalOptions()
    metric = pick_metric(truth, opts.metric)
    truth_higher = (opts.truth_higher_is_better if opts.truth_higher_is_better is not None
                    else not LOWER_IS_BETTER_METRIC.search(metric))
    run_config = config_of(results.schema)
    truth, excluded_note = _without_training_split(truth, run_config, opts)
    truth_of, n_truth_nonfinite = _truth_map(truth, metric, opts.truth_by_class)
    ev = Evaluation(criteria=CRITERIA_SCHEMA.empty_table(), metric=metric, options=opts, run_config=run_config,
                    metric_higher_is_better=truth_higher)
    if excluded_note:
        ev.notes.append(excluded_note)
    if n_truth_nonfinite:
        ev.notes.append(f"{n_truth_nonfinite} truth rows have no finite {metric}; they are left out of the truth")
    if not truth_higher:
        ev.notes.append(f"{metric} is ranked as lower is better")
    key_column = "hash" if opts.truth_by_class else "arch"

    scan = _scan(results, truth_of, opts.truth_by_class)
    universe, ok_score, repeated = scan.universe, scan.ok_score, scan.repeated
    if repeated:
        ev.notes.append(f"{repeated} result rows repeat an architecture its estimator and seed already scored; "
                        "the first ok score counts")
    keys = sorted(ok_score)
    for key in keys:
        reasons: dict[str, int] = {}
        for arch in universe:
            if arch not in ok_score[key]:
                reason = scan.not_ok[key].get(arch, MISSING)
                reasons[reason] = reasons.get(reason, 0) + 1
        ev.failures[key] = reasons
    archs = list(universe)
    if opts.drop_failed:
        archs = [a for a in archs if all(a in ok_score[k] for k in keys)]
        ev.n_dropped = len(universe) - len(archs)
    ev.n = len(archs)

    truth_values = np.array([universe[a][1] for a in archs], dtype=np.float64)
    oriented_truth = truth_values if truth_higher else -truth_values
    params, flops, op_counts = _costs(archs, [universe[a][0] for a in archs], run_config, ev)
    rows: list[dict[str, Any]] = []
    ensembles = _ensemble_names(results)
    for name, seed in keys:
        registered = base_name(name) in ESTIMATORS or name in ensembles
        higher = ESTIMATORS.get(base_name(name)).higher_is_better if base_name(name) in ESTIMATORS else True
        if not registered and f"direction of {name}" not in " ".join(ev.notes):
            ev.notes.append(f"direction of {name} unknown (not a registered estimator); assumed higher is better")
        got = ok_score[name, seed]
        s = np.array([got.get(a, np.nan) for a in archs], dtype=np.float64)
        pts = Points(name, seed, s if higher else -s, oriented_truth, params, flops, np.array(archs, dtype=object),
                     higher, op_counts)
        ev.points.append(pts)
        counts = {"n_rows": scan.n_rows[name, seed],
                  "n_unmatched": scan.unmatched.get((name, seed), 0),
                  "n_failed": sum(ev.failures[name, seed].values()),
                  "n_missing": ev.failures[name, seed].get(MISSING, 0)}
        rows += _criteria_rows(pts, metric, opts, counts, ev.n_dropped, truth_higher)
    rows += _seed_rows(ev.points, metric)
    ev.criteria = pa.Table.from_pylist(rows, schema=CRITERIA_SCHEMA).replace_schema_metadata({
        b"archscore.version": VERSION.encode(),
        EVALUATION_KEY: json.dumps(_metadata(ev, key_column), default=str).encode()})
    return ev


def _without_training_split(truth: pa.Table, run_config: dict[str, Any], opts: EvalOptions) -> tuple[pa.Table, str]:
    """The truth without the architectures the run's predictors were trained on (their classes
    with ``truth_by_class``): every estimator is then ranked on what no predictor saw labelled."""
    if not opts.exclude_training:
        return truth, ""

    keys, files = training_split(run_config, opts.truth_by_class)
    if not keys:
        return truth, ""
    column = "hash" if opts.truth_by_class else "arch"
    kept = truth.filter(pc.invert(pc.is_in(truth.column(column), value_set=pa.array(sorted(keys)))))
    what = "isomorphism classes" if opts.truth_by_class else "architectures"
    return kept, (f"{truth.num_rows - kept.num_rows} truth rows of the {len(keys)} {what} the predictor(s) "
                  f"trained on ({', '.join(files)}) are left out of the evaluation set")


def agreement(points: list[Points]) -> tuple[list[str], np.ndarray]:
    """Kendall tau between every two estimators' scores (each one's first seed), over the
    architectures both scored ok: with the checkpoints of one supernet at several epochs, or of
    supernets trained with several seeds, as the estimators, this is Ning et al.'s variance of
    one-shot estimates across epochs or seeds (1: the same ranking)."""
    first: dict[str, Points] = {}
    for p in sorted(points, key=lambda p: p.seed):
        first.setdefault(p.estimator, p)
    names = sorted(first)
    m = np.full((len(names), len(names)), np.nan)
    for i, a in enumerate(names):
        for j in range(i, len(names)):
            b = names[j]
            both = ~first[a].failed & ~first[b].failed
            if both.sum() > 1:
                m[i, j] = m[j, i] = C.kendall_tau(first[a].scores[both], first[b].scores[both])
    return names, m


def bias_covariates(space_name: str, archs: Sequence[str], macro: dict[str, Any]) -> dict[str, np.ndarray]:
    """What estimates are checked for bias against (Ning et al.): the networks' params and FLOPs at
    ``macro`` and, where the space names its ops, each op's count (``ops_<name>``)."""
    space = get_space(space_name)
    parsed = [space.parse(a) for a in archs]
    params, flops = space.costs_many(parsed, space.macro(**macro))
    covariates = {"params": params, "flops": flops}
    if space.provides("op_counts"):
        covariates.update({f"ops_{name}": counts for name, counts in space.op_counts(parsed).items()})
    return covariates


def _costs(archs: list[str], spaces: list[str], run_config: dict[str, Any],
           ev: Evaluation) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Params, FLOPs (the run's macro config) and op counts of the networks that were scored; NaN
    where an architecture's space has no such value."""
    params, flops = np.full(len(archs), np.nan), np.full(len(archs), np.nan)
    op_counts: dict[str, np.ndarray] = {}
    for space_name in sorted(set(spaces)):
        macro = _macro_of(space_name, run_config)
        ev.macro[space_name] = macro.as_dict()
        where = [i for i, s in enumerate(spaces) if s == space_name]
        covariates = bias_covariates(space_name, [archs[i] for i in where], macro.as_dict())
        params[where], flops[where] = covariates.pop("params"), covariates.pop("flops")
        for name, values in covariates.items():
            op_counts.setdefault(name[len("ops_"):], np.full(len(archs), np.nan))[where] = values
    return params, flops, op_counts


def _metadata(ev: Evaluation, key_column: str) -> dict[str, Any]:
    opts = ev.options
    return {"metric": ev.metric, "metric_higher_is_better": ev.metric_higher_is_better,
            "truth_by_class": opts.truth_by_class, "drop_failed": opts.drop_failed,
            "protocol": opts.describe(), "join_key": key_column, "n": ev.n, "n_dropped": ev.n_dropped,
            "failures": {f"{name}/seed {seed}": reasons for (name, seed), reasons in ev.failures.items()},
            "run": {k: ev.run_config.get(k) for k in ("space", "data", "data_batch_size", "macro", "seeds", "input")}
            if ev.run_config else "not recorded",
            "macro": ev.macro, "sparse_threshold": opts.sparse_threshold, "n_boot": opts.n_boot,
            "seed": opts.seed, "min_meaningful_k": C.MIN_MEANINGFUL_K, "notes": ev.notes}


def evaluation_metadata(criteria: pa.Table) -> dict[str, Any]:
    """The protocol and counts recorded in a criteria table (as read back from criteria.parquet)."""
    raw = (criteria.schema.metadata or {}).get(EVALUATION_KEY)
    return json.loads(raw) if raw else {}


def _row(estimator: str, seed: int | None, metric: str, criterion: str, value: float, n: int,
         ratio: float | None = None, ci: tuple[float, float] = (float("nan"), float("nan"))) -> dict[str, Any]:
    clean = lambda v: None if v is None or not np.isfinite(v) else float(v)  # noqa: E731
    return {"estimator": estimator, "seed": seed, "metric": metric, "criterion": criterion,
            "ratio": ratio, "value": clean(value), "ci_low": clean(ci[0]), "ci_high": clean(ci[1]), "n": n}


def _criteria_rows(pts: Points, metric: str, opts: EvalOptions, counts: dict[str, int],
                   n_dropped: int, truth_higher: bool = True) -> list[dict[str, Any]]:
    s, t, n = pts.scores, pts.truth, len(pts.scores)
    ok = ~pts.failed
    n_ok = int(ok.sum())
    row = partial(_row, pts.estimator, pts.seed, metric)
    out = [row(name, value, counts["n_rows"]) for name, value in counts.items()]
    out += [row("n_dropped", n_dropped, n), row("n_used", n, n)]
    if n < 2:
        return out
    out.append(row("kendall_tau", C.kendall_tau(s, t), n,
                   ci=C.bootstrap_ci(s, t, C.kendall_tau, opts.n_boot, seed=opts.seed)))
    out.append(row("spearman", C.spearman(s, t), n,
                   ci=C.bootstrap_ci(s, t, C.spearman, opts.n_boot, seed=opts.seed)))
    out.append(row("pearson", C.pearson(s, t), n_ok))  # over the ok scores only
    out.append(row("sparse_kendall_tau", C.sparse_kendall_tau(s, t, opts.sparse_threshold), n))
    for k in opts.ndcg_ks:  # its gain needs a higher-is-better accuracy (in percent): not for a loss or error
        value = C.ndcg(s, t, k) if truth_higher else float("nan")
        out.append(row(f"ndcg_at_{k}", value, min(k, n)))
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
    # bias: does the estimator track the network's size? Over the ok scores only.
    out.append(row("bias_params_spearman", C.spearman(s[ok], pts.params[ok]) if n_ok > 1 else float("nan"), n_ok))
    out.append(row("bias_flops_spearman", C.spearman(s[ok], pts.flops[ok]) if n_ok > 1 else float("nan"), n_ok))
    # Ning et al.'s bias analysis: Kendall tau with size and with each op's count (a supernet that
    # prefers skips ranks by #skip, whatever the truth says)
    covariates = {"params": pts.params, "flops": pts.flops, **{f"ops_{op}": c for op, c in pts.op_counts.items()}}
    for cov, values in covariates.items():
        use = ok & np.isfinite(values)
        out.append(row(f"bias_tau_{cov}", C.kendall_tau(s[use], values[use]) if use.sum() > 1 else float("nan"),
                       int(use.sum())))
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
        taus = taus[np.isfinite(taus)]
        out += [row("kendall_tau_seed_mean", float(np.mean(taus)) if len(taus) else float("nan"), len(taus)),
                row("kendall_tau_seed_std", float(np.std(taus, ddof=1)) if len(taus) > 1 else float("nan"), len(taus))]
        # the points of every seed share one architecture order; use those every seed scored ok
        common = np.logical_and.reduce([~p.failed for p in pts])
        if common.sum() >= 2:
            m = np.array([p.scores[common] for p in pts])  # (seeds, archs)
            between = m.mean(0).std()
            rel = float(m.std(0, ddof=1).mean() / between) if between > 0 else float("nan")
            out.append(row("score_seed_std_rel", rel, int(common.sum())))
    return out


def training_split(run_config: dict[str, Any], by_class: bool = False) -> tuple[set[str], list[str]]:
    """The architectures (strings; with ``by_class`` their isomorphism classes) the run's
    ``predictor`` estimators were trained on, and the predictor files.

    Raises:
        ValueError: a recorded predictor file is gone or changed (its split cannot be known).
    """
    hashes: set[str] = set()
    files = []
    for label in run_config.get("estimators", []):
        if base_name(label) != "predictor":
            continue
        opts = (run_config.get("estimator_config") or {}).get(label, {})
        path = opts.get("checkpoint")
        try:
            _, meta = load_predictor(path)
        except ValueError as exc:
            raise ValueError(f"{label}: its training split is recorded with the predictor, which cannot be read "
                             f"now: {exc}") from None
        recorded = opts.get("checkpoint_sha256")
        if recorded and file_sha256(path) != recorded:
            raise ValueError(f"{label}: the predictor {path} changed since the run scored with it, so its training "
                             "split is not the one to leave out; evaluate with the file the run used, or pass "
                             "--keep-training-split")
        hashes |= set(meta.get("train_hashes" if by_class else "train_archs", []))
        files.append(str(path))
    return hashes, files
