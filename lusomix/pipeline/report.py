"""The run report: one self-contained HTML page (OUT/report/index.html) a person opens in a browser.

Numbers come from lazy polars scans of docs/, rejected/, dedup/clusters.parquet, the mixes' manifests and
the optional stats.json (each section is left out when its input is missing). Plots are PNGs drawn with
matplotlib's Agg canvas (no pyplot state) and embedded as base64. Crawled strings — titles, URLs, text,
domains, reasons — only reach the page through ``html.escape``; the page also carries a
Content-Security-Policy that forbids scripts, so a missed escape still could not run anything.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from lusomix.errors import UsageError
from lusomix.manifest import Manifest
from lusomix.pipeline.inspect import VARIETY_NAMES, Table, check_footers, kept_counts, profile, sample_rows
from lusomix.pipeline.report_html import CSP, CSS, VARIETY_COLOURS, Share, barh, esc, png, stacked_shares, table
from lusomix.pipeline.report_signals import Threshold, signal_section, thresholds_from_rules
from lusomix.pretrain import eval_report
from lusomix.run_folder import UNKNOWN, RunFolder, as_folder, parts

FINEWEB2_SIZE_BUCKETS = [
    (1, 1, "1"),
    (2, 3, "2–3"),
    (4, 4, "4"),
    (5, 99, "5–99"),
    (100, 999, "100–999"),
    (1000, None, "≥1000"),
]


def _read_json(run: RunFolder, rel: str) -> dict | None:
    """The file's JSON object; None when it is absent, or unreadable (then said on stderr: the report
    still gets written, without the sections that need it)."""
    path = run.url_of(rel)
    try:
        value = json.loads(run.read_text(rel))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        print(f"lusomix: warning: {path} is unreadable, left out of the report ({type(err).__name__})", file=sys.stderr)
        return None
    if not isinstance(value, dict):
        print(f"lusomix: warning: {path} is not a JSON object, left out of the report", file=sys.stderr)
        return None
    return value


def _mixes(run: RunFolder) -> list[dict]:
    found = []
    for path in run.glob(f"{RunFolder.MIXES}/*/{Manifest.FILE}"):
        try:
            found.append(Manifest.read(run.child(path.rsplit("/", 1)[0])).to_dict())
        except UsageError as err:  # one bad mix does not hide the rest of the report
            print(f"lusomix: warning: {err}; left out of the report", file=sys.stderr)
    return [m for m in found if m["totals"]]


def _records_total(stats: dict) -> int | None:
    by_type = stats.get("records_by_type")
    return sum(v for v in by_type.values() if isinstance(v, int)) if isinstance(by_type, dict) else None


def _funnel(
    stats: dict, docs: dict, rejected_extracted: int | None, clean: int, deduped: int | None, mixes: list[dict]
) -> str:
    steps: list[tuple[str, int | None, str]] = [
        ("records", _records_total(stats), "WARC/ARC records read (stats.json)"),
        (
            "captures",
            stats.get("captures")
            if isinstance(stats.get("captures"), int)
            else (stats.get("records_by_type") or {}).get("response"),
            "HTTP responses",
        ),
        (
            "extracted",
            None if rejected_extracted is None else docs["rows"] + rejected_extracted,
            "main text extracted (docs/ + rejected after extraction)",
        ),
        ("Portuguese", docs["rows"], "docs/"),
        ("kept documents", clean, "no quality flag"),
        ("dedup keep", deduped, "and kept by deduplication"),
    ]
    steps += [
        (
            f"mix {m.get('name', '?')}",
            m["totals"].get("documents_distinct"),
            f"distinct documents; {m['totals'].get('rows', 0):,} rows with repeats",
        )
        for m in mixes
    ]
    shown = [(name, n, what) for name, n, what in steps if isinstance(n, int)]
    top = max((n for _, n, _ in shown), default=1) or 1
    plot = barh([s[0] for s in shown], [s[1] for s in shown], "documents at each pass")  # log axis past 100x
    return plot + table(["pass", "count", "of first", "what"], [[s, n, Share(n / top), w] for s, n, w in shown])


def _cluster_section(run: RunFolder) -> str:
    clusters = run.scan_parquet([RunFolder.CLUSTERS])
    per_cluster = clusters.group_by("cluster_id").agg(pl.col("cluster_size").first())
    sizes = per_cluster.collect(engine="streaming")["cluster_size"]
    rows: list[tuple[str, int, int]] = []
    for lo, hi, label in FINEWEB2_SIZE_BUCKETS:
        in_bucket = sizes.filter((sizes >= lo) & (sizes <= hi if hi else sizes >= lo))
        rows.append((label, in_bucket.len(), int(in_bucket.sum())))
    kept = clusters.select(pl.col("keep").sum(), pl.len()).collect().row(0)
    plot = barh([r[0] for r in rows], [r[1] for r in rows], "clusters by size (FineWeb-2 rehydration buckets)")
    return (
        plot
        + table(["cluster size", "clusters", "documents"], rows)
        + f"<p>{kept[0]:,} of {kept[1]:,} documents kept by deduplication.</p>"
    )


def _mix_section(mixes: list[dict]) -> str:
    if not mixes:
        return "<p class=note>No mixes yet (OUT/mixes/*/manifest.json).</p>"
    out = []
    for m in mixes:
        totals, recipe = m["totals"], m.get("recipe") or {}
        out.append(f"<h3>{esc(m.get('name', '?'))}</h3>")
        out += [f"<p class=note>warning: {esc(w)}</p>" for w in m.get("warnings", [])]
        out.append(
            table(
                ["shards", "rows", "distinct documents", "tokens (est.)", "bytes", "seed"],
                [
                    [
                        len(m.get("shards", [])),
                        totals.get("rows", 0),
                        totals.get("documents_distinct", 0),
                        totals.get("tokens_est", 0),
                        totals.get("bytes", 0),
                        str(m.get("seed", "")),
                    ]
                ],
            )
        )
        by_variety = m.get("by_variety") or {}
        out.append(
            table(
                ["variety", "rows", "tokens (est.)", "share of tokens"],
                [
                    [VARIETY_NAMES.get(v, v), d.get("rows", 0), d.get("tokens_est", 0), Share(d.get("share_tokens", 0))]
                    for v, d in by_variety.items()
                ],
            )
        )
        out.append(
            table(
                ["recipe", "value"],
                [[k, json.dumps(v, ensure_ascii=False)] for k, v in recipe.items() if k not in ("name", "seed")],
            )
        )
    return "".join(out)


def _pretrain_section(result: dict) -> str:
    if "skipped" in result:
        return f"<p>Skipped: {esc(result['skipped'])}</p>"
    note = f"<p class=note>{esc(result['note'])}</p>" if result.get("note") else ""
    keys = [k for k in ("workers", "steps", "first_loss", "last_loss", "tokens_per_s", "checkpoint") if k in result]
    return note + table(keys, [[str(result[k]) for k in keys]]) + _eval_part(result)


def _eval_part(result: dict) -> str:
    """The evaluation sets at the last step (a table) and over the steps (curves from metrics.jsonl)."""
    if not result.get("eval"):
        return ""
    html = "<h3>Evaluation sets (last step)</h3>" + table(
        ["kind", "set", "measure", "n", "value"], eval_report.rows(result["eval"])
    )
    # the curves come from metrics.jsonl, beside the eval plot (stats.json keeps the plot's location)
    folder, name = str(result.get("eval_plot") or "").rpartition("/")[0], "metrics.jsonl"
    if folder and as_folder(folder).isfile(name):
        records = [json.loads(line) for line in as_folder(folder).read_text(name).splitlines() if line]
        fig = eval_report.eval_figure(records)
        if fig is not None:
            html += png(fig, "evaluation sets over training steps")
    return html


def _stats_section(stats: dict) -> str:
    out = []
    for key, value in stats.items():
        if isinstance(value, dict) and all(isinstance(v, (int, float, str)) for v in value.values()):
            out.append(f"<h3>{esc(key)}</h3>" + table([key, "value"], [[k, v] for k, v in value.items()]))
        elif isinstance(value, list):
            items = [[v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)] for v in value]
            out.append(f"<h3>{esc(key)} ({len(value)})</h3>" + table([key], items))
        else:
            out.append(f"<p><b>{esc(key)}</b>: {esc(json.dumps(value, ensure_ascii=False))}</p>")
    return "".join(out)


def _damaged_input_section(stats: dict) -> str:
    """Each damaged span of the input files: its bytes, the records damaged there, and why."""
    rows: list[list[object]] = []
    for entry in stats.get("damaged_files") or []:
        if not isinstance(entry, dict):  # a stats.json written before spans were recorded
            rows.append([str(entry), "", "", ""])
            continue
        spans = entry.get("spans") or [{"start": "", "end": "", "records": "", "why": entry.get("problem", "")}]
        rows += [
            [entry.get("file", ""), f"{s['start']}–{s['end']}" if s["start"] != "" else "", s["records"], s["why"]]
            for s in spans
        ]
    return table(["file", "bytes", "damaged records", "why"], rows) if rows else ""


def _parts(run: RunFolder, kind: str, rules=None) -> Table:
    """The run's docs/ or rejected/ parts, damaged ones set aside (the report names them and uses the rest)."""
    readable, damaged = check_footers(run, parts(run, kind))
    return Table(run.url_of(kind), kind, run, readable, tuple(damaged), rules)


