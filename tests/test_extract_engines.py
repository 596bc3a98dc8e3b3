"""The extract pass with each main-text engine (``ingest.engine``), on the sample archives.

trafilatura is the sample run's engine (tests/test_extract.py holds it to every line of expected.jsonl). The
resiliparse engine is held to the same manifest for every clean page (kept, Portuguese, its key phrase, its
variety) and to the same verdict for every capture rejected before extraction; where the engines may
differ (boilerplate-only and link-list pages, which trafilatura keeps and flags and resiliparse may empty),
the test says so. ``extractor`` records the engine of every document.
"""

from __future__ import annotations

import polars as pl
import pytest
from conftest import SAMPLES, read_table, run_cli

# verdicts reached before any extraction: the engine cannot change them
BEFORE_EXTRACTION = {"revisit", "http_status", "not_html", "too_large", "bad_http_headers", "not_a_capture"}


def _outcome(run, expected: pl.DataFrame) -> pl.DataFrame:
    docs = read_table(run / "docs").with_columns(reason=pl.lit("kept"))
    rejected = read_table(run / "rejected").with_columns(extractor=pl.lit(None, pl.String), variety=pl.lit(None))
    cols = ["source_file", "url", "crawl_date", "reason", "text", "variety", "extractor"]
    found = pl.concat([docs.select(cols), rejected.select(cols)], how="vertical_relaxed").with_columns(
        file=pl.col("source_file").str.split("/").list.last(),
        date=pl.col("crawl_date").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    return expected.join(found, on=["file", "url", "date"], how="left", suffix="_got")


@pytest.fixture(scope="module")
def resiliparse_run(tmp_path_factory):
    pytest.importorskip("resiliparse")
    out = tmp_path_factory.mktemp("resiliparse_run")
    config = out / "extract.yaml"
    config.write_text(
        f"input: [{SAMPLES / 'archives'}]\noutput: {out / 'run'}\nexecutor: {{workers: 2}}\n"
        "ingest: {engine: resiliparse}\n"
    )
    assert run_cli("run", str(config), "--passes", "extract") == 0
    return out / "run"


def test_every_document_names_its_engine(resiliparse_run, sample_run):
    assert read_table(resiliparse_run / "docs")["extractor"].unique().to_list() == ["resiliparse"]
    assert read_table(sample_run / "docs")["extractor"].unique().to_list() == ["trafilatura"]


def test_resiliparse_keeps_every_clean_page_as_trafilatura_does(resiliparse_run, expected):
    outcome = _outcome(resiliparse_run, expected)
    clean = outcome.filter(pl.col("expect") == "kept", pl.col("quality") == "clean")
    assert clean.height > 80
    assert clean.filter(pl.col("reason") != "kept").is_empty(), clean.filter(pl.col("reason") != "kept").rows()
    for row in clean.iter_rows(named=True):
        for phrase in row["must_contain"] or []:
            assert phrase in row["text"], (row["url"], phrase)
    labelled = clean.filter(pl.col("variety").is_not_null(), pl.col("variety_allowed").is_null())
    agree = (labelled["variety"] == labelled["variety_got"]).mean()
    assert agree >= 0.97, (
        labelled.filter(pl.col("variety") != pl.col("variety_got")).select("url", "variety_got").rows()
    )


def test_verdicts_before_extraction_do_not_depend_on_the_engine(resiliparse_run, expected):
    outcome = _outcome(resiliparse_run, expected)
    early = outcome.filter(pl.col("expect").is_in(BEFORE_EXTRACTION) | (pl.col("expect") == "damaged_record"))
    assert early.height >= 15
    assert (early["expect"] == early["reason"]).all()
    # junk pages may be emptied by resiliparse (rejected as too short) where trafilatura keeps and flags them
    junk = outcome.filter(pl.col("expect") == "kept", pl.col("quality") == "junk")
    assert set(junk["reason"].to_list()) <= {"kept", "too_short", "no_text"}
