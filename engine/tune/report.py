"""The report of ``archscore tune``: what was run, how the trials went, the best configurations and
which heuristics mattered, as one self-contained HTML page (figures inline, the look of report.py).

Heuristic effects are computed over a stated set of trials. With early stopping, trials end at
different epochs, so each trial's objective is taken at the largest epoch every non-error trial
reached (and, separately, over the finished trials at their last epoch). Intervals are bootstrap
intervals over trials: with few trials they are rough, and are marked so.
"""
from __future__ import annotations

import html
import math
from collections import Counter
from typing import Any

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
from scipy import stats  # noqa: E402

from archscore.engine.evaluation.html import fmt, grid, page, png  # noqa: E402
from archscore.engine.evaluation.stats import percentile_interval, spearman_ci as stats_ci  # noqa: E402
from archscore._core import VERSION  # noqa: E402

N_BOOT, SEED = 1000, 0
MIN_TRIALS, MIN_FINISHED = 3, 4  # fewer usable trials: no numbers; fewer finished: no finished-trials view
SMALL_N, SMALL_GROUP = 10, 5  # fewer trials (per value) than this: intervals marked rough (†)
TOP = 5
LABEL = {"kendall_tau": "Kendall τ", "sparse_kendall_tau": "sparse Kendall τ", "p_at_top_5pct": "P@top 5%"}
#: line colour and dash, and the marker at a trial's last epoch, by status
STYLE = {"finished": ("#4C72B0", "-", "o"), "stopped early": ("#DD8452", "--", "X"), "running": ("#55A868", ":", ">"),
         "error": ("#C44E52", "-.", "x"), "pending": ("#999999", ":", "o")}
NAN = float("nan")
Trials = dict[str, list[dict[str, Any]]]


def searched(record: dict[str, Any]) -> dict[str, str]:
    """Searched key -> its distribution (choice, grid, uniform, loguniform, randint); constants are not."""
    return {k: next(iter(v)) for k, v in (record.get("search") or {}).items() if isinstance(v, dict) and len(v) == 1}


def _num(v: Any) -> float:
    try:
        return NAN if v is None else float(v)
    except (TypeError, ValueError):
        return NAN


def _f(v: Any, digits: int = 3) -> str:
    return fmt(_num(v) if math.isfinite(_num(v)) else None, digits)


def _order(values: list[Any]) -> list[Any]:
    return sorted(set(values), key=lambda v: (v is None, isinstance(v, str),
                                              v if isinstance(v, (int, float)) else str(v)))


def _trials(table: pa.Table) -> Trials:
    """trial id -> its rows by epoch (a trial without a report has one row with epoch None)."""
    out: Trials = {}
    for row in table.to_pylist():
        out.setdefault(row["trial_id"], []).append(row)
    for rows in out.values():
        rows.sort(key=lambda r: -1 if r["epoch"] is None else r["epoch"])
    return out


def common_epoch(table: pa.Table) -> int | None:
    """The largest epoch every non-error trial with a report reached: the like-for-like comparison point."""
    last = [max(r["epoch"] for r in rows if r["epoch"] is not None) for rows in _trials(table).values()
            if rows[0]["status"] != "error" and any(r["epoch"] is not None for r in rows)]
    return min(last) if last else None


def rows_at(table: pa.Table, epoch: int | None) -> list[dict[str, Any]]:
    """Each non-error trial's row at ``epoch`` (holding the config in force then); with None, each
    finished trial's final row."""
    rows = [r for trial in _trials(table).values() for r in trial]
    if epoch is None:
        return [r for r in rows if r["status"] == "finished" and r["final"]]
    return [r for r in rows if r["status"] != "error" and r["epoch"] == epoch]


def interval(samples: np.ndarray, estimate: float) -> tuple[float, float]:
    """95% percentile interval of bootstrap samples over trials, widened to hold the estimate."""
    return percentile_interval(samples, holding=estimate)


def group_means(values: list[Any], y: np.ndarray, n_boot: int = N_BOOT, seed: int = SEED) -> list[dict[str, Any]]:
    """Mean objective per value with a bootstrap 95% interval (resampling that value's trials)."""
    rng, y, out = np.random.default_rng(seed), np.asarray(y, float), []
    for value in _order(values):
        ys = y[np.array([v == value and type(v) is type(value) for v in values])]
        boot = ys[rng.integers(0, len(ys), (n_boot, len(ys)))].mean(1)
        lo, hi = interval(boot, float(ys.mean())) if len(ys) > 1 else (NAN, NAN)
        out.append({"value": value, "n": len(ys), "mean": float(ys.mean()), "lo": lo, "hi": hi})
    return out


