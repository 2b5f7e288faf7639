"""A self-contained HTML report of an evaluation: figures embedded as PNG, no server, no links.

The report states what the numbers are computed over before showing them: the truth metric and
how it is joined, N (the same architectures for every estimator), how failures are treated and how
many each estimator had, and the run that produced the scores (data, input, seeds, macro config;
"not recorded" for published-score tables). Every top-K value carries its K = int(N·r); values
with K < 5 are greyed and marked as not meaningful. BR@K and WR@K are given as a percentage of N
everywhere. Per-estimator figures are small multiples, so twelve estimators stay readable.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from archscore.estimators import ESTIMATORS, base_name  # noqa: E402
from archscore.engine.evaluation import criteria as C  # noqa: E402
from archscore.spaces import get_space  # noqa: E402

from archscore.engine.evaluation.evaluate import MISSING, Evaluation, Points, agreement  # noqa: E402
from archscore._core import VERSION, write_atomic  # noqa: E402
from archscore.engine.evaluation.html import fmt, grid as panel_grid, page, png  # noqa: E402

MIN_K = C.MIN_MEANINGFUL_K
#: the ratios the summary table shows (every ratio is in criteria.parquet and the figures)
TABLE_TOPK_RATIO = 0.05
TABLE_BR_RATIO = 0.01


def _heat(value: float | None) -> str:
    """A background from red (-1) through white (0) to green (+1) for a correlation cell."""
    if value is None:
        return ""
    v = max(-1.0, min(1.0, value))
    hue, light = (130, 100 - 22 * v) if v >= 0 else (5, 100 + 22 * v)
    return f' style="background:hsl({hue},60%,{light:.0f}%)"'


def _first_seed(ev: Evaluation) -> dict[str, Points]:
    chosen: dict[str, Points] = {}
    for p in ev.points:
        if p.estimator not in chosen or p.seed < chosen[p.estimator].seed:
            chosen[p.estimator] = p
    return chosen


def _pct(v: float | None) -> str:
    """A fraction of N as a percentage with enough digits to tell small ranks apart."""
    if v is None:
        return "–"
    return f"{100 * v:.3g}%"


def _ratio_label(r: float) -> str:
    return f"{100 * r:g}%"


def _compact(k: int) -> str:
    return str(k) if k < 10_000 else f"{k / 1000:.1f}k"


def _k_cell(value_html: str, k: int) -> str:
    """A top-K table cell: the value with its K; K < 5 greyed and marked as not meaningful."""
    if k == 0:
        return f'{value_html}<span class=k title="K = 0: undefined">K=0</span>'
    if k < MIN_K:
        return (f'<span class=weak title="K = {k} &lt; {MIN_K}: not meaningful">{value_html}†</span>'
                f'<span class=k>K={k}</span>')
    return f"{value_html}<span class=k>K={k}</span>"


class _Rows:
    """criteria rows indexed by (estimator, seed, criterion, ratio)."""

    def __init__(self, ev: Evaluation) -> None:
        self.rows = ev.criteria.to_pylist()
        self.index = {(r["estimator"], r["seed"], r["criterion"], r["ratio"]): r for r in self.rows}

    def get(self, p: Points, criterion: str, ratio: float | None = None) -> dict[str, Any]:
        return self.index.get((p.estimator, p.seed, criterion, ratio), {})

    def value(self, p: Points, criterion: str, ratio: float | None = None) -> float | None:
        return self.get(p, criterion, ratio).get("value")

    def curve(self, p: Points, criterion: str, ratios: tuple[float, ...]) -> list[tuple[float, float, int]]:
        """(r, value, K) of the defined points of a top-K criterion, by increasing r."""
        out = []
        for r in ratios:
            row = self.get(p, criterion, r)
            if row.get("value") is not None:
                out.append((r, row["value"], row["n"]))
        return out


def _file_input(source: dict[str, Any], info: dict[str, Any]) -> str:
    """``--input``'s path (recorded beside the config) and its content's digest (in the config)."""
    path = info.get("path") or source.get("path") or "(path not recorded)"
    digest = source.get("sha256")
    column = source.get("column")
    return f"file {path}" + (f", column {column}" if column else "") + (f" (sha256 {digest[:12]})" if digest else "")


def _run_lines(ev: Evaluation) -> list[tuple[str, str]]:
    """What produced the scores, from the results' recorded run config."""
    cfg = ev.run_config
    macro = "; ".join(f"{space}: " + ", ".join(f"{k}={v}" for k, v in m.items()) for space, m in ev.macro.items())
    changed = ", ".join(f"{k}={v}" for space, m in ev.macro.items()
                        for k, v in m.items() if get_space(space).macro().as_dict().get(k) != v)
    if not cfg:
        seeds = ", ".join(str(s) for s in sorted({p.seed for p in ev.points}))
        return [("Data", "not recorded (the results carry no run config, e.g. a published-score table)"),
                ("Input", "not recorded"),
                ("Seeds", f"not recorded; the results have seed {html.escape(seeds)}"),
                ("Macro config", f"not recorded; params and FLOPs for the bias columns computed with the "
                                 f"space defaults ({html.escape(macro)})")]
    data = cfg.get("data")
    needs = sorted(n for n in {p.estimator for p in ev.points} if base_name(n) in ESTIMATORS
                   and ESTIMATORS.get(base_name(n)).needs_data)
    if data:
        data_text = f"{data}, batch of {cfg.get('data_batch_size', '?')} images"
    elif needs:
        data_text = f"none named: synthetic (random) images for {', '.join(needs)}"
    else:
        data_text = "none (no estimator here needs data)"
    source = cfg.get("input") or {}
    kind = source.get("kind")
    input_text = {"all": "every architecture of the space",
                  "sample": f"{source.get('n')} architectures sampled with seed {source.get('seed')}",
                  "file": _file_input(source, (cfg.get("info") or {}).get("input") or {})}.get(
        kind, json.dumps(source) if source else "not recorded")
    return [("Data", html.escape(data_text)),
            ("Input", html.escape(input_text)),
            ("Seeds", html.escape(", ".join(str(s) for s in cfg.get("seeds", [])) or "not recorded")),
            ("Macro config", html.escape(macro + (f" (changed from the space defaults: {changed})" if changed
                                                  else " (the space defaults)")))]


