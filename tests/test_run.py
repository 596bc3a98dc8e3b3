"""The later passes on the sample run: duplicates found, mixes built, the report, re-running passes."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest
from conftest import SAMPLES, read_table, run_cli


def _keyed_docs(run) -> pl.DataFrame:
    return read_table(run / "docs").with_columns(
        file=pl.col("source_file").str.split("/").list.last(),
        date=pl.col("crawl_date").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def test_every_planted_duplicate_group_is_one_cluster_and_nothing_else_merges(sample_run, expected):
    clusters = pl.read_parquet(sample_run / "dedup" / "clusters.parquet")
    docs = _keyed_docs(sample_run).join(clusters, on="id")
    assert docs.height == read_table(sample_run / "docs").height == clusters.height
    joined = docs.join(
        expected.select("file", "url", "date", "dup_group", "lookalike_group"), on=["file", "url", "date"]
    )
    planted = joined.filter(pl.col("dup_group").is_not_null())
    assert planted["dup_group"].n_unique() >= 9
    per_group = planted.group_by("dup_group").agg(pl.col("cluster_id").n_unique().alias("clusters"), pl.len())
    assert (per_group["clusters"] == 1).all(), per_group
    per_cluster = joined.filter(pl.col("cluster_size") > 1).group_by("cluster_id").agg(pl.col("dup_group").unique())
    assert all(groups.to_list() != [None] and len(groups) == 1 for groups in per_cluster["dup_group"]), per_cluster
    # look-alikes (one shared paragraph, Jaccard ~0.2) stay apart
    lookalikes = joined.filter(pl.col("lookalike_group").is_not_null())
    assert lookalikes.height >= 4
    assert lookalikes.group_by("lookalike_group").agg(pl.col("cluster_id").n_unique())["cluster_id"].min() == 2
    assert (
        clusters.group_by("cluster_id").agg(pl.col("keep").sum())["keep"].to_list()
        == [1] * clusters["cluster_id"].n_unique()
    )


def test_default_mix_holds_no_flagged_or_dropped_duplicate(sample_run):
    clusters = pl.read_parquet(sample_run / "dedup" / "clusters.parquet")
    docs = read_table(sample_run / "docs").join(clusters, on="id")
    mix_dir = sample_run / "mixes" / "ptpt-first"
    manifest = json.loads((mix_dir / "manifest.json").read_text())
    rows = pl.read_parquet([mix_dir / s["path"] for s in manifest["shards"]])
    assert rows.height == manifest["totals"]["rows"] > 0
    used = docs.filter(pl.col("id").is_in(rows["id"].unique().implode()))
    assert used.filter(pl.col("quality_flags").list.len() > 0).is_empty()
    assert used["keep"].all()
    # repeats come from weights (pt_PT x2) and rehydration of kept documents only
    assert rows["id"].n_unique() < rows.height


def test_report_is_written_and_escapes_crawled_text(sample_run, tmp_path):
    html = (sample_run / "report" / "index.html").read_text()
    assert "<script>alert(1)</script>" not in html
    # the report samples 15 documents at random (seeded): whether the <script> title page is among them
    # depends on how many documents the run holds, so it is also reported from a run of 15 documents
    # that holds it (a run of up to 15 documents shows them all)
    docs = read_table(sample_run / "docs")
    script = docs.filter(pl.col("title").str.contains("<script>", literal=True))
    assert script.height >= 1
    small = tmp_path / "small"
    (small / "docs").mkdir(parents=True)
    others = docs.filter(~pl.col("id").is_in(script["id"].implode())).head(15 - script.height)
    pl.concat([script, others]).write_parquet(small / "docs" / "part-00000.parquet")
    assert run_cli("report", str(small)) == 0
    html = (small / "report" / "index.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html


def test_inspect_counts_the_run(sample_run, capsys):
    assert run_cli("inspect", str(sample_run / "docs"), "--json") == 0
    profile = json.loads(capsys.readouterr().out)
    assert profile["rows"] == json.loads((sample_run / "stats.json").read_text())["kept"]


def test_new_thresholds_rerun_only_the_later_passes(sample_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(sample_run, run)
    docs_before = {p.name: p.stat().st_mtime_ns for p in (run / "docs").iterdir()}
    strict = tmp_path / "strict.yaml"
    # a minimum of 250 words flags most sample pages: the mix must shrink, without re-extracting
    strict.write_text(
        (SAMPLES / "demo.yaml").read_text().replace("overrides: {}", "overrides: {gopher_short_doc: 250}")
    )
    before = json.loads((run / "mixes" / "ptpt-first" / "manifest.json").read_text())["totals"]["rows"]
    # --stages: the earlier name of --passes, still accepted
    assert (
        run_cli("run", str(strict), "--input", str(SAMPLES / "archives"), "--output", str(run), "--stages", "dedup,mix")
        == 0
    )
    after = json.loads((run / "mixes" / "ptpt-first" / "manifest.json").read_text())
    assert 0 < after["totals"]["rows"] < before
    assert {p.name: p.stat().st_mtime_ns for p in (run / "docs").iterdir()} == docs_before
    assert any(r["name"] == "gopher_short_doc" and r["threshold"] == 250 for r in after["quality_rules"])


def test_a_mix_that_selects_nothing_ends_cleanly_with_a_report_that_says_why(sample_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(sample_run, run, ignore=shutil.ignore_patterns("pretrain"))
    junk_only = tmp_path / "junk.yaml"
    # a minimum of 100,000 words flags every page: the mixes select nothing, pretraining has nothing to train
    junk_only.write_text(
        (SAMPLES / "demo.yaml")
        .read_text()
        .replace("overrides: {}", "overrides: {gopher_short_doc: 100000}")
        .replace("config: pretrain-tiny.yaml", f"config: {SAMPLES / 'pretrain-tiny.yaml'}")
    )
    assert (
        run_cli(
            "run",
            str(junk_only),
            "--input",
            str(SAMPLES / "archives"),
            "--output",
            str(run),
            "--passes",
            "mix,pretrain,report",
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "mix ptpt-first: warning: selects no documents" in out and "pretrain: skipped:" in out
    manifest = json.loads((run / "mixes" / "ptpt-first" / "manifest.json").read_text())
    assert manifest["shards"] == [] and manifest["totals"]["rows"] == 0 and manifest["warnings"]
    assert not list((run / "mixes" / "ptpt-first").glob("shard-*.parquet"))
    stats = json.loads((run / "stats.json").read_text())
    assert "no training text" in stats["pretrain"]["skipped"]
    html = (run / "report" / "index.html").read_text()
    assert "selects no documents" in html and "Skipped: the mix &#x27;ptpt-first&#x27; has no training text" in html


@pytest.mark.parametrize("flag", ["--passes", "--stages"])
@pytest.mark.parametrize("passes", ["mix,bogus", ""])
def test_unknown_pass_is_a_usage_error(flag, passes, capsys):
    with pytest.raises(SystemExit) as exit_:
        run_cli("run", str(SAMPLES / "demo.yaml"), flag, passes)
    assert exit_.value.code == 2
    assert "unknown pass" in capsys.readouterr().err
