"""Index-driven reading: CDXJ/CDX lines, the selection, `lusomix index`, and runs that read only the selected
records (local by seek, remote by HTTP range), with stale entries named and skipped."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
import yaml
from conftest import ARCHIVES, SAMPLES, read_table, run_cli
from warcio.archiveiterator import ArchiveIterator

from lusomix.archive.index import IndexLineError, Selection, parse_line, parse_lines, select
from lusomix.stages.ingest import document_id

sys.path.insert(0, str(SAMPLES))
from range_server import range_server  # noqa: E402  (data_samples/range_server.py)

# an ARC (gzip per record), an uncompressed WARC and a gzipped WARC
FILES = ["arquivo-1999.arc.gz", "crawl-2009-2012.warc", "crawl-2013-2016.warc.gz"]
# the test's selection: HTML 200 (the defaults), .pt hosts (a SURT prefix), crawled up to 2014
SELECT = {"urls": ["pt,"], "crawled_until": "2014"}


def _selected(url: str, crawl_date: datetime) -> bool:
    """SELECT's rule, written over the full run's documents."""
    host = url.split("://", 1)[1].split("/", 1)[0].split(":")[0]
    return host.endswith(".pt") and crawl_date < datetime(2015, 1, 1, tzinfo=UTC)


def _config(folder: Path, **extra) -> str:
    path = folder / "run.yaml"
    body = {"executor": {"workers": 2}, "ingest": {"engine": "resiliparse"}, "language": {"keep": ["pt"]}} | extra
    path.write_text(yaml.safe_dump(body))
    return str(path)


def _docs(out: Path) -> pl.DataFrame:
    return read_table(out / "docs").select("id", "url", "text", "crawl_date").sort("id")


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Path:
    """A folder with the three archives (links) and their index, written by `lusomix index`."""
    folder = tmp_path_factory.mktemp("served")
    for name in FILES:
        os.symlink(ARCHIVES / name, folder / name)
    assert run_cli("index", *(str(folder / n) for n in FILES), "--output", str(folder / "index.cdxj")) == 0
    return folder


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("full")
    config = _config(folder, input=[str(ARCHIVES / n) for n in FILES])
    assert run_cli("run", config, "--output", str(folder / "out"), "--passes", "extract") == 0
    return folder / "out"


@pytest.fixture(scope="module")
def index_run(served, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("indexed")
    config = _config(folder, select=SELECT)
    index = str(served / "index.cdxj")
    assert run_cli("run", config, "--index", index, "--output", str(folder / "out"), "--passes", "extract") == 0
    return folder / "out"


def test_cdxj_and_cdx11_lines():
    cdxj = parse_line(
        'pt,sapo)/ 20090210110000 {"url": "http://sapo.pt/", "mime": "text/html; charset=utf-8", "status": "200", '
        '"digest": "sha1:ABC", "length": "951", "offset": "9417", "filename": "a.warc.gz"}'
    )
    cdx = parse_line("pt,sapo)/ 20090210110000 http://sapo.pt/ text/html 200 ABC - - 951 9417 a.warc.gz")
    assert cdxj is not None and cdx is not None
    assert (cdxj.url, cdxj.mime, cdxj.status, cdxj.offset, cdxj.length) == (
        "http://sapo.pt/",
        "text/html",
        200,
        9417,
        951,
    )
    assert (cdx.url, cdx.mime, cdx.status, cdx.offset, cdx.length, cdx.filename) == (
        "http://sapo.pt/",
        "text/html",
        200,
        9417,
        951,
        "a.warc.gz",
    )
    assert parse_line(" CDX N b a m s k r M S V g") is None
    with pytest.raises(IndexLineError, match="idx.cdx:2: neither CDXJ"):
        parse_lines(["", "pt,sapo)/ 2009 http://sapo.pt/ text/html"], "idx.cdx")
    with pytest.raises(IndexLineError, match="no offset"):
        parse_line('pt,sapo)/ 2009 {"url": "http://sapo.pt/", "length": "9", "filename": "a.warc"}')


def test_selection_rules():
    lines = [
        'pt,a)/x 20090101000000 {"url": "http://a.pt/x", "mime": "text/html", "status": "200", "digest": "sha1:D1", '
        '"length": "10", "offset": "0", "filename": "f.warc"}',
        'pt,a)/x 20100101000000 {"url": "http://a.pt/x", "mime": "text/html", "status": "200", "digest": "D1", '
        '"length": "10", "offset": "10", "filename": "f.warc"}',
        'pt,a)/logo.gif 20090101000000 {"url": "http://a.pt/logo.gif", "mime": "image/gif", "status": "200", '
        '"length": "10", "offset": "20", "filename": "f.warc"}',
        'br,com,b)/ 20120101000000 {"url": "http://b.com.br/", "mime": "text/html", "status": "404", '
        '"length": "10", "offset": "30", "filename": "f.warc"}',
        'br,com,b)/y 20120101000000 {"url": "http://b.com.br/y", "mime": "-", "status": "200", '
        '"length": "10", "offset": "40", "filename": "f.warc"}',
    ]
    entries = parse_lines(lines, "test")
    offsets = lambda selection: [e.offset for e in select(entries, selection)]  # noqa: E731
    assert offsets(Selection()) == [0, 10, 40]  # HTML or undeclared, status 200
    assert offsets(Selection(one_per_digest=True)) == [0, 40]  # the earliest of D1's captures
    assert offsets(Selection(urls=["br,com,"])) == [40]
    assert offsets(Selection(urls=["http://a.pt/*"], mime=["image/gif"])) == [20]
    assert offsets(Selection(crawled_from="2010", crawled_until="2011-12-31")) == [10]
    assert offsets(Selection(status=[404])) == [30]


def test_index_offsets_are_warcio_offsets(served):
    entries = parse_lines((served / "index.cdxj").read_text().splitlines(), "index")
    for name in FILES:
        with open(ARCHIVES / name, "rb") as stream:
            records = ArchiveIterator(stream, arc2warc=True)
            expected = {
                (r.rec_headers.get_header("WARC-Target-URI"), records.get_record_offset())
                for r in records
                if r.rec_type in ("response", "revisit", "resource")
            }
        assert {(e.url, e.offset) for e in entries if e.filename == name} == expected


def test_index_run_equals_filtered_full_run(full_run, index_run, expected):
    full = _docs(full_run)
    wanted = full.filter([_selected(u, d) for u, d in zip(full["url"], full["crawl_date"], strict=True)])
    got = _docs(index_run)
    assert 5 <= got.height < full.height
    assert got.select("id", "text").equals(wanted.select("id", "text"))
    # the expected answers: every kept capture of the selection, and no other
    kept = expected.filter(pl.col("file").is_in(FILES) & (pl.col("expect") == "kept"))
    dates = [datetime.fromisoformat(d.replace("Z", "+00:00")) for d in kept["date"]]
    assert sorted(got["url"]) == sorted(u for u, d in zip(kept["url"], dates, strict=True) if _selected(u, d))
    stats = json.loads((index_run / "stats.json").read_text())
    assert stats["input_bytes"] < sum((ARCHIVES / n).stat().st_size for n in FILES) / 2
    assert stats["index"]["selected"] == stats["captures"]


def test_remote_run_reads_only_the_selected_ranges(served, index_run, tmp_path):
    with range_server(served) as (base, log):
        config = _config(tmp_path, select=SELECT, executor={"workers": 1})
        url = f"{base}/index.cdxj"
        assert run_cli("run", config, "--index", url, "--output", str(tmp_path / "out"), "--passes", "extract") == 0
    entries = parse_lines((served / "index.cdxj").read_text().splitlines(), "index")
    chosen = {(e.filename, e.offset, e.length) for e in select(entries, Selection(**SELECT))}
    archive_reads = [(name, start, sent) for name, start, sent in log if name != "index.cdxj"]
    assert sorted(archive_reads) == sorted(chosen)  # one range request per selected record, nothing more
    assert sum(sent for _, _, sent in archive_reads) < sum((ARCHIVES / n).stat().st_size for n in FILES) / 2
    assert _docs(tmp_path / "out").select("id", "text").equals(_docs(index_run).select("id", "text"))


def test_stale_entries_are_named_and_skipped(served, index_run, tmp_path):
    lines = (served / "index.cdxj").read_text().splitlines(keepends=True)
    entries = parse_lines(lines, "index")
    chosen = select(entries, Selection(**SELECT))
    moved = next(e for e in chosen if e.filename == "crawl-2009-2012.warc")  # uncompressed: a wrong offset
    cut = next(e for e in chosen if e.filename == "crawl-2013-2016.warc.gz")  # gzip: a short length
    stale = []
    for line in lines:
        entry = parse_line(line)
        if entry == moved:
            line = line.replace(f'"offset": "{moved.offset}"', f'"offset": "{moved.offset + 7}"')
        elif entry == cut:
            line = line.replace(f'"length": "{cut.length}"', f'"length": "{cut.length - 40}"')
        stale.append(line)
    (tmp_path / "stale.cdxj").write_text("".join(stale))
    for name in FILES:
        os.symlink(ARCHIVES / name, tmp_path / name)
    config = _config(tmp_path, select=SELECT)
    out = tmp_path / "out"
    assert (
        run_cli("run", config, "--index", str(tmp_path / "stale.cdxj"), "--output", str(out), "--passes", "extract")
        == 0
    )
    rejected = read_table(out / "rejected").filter(pl.col("reason") == "stale_index_entry")
    assert sorted(zip(rejected["url"], rejected["source_offset"], strict=True)) == sorted(
        [(moved.url, moved.offset + 7), (cut.url, cut.offset)]
    )
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rejected_by_reason"]["stale_index_entry"] == 2
    problems = " ".join(d["problem"] for d in stats["damaged_files"])
    assert moved.url in problems and cut.url in problems
    # the rest goes on: every other document of the selection, as the index run gave it
    gone = [document_id(moved.filename, moved.offset), document_id(cut.filename, cut.offset)]
    rest = _docs(index_run).filter(~pl.col("id").is_in(gone))
    assert rest.height < _docs(index_run).height
    assert _docs(out).select("id", "text").equals(rest.select("id", "text"))


def test_index_errors_are_one_line(tmp_path, capsys):
    config = _config(tmp_path, input=[str(ARCHIVES / FILES[0])])
    assert run_cli("run", config, "--index", str(tmp_path / "missing.cdxj"), "--output", str(tmp_path / "o")) == 2
    assert capsys.readouterr().err.strip().endswith(f"index not found: {tmp_path / 'missing.cdxj'}")
    (tmp_path / "bad.cdxj").write_text("pt,a)/ 2009 not json at all\n")
    assert run_cli("run", config, "--index", str(tmp_path / "bad.cdxj"), "--output", str(tmp_path / "o")) == 2
    assert "bad.cdxj:1: neither CDXJ" in capsys.readouterr().err
    selecting = _config(tmp_path, input=[str(ARCHIVES / FILES[0])], select={"status": [404]})
    assert run_cli("run", selecting, "--output", str(tmp_path / "o")) == 2
    assert "select: chooses captures of an index" in capsys.readouterr().err