def _failure_text(reasons: dict[str, int], sep: str = " ") -> str:
    """'3 (2 error, 1 no row)': failures of one (estimator, seed) by reason."""
    if not reasons:
        return "0"
    total = sum(reasons.values())
    parts = ", ".join(f"{n} {r if r != MISSING else 'no row'}" for r, n in sorted(reasons.items()))
    return f"{total}{sep}<span class=muted>({html.escape(parts)})</span>"


def _failures_line(ev: Evaluation) -> str:
    """Every (estimator, seed)'s failures on one line; the estimators without any named together."""
    failing = [(k, r) for k, r in sorted(ev.failures.items()) if r]
    clean = sorted({name for (name, _), r in ev.failures.items() if not r} - {name for (name, _), _ in failing})
    seeds = len({seed for _, seed in ev.failures}) > 1
    text = "; ".join(f"<b>{html.escape(name)}</b>{f' seed {seed}' if seeds else ''}: {_failure_text(r)}"
                     for (name, seed), r in failing)
    if clean:
        text += ("; " if text else "") + "0 for " + html.escape(", ".join(clean))
    return text or "none"


def _protocol(ev: Evaluation) -> str:
    opts = ev.options
    words = opts.describe()
    direction = "higher is better" if ev.metric_higher_is_better else "lower is better"
    if opts.drop_failed:
        n_text = (f"<b>N = {ev.n:,}</b> architectures, the same for every estimator: those every estimator and "
                  f"seed scored ok ({ev.n_dropped:,} dropped where one failed)")
        fail_text = "dropped (--drop-failed): evaluated on the common subset where every estimator and seed is ok"
    else:
        n_text = (f"<b>N = {ev.n:,}</b> architectures, the same for every estimator: every architecture with "
                  "truth in the results")
        fail_text = ("a failed score (status not ok, NULL or non-finite score, or no row for an architecture "
                     "another estimator scored) ranks last, tied with the other failures; where a top/bottom-K "
                     "cut falls inside that tie, the failures count against the estimator")
    ratios = sorted(set(opts.topk_ratios) | set(opts.brwr_ratios))
    ks = ", ".join(f"{_ratio_label(r)} → {C.k_of(ev.n, r):,}" for r in ratios)
    lines = [("Truth", f"metric <b>{html.escape(ev.metric)}</b> ({direction}); {html.escape(words['truth'])}"
                       + (" <b>(--truth-by-class)</b>" if opts.truth_by_class else "")),
             ("Architectures", n_text),
             ("Failures", html.escape(fail_text) + ("" if not opts.drop_failed else " <b>(--drop-failed)</b>")),
             ("Failures per estimator", _failures_line(ev)),
             *_run_lines(ev),
             ("Top-K", f"K = int(N·r), r → K: {html.escape(ks)}. Values with K &lt; {MIN_K} are greyed and "
                       "marked † (not meaningful); K = 0 is undefined (–)."),
             ("Criteria", f"rank criteria use each estimator's first seed; intervals are 95% bootstrap intervals "
                          f"({opts.n_boot} resamples); Pearson and the bias columns use the ok scores only; "
                          "BR@K / WR@K are the best / worst true rank within the estimator's top K, as % of N "
                          f"(rank 1 of N = {_pct(1 / max(ev.n, 1))}); archscore {html.escape(VERSION)}")]
    lines += [("Note", html.escape(note)) for note in ev.notes]
    return ("<h2>What was evaluated</h2><table class=protocol>"
            + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in lines) + "</table>")


