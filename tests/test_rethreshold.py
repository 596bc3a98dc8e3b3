"""After new quality thresholds, the report and inspect count what the mixes select, not the extract's flags."""

from __future__ import annotations

import json
import re
import shutil

import polars as pl
import yaml
from conftest import SAMPLES, read_table, run_cli

from lusomix.filters.quality import flags_expr, thresholds


def _strict_config(tmp_path) -> str:
    """The demo config with a minimum of 250 words (it flags most sample pages) and one mix that takes every
    document without flags that dedup keeps, each once (no weights, no rehydration)."""
    config = yaml.safe_load((SAMPLES / "demo.yaml").read_text())
    config["quality"]["overrides"] = {"gopher_short_doc": 250}
    config["mixes"] = [{"name": "once", "weights": {"pt_PT": 1.0, "pt_BR": 1.0, "unknown": 1.0}, "seed": 1}]
    del config["pretrain"]
    path = tmp_path / "strict.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _funnel_count(html: str, row: str) -> int:
    found = re.search(rf'<tr><td>{re.escape(row)}</td><td class="n">([\d,]+)</td>', html)
    assert found, f"no funnel row {row!r}"
    return int(found.group(1).replace(",", ""))


def test_report_kept_count_equals_the_mix_after_new_thresholds(sample_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(sample_run, run, ignore=shutil.ignore_patterns("pretrain"))
    config = _strict_config(tmp_path)
    args = ["--input", str(SAMPLES / "archives"), "--output", str(run), "--passes", "dedup,mix,report"]
    assert run_cli("run", config, *args) == 0

    manifest = json.loads((run / "mixes" / "once" / "manifest.json").read_text())
    distinct = manifest["totals"]["documents_distinct"]
    assert distinct == manifest["totals"]["rows"] > 0  # weight 1 everywhere: the rows before weighting
    html = (run / "report" / "index.html").read_text()
    assert _funnel_count(html, "dedup keep") == distinct

    # the new rule flags documents the extract pass had not flagged: the stored flags would count more
    docs = read_table(run / "docs")
    strict = docs.with_columns(flags_expr(thresholds("lusomix", {"gopher_short_doc": 250})))
    clean = strict.filter(pl.col("quality_flags").list.len() == 0).height
    assert clean < docs.filter(pl.col("quality_flags").list.len() == 0).height
    assert _funnel_count(html, "kept documents") == clean


def test_inspect_and_report_take_the_thresholds_of_a_config(sample_run, tmp_path, capsys):
    config = _strict_config(tmp_path)
    docs = read_table(sample_run / "docs")
    strict = docs.with_columns(flags_expr(thresholds("lusomix", {"gopher_short_doc": 250})))
    short = strict.filter(pl.col("quality_flags").list.contains("gopher_short_doc")).height

    assert run_cli("inspect", str(sample_run), "--json") == 0
    stored = json.loads(capsys.readouterr().out)["quality_flags"]
    assert stored["(none)"] == docs.filter(pl.col("quality_flags").list.len() == 0).height
    assert run_cli("inspect", str(sample_run), "--json", "--config", config) == 0
    current = json.loads(capsys.readouterr().out)["quality_flags"]
    assert current["(none)"] == strict.filter(pl.col("quality_flags").list.len() == 0).height < stored["(none)"]
    assert current["gopher_short_doc"] == short > stored.get("gopher_short_doc", 0)

    run = tmp_path / "run"
    shutil.copytree(sample_run, run, ignore=shutil.ignore_patterns("pretrain"))
    assert run_cli("report", str(run), "--config", config) == 0
    html = (run / "report" / "index.html").read_text()
    assert _funnel_count(html, "kept documents") == current["(none)"]
    assert "min 250" in html  # its thresholds are drawn: n_words has its minimum