def _reject_section(rejected: Table, stats: dict) -> tuple[str, int | None]:
    """Reject reasons with an example URL each, and how many rejects came after text extraction
    (their n_words is filled)."""
    if not rejected.files:
        reasons = stats.get("rejected_by_reason")
        rows = [[r, n] for r, n in reasons.items()] if isinstance(reasons, dict) else []
        return (table(["reason", "captures"], rows) if rows else ""), None
    reasons = profile(rejected)["reject_reasons"]
    lf = rejected.scan()
    names = lf.collect_schema().names()
    extracted = (
        lf.select(pl.col("n_words").is_not_null().sum()).collect(engine="streaming").item()
        if "n_words" in names
        else None
    )
    examples = (
        dict(lf.group_by("reason").agg(pl.col("url").drop_nulls().first()).collect(engine="streaming").iter_rows())
        if "url" in names
        else {}
    )
    plot = barh(list(reasons), list(reasons.values()), "rejected captures by reason", colour="#b2182b")
    return plot + table(
        ["reason", "captures", "example URL"], [[r, n, examples.get(r) or ""] for r, n in reasons.items()]
    ), extracted


def _variety_section(lf: pl.LazyFrame, schema: pl.Schema, docs_profile: dict) -> str:
    variety = pl.col("variety").fill_null(UNKNOWN)
    varieties = docs_profile["varieties"]
    parts = [
        barh(
            [VARIETY_NAMES.get(v, v) for v in varieties],
            [d["rows"] for d in varieties.values()],
            "documents per variety",
            colour=[VARIETY_COLOURS.get(v, "#5e3c99") for v in varieties],
        ),
        table(
            ["variety", "documents", "share"],
            [[VARIETY_NAMES.get(v, v), d["rows"], Share(d["share"])] for v, d in varieties.items()],
        ),
    ]
    if "crawl_date" in schema:
        by_year = lf.group_by(pl.col("crawl_date").dt.year().alias("year"), variety).agg(rows=pl.len())
        parts.append(
            stacked_shares(
                by_year.drop_nulls("year").collect(engine="streaming"), "year", "variety shares by crawl year"
            )
        )
    if "tld" in schema:
        top = [r["tld"] for r in docs_profile.get("top_tlds", []) if r["tld"] is not None][:12]
        by_tld = lf.filter(pl.col("tld").is_in(top)).group_by("tld", variety).agg(rows=pl.len())
        parts.append(stacked_shares(by_tld.collect(engine="streaming"), "tld", "variety shares by TLD (top 12)"))
    return "".join(parts)


