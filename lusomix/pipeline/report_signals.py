"""The report's quality-signal section: one histogram per signal column of docs/, the run's thresholds drawn
on them with the share of documents that pass each signal's bounds."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl
from matplotlib.figure import Figure

from lusomix.pipeline.report_html import Share, esc, png, table

# numeric docs/ columns that are not quality signals (identifiers, offsets, language/variety evidence)
NON_SIGNALS = {"source_offset", "n_words", "lang_score", "p_pt_PT", "p_pt_PT_text", "text_hash", "minhash_bands"}
HIST_BINS = 40
Threshold = tuple[str, float]  # (op, value), e.g. ("max", 0.3)


_OPS = {
    "<": np.less,
    "<=": np.less_equal,
    "max": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "min": np.greater_equal,
    "==": np.equal,
}


def thresholds_from_rules(rules) -> dict[str, list[tuple[str, float]]]:
    """``write_report``'s thresholds from quality rules (objects with signal, bound "min"/"max", threshold,
    e.g. ``lusomix.filters.quality.thresholds()``): a signal may carry a lower and an upper bound."""
    out: dict[str, list[tuple[str, float]]] = {}
    for rule in rules:
        out.setdefault(rule.signal, []).append((rule.bound, float(rule.threshold)))
    return out


def _threshold_list(value) -> list[tuple[str, float]]:
    """(op, value), or a list of them (a signal with a lower and an upper bound, e.g. mean word length)."""
    return [tuple(value)] if len(value) == 2 and isinstance(value[0], str) else [tuple(v) for v in value]


def signal_section(
    docs: pl.LazyFrame, schema: pl.Schema, thresholds: Mapping[str, Threshold | list[Threshold]] | None
) -> str:
    """One histogram per signal column. Columns are read one at a time (a float column of 10 M documents
    is 80 MB), so memory stays small whatever the number of signals."""
    limits = {c: _threshold_list(v) for c, v in (thresholds or {}).items()}
    signals = [
        c for c, t in schema.items() if (t.is_numeric() or t == pl.Boolean) and (c not in NON_SIGNALS or c in limits)
    ]
    panels, rows = [], []
    for c in signals:
        values = docs.select(pl.col(c).cast(pl.Float64)).drop_nulls().collect(engine="streaming").to_series().to_numpy()
        if not len(values):
            continue
        lo, hi = np.quantile(values, [0.005, 0.995])
        marks = [v for _, v in limits.get(c, [])]
        lo, hi = min([lo, *marks]), max([hi, *marks])
        hi = hi if hi > lo else lo + 1.0
        counts, edges = np.histogram(np.clip(values, lo, hi), bins=HIST_BINS, range=(lo, hi))
        bounds = limits.get(c, [])
        passing = (
            float(np.logical_and.reduce([_OPS[op](values, v) for op, v in bounds]).mean())
            if bounds and all(op in _OPS for op, _ in bounds)
            else None
        )
        panels.append((c, counts, edges, bounds, passing))
        rows.append(
            [
                c,
                len(values),
                *np.quantile(values, [0.005, 0.5, 0.995]).round(4).tolist(),
                ", ".join(f"{op} {v:g}" for op, v in bounds) or "—",
                Share(passing) if passing is not None else "—",
            ]
        )
    if not panels:
        return "<p class=note>No quality signal columns in docs/.</p>"
    cols = 3
    fig = Figure(figsize=(13, 2.3 * -(-len(panels) // cols)))
    axes = fig.subplots(-(-len(panels) // cols), cols, squeeze=False).ravel()
    for ax, (c, counts, edges, bounds, passing) in zip(axes, panels):
        ax.bar(edges[:-1], counts, width=np.diff(edges), align="edge", color="#4c72b0")
        for _, value in bounds:
            ax.axvline(value, color="#d62728", linewidth=2)
        label = ", ".join(f"{op} {value:g}" for op, value in bounds)
        label += f": {passing:.0%} pass" if passing is not None else ""
        ax.set_title(f"{c}  ({label})" if bounds else c, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.locator_params(nbins=5)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fig.subplots_adjust(left=0.05, right=0.98, top=0.97, bottom=0.03, hspace=0.55, wspace=0.25)  # tight_layout: seconds
    missing = sorted(set(limits) - {p[0] for p in panels})
    note = f"<p class=note>Thresholds for signals not in docs/: {esc(', '.join(missing))}</p>" if missing else ""
    summary = table(["signal", "documents", "p0.5", "median", "p99.5", "threshold", "pass"], rows)
    return (
        f"<p>Each panel: the distribution over all Portuguese documents (p0.5–p99.5, outliers in the end "
        f"bins); red lines are the run's thresholds.</p>{png(fig, 'quality signal distributions', tight=False)}"
        f"{summary}{note}"
    )
