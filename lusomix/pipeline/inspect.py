"""Profile a table of the run — docs/, rejected/, a mix, or one Parquet file — with lazy polars scans.

Every figure is its own small lazy query that reads only the columns it needs (the ``text`` column only
for ``--sample``), and the queries run together with ``pl.collect_all``: fast on millions of rows, and
memory stays at the size of the answers. The report reuses :func:`profile` for its tables.

The mix and dedup passes select on quality flags recomputed from the stored signals under the run's current
thresholds (``filters.quality.flags_expr``), not on the flags the extract pass stored: a docs/ table given
``rules`` shows its flags the same way, so its counts agree with the mixes after a re-threshold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from lusomix.errors import UsageError
from lusomix.filters.quality import Rule, flags_expr
from lusomix.manifest import Manifest
from lusomix.run_folder import PT_BR, PT_PT, UNKNOWN, RunFolder, as_folder

VARIETY_NAMES = {PT_PT: f"{PT_PT} (European)", PT_BR: f"{PT_BR} (Brazilian)", UNKNOWN: UNKNOWN}
QUANTILES = {"p10": 0.1, "p25": 0.25, "median": 0.5, "p75": 0.75, "p90": 0.9, "p99": 0.99}
SAMPLE_CHARS = 300


@dataclass(frozen=True)
class Table:
    """What PATH names: its kind (docs | rejected | mix | table) and its Parquet files."""

    path: str  # as the user named it (a URL, or a local path)
    kind: str
    folder: RunFolder  # where the files are
    files: list[str]  # the readable ones, relative to ``folder``
    damaged: tuple[tuple[str, str], ...] = ()  # (file, why) left out: named, never fatal while others read
    rules: tuple[Rule, ...] | None = None  # docs/: quality_flags recomputed under these; None = as stored

    def scan(self) -> pl.LazyFrame:
        lf = self.folder.scan_parquet(self.files)
        return lf.with_columns(flags_expr(self.rules)) if self.rules is not None and self.kind == "docs" else lf


def resolve(
    path: str | Path | RunFolder, rules: tuple[Rule, ...] | None = None, storage_options: dict | None = None
) -> Table:
    """A run folder means its docs/; a folder with manifest.json is a mix; otherwise the kind is read
    from the columns (``reason`` → rejected, ``quality_flags`` → docs, text + variety → a mix shard, else
    any other table, e.g. dedup/clusters.parquet). ``path`` is local or a URL. ``rules``: a docs/ table's
    flags under these thresholds."""
    try:
        target = as_folder(path, storage_options)
    except (ValueError, ImportError) as err:
        raise UsageError(f"{path}: {err}") from None
    if not target.exists():
        raise UsageError(f"{path}: no such file or folder")
    is_mix = False
    if not target.isdir():
        if not str(path).endswith(".parquet"):
            raise UsageError(f"{path}: not a Parquet file")
        folder, _, name = target.url.rpartition("/")
        target, files = RunFolder(folder, target.storage_options), [name]
    elif Manifest.exists(target):
        is_mix, files = True, [shard["path"] for shard in Manifest.read(target).shards]
    elif target.isdir(RunFolder.DOCS):
        return resolve(target.child(RunFolder.DOCS), rules)
    else:
        files = target.glob("*.parquet")
    if not files:
        raise UsageError(f"{path}: no Parquet files (expected a run, docs/, rejected/ or a mix folder)")
    readable, damaged = check_footers(target, files)
    if not readable:
        raise UsageError(f"{target.url_of(damaged[0][0])}: unreadable Parquet ({damaged[0][1]})")
    names = target.parquet_file(readable[0]).schema_arrow.names
    if is_mix:
        kind = "mix"
    else:
        kind = (
            "rejected"
            if "reason" in names
            else "docs"
            if "quality_flags" in names
            else "mix"
            if {"text", "variety"} <= set(names)
            else "table"
        )
    return Table(str(path), kind, target, readable, tuple(damaged), rules)


def check_footers(folder: RunFolder, files: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Split files into readable and damaged by reading each Parquet footer (a few KB per file): one
    truncated part must not hide the rest of a table, and must be named, not reported as the folder."""
    readable, damaged = [], []
    for f in files:
        try:
            folder.parquet_file(f)  # reads the footer
            readable.append(f)
        except Exception as exc:  # noqa: BLE001 - missing, truncated or foreign: the user's data, not a bug
            damaged.append((f, (str(exc).splitlines() or [type(exc).__name__])[0]))
    return readable, damaged


