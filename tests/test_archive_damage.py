"""A damaged span costs only the records it touches.

Mutants of the sample archives (``data_samples/mutants.py``: bit flips, inserted garbage, a duplicated span,
a zeroed block, a cut; seeded) are read with ``lusomix.archive.records.read_archive``. The oracle is warcio
on the original file: which records the damage did not touch, and each record's content (target URI, date,
SHA-1 of the block). Every intact record must come out, the one right after the damage included; nothing
may come out that is not a record of the original; the damaged spans are named.
"""

from __future__ import annotations

import gzip
import io
import json
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from conftest import ARCHIVES, SAMPLES, run_cli
from warcio.archiveiterator import ArchiveIterator

from lusomix.archive.records import DamagedSpan, Record, read_archive

sys.path.insert(0, str(SAMPLES))
import mutants  # noqa: E402  (data_samples/mutants.py)

BIG = 1 << 30  # whole blocks: the oracle compares them


def _read(data: bytes, gz: bool) -> list[Record | DamagedSpan]:
    return list(read_archive(io.BytesIO(data), len(data), gzip=gz, max_block_bytes=BIG))


def _key(record: Record) -> tuple[str, str, str]:
    headers = record.headers
    return (
        headers.get_header("WARC-Target-URI") or "",
        headers.get_header("WARC-Date") or "",
        mutants.block_sha1(record.block),
    )


def _whole(out: list) -> list[Record]:
    return [r for r in out if isinstance(r, Record) and not r.damage]


@pytest.mark.parametrize("source", mutants.SOURCES)
def test_intact_files_read_as_warcio_reads_them(source):
    data = (ARCHIVES / source).read_bytes()
    out = _read(data, source.endswith(".gz"))
    stream = ArchiveIterator(io.BytesIO(data), arc2warc=True, no_record_parse=True)
    expected = [(stream.offset, r.rec_type, r.raw_stream.read()) for r in stream]
    assert [(r.offset, r.rec_type, r.block) for r in out] == expected  # no span, no damaged record


@pytest.fixture(scope="module")
def mutant_reads() -> list[tuple[mutants.Mutant, list]]:
    return [(m, _read(m.data, m.gzip)) for m in mutants.mutants(ARCHIVES, seeds=range(4))]


@pytest.mark.parametrize("kind", mutants.KINDS)
def test_every_intact_record_comes_out_and_nothing_else(mutant_reads, kind):
    intact = recovered = 0
    for mutant, out in mutant_reads:
        if mutant.kind != kind:
            continue
        originals = {r.key for r in mutant.records}
        found = Counter(_key(r) for r in _whole(out))
        intact += len(mutant.intact)
        recovered += sum(1 for r in mutant.intact if found[r.key])
        # the record right after the damage is found again
        after = mutant.next_intact()
        assert after is None or found[after.key], (mutant.source, mutant.seed, after)
        for key in found:
            if key in originals:
                continue
            # nothing made up out of garbage: a record that is not an original one is an original record
            # changed where its format has no checksum (an uncompressed ARC body), never in a gzip file
            assert not mutant.gzip and mutant.source.endswith(".arc"), (mutant.source, mutant.seed, key[:2])
            assert any(key[0] == r.uri and key[1] == r.date for r in mutant.records), key[:2]
        # a record the damage touched and that did not come out lies in a named span
        named = {key[:2] for key in found}
        lost = [r for r in mutant.records if r not in mutant.intact and (r.uri, r.date) not in named]
        spans = [s for s in out if isinstance(s, DamagedSpan)]
        start, end = mutant.changed
        if lost:
            assert any(s.start <= end and start <= s.end for s in spans), (mutant.source, mutant.seed, spans)
    assert intact > 100
    assert recovered / intact >= 0.99, (kind, recovered, intact)


def _records_in(data: bytes, gz: bool = False) -> list[tuple[int, int]]:
    stream = ArchiveIterator(io.BytesIO(data), arc2warc=True, no_record_parse=True)
    starts = [stream.offset for _ in stream]
    return list(zip(starts, starts[1:] + [len(data)]))