def spearman_ci(x: list[Any], y: np.ndarray, n_boot: int = N_BOOT, seed: int = SEED) -> tuple[float, float, float]:
    """Spearman's rho between a numeric heuristic and the objective, and its bootstrap 95% interval."""
    return stats_ci(x, y, n_boot, seed)


def groups_of(values: list[Any], numeric: bool) -> np.ndarray:
    """Group labels for the variance split: one per value; numeric values in up to 3 quantile bins."""
    if numeric:
        x = np.asarray(values, float)
        return np.searchsorted(np.unique(np.quantile(x, [1 / 3, 2 / 3])), x, side="right")
    order = [str(v) for v in _order(values)]
    return np.array([order.index(str(v)) for v in values])


def variance_fraction(groups: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Between-group over total sum of squares (a first-order functional-ANOVA share), one value per
    row (a row per bootstrap resample); NaN where the objective does not vary."""
    g, y = np.atleast_2d(groups), np.atleast_2d(np.asarray(y, float))
    mean, between = y.mean(1), np.zeros(len(y))
    for k in np.unique(g):
        m = g == k
        n_k = m.sum(1)
        between += n_k * (np.where(n_k > 0, (y * m).sum(1) / np.maximum(n_k, 1), mean) - mean) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.ptp(y, axis=1) > 0, between / ((y - mean[:, None]) ** 2).sum(1), NAN)


def importance(rows: list[dict[str, Any]], keys: dict[str, str], n_boot: int = N_BOOT,
               seed: int = SEED) -> list[dict[str, Any]]:
    """Per searched key: its variance fraction with a bootstrap 95% interval, the chance level (g−1)/(N−1)
    a key without effect reaches on average, and its marginal effect. Sorted by the excess over chance,
    as a key split into more groups explains more variance by chance alone."""
    y = np.array([_num(r["objective"]) for r in rows])
    idx = np.random.default_rng(seed).integers(0, len(y), (n_boot, len(y)))
    out = []
    for key, dist in keys.items():
        values = [r.get(key) for r in rows]
        numeric = dist not in ("choice", "grid") and all(math.isfinite(_num(v)) for v in values)
        g = groups_of(values, numeric)
        frac = float(variance_fraction(g, y)[0])
        item = {"key": key, "numeric": numeric, "n": len(y), "fraction": frac,
                **dict(zip(("lo", "hi"), interval(variance_fraction(g[idx], y[idx]), frac))),
                "chance": (len(set(g)) - 1) / (len(y) - 1) if len(y) > 1 else NAN,
                "values": values, "y": y, "log": dist == "loguniform"}
        if numeric:
            item["rho"], item["rho_lo"], item["rho_hi"] = spearman_ci(values, y, n_boot, seed)
        else:
            item["means"] = group_means(values, y, n_boot, seed)
        out.append(item)
    return sorted(out, key=lambda d: d["chance"] - d["fraction"] if math.isfinite(d["fraction"]) else math.inf)


def _ci(v: float, lo: float, hi: float, rough: bool) -> str:
    text = _f(v) + f" <span class=muted>[{_f(lo)}, {_f(hi)}]</span>"
    return f'<span class=weak title="few trials: a rough interval">{text}†</span>' if rough else text


def _val(v: Any) -> str:
    return html.escape(f"{v:.3g}" if isinstance(v, float) else str(v))


def _header(record: dict[str, Any], trials: Trials, obj: str) -> str:
    e, sched, truth = html.escape, str(record.get("scheduler", "?")), record.get("truth") or {}

    def r(key: str, within: dict[str, Any] = record) -> str:
        return e(str(within.get(key)))

    counts = sorted(Counter(rows[0]["status"] for rows in trials.values()).items(),
                    key=lambda c: list(STYLE).index(c[0]) if c[0] in STYLE else len(STYLE))
    params = {"asha": ("grace_period", "reduction_factor"), "hyperband": ("reduction_factor",),
              "pbt": ("perturbation_interval", "pbt_synch")}.get(sched, ())
    search, keys = record.get("search") or {}, searched(record)
    fixed = {**(record.get("base") or {}), **search}
    lines = [("Run", f"space <b>{r('space')}</b>, data {r('data')}, macro {r('macro')}"),
             ("Scheduler", e(sched + (f" ({', '.join(f'{p}={record.get(p)}' for p in params)})" if params else ""))
              + f", search seed {r('search_seed')}"),
             ("Objective", f"maximise <b>tuning_{e(obj)}</b> ({LABEL.get(obj, e(obj))} on the tuning split; a NaN τ "
                           "counts as 0)"),
             ("Epochs", f"{r('epochs')} per trial"),
             ("Trials", f"{len(trials)} of {r('num_samples')} requested: "
                        + (", ".join(f"{n} {e(str(s))}" for s, n in counts) or "none")),
             ("Truth", f"{r('metric', truth)} from {r('source', truth)}: {len(truth.get('tuning') or [])} tuning / "
                       f"{len(truth.get('test') or [])} held-out test architectures, scored on {r('eval_batches')} "
                       f"batch(es) of {r('eval_batch_size')} images"),
             ("Search space", "; ".join(f"<b>{e(k)}</b> {e(d)} {e(str(search[k][d]))}" for k, d in keys.items())
              or "nothing searched (every key is a constant)"),
             ("Fixed heuristics", e(", ".join(f"{k}={v}" for k, v in fixed.items() if k not in keys))),
             ("Version", f"archscore {e(VERSION)}")]
    if sched == "pbt":
        lines.append(("Note", "PBT changes hyperparameters within a trial: each row holds the config in force at "
                              "that epoch, and every analysis below uses the config on the row it uses."))
    return ("<h2>What was run</h2><table class=protocol>"
            + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in lines) + "</table>")


def _curves(trials: Trials, obj: str, best_id: Any, epoch: int | None) -> str:
    fig, seen = plt.figure(figsize=(7.5, 3.8)), {}
    ax = fig.gca()
    for tid, rows in sorted(trials.items(), key=lambda t: t[1][0]["status"] == "finished", reverse=True):
        pts = [(r["epoch"], _num(r[f"tuning_{obj}"])) for r in rows if r["epoch"] is not None]
        status = rows[0]["status"]
        color, ls, end = STYLE.get(status, STYLE["pending"])
        if pts:  # finished first, so the others are drawn over them
            ax.plot(*zip(*pts), color=color, ls=ls, marker="o", ms=3, alpha=0.8, lw=2.6 if tid == best_id else 1.2)
            if status != "finished":
                ax.scatter(*pts[-1], color=color, marker=end, s=45, zorder=3)
            seen[status] = plt.Line2D([], [], color=color, ls=ls, marker=end, label=status)
        if pts and tid == best_id:
            seen["chosen"] = ax.scatter(*pts[-1], marker="*", s=160, color="black", zorder=4, label="chosen trial")
    if not seen:
        plt.close(fig)
        return "<p>No trial has reported an epoch yet.</p>"
    if epoch is not None:
        ax.axvline(epoch, color="#bbb", lw=0.8)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set(xlabel="epoch", ylabel=f"tuning {LABEL.get(obj, obj)}")
    ax.legend(handles=[seen[s] for s in [*STYLE, "chosen"] if s in seen], frameon=False, fontsize=8,
              loc="upper left", bbox_to_anchor=(1, 1))
    return png(fig)


def _errors(trials: Trials) -> str:
    bad = [(t, rows[-1]) for t, rows in trials.items() if rows[0]["status"] == "error"]
    if not bad:
        return "<p class=caption>No trial errored.</p>"
    return ("<h3>Errors</h3><table><tr><th>trial</th><th>last epoch</th><th>message</th></tr>" + "".join(
        f"<tr><td>{html.escape(t)}</td><td>{'–' if r['epoch'] is None else r['epoch']}</td><td style="
        f"'text-align:left;white-space:normal'>{html.escape(str(r['error']))}</td></tr>" for t, r in bad) + "</table>")


def _best(trials: Trials, keys: dict[str, str], best_id: Any) -> str:
    finals = [rows[-1] for rows in trials.values() if rows[0]["status"] != "error" and rows[-1]["epoch"] is not None]
    finals.sort(key=lambda r: -_num(r["objective"]) if math.isfinite(_num(r["objective"])) else math.inf)
    shown = finals[:TOP] + [r for r in finals[TOP:] if r["trial_id"] == best_id]
    if not shown:
        return "<p>No trial has reported an epoch.</p>"
    metrics = [(split, m) for split in ("tuning", "test") for m in LABEL]
    head = ["trial", "status", "epoch", *map(html.escape, keys), *[f"{s}<br>{LABEL[m]}" for s, m in metrics]]
    out = ["<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for r in shown:
        cells = [html.escape(r["trial_id"]) + (" ★" if r["trial_id"] == best_id else ""), html.escape(r["status"]),
                 str(r["epoch"]), *[_val(r.get(k)) for k in keys], *[_f(r[f"{s}_{m}"]) for s, m in metrics]]
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "".join(out) + ("</table><p class=caption>Each non-error trial's last reported epoch, by objective; ★ the "
                           "chosen trial (the highest objective at the last epoch among finished trials). Test metrics "
                           "are on the held-out split, never used to choose.</p>")


def _transfer(trials: Trials, obj: str, best_id: Any) -> str:
    pts = [(_num(rows[-1][f"tuning_{obj}"]), _num(rows[-1][f"test_{obj}"]), rows[0]["status"], t)
           for t, rows in trials.items() if rows[0]["status"] != "error"]
    pts = [p for p in pts if math.isfinite(p[0]) and math.isfinite(p[1])]
    if not pts:
        return "<p>No trial has both a tuning and a held-out test score yet.</p>"
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    for x, y, status, t in pts:
        ax.scatter(x, y, s=140 if t == best_id else 30, marker="*" if t == best_id else "o",
                   color=STYLE.get(status, STYLE["pending"])[0], edgecolor="black" if t == best_id else "none")
    lim = [min(min(p[:2]) for p in pts) - 0.05, max(max(p[:2]) for p in pts) + 0.05]
    ax.plot(lim, lim, color="#999", ls=":", lw=0.8)
    ax.legend(handles=[plt.Line2D([], [], ls="", marker="o", color=c, label=s) for s, (c, _, _) in STYLE.items()
                       if any(p[2] == s for p in pts)], frameon=False, fontsize=8)
    ax.set(xlabel=f"tuning {LABEL.get(obj, obj)}", ylabel=f"held-out test {LABEL.get(obj, obj)}")
    tau = stats.kendalltau([p[0] for p in pts], [p[1] for p in pts]).statistic if len(pts) >= 3 else NAN
    ax.set_title(f"{len(pts)} trials · rank agreement τ = {_f(tau)}", fontsize=9)
    return (png(fig) + "<p class=caption>Each trial's last epoch (colour: status; ★ the chosen trial). Points below "
            "the dotted diagonal score lower on the held-out split than on the tuning split; a low rank agreement "
            "(τ across trials) means the tuning split's ranking of configurations does not carry over: the search "
            "overfits it.</p>")


def _attribution(rows: list[dict[str, Any]], keys: dict[str, str], what: str) -> str:
    used = [r for r in rows if math.isfinite(_num(r["objective"]))]
    dropped = f" ({len(rows) - len(used)} left out: no finite objective)" if len(rows) > len(used) else ""
    out = [f"<h3>{what}: {len(used)} trials{dropped}</h3>"]
    if len(used) < MIN_TRIALS:
        return out[0] + f"<p>The analysis needs at least {MIN_TRIALS} trials with an objective; run more trials.</p>"
    items, rough = importance(used, keys), len(used) < SMALL_N
    out.append("<table><tr><th>heuristic</th><th>variance fraction [95% CI]</th><th>chance level</th>"
               "<th>marginal effect on the objective [95% CI]</th></tr>")
    for it in items:
        effect = ("Spearman ρ " + _ci(it["rho"], it["rho_lo"], it["rho_hi"], rough) if it["numeric"] else "; ".join(
            f"{_val(m['value'])}: {_ci(m['mean'], m['lo'], m['hi'], rough or m['n'] < SMALL_GROUP)}"
            f"<span class=k>n={m['n']}</span>" for m in it["means"]))
        out.append(f"<tr><td>{html.escape(it['key'])}</td><td>{_ci(it['fraction'], it['lo'], it['hi'], rough)}</td>"
                   f"<td>{_f(it['chance'])}</td><td style='text-align:left;white-space:normal'>{effect}</td></tr>")
    fig, axes = grid(len(items), 3.0, 2.6)
    for ax, it in zip(axes, items):
        order = _order(it["values"])
        ax.scatter(it["values"] if it["numeric"] else [order.index(v) for v in it["values"]], it["y"], s=12,
                   color="#4C72B0", alpha=0.6, lw=0)
        if it["log"] and it["numeric"]:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        elif not it["numeric"]:
            m = it["means"]
            err = [[d["mean"] - d["lo"] if math.isfinite(d["lo"]) else 0 for d in m],
                   [d["hi"] - d["mean"] if math.isfinite(d["hi"]) else 0 for d in m]]
            ax.errorbar(range(len(m)), [d["mean"] for d in m], yerr=np.maximum(err, 0), fmt="D", color="black",
                        capsize=4, ms=5)
            ax.set_xticks(range(len(m)), [str(d["value"]) for d in m], fontsize=8)
            ax.set_xlim(-0.5, len(m) - 0.5)
        ax.set_title(f"{it['key']}: share {_f(it['fraction'], 2)} (chance {_f(it['chance'], 2)})", fontsize=9)
        ax.set_ylabel("objective", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return "".join(out) + "</table>" + png(fig)


def tune_report_html(table: pa.Table, record: dict[str, Any], best: dict[str, Any] | None) -> str:
    """The whole report; every section degrades to a sentence where its data is missing."""
    obj, keys, trials = str(record.get("objective") or "kendall_tau"), searched(record), _trials(table)
    best_id, epoch, title = (best or {}).get("trial_id"), common_epoch(table), f"archscore tune: {record.get('space')}"
    parts = [f"<h1>{html.escape(title)}</h1>", _header(record, trials, obj),
             f"<h2>Tuning {LABEL.get(obj, html.escape(obj))} by epoch</h2>",
             "<p class=caption>One line per trial; colour, dash and the end marker give its status (thick, with ★: "
             "the chosen trial; grey line: the largest epoch every non-error trial reached). A NaN leaves a gap.</p>",
             _curves(trials, obj, best_id, epoch), _errors(trials),
             f"<h2>Best configurations (top {TOP})</h2>", _best(trials, keys, best_id),
             "<h2>Tuning versus held-out test</h2>", _transfer(trials, obj, best_id),
             "<h2>Which heuristics matter</h2>"]
    if not keys:
        return page(title, parts + ["<p>Nothing was searched (every key is a constant): nothing to attribute.</p>"])
    parts.append("<p class=caption>Variance fraction: the share of the objective's variance across trials that the "
                 "key's main effect explains (between-group / total sum of squares; numeric keys in up to 3 quantile "
                 "bins). The chance level (g−1)/(N−1) is what a key without effect reaches on average with g "
                 "groups and N trials: only a fraction well above it points to an effect; keys are sorted by the "
                 "excess. Marginal effect: the mean objective per value, or Spearman ρ for numeric keys. Intervals: "
                 f"95% percentile bootstrap over trials ({N_BOOT} resamples, seed {SEED}), widened to hold the "
                 f"estimate; † marks rough ones (fewer than {SMALL_N} trials, or {SMALL_GROUP} with the value). "
                 "Error trials are left out." + (" With PBT each row's config is the one in force at that epoch, and "
                                                 "that is the config used." if record.get("scheduler") == "pbt" else "")
                 + "</p>")
    if epoch is None:
        return page(title, parts + ["<p>No non-error trial has reported an epoch: the analysis needs trials.</p>"])
    at_epoch, finished = rows_at(table, epoch), rows_at(table, None)
    parts.append(_attribution(at_epoch, keys, f"Every non-error trial at epoch {epoch} (the largest epoch all of "
                                              "them reached)"))
    if {r["trial_id"] for r in finished} == {r["trial_id"] for r in at_epoch} and all(r["epoch"] == epoch
                                                                                      for r in finished):
        parts.append("<p class=caption>Every non-error trial finished at that epoch: a finished-trials view would be "
                     "the same.</p>")
    elif len(finished) >= MIN_FINISHED:
        parts.append(_attribution(finished, keys, "Finished trials at their last epoch"))
    else:
        parts.append(f"<p class=caption>{len(finished)} trial(s) finished: a view over finished trials at their "
                     f"last epoch needs at least {MIN_FINISHED}.</p>")
    return page(title, parts)