def _summary(ev: Evaluation, rows: _Rows, names: list[str], points: dict[str, Points]) -> str:
    k_top, k_br = C.k_of(ev.n, TABLE_TOPK_RATIO), C.k_of(ev.n, TABLE_BR_RATIO)
    ndcg_k = max(ev.options.ndcg_ks) if ev.options.ndcg_ks else None
    head = ["estimator", "Kendall τ [95% CI]", "Spearman ρ", "Pearson", "sparse τ",
            *([f"nDCG@{min(ndcg_k, ev.n):,}"] if ndcg_k else []),
            f"P@top {_ratio_label(TABLE_TOPK_RATIO)}", f"BR@{_ratio_label(TABLE_BR_RATIO)}<br>(% of N)",
            "ρ vs params", "ρ vs FLOPs", f"failed<br>(of N = {ev.n:,})", "rows without truth"]
    out = ["<h2>Summary</h2><table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for name in names:
        p = points[name]
        kt = rows.get(p, "kendall_tau")
        ci = (f" <span class=muted>[{kt['ci_low']:.3f}, {kt['ci_high']:.3f}]</span>"
              if kt.get("ci_low") is not None else "")
        br = rows.get(p, "br_at_k", TABLE_BR_RATIO)
        br_html = _pct(rows.value(p, "br_at_k_rel", TABLE_BR_RATIO))
        if br.get("value") is not None:
            br_html = f'<span title="rank {int(br["value"])} of {ev.n}">{br_html}</span>'
        corr = [kt.get("value"), rows.value(p, "spearman"), rows.value(p, "pearson"),
                rows.value(p, "sparse_kendall_tau")]
        cells = [(html.escape(name), ""), (fmt(corr[0]) + ci, _heat(corr[0])), (fmt(corr[1]), _heat(corr[1])),
                 (fmt(corr[2]), _heat(corr[2])), (fmt(corr[3]), _heat(corr[3])),
                 *([(fmt(rows.value(p, f"ndcg_at_{ndcg_k}")), "")] if ndcg_k else []),
                 (_k_cell(fmt(rows.value(p, "p_at_top_k", TABLE_TOPK_RATIO)), k_top), ""),
                 (_k_cell(br_html, k_br), ""),
                 (fmt(rows.value(p, "bias_params_spearman")), ""), (fmt(rows.value(p, "bias_flops_spearman")), ""),
                 (_failure_text(ev.failures.get((name, p.seed), {}), "<br>"), ""),
                 (fmt(rows.value(p, "n_unmatched"), 0), "")]
        out.append("<tr>" + "".join(f"<td{style}>{c}</td>" for c, style in cells) + "</tr>")
    out.append("</table>")
    if min(k_top, k_br) < MIN_K:
        out.append(f"<p class=caption>† K &lt; {MIN_K}: a handful of architectures, not a meaningful result; "
                   "see the curves for larger K.</p>")
    return "".join(out)


def _correlation_bars(rows: _Rows, names: list[str], points: dict[str, Points]) -> str:
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(names) + 2), 3.6))
    x = np.arange(len(names))
    for offset, crit, label, color in ((-0.2, "kendall_tau", "Kendall τ", "#4C72B0"),
                                       (0.2, "spearman", "Spearman ρ", "#DD8452")):
        vals, lo, hi = [], [], []
        for name in names:
            r = rows.get(points[name], crit)
            v = r.get("value") if r.get("value") is not None else np.nan
            vals.append(v)
            # a percentile bootstrap interval need not contain the estimate: whiskers stop at the bar then
            lo.append(max(0.0, v - r["ci_low"]) if r.get("ci_low") is not None else 0)
            hi.append(max(0.0, r["ci_high"] - v) if r.get("ci_high") is not None else 0)
        ax.bar(x + offset, vals, 0.4, yerr=[lo, hi], capsize=3, label=label, color=color)
    ax.axhline(0, color="#999", lw=0.8)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("correlation with truth")
    ax.legend(frameon=False, ncol=2, loc="lower left", bbox_to_anchor=(0, 1.0))
    return png(fig)


