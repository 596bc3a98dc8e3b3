"""Page evidence of the variety, end to end: the extract pass on data_samples/archives/evidence-2025.warc.gz.

Each capture of that archive is a page whose URL and declared languages (<html lang>, og:locale,
Content-Language as HTTP header or <meta http-equiv>, the hreflang of its own alternate) agree with its
text, contradict it, or stand alone beside a text that says little (data_samples/pages/evidence.yaml).
Asserted per manifest line: the page is kept, gets its variety (or one of ``variety_allowed``), its
``variety_evidence`` holds every ``evidence_expected`` string and none of ``evidence_absent`` (an entry
ending in "=" names a whole kind: no evidence of that kind at all), and a page whose text says little is
moved by its metadata towards the declared side.
"""

from __future__ import annotations

import json

import polars as pl
import pytest
from conftest import ARCHIVES, SAMPLES, read_table, run_cli

ARCHIVE = "evidence-2025.warc.gz"
LINES = [
    m
    for m in (json.loads(line) for line in (SAMPLES / "expected.jsonl").read_text("utf-8").splitlines())
    if m["file"] == ARCHIVE
]


def _id(m: dict) -> str:
    return m["url"].split("://", 1)[1].split("/", 1)[0].removeprefix("www.")


@pytest.fixture(scope="module")
def evidence_run(tmp_path_factory) -> dict[tuple[str, str], dict]:
    """The extract pass on the evidence archive alone: (url, date) -> its docs/ row, or its rejection."""
    out = tmp_path_factory.mktemp("evidence_run")
    argv = [
        "run",
        str(SAMPLES / "demo.yaml"),
        "--input",
        str(ARCHIVES / ARCHIVE),
        "--output",
        str(out),
        "--workers",
        "1",
        "--stages",
        "extract",
    ]
    assert run_cli(*argv) == 0
    rows = {}
    for folder, kept in (("docs", True), ("rejected", False)):
        table = read_table(out / folder).with_columns(date=pl.col("crawl_date").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        for row in table.iter_rows(named=True):
            rows[(row["url"], row["date"])] = {**row, "kept": kept}
    return rows


def _absent(entry: str, evidence: list[str]) -> bool:
    if entry.endswith("="):
        return not any(e.startswith(entry) for e in evidence)
    return entry not in evidence


def test_the_manifest_covers_every_kind_of_evidence_both_ways():
    assert len(LINES) >= 14
    assert all(m["expect"] == "kept" and m["evidence_expected"] and m["evidence_absent"] is not None for m in LINES)
    wanted = {e for m in LINES for e in m["evidence_expected"]}
    for kind in ("tld", "url_tag", "url_dir"):
        assert {f"{kind}=+", f"{kind}=-"} <= wanted, kind
    assert {
        "html_lang=pt-PT",
        "html_lang=pt-BR",
        "html_lang=pt",
        "og_locale=pt_PT",
        "og_locale=pt_BR",
        "content_language=pt-PT",
        "hreflang=pt-PT",
        "hreflang=pt-BR",
    } <= wanted
    # the text against its metadata, both ways, and a text that says little beside metadata, both ways
    assert any(
        m["variety"] == "pt_PT" and "html_lang=pt-BR" in m["evidence_expected"] and not m["variety_allowed"]
        for m in LINES
    )
    assert any(
        m["variety"] == "pt_BR" and "html_lang=pt-PT" in m["evidence_expected"] and not m["variety_allowed"]
        for m in LINES
    )
    assert {m["variety"] for m in LINES if m["variety_allowed"]} == {"pt_PT", "pt_BR"}
    # the file is the only one with evidence expectations; elsewhere the fields are null
    others = [
        m
        for m in (json.loads(line) for line in (SAMPLES / "expected.jsonl").read_text("utf-8").splitlines())
        if m["file"] != ARCHIVE
    ]
    assert all(m["evidence_expected"] is m["evidence_absent"] is m["variety_allowed"] is None for m in others)


@pytest.mark.parametrize("line", LINES, ids=_id)
def test_page_evidence(evidence_run, line):
    row = evidence_run.get((line["url"], line["date"]))
    assert row is not None, "capture not found in docs/ or rejected/"
    assert row["kept"], f"rejected: {row.get('reason')}"
    evidence = list(row["variety_evidence"] or [])
    got = (row["variety"], round(row["p_pt_PT"], 4), round(row["p_pt_PT_text"], 4), evidence)
    if line["variety_allowed"]:
        assert row["variety"] in line["variety_allowed"], got
    else:
        assert row["variety"] == line["variety"], got
    assert evidence[:1] == ["text"], got
    missing = [e for e in line["evidence_expected"] if e not in evidence]
    assert not missing, (missing, got)
    present = [e for e in line["evidence_absent"] if not _absent(e, evidence)]
    assert not present, (present, got)
    if line["variety_allowed"]:
        # a text that says little: the declared side moves p_pt_PT away from the text's own figure
        towards = 1 if line["variety"] == "pt_PT" else -1
        assert towards * (row["p_pt_PT"] - row["p_pt_PT_text"]) > 0, got
