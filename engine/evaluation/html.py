"""HTML pieces the evaluation report and the Tune report share: the page, figures as inline PNG,
a panel grid of small multiples, number formatting. Self-contained: no server, no links."""
from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em}td,th{padding:4px 8px;border-bottom:1px solid #eee;text-align:right}
th{vertical-align:bottom}th:first-child,td:first-child{text-align:left}td{white-space:nowrap}
.muted{color:#777}.k{color:#888;font-size:.8em;margin-left:.3em}.weak{color:#aaa}
table.protocol td{text-align:left;white-space:normal;vertical-align:top}
table.protocol td:first-child{font-weight:600;width:11em}
img{max-width:100%}p.caption{color:#555;font-size:.9em;margin:.3em 0 1em}"""
PANEL_COLUMNS = 4


def png(fig: plt.Figure) -> str:
    """The figure as an inline PNG ``<img>``, closed after."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def fmt(v: float | None, digits: int = 3) -> str:
    """A number with ``digits`` decimals, or a dash for none."""
    return "–" if v is None else f"{v:.{digits}f}"


def grid(n: int, width: float = 3.2, height: float = 2.7) -> tuple[plt.Figure, np.ndarray]:
    """A figure of ``n`` panels, ``PANEL_COLUMNS`` to a row, unused axes hidden."""
    cols = min(PANEL_COLUMNS, n)
    nrows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(width * cols, height * nrows + 0.5), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    return fig, axes.ravel()


def page(title: str, parts: list[str]) -> str:
    """A whole HTML document of ``parts``."""
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>")