def kept_counts(docs: pl.LazyFrame, run: RunFolder) -> tuple[int, int | None]:
    """Documents of ``docs`` without quality flags (as the scan gives them: a Table with ``rules``
    recomputes them), and of those the ones deduplication keeps (None without ``clusters_path``): what
    a mix that asks for both selects, before its other conditions and weights. The clusters are the run's
    ``dedup/clusters.parquet``."""
    clean = docs
    if "quality_flags" in docs.collect_schema():
        clean = docs.filter(pl.col("quality_flags").list.len().fill_null(0) == 0)
    n_clean = clean.select(pl.len()).collect(engine="streaming").item()
    if not run.exists(RunFolder.CLUSTERS):
        return n_clean, None
    keep = run.scan_parquet([RunFolder.CLUSTERS]).select("id", "keep")  # a document it does not list is kept
    kept = clean.select("id").join(keep, on="id", how="left").filter(pl.col("keep").fill_null(True))
    return n_clean, kept.select(pl.len()).collect(engine="streaming").item()


def parse_where(expr: str, columns: list[str]) -> pl.Expr:
    """A SQL boolean expression; Python's ``==`` is accepted (turned into SQL ``=`` outside quotes)."""
    sql = re.sub(r"('(?:[^']|'')*')|==", lambda m: m.group(1) or "=", expr)
    try:
        parsed = pl.sql_expr(sql)
        names = parsed.meta.root_names()
    except Exception as exc:  # noqa: BLE001 - polars raises several kinds for a bad expression
        raise UsageError(f"--where {expr!r}: not a valid expression ({str(exc).splitlines()[0]})") from None
    unknown = sorted(set(names) - set(columns))
    if unknown:
        raise UsageError(f"--where {expr!r}: unknown column {', '.join(unknown)} (columns: {', '.join(columns)})")
    return parsed


def _counts(lf: pl.LazyFrame, key: pl.Expr, name: str, top: int | None = None) -> pl.LazyFrame:
    counted = lf.group_by(key.alias(name)).agg(rows=pl.len()).sort(["rows", name], descending=[True, False])
    return counted.head(top) if top else counted


def profile(table: Table, where: str | None = None, top: int = 10, sample: int = 0) -> dict:
    """Rows, bytes, variety shares, top domains and TLDs, documents per crawl year, flag counts, reject
    reasons, n_words quantiles (and ``sample`` documents) of ``table``, filtered by ``where``."""
    lf = table.scan()
    columns = list(lf.collect_schema().names())
    if where:
        lf = lf.filter(parse_where(where, columns))
    queries: dict[str, pl.LazyFrame] = {"rows": lf.select(rows=pl.len())}
    if "variety" in columns:
        queries["varieties"] = _counts(lf, pl.col("variety").fill_null(UNKNOWN), "variety")
    if "domain" in columns:
        queries["top_domains"] = _counts(lf, pl.col("domain"), "domain", top)
        queries["domains_distinct"] = lf.select(pl.col("domain").n_unique())
    if "tld" in columns:
        queries["top_tlds"] = _counts(lf, pl.col("tld"), "tld", top)
    if "crawl_date" in columns:
        queries["crawl_years"] = _counts(lf, pl.col("crawl_date").dt.year(), "year").sort("year")
    if "quality_flags" in columns:
        flags = pl.col("quality_flags")
        queries["quality_flags"] = _counts(lf.select(flags).explode("quality_flags"), flags, "flag").drop_nulls("flag")
        queries["no_flags"] = lf.select(flags.list.len().fill_null(0).eq(0).sum())
    if "reason" in columns:
        queries["reject_reasons"] = _counts(lf, pl.col("reason"), "reason")
    if "n_words" in columns:
        words = pl.col("n_words")
        queries["n_words"] = lf.select(
            min=words.min(),
            **{k: words.quantile(q, "nearest") for k, q in QUANTILES.items()},
            max=words.max(),
            mean=words.mean(),
            total=words.sum(),
        )
    if table.kind == "mix":
        queries["documents_distinct"] = lf.select(pl.col("id").n_unique())
    try:
        results = dict(zip(queries, pl.collect_all(list(queries.values()), engine="streaming")))
    except pl.exceptions.PolarsError as exc:  # e.g. comparing a text column with a number, a damaged file
        context = f"--where {where!r}" if where else str(table.path)
        raise UsageError(f"{context}: {str(exc).splitlines()[0]}") from None
    rows = results["rows"].item()
    out: dict = {
        "path": str(table.path),
        "kind": table.kind,
        "files": len(table.files),
        "bytes_on_disk": sum(table.folder.size(f) for f in table.files),
        "where": where,
        "rows": rows,
        "damaged_files": {table.folder.url_of(f): why for f, why in table.damaged},
    }
    if "varieties" in results:
        found = dict(results["varieties"].iter_rows())
        out["varieties"] = {
            v: {"rows": n, "share": round(n / rows, 6) if rows else 0.0}
            for v, n in [(v, found.pop(v, 0)) for v in VARIETY_NAMES] + sorted(found.items())
        }
    for key, name in (("top_domains", "domain"), ("top_tlds", "tld")):
        if key in results:
            out[key] = [{name: k, "rows": n} for k, n in results[key].iter_rows()]
    if "domains_distinct" in results:
        out["domains_distinct"] = results["domains_distinct"].item()
    if "crawl_years" in results:
        out["crawl_years"] = {str(y) if y is not None else "unknown": n for y, n in results["crawl_years"].iter_rows()}
    if "quality_flags" in results:
        out["quality_flags"] = {"(none)": results["no_flags"].item(), **dict(results["quality_flags"].iter_rows())}
    if "reject_reasons" in results:
        out["reject_reasons"] = dict(results["reject_reasons"].iter_rows())
    if "n_words" in results:
        # "nearest" quantiles are values of the column: show them as the whole numbers they are
        out["n_words"] = {
            k: (round(v, 1) if k == "mean" else int(v)) if v is not None else None
            for k, v in results["n_words"].row(0, named=True).items()
        }
    if "documents_distinct" in results:
        out["documents_distinct"] = results["documents_distinct"].item()
    if sample:
        out["samples"] = sample_rows(lf, columns, rows, sample)
    return out