def _rank_scatter(ev: Evaluation, rows: _Rows, names: list[str], points: dict[str, Points]) -> str:
    fig, axes = panel_grid(len(names), 3.2, 3.0)
    for ax, name in zip(axes, names):
        p = points[name]
        n = len(p.scores)
        bad = p.failed
        if n:
            tr = np.empty(n)
            tr[C.order_desc(p.truth)] = np.arange(1, n + 1)
            pr = np.empty(n)
            pr[C.predicted_order(p.scores, p.truth)] = np.arange(1, n + 1)
            pr[bad] = pr[bad].mean() if bad.any() else 0  # the tied block sits at its average rank
            size, alpha = (1.5, 0.25) if n > 2000 else (4, 0.5) if n > 300 else (14, 0.8)
            ax.scatter(tr[~bad] / n, pr[~bad] / n, s=size, alpha=alpha, lw=0, color="#4C72B0", rasterized=True)
            if bad.any():
                ax.scatter(tr[bad] / n, pr[bad] / n, s=max(size, 4) * 3, lw=0.8, color="#C44E52", marker="x",
                           zorder=3)
        ax.plot([0, 1], [0, 1], color="#999", lw=0.8, ls=":")
        tau = rows.value(p, "kendall_tau")
        failed = f"  · {int(bad.sum())} failed" if bad.any() else ""
        ax.set_title(f"{name}  τ = {fmt(tau)}{failed}", fontsize=10, color="#C44E52" if failed else "black")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(1.02, -0.02)  # best at the top
        ax.set_xlabel("true rank / N (0 = best)", fontsize=8)
        ax.set_ylabel("predicted rank / N", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return png(fig)


def _k_axis(ax: plt.Axes, ratios: list[float], n: int) -> None:
    """Log r axis whose ticks name r and K, with the K < 5 region shaded and labelled."""
    ax.set_xscale("log")
    ax.set_xticks(ratios, [_ratio_label(r) for r in ratios], fontsize=6.5)
    ax.minorticks_off()
    top = ax.secondary_xaxis("top")
    top.set_xticks(ratios, [("K=" if i == 0 else "") + _compact(C.k_of(n, r)) for i, r in enumerate(ratios)],
                   fontsize=6.5, color="#555")
    top.tick_params(length=2, pad=1)
    top.minorticks_off()
    lo, hi = min(ratios) / 1.6, max(ratios) * 1.6
    ax.set_xlim(lo, hi)
    weak = [r for r in ratios if C.k_of(n, r) < MIN_K]
    if weak:
        edge = np.sqrt(max(weak) * min([r for r in ratios if r > max(weak)], default=max(weak) * 1.6))
        ax.axvspan(lo, edge, color="#eee", zorder=0)
        ax.text(np.sqrt(lo * edge), 0.5, f"K < {MIN_K}", transform=ax.get_xaxis_transform(), fontsize=6.5,
                color="#999", va="center", ha="center", rotation=90, zorder=0.5)


def _plot_curve(ax: plt.Axes, curve: list[tuple[float, float, int]], scale: float = 1.0, **style: Any) -> None:
    if not curve:
        return
    r, v, k = (np.array(c, dtype=float) for c in zip(*curve))
    v = v * scale
    strong = k >= MIN_K
    ax.plot(r, v, lw=1.0, alpha=0.35, **style)  # through the not-meaningful points: faint
    ax.plot(r[strong], v[strong], lw=1.3, **style)
    color = style.get("color")
    ax.scatter(r[strong], v[strong], s=14, color=color, zorder=3)
    ax.scatter(r[~strong], v[~strong], s=14, facecolor="white", edgecolor=color, zorder=3)


def _topk_panels(ev: Evaluation, rows: _Rows, names: list[str], points: dict[str, Points]) -> str:
    # r = 100% is left out: P@top and P@bottom of all N are 1 by definition
    ratios = sorted(r for r in ev.options.topk_ratios if C.k_of(ev.n, r) > 0 and r < 1)
    fig, axes = panel_grid(len(names), 3.2, 2.8)
    for ax, name in zip(axes, names):
        p = points[name]
        if ratios:  # a random ranking's expected precision is r
            grid = np.geomspace(min(ratios), max(ratios), 50)
            ax.plot(grid, grid, color="#999", lw=0.8, ls=":")
        _plot_curve(ax, rows.curve(p, "p_at_top_k", tuple(ratios)), color="#4C72B0")
        _plot_curve(ax, rows.curve(p, "p_at_bottom_k", tuple(ratios)), color="#DD8452", ls="--")
        if ratios:
            _k_axis(ax, ratios, ev.n)
        ax.set_ylim(-0.03, 1.03)
        ax.set_title(name, fontsize=10, pad=14)
        ax.set_ylabel("precision", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    handles = [plt.Line2D([], [], color="#4C72B0", marker="o", ms=4, label="P@top K"),
               plt.Line2D([], [], color="#DD8452", marker="o", ms=4, ls="--", label="P@bottom K"),
               plt.Line2D([], [], color="#999", ls=":", label="random ranking (= r)"),
               plt.Line2D([], [], color="#4C72B0", marker="o", ms=4, mfc="white", ls="",
                          label=f"K < {MIN_K}: not meaningful")]
    fig.legend(handles=handles, loc="upper center", ncol=4, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    return png(fig)


def _brwr_panels(ev: Evaluation, rows: _Rows, names: list[str], points: dict[str, Points]) -> str:
    ratios = sorted(r for r in ev.options.brwr_ratios if C.k_of(ev.n, r) > 0)
    fig, axes = panel_grid(len(names), 3.2, 2.8)
    floor = 100 / max(ev.n, 1)
    for ax, name in zip(axes, names):
        p = points[name]
        if ratios:
            grid = np.geomspace(min(ratios), max(ratios), 50)
            ax.plot(grid, 100 * grid, color="#999", lw=0.8, ls=":")  # a perfect ranking's WR@K = K/N
            _plot_curve(ax, rows.curve(p, "br_at_k_rel", tuple(ratios)), 100, color="#55A868")
            _plot_curve(ax, rows.curve(p, "wr_at_k_rel", tuple(ratios)), 100, color="#C44E52", ls="--")
            _k_axis(ax, ratios, ev.n)
        ax.set_yscale("log")
        ax.set_ylim(100.0 * 1.5, floor / 1.5)  # rank 1 (best) at the top
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, numticks=8))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}%"))
        ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.axhline(floor, color="#ccc", lw=0.6)
        ax.set_title(name, fontsize=10, pad=14)
        ax.set_ylabel("true rank, % of N", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    handles = [plt.Line2D([], [], color="#55A868", marker="o", ms=4, label="BR@K (best true rank in top K)"),
               plt.Line2D([], [], color="#C44E52", marker="o", ms=4, ls="--", label="WR@K (worst)"),
               plt.Line2D([], [], color="#999", ls=":", label="perfect ranking's WR@K (= K/N)"),
               plt.Line2D([], [], color="#555", marker="o", ms=4, mfc="white", ls="",
                          label=f"K < {MIN_K}: not meaningful")]
    fig.legend(handles=handles, loc="upper center", ncol=4, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    return png(fig)


def render(ev: Evaluation, title: str = "archscore evaluation") -> str:
    rows = _Rows(ev)
    points = _first_seed(ev)
    names = sorted(points, key=lambda n: -(rows.value(points[n], "kendall_tau") or -9))
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p class=muted>truth metric <b>{html.escape(ev.metric)}</b> · N = {ev.n:,} architectures · "
             f"{len(names)} estimators · archscore {html.escape(VERSION)}</p>",
             _protocol(ev)]
    if not names or ev.n < 2:
        parts.append("<p>No estimator had two or more architectures with truth to rank.</p>")
        return page(title, parts)
    parts.append(_summary(ev, rows, names, points))
    parts += ["<h2>Rank correlation (95% bootstrap intervals)</h2>", _correlation_bars(rows, names, points)]
    parts += ["<h2>Predicted rank versus true rank</h2>",
              "<p class=caption>One point per architecture; the dotted diagonal is a perfect ranking. Failures "
              "(red crosses, counted in red in the panel's title) sit at the average rank of their tied block.</p>",
              _rank_scatter(ev, rows, names, points)]
    parts += ["<h2>Precision in the top and bottom K</h2>",
              f"<p class=caption>Bottom axis r, top axis its K = int(N·r), N = {ev.n:,}. The dotted line is a random "
              f"ranking's expected precision. Hollow points and the grey band: K &lt; {MIN_K}, not meaningful. "
              "r = 100% is left out (both precisions are 1 by definition); r with K = 0 are undefined.</p>",
              _topk_panels(ev, rows, names, points)]
    parts += ["<h2>Best and worst true rank within the estimator's top K</h2>",
              "<p class=caption>True rank as % of N (log scale, best at the top; the thin line is rank 1), "
              f"against r (bottom) and K (top). A perfect ranking has BR@K at rank 1 and WR@K on the dotted line. "
              f"Hollow points and the grey band: K &lt; {MIN_K}, not meaningful.</p>",
              _brwr_panels(ev, rows, names, points)]
    seed_rows = [r for r in rows.rows if r["seed"] is None]
    if seed_rows:
        parts.append("<h2>Variance over seeds (init and data batch)</h2><table><tr><th>estimator</th>"
                     "<th>criterion</th><th>value</th><th>n</th></tr>")
        for r in seed_rows:
            parts.append(f"<tr><td>{html.escape(r['estimator'])}</td><td>{r['criterion']}</td>"
                         f"<td>{fmt(r['value'], 4)}</td><td>{r['n']}</td></tr>")
        parts.append("</table>")
    parts.append(_bias_and_agreement(ev, rows, names, points))
    return page(title, parts)


def _bias_and_agreement(ev: Evaluation, rows: _Rows, names: list[str], points: dict[str, Points]) -> str:
    """Ning et al.'s analyses of efficient estimators: bias (Kendall tau with size and op counts)
    and variance (how far estimators that should agree, e.g. epochs or seeds of one supernet, do)."""
    covs = ["params", "flops", *[f"ops_{op}" for op in next(iter(points.values())).op_counts]]
    out = ["<h2>Bias and variance of the estimates (Ning et al.)</h2>",
           "<p class=caption>Kendall tau of each estimator's scores (first seed, ok scores) with the network's "
           "size and with how often each op occurs; the truth's own row says which bias would be earned. Below, "
           "Kendall tau between every two estimators' scores: with checkpoints of one supernet at several epochs, "
           "or supernets trained with several seeds, scored as separate estimators, it is the variance of the "
           "estimate across epochs or seeds.</p>",
           "<table><tr><th>estimator</th>" + "".join(f"<th>{html.escape(c)}</th>" for c in covs) + "</tr>"]
    truth = next(iter(points.values()))
    truth_row = [C.kendall_tau(truth.truth[np.isfinite(v)], v[np.isfinite(v)]) if np.isfinite(v).sum() > 1
                 else float("nan") for v in (truth.params, truth.flops, *truth.op_counts.values())]
    out.append("<tr><td><i>truth</i></td>" + "".join(f"<td>{fmt(_finite(v), 3)}</td>" for v in truth_row) + "</tr>")
    for n in names:
        out.append(f"<tr><td>{html.escape(n)}</td>" + "".join(
            f"<td>{fmt(rows.value(points[n], f'bias_tau_{c}'), 3)}</td>" for c in covs) + "</tr>")
    out.append("</table>")
    if len(names) > 1:
        order, m = agreement(ev.points)
        out.append("<table><tr><th></th>" + "".join(f"<th>{html.escape(n)}</th>" for n in order) + "</tr>")
        for i, n in enumerate(order):
            out.append(f"<tr><td>{html.escape(n)}</td>" + "".join(f"<td>{fmt(_finite(v), 3)}</td>" for v in m[i]) + "</tr>")
        out.append("</table>")
    return "".join(out)


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def write_report(ev: Evaluation, out: str | Path, title: str = "archscore evaluation") -> Path:
    path = Path(out) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, render(ev, title).encode())
    return path
