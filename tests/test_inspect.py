"""``lusomix inspect``: the figures match polars computed directly; --where filters; bad input exits 2."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lusomix.errors import UsageError
from lusomix.mix.build import build_mix
from lusomix.mix.recipe import MixRecipe
from lusomix.pipeline.cli import main
from lusomix.pipeline.inspect import profile, resolve
from lusomix.stages.schema import DOCS_SCHEMA, REJECTED_SCHEMA

VARIETIES = ["pt_PT", "pt_BR", "pt_PT", "unknown", None, "pt_PT", "pt_BR"]
DOMAINS = ["publico.pt", "sapo.pt", "globo.com", "uol.com.br", "rtp.pt", "publico.pt"]


def _docs(lo: int, hi: int) -> pa.Table:
    ids = range(lo, hi)
    cols = {name: [None] * (hi - lo) for name in DOCS_SCHEMA.names}
    cols.update(
        id=[f"d{i}" for i in ids],
        url=[f"http://{DOMAINS[i % 6]}/{i}" for i in ids],
        domain=[DOMAINS[i % 6] for i in ids],
        tld=[DOMAINS[i % 6].rsplit(".", 1)[1] for i in ids],
        crawl_date=[None if i == 7 else datetime(1998 + i % 9, 6, 1, tzinfo=UTC) for i in ids],
        title=["a==b" if i == 3 else f"título {i}" for i in ids],
        text=[f"Texto {i}: " + "lorem ipsum " * (i % 60) for i in ids],
        n_words=[2 + 2 * (i % 60) + (i % 7) * 100 for i in ids],
        lang=["pt"] * (hi - lo),
        variety=[VARIETIES[i % 7] for i in ids],
        quality_flags=[
            ["dup_line_frac", "top_2_gram"] if i % 9 == 0 else ["fw_list_ratio"] if i % 5 == 0 else [] for i in ids
        ],
    )
    return pa.table(cols, schema=DOCS_SCHEMA)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("run")
    (root / "docs").mkdir()
    (root / "rejected").mkdir()
    pq.write_table(_docs(0, 150), root / "docs" / "part-00000.parquet")
    pq.write_table(_docs(150, 300), root / "docs" / "part-00001.parquet")
    reasons = ["not_portuguese", "http_status", "not_portuguese", "too_short", "not_html"]
    rejected = {name: [None] * 40 for name in REJECTED_SCHEMA.names}
    rejected.update(
        id=[f"r{i}" for i in range(40)],
        url=[f"http://x.es/{i}" for i in range(40)],
        reason=[reasons[i % 5] for i in range(40)],
    )
    pq.write_table(pa.table(rejected, schema=REJECTED_SCHEMA), root / "rejected" / "part-00000.parquet")
    build_mix(root, MixRecipe(name="demo", select={"dedup_keep_only": False}), root / "mixes" / "demo")
    return root


def _counts(frame: pl.DataFrame, expr: pl.Expr) -> dict:
    return dict(frame.group_by(expr.alias("k")).len().iter_rows())


def test_docs_figures_match_polars(run_dir):
    docs = pl.read_parquet(run_dir / "docs")
    p = profile(resolve(run_dir))  # a run folder means its docs/
    assert p["kind"] == "docs" and p["files"] == 2
    assert p["rows"] == docs.height == 300
    assert p["bytes_on_disk"] == sum(f.stat().st_size for f in (run_dir / "docs").iterdir())
    varieties = _counts(docs, pl.col("variety").fill_null("unknown"))
    assert list(p["varieties"])[:2] == ["pt_PT", "pt_BR"]
    assert {v: c["rows"] for v, c in p["varieties"].items()} == varieties
    assert p["varieties"]["pt_PT"]["share"] == pytest.approx(varieties["pt_PT"] / 300)
    domains = docs.group_by("domain").len().sort(["len", "domain"], descending=[True, False])
    assert [(d["domain"], d["rows"]) for d in p["top_domains"]] == list(domains.head(10).iter_rows())
    assert {d["tld"]: d["rows"] for d in p["top_tlds"]} == _counts(docs, pl.col("tld"))
    years = _counts(docs, pl.col("crawl_date").dt.year())
    assert p["crawl_years"] == {("unknown" if y is None else str(y)): n for y, n in sorted(years.items(), key=str)}
    flags = _counts(docs.select(pl.col("quality_flags").explode()).drop_nulls(), pl.col("quality_flags"))
    assert p["quality_flags"] == {
        "(none)": docs.filter(pl.col("quality_flags").list.len() == 0).height,
        **{k: flags[k] for k in sorted(flags, key=lambda k: (-flags[k], k))},
    }
    words = docs["n_words"]
    assert p["n_words"]["median"] == int(words.quantile(0.5, "nearest"))
    assert p["n_words"]["p90"] == int(words.quantile(0.9, "nearest"))
    assert (p["n_words"]["min"], p["n_words"]["max"], p["n_words"]["total"]) == (words.min(), words.max(), words.sum())


def test_rejected_mix_and_single_file(run_dir):
    rejected = profile(resolve(run_dir / "rejected"))
    assert rejected["kind"] == "rejected" and rejected["rows"] == 40
    assert rejected["reject_reasons"] == {"not_portuguese": 16, "http_status": 8, "not_html": 8, "too_short": 8}
    mix = profile(resolve(run_dir / "mixes" / "demo"))
    manifest = json.loads((run_dir / "mixes" / "demo" / "manifest.json").read_text())
    assert mix["kind"] == "mix"
    assert mix["rows"] == manifest["totals"]["rows"]
    assert mix["documents_distinct"] == manifest["totals"]["documents_distinct"]
    assert {v: c["rows"] for v, c in mix["varieties"].items()} == {
        v: d["rows"] for v, d in manifest["by_variety"].items()
    }
    one = profile(resolve(run_dir / "docs" / "part-00001.parquet"))
    assert one["kind"] == "docs" and one["rows"] == 150


def test_where_filters(run_dir):
    docs = pl.read_parquet(run_dir / "docs")
    p = profile(resolve(run_dir / "docs"), where="variety == 'pt_PT' and n_words > 500")
    expected = docs.filter((pl.col("variety") == "pt_PT") & (pl.col("n_words") > 500))
    assert 0 < p["rows"] == expected.height < 300
    assert p["varieties"]["pt_PT"]["rows"] == expected.height and p["varieties"]["pt_BR"]["rows"] == 0
    assert p["n_words"]["min"] > 500
    # "==" inside a quoted string is data, not an operator
    assert profile(resolve(run_dir / "docs"), where="title == 'a==b'")["rows"] == 1
    assert (
        profile(resolve(run_dir / "docs"), where="domain IN ('rtp.pt', 'sapo.pt') AND NOT variety = 'pt_BR'")["rows"]
        == docs.filter(pl.col("domain").is_in(["rtp.pt", "sapo.pt"]) & (pl.col("variety") != "pt_BR")).height
    )


def test_sample_documents(run_dir):
    p = profile(resolve(run_dir / "docs"), sample=4, where="n_words > 100")
    assert len(p["samples"]) == 4
    texts = dict(pl.read_parquet(run_dir / "docs").select("id", "text").iter_rows())
    for doc in p["samples"]:
        assert set(doc) >= {"id", "url", "variety", "text"}
        assert doc["text"] == texts[doc["id"]][:300]
    assert profile(resolve(run_dir / "docs"), sample=4, where="n_words > 100")["samples"] == p["samples"]


def test_cli_text_json_and_usage_errors(run_dir, capsys):
    assert main(["inspect", str(run_dir / "docs"), "--sample", "2"]) == 0
    text = capsys.readouterr().out
    assert "pt_PT (European)" in text and "pt_BR (Brazilian)" in text and "rows" in text and "300" in text
    assert main(["inspect", str(run_dir / "rejected"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reject_reasons"]["not_portuguese"] == 16
    for bad, message in [
        (["--where", "n_words > "], "not a valid expression"),
        (["--where", "variety = = 'x'"], "not a valid expression"),
        (["--where", "nwords > 3"], "unknown column nwords"),
        (["--where", "variety > 3"], "--where"),
    ]:
        assert main(["inspect", str(run_dir / "docs"), *bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert main(["inspect", str(run_dir / "nowhere")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["inspect", str(run_dir), "--sample", "-1"])
    assert exit_.value.code == 2


def test_resolve_rejects_what_is_not_a_table(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UsageError, match="not a Parquet file"):
        resolve(tmp_path / "notes.txt")
    with pytest.raises(UsageError, match="no Parquet files"):
        resolve(tmp_path)


def test_a_damaged_part_is_named_and_the_rest_is_profiled(run_dir, tmp_path, capsys):
    import shutil

    from lusomix.pipeline.report import write_report

    copy = tmp_path / "run"
    shutil.copytree(run_dir / "docs", copy / "docs")
    shutil.copytree(run_dir / "rejected", copy / "rejected")
    broken = copy / "docs" / "part-00001.parquet"
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])  # a part cut short
    p = profile(resolve(copy))
    assert p["rows"] == 150 and list(p["damaged_files"]) == [str(broken)]
    assert main(["inspect", str(copy)]) == 0
    assert f"DAMAGED {broken}" in capsys.readouterr().out
    page = Path(write_report(copy)).read_text(encoding="utf-8")
    assert "Damaged output files" in page and str(broken) in page
    assert str(broken) in capsys.readouterr().err
    broken.unlink()
    (copy / "docs" / "part-00000.parquet").write_bytes(b"not parquet")
    with pytest.raises(UsageError, match="part-00000.parquet: unreadable Parquet"):
        resolve(copy / "docs")
