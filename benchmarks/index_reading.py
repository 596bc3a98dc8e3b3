"""Full scan vs index-driven reading: bytes read and wall time of the extract pass, whole processes timed.

The input is built like a real crawl, where HTML is a minority of the bytes: the sample archives' HTML
captures (status 200, ``--copies`` times), each followed by non-HTML captures (images, a script, a style
sheet, now and then a PDF: incompressible bytes, as such payloads mostly are), gzip per record, split over
a few files. Then:

1. ``lusomix index`` writes their CDXJ index (timed: it is paid once per archive, not once per run);
2. ``lusomix run --passes extract`` reads every record (the full scan);
3. ``lusomix run --index … --passes extract`` reads only the selected records (HTML, status 200: the
   default selection) by seek and length;
4. and 2-3 again with the archives (and the index) served over HTTP on 127.0.0.1 (Range support): the
   full scan reads whole files through fsspec, the index-driven run one range request per record.

All runs must keep the same documents; the script checks that. Bytes read are the extract pass's own
count (``input_bytes`` in stats.json: the files' sizes for a full scan, the selected ranges with an index).

    .venv/bin/python benchmarks/index_reading.py [--files 4] [--copies 10] [--workers 2] [--repeat 3]
                                                 [--engine resiliparse|trafilatura]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data_samples" / "archives"
LUSOMIX = [sys.executable, "-m", "lusomix.pipeline.cli"]

sys.path.insert(0, str(REPO / "data_samples"))
from range_server import range_server  # noqa: E402  (data_samples/range_server.py)

# (MIME type, URL suffix, payload bytes, on every n-th page) added after the HTML captures: a page's images,
# script and style sheet, and now and then a PDF; HTML comes to ~10% of the bytes and ~1/6 of the captures
ASSETS = [
    ("image/jpeg", "foto-1.jpg", 6_000, 1),
    ("image/png", "icone.png", 1_500, 1),
    ("image/jpeg", "foto-2.jpg", 9_000, 2),
    ("text/javascript", "app.js", 3_000, 1),
    ("text/css", "estilo.css", 1_200, 1),
    ("application/pdf", "relatorio.pdf", 60_000, 10),
]


def html_records() -> list[bytes]:
    """Each HTML 200 capture of the (undamaged) samples, as one gzip member, read by its index entry."""
    from lusomix.archive.index import Selection, parse_lines, select

    names = [p.name for p in sorted(SAMPLES.iterdir()) if not p.name.startswith("damaged")]
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "samples.cdxj"
        subprocess.run([*LUSOMIX, "index", *(str(SAMPLES / n) for n in names), "--output", str(index)], check=True)
        entries = select(parse_lines(index.read_text().splitlines(), "samples"), Selection(mime=["text/html"]))
    members = []
    for entry in entries:
        path = SAMPLES / Path(entry.filename).name
        with open(path, "rb") as f:
            f.seek(entry.offset)
            raw = f.read(entry.length)
        members.append(raw if path.name.endswith(".gz") else gzip.compress(raw))
    return members


def asset(writer: WARCWriter, url: str, mime: str, size: int) -> None:
    body = os.urandom(size)  # incompressible, as JPEG and PDF payloads are
    http = StatusAndHeaders("200 OK", [("Content-Type", mime), ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
    record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
    writer.write_record(record)


def build(folder: Path, files: int, copies: int) -> tuple[list[Path], int]:
    """The archive files, and the bytes of their HTML captures."""
    members = html_records()
    paths = [folder / f"crawl-{i:02d}.warc.gz" for i in range(files)]
    handles = [open(p, "wb") for p in paths]  # noqa: SIM115
    writers = [WARCWriter(h, gzip=True) for h in handles]
    n = 0
    for _ in range(copies):
        for member in members:
            handle, writer = handles[n % files], writers[n % files]
            handle.write(member)
            for mime, suffix, size, every in ASSETS:
                if n % every == 0:
                    asset(writer, f"http://www.exemplo-{n}.pt/media/{suffix}", mime, size)
            n += 1
    for h in handles:
        h.close()
    return paths, sum(len(m) for m in members) * copies


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def reading_alone(paths: list[Path], index: Path) -> tuple[float, float]:
    """Seconds to read the records alone, in this process: every record of every file, and the selected
    records by range (no extraction, no process start-up)."""
    from lusomix.archive.index import Selection, parse_lines, select
    from lusomix.archive.ranges import ByteRanges, record_at
    from lusomix.archive.records import read_archive

    started = time.perf_counter()
    for path in paths:
        with open(path, "rb") as f:
            for _ in read_archive(f, path.stat().st_size, gzip=True, max_block_bytes=5_065_536):
                pass
    full = time.perf_counter() - started
    started = time.perf_counter()
    entries = select(parse_lines(index.read_text().splitlines(), "index"), Selection())
    for path in paths:
        with ByteRanges(str(path)) as ranges:
            for entry in (e for e in entries if e.filename == path.name):
                record_at(ranges.read(entry.offset, entry.length), entry.offset, gzip=True, max_block_bytes=5_065_536)
    return full, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--copies", type=int, default=10, help="times each sample HTML capture is written")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engine", default="resiliparse", choices=["resiliparse", "trafilatura"])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind; the fastest is shown")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        archives = folder / "archives"
        archives.mkdir()
        paths, html = build(archives, args.files, args.copies)
        total = sum(p.stat().st_size for p in paths)
        config = folder / "run.yaml"
        config.write_text(json.dumps({"ingest": {"engine": args.engine}, "executor": {"workers": args.workers}}))
        index = archives / "index.cdxj"
        index_s = timed([*LUSOMIX, "index", *map(str, paths), "--output", str(index)])
        with range_server(archives) as (url, served):
            run = [*LUSOMIX, "run", str(config), "--passes", "extract"]
            runs = {
                "local, full scan": ["--input", *map(str, paths)],
                "local, index-driven": ["--index", str(index)],
                "HTTP, full scan": ["--input", *(f"{url}/{p.name}" for p in paths)],
                "HTTP, index-driven": ["--index", f"{url}/index.cdxj"],
            }
            rows = []
            for n, (name, flags) in enumerate(runs.items()):
                times = []
                for attempt in range(args.repeat):  # a shared machine: the fastest of a few is the least disturbed
                    served.clear()
                    times.append(timed([*run, *flags, "--output", str(folder / f"out-{n}-{attempt}")]))
                seconds = min(times)
                out = folder / f"out-{n}-0"
                stats = json.loads((out / "stats.json").read_text())
                docs = pl.read_parquet(out / "docs" / "*.parquet").select("id", "text").sort("id")
                sent = sum(
                    size for file, _, size in served if not file.endswith(".cdxj")
                )  # archive bytes, not the index
                rows.append((name, stats, seconds, sent, docs))
        full_read_s, ranges_read_s = reading_alone(paths, index)
        assert all(row[-1].equals(rows[0][-1]) for row in rows), "the runs kept different documents"
        print(f"archives: {len(paths)} files, {total / 1e6:.1f} MB, HTML {html / total:.1%} of the bytes")
        print(f"captures: {rows[0][1]['captures']} (full scan), {rows[1][1]['captures']} selected by the index")
        print(f"lusomix index: {index_s:.2f} s (once per archive)")
        print(f"{'':22}{'bytes read':>13}{'HTTP bytes':>13}{'wall s':>8}{'kept':>6}")
        for name, stats, seconds, sent, _docs in rows:
            print(f"{name:22}{stats['input_bytes']:>13,}{sent:>13,}{seconds:>8.2f}{stats['kept']:>6}")
        print(f"reading the records alone (in-process): full scan {full_read_s:.2f} s, by index {ranges_read_s:.2f} s")


if __name__ == "__main__":
    main()