def sample_rows(lf: pl.LazyFrame, columns: list[str], rows: int, n: int, seed: int = 0) -> list[dict]:
    """``n`` rows spread over the table (a seeded choice of row numbers); text cut to SAMPLE_CHARS in the
    scan, so only the short strings are kept."""
    if rows == 0 or n <= 0:
        return []
    picked = np.sort(np.random.default_rng(seed).choice(rows, size=min(n, rows), replace=False))
    wanted = [c for c in ("id", "url", "variety", "title", "reason") if c in columns]
    text = [pl.col("text").str.slice(0, SAMPLE_CHARS)] if "text" in columns else []
    found = (
        lf.with_row_index("_row")
        .filter(pl.col("_row").is_in(picked.tolist()))
        .select(*wanted, *text)
        .collect(engine="streaming")
    )
    return found.to_dicts()


def _line(label: str, value: str) -> str:
    return f"{label:<16}{value}"


def format_profile(p: dict) -> str:
    """The profile as text for a terminal."""
    where = f"   where: {p['where']}" if p["where"] else ""
    lines = [f"{p['kind']}: {p['path']} ({p['files']} files, {p['bytes_on_disk'] / 2**20:,.1f} MiB){where}"]
    lines += [f"  DAMAGED {f}: {why} (left out)" for f, why in p.get("damaged_files", {}).items()]
    lines.append(_line("rows", f"{p['rows']:,}"))
    if "documents_distinct" in p:
        lines.append(_line("distinct docs", f"{p['documents_distinct']:,}"))
    if "varieties" in p:
        for i, (v, c) in enumerate(p["varieties"].items()):
            share = f"{VARIETY_NAMES.get(v, v):<20}{c['rows']:>12,}  {c['share']:7.1%}"
            lines.append(_line("varieties" if i == 0 else "", share))
    if "n_words" in p:
        w = p["n_words"]
        spread = " · ".join(f"{k} {w[k]:,}" for k in ("min", *QUANTILES, "max") if w[k] is not None)
        lines.append(_line("n_words", spread + (f"   mean {w['mean']:,}" if w["mean"] is not None else "")))
    if "crawl_years" in p:
        lines.append(_line("crawl years", " · ".join(f"{y} {n:,}" for y, n in p["crawl_years"].items())))
    for key, label, name in (("top_domains", "top domains", "domain"), ("top_tlds", "top TLDs", "tld")):
        if key in p:
            lines.append(_line(label, " · ".join(f"{r[name]} {r['rows']:,}" for r in p[key])))
    if "domains_distinct" in p:
        lines.append(_line("domains", f"{p['domains_distinct']:,} distinct"))
    if "quality_flags" in p:
        lines.append(_line("quality flags", " · ".join(f"{k} {n:,}" for k, n in p["quality_flags"].items())))
    if "reject_reasons" in p:
        lines.append(_line("reject reasons", " · ".join(f"{k} {n:,}" for k, n in p["reject_reasons"].items())))
    for doc in p.get("samples", []):
        head = " · ".join(str(doc[k]) for k in ("id", "variety", "reason", "url") if doc.get(k) is not None)
        lines += ["", f"— {head}"]
        if doc.get("title"):
            lines.append(f"  title: {doc['title']}")
        if doc.get("text"):
            lines.append("  " + " ".join(doc["text"].split()))
    return "\n".join(lines)
