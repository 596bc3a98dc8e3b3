"""The extract pass end to end on the sample archives, asserted against data_samples/expected.jsonl."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import ARCHIVES, SAMPLES, read_table, run_cli, run_cli_process


def _key(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(
        file=pl.col("source_file").str.split("/").list.last(),
        date=pl.col("crawl_date").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


@pytest.fixture(scope="module")
def outcome(sample_run, expected) -> pl.DataFrame:
    """Every expected capture joined to where it ended up: docs (reason 'kept') or rejected (its reason)."""
    docs = _key(read_table(sample_run / "docs")).with_columns(reason=pl.lit("kept"))
    rejected = _key(read_table(sample_run / "rejected"))
    cols = ["file", "url", "date", "reason", "id", "text", "lang"]
    found = pl.concat([docs.select(cols), rejected.select(cols)])
    return expected.join(found, on=["file", "url", "date"], how="left", suffix="_got")


def test_every_expected_capture_has_its_outcome(outcome):
    missing = outcome.filter(pl.col("id").is_null())
    assert missing.is_empty(), (
        f"captures not found in docs/ or rejected/: {missing.select('file', 'url', 'date').rows()}"
    )
    wrong = outcome.filter(pl.col("expect") != pl.col("reason"))
    assert wrong.is_empty(), wrong.select("file", "url", "expect", "reason", "lang_got").rows()


def test_no_capture_is_counted_twice(sample_run):
    docs, rejected = read_table(sample_run / "docs"), read_table(sample_run / "rejected")
    ids = pl.concat([docs.select("id"), rejected.select("id")])
    assert ids.n_unique() == ids.height


def test_kept_pages_are_portuguese_and_non_portuguese_are_rejected(outcome):
    kept = outcome.filter(pl.col("expect") == "kept")
    assert (kept["lang_got"] == "pt").all()
    foreign = outcome.filter(pl.col("expect") == "not_portuguese", pl.col("lang").is_in(["es", "gl", "en"]))
    assert foreign.height >= 10
    assert (foreign["lang_got"] == foreign["lang"]).mean() >= 0.9


def test_charsets_and_control_bytes(outcome):
    for row in outcome.filter(pl.col("expect") == "kept").iter_rows(named=True):
        text = row["text"]
        for phrase in row.get("must_contain") or []:
            assert phrase in text, (row["url"], phrase)
        for phrase in (row.get("must_not_contain") or []) + ["Ã§", "Ã£", "Ã©", "\ufffd"]:
            assert phrase not in text, (row["url"], phrase)
        assert not any(ord(c) < 32 and c not in "\t\n\r" for c in text), row["url"]


def test_damaged_files_are_named_and_keep_their_readable_records(sample_run, expected_damage, expected):
    stats = json.loads((sample_run / "stats.json").read_text())
    damaged = {Path(d["file"]).name: d["problem"] for d in stats["damaged_files"]}
    assert set(damaged) == set(expected_damage)
    docs, rejected = read_table(sample_run / "docs"), read_table(sample_run / "rejected")
    damaged_record = pl.col("reason") == "damaged_record"
    for name, info in expected_damage.items():
        of_file = pl.col("source_file").str.ends_with("/" + name)
        got = docs.filter(of_file).height + rejected.filter(of_file & ~damaged_record).height
        assert got == info["readable_captures_total"], name
        cut = rejected.filter(of_file & damaged_record)
        assert cut["url"].to_list() == ([info["cut_record"]["url"]] if "cut_record" in info else []), name
    # the damaged span of the truncated file: from the cut record to the end, with the record it damaged
    [truncated] = [d for d in stats["damaged_files"] if d["file"].endswith("damaged-truncated.warc.gz")]
    size = (ARCHIVES / "damaged-truncated.warc.gz").stat().st_size
    assert [(s["end"], s["records"]) for s in truncated["spans"]] == [(size, 1)]
    report = (sample_run / "report" / "index.html").read_text(encoding="utf-8")
    assert "Damaged input files" in report and "damaged-garbage.warc.gz" in report


def test_stats_summary(sample_run, expected):
    stats = json.loads((sample_run / "stats.json").read_text())
    assert stats["kept"] == expected.filter(pl.col("expect") == "kept").height
    expected_reasons = expected.filter(pl.col("expect") != "kept").group_by("expect").len()
    assert stats["rejected_by_reason"] == {r["expect"]: r["len"] for r in expected_reasons.iter_rows(named=True)}
    assert stats["records_by_type"]["response"] > 0 and stats["records_by_type"]["request"] > 0
    assert stats["input_bytes"] == sum(p.stat().st_size for p in ARCHIVES.iterdir() if p.is_file())
    # identical payloads captured again are extracted once
    assert stats["counters"]["extract/reused_payload"] >= 1


def test_docs_schema_and_stable_ids(sample_run):
    import pyarrow.parquet as pq

    from lusomix.stages.schema import DOCS_SCHEMA, REJECTED_SCHEMA

    for part in (sample_run / "docs").glob("part-*.parquet"):
        assert pq.read_schema(part).remove_metadata().equals(DOCS_SCHEMA)
    for part in (sample_run / "rejected").glob("part-*.parquet"):
        assert pq.read_schema(part).remove_metadata().equals(REJECTED_SCHEMA)
    assert not list(sample_run.rglob("*.tmp"))


def _docs(out: Path) -> pl.DataFrame:
    return read_table(out / "docs").select("id", "url", "text").sort("id")


@pytest.mark.slow
def test_resume_after_kill_gives_the_uninterrupted_output(sample_run, tmp_path):
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "lusomix.pipeline.cli",
        "run",
        str(SAMPLES / "demo.yaml"),
        "--output",
        str(out),
        "--workers",
        "1",
        "--stages",
        "extract",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    completions = out / "logs" / "extract" / "completions"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if completions.is_dir() and len(list(completions.iterdir())) >= 2:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    done_before = {p.name: p.stat().st_mtime_ns for p in completions.iterdir()}
    n_files = len([p for p in ARCHIVES.iterdir() if p.is_file()])
    assert 0 < len(done_before) < n_files, "the run was not interrupted midway"

    assert (
        run_cli("run", str(SAMPLES / "demo.yaml"), "--output", str(out), "--workers", "2", "--stages", "extract") == 0
    )
    assert {p.name: p.stat().st_mtime_ns for p in completions.iterdir() if p.name in done_before} == done_before
    assert _docs(out).equals(_docs(sample_run))
    assert not list(out.rglob("*.tmp"))


def test_rerun_into_an_output_of_other_inputs_is_refused(sample_run, capsys):
    first = sorted(p for p in ARCHIVES.iterdir() if p.is_file())[0]
    assert run_cli("run", str(SAMPLES / "demo.yaml"), "--output", str(sample_run), "--input", str(first)) == 2
    assert "other inputs" in capsys.readouterr().err


@pytest.mark.ray
@pytest.mark.slow
def test_ray_gives_the_same_documents_as_local(sample_run, tmp_path):
    out = tmp_path / "ray"
    argv = ["run", str(SAMPLES / "demo.yaml"), "--output", str(out), "--executor", "ray", "--workers", "2"]
    done = run_cli_process(*argv, "--stages", "extract")
    assert done.returncode == 0, done.stderr
    assert _docs(out).equals(_docs(sample_run))
    local_rej = read_table(sample_run / "rejected").select("id", "reason").sort("id")
    assert read_table(out / "rejected").select("id", "reason").sort("id").equals(local_rej)


def test_quality_flags_under_the_default_preset(sample_run, expected):
    docs = _key(read_table(sample_run / "docs"))
    joined = docs.join(expected.select("file", "url", "date", "quality", "expect"), on=["file", "url", "date"])
    junk = joined.filter(pl.col("quality") == "junk")
    clean = joined.filter(pl.col("quality") == "clean")
    assert junk.height >= 10 and clean.height >= 80
    assert (junk["quality_flags"].list.len() > 0).all(), junk.filter(pl.col("quality_flags").list.len() == 0)[
        "url"
    ].to_list()
    assert (clean["quality_flags"].list.len() == 0).all(), (
        clean.filter(pl.col("quality_flags").list.len() > 0).select("url", "quality_flags").rows()
    )
    # 1999 layout-table pages come out as prose, not as one "| nav | article |" line
    old = joined.filter(pl.col("file").str.starts_with("arquivo-"), pl.col("expect") == "kept")
    assert old.height >= 8 and not old["text"].str.starts_with("|").any()


def test_variety_of_every_portuguese_page(sample_run, expected):
    docs = _key(read_table(sample_run / "docs"))
    joined = docs.join(
        expected.select("file", "url", "date", "quality", "spelling", pl.col("variety").alias("expected_variety")),
        on=["file", "url", "date"],
    )
    clean = joined.filter(pl.col("quality") == "clean")
    # no clean page on the wrong side; a page inside the unknown band is allowed, rarely
    wrong = clean.filter(pl.col("variety") != pl.col("expected_variety"), pl.col("variety") != "unknown")
    assert wrong.is_empty(), wrong.select("url", "variety", "expected_variety", "p_pt_PT").rows()
    assert (clean["variety"] == "unknown").mean() <= 0.03
    assert (clean["variety"] == clean["expected_variety"]).mean() >= 0.97
    # European pages in post-1990-agreement spelling (ação, atual) are European, not Brazilian
    assert clean.filter(pl.col("spelling") == "ao90").height >= 10
    # junk pages (keyword lists, tables) carry little evidence; most still come out right
    assert (joined["variety"] == joined["expected_variety"]).mean() >= 0.95
    assert ((joined["p_pt_PT"] >= 0) & (joined["p_pt_PT"] <= 1)).all()
    stats = json.loads((sample_run / "stats.json").read_text())
    assert set(stats["variety"]) <= {"pt_PT", "pt_BR", "unknown"} and stats["variety"]["pt_PT"]["docs"] > 0
