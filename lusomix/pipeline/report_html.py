"""The report's HTML and charts: escaping, number formats, tables, PNG charts embedded as base64.

Plots are drawn with matplotlib's Agg canvas (no pyplot state). Every string reaches the page through
``esc`` (``html.escape``).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import polars as pl
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter, StrMethodFormatter

from lusomix.pipeline.inspect import VARIETY_NAMES
from lusomix.run_folder import PT_BR, PT_PT, UNKNOWN

VARIETY_COLOURS = {PT_PT: "#1b7837", PT_BR: "#e6ab02", UNKNOWN: "#9e9e9e"}
CSS = """body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:1.5em;color:#222}
h1{font-size:1.6em}h2{border-bottom:2px solid #1b7837;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0}td,th{padding:.2em .7em;border-bottom:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%}.note{color:#666}
.sample{font-size:.9em;overflow-wrap:anywhere}.sample tr>:first-child{white-space:nowrap}"""
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


class Share(float):
    """A fraction shown as a percentage."""


def fmt(value: object) -> str:
    if isinstance(value, Share):
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:,.4g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(headers: list[str], rows: Sequence[Sequence[object]], css_class: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{esc(fmt(c))}</td>' if isinstance(c, (int, float)) else f"<td>{esc(c)}</td>" for c in row
        )
        + "</tr>"
        for row in rows
    )
    attribute = f' class="{esc(css_class)}"' if css_class else ""
    return f"<table{attribute}><tr>{head}</tr>{body}</table>"


def png(fig: Figure, alt: str, tight: bool = True) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight" if tight else None)
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def wants_log_axis(counts: Sequence[float]) -> bool:
    """True when the positive counts span more than two orders of magnitude: a linear axis would draw the
    small ones as slivers. Below that a linear axis keeps the bars' lengths comparable (a funnel reads as
    one), where a log axis would make 10 and 100 look alike."""
    positive = [c for c in counts if c > 0]
    return bool(positive) and max(positive) > 100 * min(positive)


def barh(
    labels: list[str], values: list[float], title: str, colour: str | list[str] = "#1b7837", log: bool | None = None
) -> str:
    """Horizontal bars, first label on top, each bar's count at its end. The axis is logarithmic when ``log``
    says so, by default when ``wants_log_axis(values)``; a log axis says so on the axis and in the alt text."""
    log = wants_log_axis(values) if log is None else log
    fig = Figure(figsize=(9, 0.35 * len(labels) + 1))
    ax = fig.subplots()
    bars = ax.barh(range(len(labels)), values, color=colour)
    ax.bar_label(bars, [fmt(v) if v > 0 else "" for v in values], padding=3, fontsize=8)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_title(title)
    ax.margins(x=0.08)  # room for the longest bar's count
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))  # counts: 1,000 rather than 10³
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("log scale")
        title += " (log scale)"
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no ticks at 0.25
    return png(fig, title)


def stacked_shares(frame: pl.DataFrame, key: str, title: str) -> str:
    """Variety shares per ``key`` value as stacked bars; ``frame`` has key, variety, rows."""
    wide = frame.pivot("variety", index=key, values="rows").fill_null(0).sort(key)
    names = [v for v in VARIETY_COLOURS if v in wide.columns] + sorted(set(wide.columns) - set(VARIETY_COLOURS) - {key})
    totals = wide.select(pl.sum_horizontal(names)).to_series().to_list()
    fig = Figure(figsize=(9, 3.5))
    ax = fig.subplots()
    many = len(totals) > 12
    labels = [f"{k} ({t:,})" if many else f"{k}\n{t:,}" for k, t in zip(wide[key], totals)]  # counts under bars
    bottom = [0.0] * len(labels)
    for v in names:
        share = [n / t if t else 0 for n, t in zip(wide[v], totals)]
        ax.bar(labels, share, bottom=bottom, color=VARIETY_COLOURS.get(v, "#5e3c99"), label=VARIETY_NAMES.get(v, v))
        bottom = [b + s for b, s in zip(bottom, share)]
    ax.set_ylabel("share of documents")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1, 1))
    if many:
        ax.tick_params(axis="x", rotation=60, labelsize=8)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
    return png(fig, title)