def _sample_section(lf: pl.LazyFrame, schema: pl.Schema, rows: int) -> str:
    cols = [c for c in schema.names() if c in ("id", "url", "variety", "title", "text")]
    samples = sample_rows(lf, cols, rows, 15)
    return table(
        ["variety", "title", "URL", "beginning of text"],
        [
            [s.get("variety") or UNKNOWN, s.get("title") or "", s.get("url") or "", (s.get("text") or "")[:160]]
            for s in samples
        ],
        css_class="sample",
    )


def write_report(
    run_dir: RunFolder | Path | str,
    thresholds: Mapping[str, Threshold | list[Threshold]] | None = None,
    quality_rules=None,
) -> str:
    """Write ``RUN/report/index.html`` (local or on a store) and return its path or URL. ``thresholds``:
    signal column → (op, value) with op one of < <= > >= == min max (min: value ≥ threshold passes), or a
    list of such pairs for a signal with two bounds; they are drawn on the signal distributions with the
    share of documents that pass. ``quality_rules`` (the run's current rules, ``filters.quality.Rule``):
    every figure uses the flags recomputed under them, as the mixes do (None: the flags stored at
    extract); their thresholds are drawn when ``thresholds`` is None."""
    if thresholds is None and quality_rules is not None:
        thresholds = thresholds_from_rules(quality_rules)
    run = as_folder(run_dir)
    if not run.isdir():
        raise UsageError(f"{run}: no such run folder")
    docs, rejected = _parts(run, RunFolder.DOCS, quality_rules), _parts(run, RunFolder.REJECTED)
    damaged = [*docs.damaged, *rejected.damaged]
    if not docs.files and not rejected.files:
        if damaged:
            raise UsageError(f"{run.url_of(damaged[0][0])}: unreadable Parquet ({damaged[0][1]})")
        raise UsageError(f"{run}: no docs/ or rejected/ Parquet files (is this a run's output folder?)")
    for path, why in damaged:
        print(f"lusomix: warning: {run.url_of(path)} is unreadable, left out of the report ({why})", file=sys.stderr)
    docs_files = docs.files
    stats = _read_json(run, RunFolder.STATS) or {}
    mixes = _mixes(run)
    has_clusters = run.exists(RunFolder.CLUSTERS)
    reject_html, rejected_extracted = _reject_section(rejected, stats)
    docs_profile: dict[str, Any] = {"rows": 0}
    clean, deduped = 0, None
    if docs_files:
        docs_profile, lf = profile(docs), docs.scan()
        schema = lf.collect_schema()
        clean, deduped = kept_counts(lf, run)
    sections = [("Funnel", _funnel(stats, docs_profile, rejected_extracted, clean, deduped, mixes))]
    if damaged:
        sections.insert(
            0,
            (
                "Damaged output files",
                "<p>Left out of every figure below:</p>"
                + table(["file", "error"], [[run.url_of(p), why] for p, why in damaged]),
            ),
        )
    if damaged_input := _damaged_input_section(stats):
        sections.append(
            (
                "Damaged input files",
                "<p>Their readable records are in every figure; the spans below could not be read.</p>" + damaged_input,
            )
        )
    if "varieties" in docs_profile:
        sections.append(("Varieties", _variety_section(lf, schema, docs_profile)))
    if reject_html:
        sections.append(("Reject reasons", reject_html))
    if docs_files:
        sections.append(("Quality signals", signal_section(lf, schema, thresholds)))
        if words := docs_profile.get("n_words"):
            sections.append(("Document length", table(list(words), [list(words.values())])))
    if has_clusters:
        sections.append(("Dedup clusters", _cluster_section(run)))
    sections.append(("Mixes", _mix_section(mixes)))
    if isinstance(stats.get("pretrain"), dict):
        sections.append(("Pretraining", _pretrain_section(stats["pretrain"])))
    if docs_files:
        sections.append(("Sample documents", _sample_section(lf, schema, docs_profile["rows"])))
    if stats:
        sections.append(("Extract pass summary (stats.json)", _stats_section(stats)))
    anchor = {t: esc(t.lower().replace(" ", "-")) for t, _ in sections}
    body = "".join(f'<h2 id="{anchor[t]}">{esc(t)}</h2>{h}' for t, h in sections)
    nav = " · ".join(f'<a href="#{anchor[t]}">{esc(t)}</a>' for t, _ in sections)
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>lusomix report — {esc(Path(run.path).name)}</title><style>{CSS}</style></head><body>"
        f"<h1>lusomix run report</h1><p class=note>{esc(run.url)}</p><p>{nav}</p>{body}</body></html>"
    )
    report = f"{RunFolder.REPORT}/index.html"
    run.write_text(report, page)
    return run.url_of(report)
