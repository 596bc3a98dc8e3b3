"""The HTML run report: sections, numbers, thresholds, and crawled strings escaped (never run)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lusomix.errors import UsageError
from lusomix.mix.build import build_mix
from lusomix.mix.recipe import MixRecipe
from lusomix.pipeline.report import write_report
from lusomix.stages.schema import CLUSTERS_SCHEMA, DOCS_SCHEMA, REJECTED_SCHEMA

SCRIPT_TITLE = "<script>alert(1)</script>"
# if this ever ran, the DOM would carry the attribute data-pwned="1"
MARKER_TITLE = "<script>document.body.setAttribute('data-pwned', '1')</script>"
EVIL_URL = 'http://mau.pt/"><img src=x onerror=alert(2)>'
VARIETIES = ["pt_PT", "pt_PT", "pt_BR", "unknown"]
TLDS = ["pt", "br", "com", "ao"]


def make_run(root: Path, n: int = 120) -> Path:
    rng = np.random.default_rng(5)
    for sub in ("docs", "rejected", "dedup"):
        (root / sub).mkdir(parents=True)
    cols: dict[str, list] = {}
    for field in DOCS_SCHEMA:
        if pa.types.is_floating(field.type):
            cols[field.name] = rng.random(n).round(3).tolist()
        elif pa.types.is_integer(field.type):
            cols[field.name] = rng.integers(0, 30, n).tolist()
        elif pa.types.is_boolean(field.type):
            cols[field.name] = (rng.random(n) < 0.1).tolist()
        else:
            cols[field.name] = [None] * n
    cols.update(
        id=[f"d{i}" for i in range(n)],
        url=[EVIL_URL if i == 1 else f"http://site{i % 9}.{TLDS[i % 4]}/p{i}" for i in range(n)],
        domain=[f"site{i % 9}.{TLDS[i % 4]}" for i in range(n)],
        tld=[TLDS[i % 4] for i in range(n)],
        crawl_date=[datetime(2005 + i % 6, 3, 1, tzinfo=UTC) for i in range(n)],
        title=[{0: SCRIPT_TITLE, 2: MARKER_TITLE}.get(i, f"Notícia número {i}") for i in range(n)],
        text=["<b>negrito</b> " + "texto de exemplo " * (5 + i % 40) for i in range(n)],
        n_words=[2 + 3 * (5 + i % 40) for i in range(n)],
        lang=["pt"] * n,
        variety=[VARIETIES[i % 4] for i in range(n)],
        quality_flags=[["dup_line_frac"] if i % 6 == 0 else [] for i in range(n)],
        minhash_bands=[[]] * n,
    )
    pq.write_table(pa.table(cols, schema=DOCS_SCHEMA), root / "docs" / "part-00000.parquet")
    reasons = ["not_portuguese"] * 30 + ["too_short"] * 12 + ["http_status"] * 8
    rejected = {name: [None] * len(reasons) for name in REJECTED_SCHEMA.names}
    rejected.update(
        id=[f"r{i}" for i in range(len(reasons))],
        reason=reasons,
        url=["http://rej.es/<script>x</script>"] + [f"http://rej.es/{i}" for i in range(1, len(reasons))],
        n_words=[40 if r == "not_portuguese" else None for r in reasons],
    )
    pq.write_table(pa.table(rejected, schema=REJECTED_SCHEMA), root / "rejected" / "part-00000.parquet")
    sizes = {i: (f"c{i // 5}", 5) for i in range(10)} | {10: ("c10", 2), 11: ("c10", 2)}
    clusters = [
        {
            "id": f"d{i}",
            "cluster_id": sizes.get(i, (f"s{i}", 1))[0],
            "cluster_size": sizes.get(i, ("", 1))[1],
            "keep": i not in sizes or i in (0, 5, 10),
        }
        for i in range(n)
    ]
    pq.write_table(pa.Table.from_pylist(clusters, schema=CLUSTERS_SCHEMA), root / "dedup" / "clusters.parquet")
    (root / "stats.json").write_text(
        json.dumps(
            {
                "records_by_type": {"response": 400, "request": 380, "revisit": 20},
                "kept": n,
                "rejected_by_reason": {"not_portuguese": 30, "too_short": 12, "http_status": 8},
                "damaged_files": ["broken-<i>1</i>.warc.gz"],
            }
        )
    )
    build_mix(root, MixRecipe(name="demo"), root / "mixes" / "demo")
    return root


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str]:
    run = make_run(tmp_path_factory.mktemp("run"))
    path = write_report(
        run,
        thresholds={
            "gopher_dup_line_frac": ("max", 0.287),
            "gopher_mean_word_len": [("min", 0.2), ("max", 0.9)],
            "not_a_column": ("max", 1.0),
        },
    )
    return path, path.read_text(encoding="utf-8")


def test_report_has_every_section(report):
    path, page = report
    assert path.name == "index.html" and path.parent.name == "report"
    for title in (
        "Funnel",
        "Varieties",
        "Reject reasons",
        "Quality signals",
        "Document length",
        "Dedup clusters",
        "Mixes",
        "Sample documents",
        "Extract pass summary (stats.json)",
    ):
        assert f">{title}</h2>" in page
    assert page.count("data:image/png;base64,") >= 7  # funnel, varieties ×3, rejects, signals, clusters
    assert "<script" not in page.lower().replace("&lt;script", "")  # no script element at all
    assert 'http-equiv="Content-Security-Policy"' in page


def _row(page: str, label: str) -> list[str]:
    match = re.search(rf"<tr><td>{re.escape(label)}</td>(.*?)</tr>", page)
    assert match, label
    return re.findall(r"<td[^>]*>(.*?)</td>", match.group(1))


def test_funnel_counts(report):
    _, page = report
    assert _row(page, "records")[0] == "800"
    assert _row(page, "captures")[0] == "400"
    assert _row(page, "extracted")[0] == "150"  # 120 docs + 30 rejected after extraction
    assert _row(page, "Portuguese")[0] == "120"
    assert _row(page, "kept documents")[0] == "100"  # every 6th flagged
    # keep=false: d1-4, d6-9, d11; of these d6 is also flagged → 8 more dropped
    assert _row(page, "dedup keep")[0] == "92"
    manifest = json.loads((report[0].parents[1] / "mixes" / "demo" / "manifest.json").read_text())
    assert _row(page, "mix demo")[0] == f"{manifest['totals']['documents_distinct']:,}"


def test_shares_rejects_clusters_thresholds(report):
    _, page = report
    assert _row(page, "pt_PT (European)")[:2] == ["60", "50.0%"]
    assert _row(page, "pt_BR (Brazilian)")[:2] == ["30", "25.0%"]
    assert _row(page, "not_portuguese")[0] == "30"
    assert _row(page, "5–99")[:2] == ["2", "10"]  # two clusters of 5
    assert _row(page, "2–3")[:2] == ["1", "2"]
    dup = _row(page, "gopher_dup_line_frac")
    assert dup[0] == "120" and dup[4] == "max 0.287"
    values = pl.read_parquet(report[0].parents[1] / "docs")["gopher_dup_line_frac"]
    assert dup[5] == f"{(values <= 0.287).mean():.1%}"
    assert _row(page, "gopher_mean_word_len")[4] == "min 0.2, max 0.9"
    assert "Thresholds for signals not in docs/: not_a_column" in page
    assert "broken-&lt;i&gt;1&lt;/i&gt;.warc.gz" in page


def test_crawled_strings_are_escaped(report):
    _, page = report
    assert SCRIPT_TITLE not in page and MARKER_TITLE not in page
    assert "onerror=alert(2)>" not in page
    assert "<b>negrito" not in page
    assert "http://rej.es/<script>" not in page


@pytest.fixture(scope="module")
def small_report(tmp_path_factory) -> Path:
    """12 documents: every one is among the 15 samples, the script title included."""
    return write_report(make_run(tmp_path_factory.mktemp("small"), n=12))


def test_sample_shows_the_script_title_as_text(small_report):
    page = small_report.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert SCRIPT_TITLE not in page


@pytest.mark.skipif(not shutil.which("chromium"), reason="chromium not installed")
def test_browser_shows_the_title_as_text_and_runs_nothing(small_report, tmp_path):
    page = small_report
    dom = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # the browser parsed it as text...
    assert "<script>alert(1)</script>" not in dom  # ...and no script element exists in the DOM
    assert "&lt;img src=x onerror=alert(2)&gt;" in dom  # the URL's markup is text too
    assert not re.search(r"<img[^>]*onerror", dom)
    assert 'data-pwned="1"' not in dom  # the marker script did not run


def test_bad_run_folder(tmp_path):
    with pytest.raises(UsageError, match="no such run folder"):
        write_report(tmp_path / "missing")
    with pytest.raises(UsageError, match="no docs/ or rejected/"):
        write_report(tmp_path)


def test_thresholds_from_quality_rules():
    from lusomix.filters.quality import thresholds
    from lusomix.pipeline.report import thresholds_from_rules

    limits = thresholds_from_rules(thresholds("fineweb2-por"))
    assert limits["gopher_dup_line_frac"] == [("max", 0.287)]
    assert limits["gopher_mean_word_len"] == [("min", 3.0), ("max", 13.0)]
    assert limits["n_words"] == [("min", 50.0), ("max", 100_000.0)]
