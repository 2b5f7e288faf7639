"""A self-contained HTML report of an evaluation: figures embedded as PNG, no server needed."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .evaluate import Evaluation  # noqa: E402
from .schema import VERSION  # noqa: E402
from .sink import write_atomic  # noqa: E402

CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em}td,th{padding:4px 10px;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}td{white-space:nowrap}.muted{color:#777}img{max-width:100%}"""


def _heat(value: float | None) -> str:
    """A background from red (-1) through white (0) to green (+1) for a correlation cell."""
    if value is None:
        return ""
    v = max(-1.0, min(1.0, value))
    hue, light = (130, 100 - 22 * v) if v >= 0 else (5, 100 + 22 * v)
    return f' style="background:hsl({hue},60%,{light:.0f}%)"'



def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _first_seed(ev: Evaluation) -> dict[str, object]:
    chosen = {}
    for p in ev.points:
        if p.estimator not in chosen or p.seed < chosen[p.estimator].seed:
            chosen[p.estimator] = p
    return chosen


def _values(rows: list[dict], name: str, seed: int, criterion: str) -> dict:
    return {r["ratio"]: r for r in rows if r["estimator"] == name and r["seed"] == seed and r["criterion"] == criterion}


def render(ev: Evaluation, title: str = "archscore evaluation") -> str:
    rows = ev.criteria.to_pylist()
    points = _first_seed(ev)
    names = sorted(points, key=lambda n: -(_values(rows, n, points[n].seed, "kendall_tau").get(None, {}).get("value") or -9))
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p class=muted>truth metric <b>{html.escape(ev.metric)}</b> · archscore {VERSION} · "
             "rank criteria use the first seed of each estimator; intervals are 95% bootstrap intervals</p>"]
    for note in ev.notes:
        parts.append(f"<p class=muted>note: {html.escape(note)}</p>")
    # summary table
    head = ["estimator", "Kendall τ", "Spearman ρ", "Pearson", "sparse τ", "P@top5%", "BR@1%", "ρ vs params",
            "ρ vs FLOPs", "used", "excluded", "unmatched"]
    parts.append("<h2>Summary</h2><table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>")
    for name in names:
        seed = points[name].seed
        get = lambda c, r=None: _values(rows, name, seed, c).get(r, {}).get("value")  # noqa: E731
        kt = _values(rows, name, seed, "kendall_tau").get(None, {})
        ci = f" <span class=muted>[{kt['ci_low']:.3f}, {kt['ci_high']:.3f}]</span>" if kt.get("ci_low") is not None else ""
        fmt = lambda v, d=3: "–" if v is None else f"{v:.{d}f}"  # noqa: E731
        cells = [html.escape(name), (fmt(kt.get("value")) + ci), fmt(get("spearman")), fmt(get("pearson")),
                 fmt(get("sparse_kendall_tau")), fmt(get("p_at_top_k", 0.05)), fmt(get("br_at_k", 0.01), 0),
                 fmt(get("bias_params_spearman")), fmt(get("bias_flops_spearman")), fmt(get("n_used"), 0),
                 fmt(get("n_excluded"), 0), fmt(get("n_unmatched"), 0)]
        heat = [""] + [_heat(v) for v in (kt.get("value"), get("spearman"), get("pearson"),
                                           get("sparse_kendall_tau"))] + [""] * 7
        parts.append("<tr>" + "".join(f"<td{h}>{c}</td>" for h, c in zip(heat, cells)) + "</tr>")
    parts.append("</table>")
    if not names:
        parts.append("<p>No estimator had matched results.</p>")
        return _page(title, parts)
    # bar chart with intervals
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(names) + 2), 3.6))
    x = np.arange(len(names))
    for offset, crit, color in ((-0.2, "kendall_tau", "#4C72B0"), (0.2, "spearman", "#DD8452")):
        vals, lo, hi = [], [], []
        for name in names:
            r = _values(rows, name, points[name].seed, crit).get(None, {})
            v = r.get("value") if r.get("value") is not None else np.nan
            vals.append(v)
            lo.append(v - r["ci_low"] if r.get("ci_low") is not None else 0)
            hi.append(r["ci_high"] - v if r.get("ci_high") is not None else 0)
        ax.bar(x + offset, vals, 0.4, yerr=[lo, hi], capsize=3, label=crit.replace("_", " "), color=color)
    ax.axhline(0, color="#999", lw=0.8)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("correlation with truth")
    ax.legend(frameon=False)
    parts += ["<h2>Rank correlation (95% bootstrap intervals)</h2>", _png(fig)]
    # rank vs rank scatter
    cols = min(4, len(names))
    nrows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 3.0 * nrows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        p = points[name]
        n = len(p.scores)
        if n:
            tr = np.empty(n); tr[np.argsort(-p.truth, kind="stable")] = np.arange(1, n + 1)
            pr = np.empty(n); pr[np.argsort(-p.scores, kind="stable")] = np.arange(1, n + 1)
            ax.scatter(tr / n, pr / n, s=3, alpha=0.35 if n > 2000 else 0.6, lw=0)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("true rank (fraction)", fontsize=8)
        ax.set_ylabel("predicted rank", fontsize=8)
        ax.plot([0, 1], [0, 1], color="#c44", lw=0.8)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    parts += ["<h2>Predicted rank versus true rank</h2>", _png(fig)]
    # P@topK and BR/WR curves
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    palette = plt.cm.tab20(np.linspace(0, 1, 20)) if len(names) > 10 else plt.cm.tab10(np.arange(10))
    for ax in axes:
        ax.set_prop_cycle(color=list(palette))
    for name in names:
        seed = points[name].seed
        for ax, crit in zip(axes[:2], ("p_at_top_k", "p_at_bottom_k")):
            vals = sorted((r, v["value"]) for r, v in _values(rows, name, seed, crit).items() if v["value"] is not None)
            if vals:
                ax.plot(*zip(*vals), marker="o", ms=3, label=name)
        br = sorted((r, v["value"]) for r, v in _values(rows, name, seed, "br_at_k_rel").items() if v["value"] is not None)
        wr = sorted((r, v["value"]) for r, v in _values(rows, name, seed, "wr_at_k_rel").items() if v["value"] is not None)
        if br:
            line, = axes[2].plot(*zip(*br), marker="o", ms=3, label=name)
            axes[2].plot(*zip(*wr), marker="x", ms=3, ls="--", color=line.get_color())
    for ax, label in zip(axes, ("P@top K", "P@bottom K", "BR@K (solid) / WR@K (dashed), rank / N")):
        ax.set_xscale("log")
        ax.set_xlabel("r (K = r·N)")
        ax.set_title(label, fontsize=10)
    axes[2].set_yscale("log")
    axes[0].legend(fontsize=7, frameon=False)
    fig.tight_layout()
    parts += ["<h2>Top-K precision and best/worst rank within the top K</h2>", _png(fig)]
    # seeds
    seed_rows = [r for r in rows if r["seed"] is None]
    if seed_rows:
        parts.append("<h2>Variance over seeds (init and data batch)</h2><table><tr><th>estimator</th>"
                     "<th>criterion</th><th>value</th><th>n</th></tr>")
        for r in seed_rows:
            v = "–" if r["value"] is None else f"{r['value']:.4f}"
            parts.append(f"<tr><td>{html.escape(r['estimator'])}</td><td>{r['criterion']}</td><td>{v}</td><td>{r['n']}</td></tr>")
        parts.append("</table>")
    return _page(title, parts)


def _page(title: str, parts: list[str]) -> str:
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")


def write_report(ev: Evaluation, out: str | Path, title: str = "archscore evaluation") -> Path:
    path = Path(out) / "report.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, render(ev, title).encode())
    return path