def test_a_length_that_runs_into_the_next_record_is_cut_there():
    data = (ARCHIVES / "crawl-2021-2024.warc").read_bytes()
    (start, end), (next_start, _) = _records_in(data)[3:5]
    head = data[start:end]
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    longer = head.replace(f"Content-Length: {length}\r\n".encode(), f"Content-Length: {length + 700}\r\n".encode(), 1)
    mutant = data[:start] + longer + data[end:]
    out = _read(mutant, False)
    damaged = [r for r in out if isinstance(r, Record) and r.damage]
    assert [r.offset for r in damaged] == [start] and damaged[0].damage == "damaged_record"
    shift = len(longer) - len(head)
    [span] = [s for s in out if isinstance(s, DamagedSpan)]
    assert (span.start, span.end, span.records) == (start, next_start + shift, 1)
    assert f"runs into the record at byte {next_start + shift}" in span.why
    # every other record is read, the next one first
    assert [_key(r) for r in _whole(out)] == [_key(r) for r in _whole(_read(data, False)) if r.offset != start]


def test_a_whole_file_gzip_is_read_up_to_its_damage():
    plain = (ARCHIVES / "crawl-2021-2024.warc").read_bytes()
    packed = gzip.compress(plain, mtime=0)
    expected = [_key(r) for r in _whole(_read(plain, False))]
    assert [_key(r) for r in _whole(_read(packed, True))] == expected
    damaged = bytearray(packed)
    middle = len(packed) // 2
    damaged[middle : middle + 64] = bytes(64)
    out = _read(bytes(damaged), True)
    got = [_key(r) for r in _whole(out)]
    assert 0 < len(got) < len(expected) and got == expected[: len(got)]
    [span] = [s for s in out if isinstance(s, DamagedSpan)]
    assert span.end == len(packed) and "whole-file gzip" in span.why


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "plain"])
def test_garbage_is_scanned_in_bounded_memory(gz):
    """16 MiB of random bytes, then a whole archive: one span, every record of the archive, and a peak of
    memory far below the size of the garbage (the scan streams in windows)."""
    source = (ARCHIVES / ("crawl-2017-2020.warc.gz" if gz else "crawl-2021-2024.warc")).read_bytes()
    import random

    garbage = random.Random(7).randbytes(16 << 20)
    data = garbage + b"\n" + source
    tracemalloc.start()
    out = list(read_archive(io.BytesIO(data), len(data), gzip=gz, max_block_bytes=BIG))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert [(s.start, s.end) for s in out if isinstance(s, DamagedSpan)] == [(0, len(garbage) + 1)]
    assert [_key(r) for r in _whole(out)] == [_key(r) for r in _whole(_read(source, gz))]
    assert peak < 8 << 20, peak


def test_the_extract_pass_keeps_every_intact_capture_and_names_the_spans(tmp_path):
    """Through the whole pass: one mutant per kind of damage of two sample archives; every capture the
    damage did not touch comes out as a document or a rejection, and stats.json names each span."""
    folder = tmp_path / "archives"
    folder.mkdir()
    intact: Counter = Counter()
    for source in ("crawl-2013-2016.warc.gz", "crawl-2021-2024.warc"):
        data = (ARCHIVES / source).read_bytes()
        for kind in mutants.KINDS:
            mutant = mutants.make(source, data, kind, seed=11)
            name = f"{kind}-{source}"
            (folder / name).write_bytes(mutant.data)
            intact.update(
                (name, r.uri, r.date) for r in mutant.intact if r.rec_type in ("response", "revisit", "resource")
            )
    out = tmp_path / "out"
    config = tmp_path / "extract.yaml"
    config.write_text(f"input: [{folder}]\noutput: {out}\nexecutor: {{workers: 2}}\n")
    assert run_cli("run", str(config), "--passes", "extract") == 0
    rows = pl.concat(
        [
            pl.read_parquet(
                out / sub, columns=["source_file", "url", "crawl_date"] + (["reason"] if sub == "rejected" else [])
            ).with_columns(pl.lit(sub).alias("table"))
            for sub in ("docs", "rejected")
        ],
        how="diagonal",
    )
    outcomes = Counter(
        (Path(f).name, u, d.strftime("%Y-%m-%dT%H:%M:%SZ"))
        for f, u, d, reason in rows.select("source_file", "url", "crawl_date", "reason").iter_rows()
        if reason != "damaged_record"
    )
    missing = intact - outcomes
    assert not missing, missing
    stats = json.loads((out / "stats.json").read_text())
    spans = {Path(d["file"]).name: d["spans"] for d in stats["damaged_files"]}
    for name, file_spans in spans.items():
        assert file_spans and all({"start", "end", "records", "why"} <= set(s) for s in file_spans), name
    assert len(spans) >= 6  # most mutants are damaged where it shows
