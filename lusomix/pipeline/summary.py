"""The extract pass's summary: OUT/stats.json and the table printed at the end of a run.

Counts come from the output itself (docs/, rejected/) and the per-task source reports, not from
in-memory counters, so a resumed run reports the same totals as an uninterrupted one.
"""

from __future__ import annotations

from collections import Counter

import polars as pl

from lusomix.run_folder import RunFolder, parts
from lusomix.stages.annotator import COUNTED_PER_STEP

_SPANS_SHOWN = 5  # damaged spans printed per file; stats.json has them all


def _scan(run: RunFolder, table: str) -> pl.LazyFrame | None:
    files = parts(run, table)
    return run.scan_parquet(files) if files else None


def _counters(logs: RunFolder) -> dict[str, int]:
    """datatrove step counters summed over tasks and steps (e.g. extract/reused_payload, flag/…, pii/…); not the
    counts every step keeps (documents seen, annotated), nor records and rejections (read from the output)."""
    totals: Counter = Counter()
    for file in logs.glob("stats/*.json"):
        for step in logs.read_json(file):
            for label, metric in step.get("stats", {}).items():
                if not label.startswith(("records/", *COUNTED_PER_STEP)):
                    totals[label] += int(metric["total"] if isinstance(metric, dict) else metric)
    return dict(sorted(totals.items()))


def build_summary(run: RunFolder, logs: RunFolder, wall_s: float | None = None, extra: dict | None = None) -> dict:
    reports = [logs.read_json(f) for f in logs.glob("reports/*.json")]
    records: Counter = Counter()
    for report in reports:
        records.update(report["records_by_type"])
    summary: dict = {
        "input_files": len(reports),
        "input_bytes": sum(r["bytes"] for r in reports),
        "records_by_type": dict(sorted(records.items())),
        "captures": sum(r["captures"] for r in reports),
        # each damaged span: its byte range, the records whose header was read there, the first problem
        "damaged_files": [
            {"file": r["file"], "problem": r["damage"], "spans": r.get("damaged_spans", [])}
            for r in reports
            if r["damage"]
        ],
    }
    docs = _scan(run, RunFolder.DOCS)
    kept = docs.select(pl.len()).collect().item() if docs is not None else 0
    summary["kept"] = kept
    summary["kept_words"] = docs.select(pl.col("n_words").sum()).collect().item() if docs is not None else 0
    if docs is not None and kept:
        shares = docs.group_by("variety").len().collect()
        summary["variety"] = {
            (row["variety"] or "unassigned"): {"docs": row["len"], "share": round(row["len"] / kept, 4)}
            for row in shares.sort("variety", nulls_last=True).iter_rows(named=True)
        }
    rejected = _scan(run, RunFolder.REJECTED)
    reasons = rejected.group_by("reason").len().collect() if rejected is not None else None
    summary["rejected_by_reason"] = (
        {row["reason"]: row["len"] for row in reasons.sort("reason").iter_rows(named=True)}
        if reasons is not None
        else {}
    )
    summary["counters"] = _counters(logs)
    if wall_s:
        summary["wall_s"] = round(wall_s, 2)
        summary["docs_per_s"] = round(kept / wall_s, 1)
        summary["captures_per_s"] = round(summary["captures"] / wall_s, 1)
    summary.update(extra or {})
    return summary


def format_summary(summary: dict) -> str:
    rows = [
        ("input files", summary["input_files"]),
        ("input bytes", f"{summary['input_bytes']:,}"),
        *[(f"records: {k}", v) for k, v in summary["records_by_type"].items()],
        ("captures", summary["captures"]),
        ("documents kept", summary["kept"]),
        *[(f"  {k}", f"{v['docs']} ({v['share']:.1%})") for k, v in summary.get("variety", {}).items()],
        *[(f"rejected: {k}", v) for k, v in summary["rejected_by_reason"].items()],
    ]
    if summary.get("counters", {}).get("extract/reused_payload"):
        rows.append(("identical payloads reused", summary["counters"]["extract/reused_payload"]))
    if "wall_s" in summary:
        rows += [("wall time (s)", summary["wall_s"]), ("documents/s", summary["docs_per_s"])]
    width = max(len(name) for name, _ in rows)
    lines = [f"  {name:<{width}}  {value}" for name, value in rows]
    for damaged in summary["damaged_files"]:
        lines.append(f"  DAMAGED {damaged['file']}: {damaged['problem']}")
        spans = damaged.get("spans", [])
        lines += [
            f"    bytes {s['start']}-{s['end']}: {s['why']}"
            + (f" ({s['records']} record(s) damaged)" if s["records"] else "")
            for s in spans[:_SPANS_SHOWN]
        ]
        if len(spans) > _SPANS_SHOWN:
            lines.append(f"    … {len(spans) - _SPANS_SHOWN} more span(s) in stats.json")
    return "\n".join(lines)
