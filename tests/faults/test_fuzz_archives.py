"""Fault matrix, fuzzed input: archive bytes and HTTP responses (hypothesis).

Two layers of generated cases, each case one extract task run in-process: ``extract_steps`` of the pipeline
(reader → main text → language → variety → PII → quality → MinHash → writer), rank 0, chained as
datatrove's executor chains them.

- Archive bytes: windows of the sample WARC/ARC files (plain, per-record gzip, whole-file gzip, gzip
  inflated to plain), with byte flips, overwrites, insertions (random bytes, record and gzip magic, pieces
  of other samples), cuts, duplicated spans, zeroed blocks and truncation at positions hypothesis chooses
  (half of them near a record's start, where the framing is).
- HTTP responses: generated status lines, headers (Content-Type with good, unknown and non-text charsets,
  Content-Encoding gzip/deflate/br/garbage, Transfer-Encoding chunked with good and bad chunks,
  duplicated, missing and folded headers, odd separators and line ends), bodies in several encodings,
  labelled right or wrong, and decompression bombs, packed into WARC response records with warcio's writer.

For every case: no exception escapes the task; every capture the reader reads (counted again with
``read_archive``) ends as a kept document or a rejection with a reason, written to docs/ or rejected/ (row
counts of the Parquet files), ids unique; memory stays bounded (see "Memory" below). A case that hangs or
allocates without end fails (``bounded``) instead of stalling the suite.

Cases per layer: the defaults fit ~30 s of one core here; ``LUSOMIX_FUZZ_EXAMPLES=N`` runs N per layer,
``LUSOMIX_FUZZ_RANDOM=1`` draws new cases (by default they are derandomized: CI sees the same cases every
run). The bugs these cases found have plain regression tests at the end.
"""

from __future__ import annotations

import ctypes
import gc
import gzip
import hashlib
import io
import json
import os
import re
import resource
import signal
import sys
import traceback
import tracemalloc
import zlib
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ARCHIVES, SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warcio.warcwriter import WARCWriter

from lusomix.archive.records import DamagedSpan, Record, read_archive
from lusomix.filters import payload
from lusomix.pipeline.config import RunConfig
from lusomix.pipeline.plan import extract_steps
from lusomix.run_folder import RunFolder
from lusomix.stages.ingest import CAPTURE_TYPES

sys.path.insert(0, str(SAMPLES))
import mutants  # noqa: E402  (data_samples/mutants.py)

pytestmark = pytest.mark.faults

EXAMPLES = int(os.environ.get("LUSOMIX_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    deadline=None,
    derandomize=os.environ.get("LUSOMIX_FUZZ_RANDOM") != "1",
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
# Memory. A case's input is at most ~150 kB (a window of a sample file plus insertions), or a few generated
# responses whose decoded bodies are capped at MAX_BODY: the task holds one record's block, one page's HTML,
# tree and text, and the case's documents. Measured after a warm-up (the engines load some of their Python
# side lazily, once: trafilatura's fallback extractors take ~28 MiB the first time), a task's Python heap
# peaks at a few MiB (median well under 1 MiB). Three bounds:
# - every TRACE_EVERY-th case runs under tracemalloc (~5x slower, hence the sample): its peak stays under
#   PEAK_LIMIT, far above those few MiB and far below a body read past its cap, an inflated bomb or a
#   task's documents piling up;
# - every case runs under an address-space limit, AS_HEADROOM over what the process had when it started
#   (``bounded``): a runaway allocation fails at once, as MemoryError;
# - no leak: after the cases, a sample of them (every LEAK_EVERY-th input, LEAK_SAMPLE at most) runs three
#   more times, and the memory in use (RSS once malloc has handed its free pages back) may not grow from
#   the first of these rounds to the third by LEAK_LIMIT. (Over the cases themselves it does grow:
#   hypothesis keeps what it drew, ~0.3 MiB a case for the HTML pages.)
PEAK_LIMIT = 32 << 20
TRACE_EVERY = 16
LEAK_EVERY, LEAK_SAMPLE, LEAK_LIMIT = 8, 40, 16 << 20
# A case that runs away fails instead of hanging the suite or exhausting the machine: past CPU_LIMIT_S of CPU
# time (trafilatura bounds itself to 10 s of wall time per page) or AS_HEADROOM of address space.
CPU_LIMIT_S = 30
AS_HEADROOM = 2 << 30
MAX_BODY = 256 << 10  # ingest.max_body_bytes in these cases: a bomb past it is cheap to make and to refuse
REASON = re.compile(r"[a-z][a-z_]*")


def _examples(default: int) -> int:
    return EXAMPLES or default


_LIBC = ctypes.CDLL(None)


def live_rss() -> int:
    """Resident memory once malloc has handed its free pages back to the system (glibc's malloc_trim)."""
    gc.collect()
    if hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def leak_rounds(run, inputs: list) -> list[int]:
    """The memory in use after each of three rounds of ``run(input)`` over ``inputs``: a leak grows it."""
    rounds = []
    for _ in range(3):
        for item in inputs:
            run(item)
        rounds.append(live_rss())
    assert rounds[2] - rounds[0] < LEAK_LIMIT, f"memory in use grew round after round: {[r >> 20 for r in rounds]} MiB"
    return rounds


def _address_space() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


class CaseTooSlow(BaseException):
    """A BaseException, as KeyboardInterrupt is: the steps' own ``except Exception`` must not swallow it."""


@contextmanager
def bounded(headroom: int = AS_HEADROOM, cpu_s: float = CPU_LIMIT_S):
    """Run a case with ``headroom`` bytes of address space over what the process has (MemoryError past it)
    and ``cpu_s`` seconds of CPU time (CaseTooSlow past it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _address_space() + headroom
    limit = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))

    def _stop(signum, frame):
        raise CaseTooSlow(f"a case ran over {cpu_s} s of CPU time")

    previous = signal.signal(signal.SIGPROF, _stop)
    signal.setitimer(signal.ITIMER_PROF, cpu_s)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def escaped(run) -> str | None:
    """None when ``run()`` returns; else the traceback of what escaped, as text: a failing case must not keep
    its frames (and what they hold, e.g. a runaway buffer) alive while hypothesis shrinks it."""
    try:
        run()
    except (Exception, CaseTooSlow):
        return traceback.format_exc()
    return None


# ---------------------------------------------------------------- one extract task, checked


class Task:
    """The extract pass's steps for one input file (``extract_steps``, the default config but for
    ``ingest.engine`` and ``max_body_bytes``), built once per layer so the models load once, and run on new
    file contents case after case. The extractor remembers what it extracted across cases (the engines are
    deterministic per HTML): only new pages cost an extraction."""

    def __init__(self, folder: Path, engine: str = "trafilatura", warm_up: bool = True):
        self.folder, self.engine = folder, engine
        self.out, self.report = folder / "out", folder / "logs" / "reports" / "00000.json"
        (folder / "in").mkdir(parents=True, exist_ok=True)
        # extraction in this process (extraction_timeout_s 0): what is fuzzed is the archive, HTTP and HTML layers;
        # the time bound's child process is tested in tests/test_extraction_bound.py (a fork of this test
        # process, which holds other tests' Ray threads, is not what a task's process is)
        config = RunConfig(ingest={"engine": engine, "max_body_bytes": MAX_BODY, "extraction_timeout_s": 0})
        self.min_words, self.keep = config.ingest.min_words, set(config.language.keep)
        self.steps = extract_steps(
            config, [str(folder / "in" / "case.warc")], RunFolder(self.out), RunFolder(folder / "logs")
        )
        extractor = self.steps[1]
        memo: dict[bytes, object] = {}
        extract = extractor.extract

        def remembered(html: str):
            if not self.remember:
                return extract(html)
            key = hashlib.blake2b(html.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            if key not in memo:
                if len(memo) >= 4096:  # bounded, as the extractor's own cache is
                    memo.clear()
                memo[key] = extract(html)
            return memo[key]

        extractor.extract = remembered
        self.remember = True
        # the sample archives once, untraced: the models and the engines' lazily loaded parts are in memory
        # before anything is measured
        self._reset()
        for source in WHOLE_SOURCES if warm_up else ():
            self.run((ARCHIVES / source).read_bytes(), source)
        self._reset()

    def _reset(self) -> None:
        self.cases, self.kept, self.reasons = 0, 0, Counter()
        self.peaks: list[int] = []
        self.sample: list[tuple[bytes, str]] = []  # for the leak check
        self.rounds: list[int] = []

    def run(self, data: bytes, name: str) -> list:
        """One task over ``data`` (a file named ``name``), checked; returns its documents."""
        path = self.folder / "in" / name
        path.write_bytes(data)
        # the last case's outputs removed first: ext4 flushes a file renamed over another, as the writer does
        for table in ("docs", "rejected"):
            (self.out / table / "part-00000.parquet").unlink(missing_ok=True)
        self.report.unlink(missing_ok=True)
        reader, *middle, writer = self.steps
        reader.paths = [str(path)]
        seen = []

        def tap(docs):
            for doc in docs:
                seen.append(doc)
                yield doc

        def task():
            pipe = None
            for step in (reader, *middle):
                pipe = step(pipe, 0, 1)
            deque(writer(tap(pipe), 0, 1), maxlen=0)

        trace = self.cases % TRACE_EVERY == TRACE_EVERY - 1
        if trace:
            tracemalloc.start()
        try:
            with bounded():
                failure = escaped(task)
            peak = tracemalloc.get_traced_memory()[1] if trace else 0
        finally:
            if trace:
                tracemalloc.stop()
        path.unlink()
        assert failure is None, f"an exception escaped the task:\n{failure}"
        self.cases += 1
        if self.cases % LEAK_EVERY == 0 and len(self.sample) < LEAK_SAMPLE:
            self.sample.append((data, name))
        if trace:
            self.peaks.append(peak)
            assert peak < PEAK_LIMIT, f"peak Python heap of one task: {peak >> 20} MiB"

        # every capture the reader read is a document or a rejection, written to docs/ or rejected/
        gz = data[:2] == b"\x1f\x8b" or name.endswith(".gz")
        items = list(read_archive(io.BytesIO(data), len(data), gzip=gz, max_block_bytes=MAX_BODY))
        captures = [r.offset for r in items if isinstance(r, Record) and r.rec_type in CAPTURE_TYPES]
        report = json.loads(self.report.read_text())
        assert report["captures"] == len(captures) == len(seen), (report, len(captures), len(seen))
        # bytes that read as no record are named: the source report lists every damaged span
        spans = [(r.start, r.end) for r in items if isinstance(r, DamagedSpan)]
        assert [(d["start"], d["end"]) for d in report["damaged_spans"]] == spans
        assert [doc.metadata["source_offset"] for doc in seen] == captures
        assert len({doc.id for doc in seen}) == len(seen)
        kept = 0
        for doc in seen:
            reason = doc.metadata.get("reject")
            if reason is None:
                kept += 1
                assert doc.text.strip() and doc.metadata["lang"] in self.keep, doc.metadata
                assert doc.metadata["n_words"] >= self.min_words and doc.metadata["minhash_bands"]
            else:
                assert isinstance(reason, str) and REASON.fullmatch(reason), reason
                self.reasons[reason] += 1
        self.kept += kept
        rows = {t: pq.read_metadata(self.out / t / "part-00000.parquet").num_rows for t in ("docs", "rejected")}
        assert rows == {"docs": kept, "rejected": len(seen) - kept}
        return seen

    def check_leaks(self) -> None:
        """The leak check on the sample of this layer's inputs, every page extracted again (the memo off)."""
        sample, counts = self.sample, (self.cases, self.kept, self.reasons.copy(), list(self.peaks))
        self.remember = False
        try:
            self.rounds = leak_rounds(lambda item: self.run(*item), sample)
        finally:
            self.remember = True
            self.sample, (self.cases, self.kept, self.reasons, self.peaks) = sample, counts

    def summary(self, layer: str) -> str:
        peaks = sorted(self.peaks) or [0]
        rounds = [r >> 20 for r in self.rounds]
        return (
            f"{layer} ({self.engine}): {self.cases} cases, {self.kept} documents kept, rejected "
            f"{dict(self.reasons.most_common())}; traced {len(peaks)}: peak heap median "
            f"{peaks[len(peaks) // 2] >> 10} KiB, max {peaks[-1] >> 10} KiB; memory in use after 3 rounds "
            f"of {len(self.sample)} of them: {rounds} MiB"
        )


# ---------------------------------------------------------------- layer 1: archive bytes

# the samples whose framing is whole (data_samples/mutants.py's): windows of their records; the damaged
# samples are taken whole
WHOLE_SOURCES = mutants.SOURCES
DAMAGED_SOURCES = ("damaged-empty.warc", "damaged-garbage.warc.gz", "damaged-truncated.warc.gz")
# insertions that look like framing: record and header starts, gzip magic, separators, lengths
TOKENS = (
    b"WARC/1.0\r\n",
    b"WARC/1.1\r\nWARC-Type: response\r\n",
    b"\r\n\r\n",
    b"\n",
    b"\r\n",
    b"\x1f\x8b",
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff",
    b"Content-Length: 99999999\r\n",
    b"Content-Length: 0\r\n",
    b"Content-Length: -1\r\n",
    b"WARC-Date: 2024-01-01T00:00:00Z\r\n",
    b"WARC-Target-URI: http://x.pt/\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"Content-Type: text/html; charset=undefined\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Content-Encoding: gzip\r\n",
    b"filedesc://x.arc 0.0.0.0 19990101000000 text/plain 76\n",
    b"http://x.pt/ 1.2.3.4 19990101000000 text/html 999999\n",
    b"\x00" * 16,
    b"\xff" * 16,
)


@dataclass(frozen=True)
class Form:
    """A window of a sample file in one framing, with where its records (or gzip members) start."""

    name: str
    data: bytes
    starts: tuple[int, ...]


def _records(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every record of an intact sample, its trailing newlines included."""
    gz = data[:2] == b"\x1f\x8b"
    starts = [r.offset for r in read_archive(io.BytesIO(data), len(data), gzip=gz, max_block_bytes=1 << 30)]
    return list(zip(starts, starts[1:] + [len(data)]))


@cache
def _sample(source: str) -> tuple[bytes, tuple[tuple[int, int], ...]]:
    data = (ARCHIVES / source).read_bytes()
    return data, tuple(_records(data)) if source in WHOLE_SOURCES else ((0, len(data)),)


def _joined(pieces: list[bytes]) -> tuple[bytes, tuple[int, ...]]:
    starts, at = [], 0
    for piece in pieces:
        starts.append(at)
        at += len(piece)
    return b"".join(pieces), tuple(starts)


@cache
def _form(source: str, first: int, count: int, framing: str) -> Form:
    data, records = _sample(source)
    pieces = [data[s:e] for s, e in records[first : first + count]]
    gz = source.endswith(".gz")
    stem = source.removesuffix(".gz")
    if framing == "as_is":
        return Form(source, *_joined(pieces))
    plain = [gzip.decompress(p) for p in pieces] if gz and pieces[0][:2] == b"\x1f\x8b" else pieces
    if framing == "plain":
        return Form(stem, *_joined(plain))
    if framing == "gzip_records":
        return Form(stem + ".gz", *_joined([gzip.compress(p, mtime=0) for p in plain]))
    # one gzip member for the whole file
    return Form(stem + ".gz", gzip.compress(b"".join(plain), mtime=0), (0,))


@st.composite
def archive_windows(draw) -> Form:
    source = draw(st.sampled_from(WHOLE_SOURCES + DAMAGED_SOURCES))
    _, records = _sample(source)
    if source in DAMAGED_SOURCES or draw(st.integers(0, 9)) == 0:
        first, count = 0, len(records)  # the whole file
    else:
        first = draw(st.integers(0, len(records) - 1))
        count = draw(st.integers(1, min(6, len(records) - first)))
    framings = ("as_is",) if source in DAMAGED_SOURCES else ("as_is", "plain", "gzip_records", "gzip_whole")
    framing = draw(st.sampled_from(framings))
    return _form(source, first, count, framing)


def _position(draw, form: Form, size: int, end_ok: bool = False) -> int:
    """Anywhere, or near a record's start (its header, the framing)."""
    top = size if end_ok else max(size - 1, 0)
    if form.starts and draw(st.booleans()):
        at = draw(st.sampled_from(form.starts)) + draw(st.integers(0, 400))
        return min(at, top)
    return draw(st.integers(0, top))


def _piece(source: str, at: int, length: int) -> bytes:
    return _sample(source)[0][at : at + length] or b"\n"


# what an insertion or an overwrite puts in
PIECES = st.one_of(
    st.binary(min_size=1, max_size=64),
    st.sampled_from(TOKENS),
    # a piece of another sample: record headers, HTML, gzip members
    st.builds(_piece, st.sampled_from(WHOLE_SOURCES), st.integers(0, 60_000), st.integers(1, 2048)),
)


@st.composite
def damaged_archives(draw) -> tuple[str, bytes, list]:
    """(file name, bytes, the damage done: (kind, position) in order). The kinds are mutants.py's (bit flips,
    garbage, a duplicated span, zeros, a cut) and overwrites and truncation, up to three in a file."""
    form = draw(archive_windows())
    data, ops = form.data, []
    pieces = PIECES
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(("flip", "overwrite", "insert", "cut", "duplicate", "zeros", "truncate")))
        at = _position(draw, form, len(data), end_ok=kind == "insert")
        if kind == "flip":
            masks = draw(st.lists(st.integers(1, 255), min_size=1, max_size=16))
            burst = bytes(b ^ m for b, m in zip(data[at:], masks))
            data = data[:at] + burst + data[at + len(burst) :]
        elif kind == "overwrite":
            new = draw(pieces)
            data = data[:at] + new + data[at + len(new) :]
        elif kind == "insert":
            data = data[:at] + draw(pieces) + data[at:]
        elif kind == "truncate":
            data = data[:at]
        else:
            length = draw(st.integers(1, 4096))
            if kind == "cut":
                data = data[:at] + data[at + length :]
            elif kind == "duplicate":
                data = data[: at + length] + data[at : at + length] + data[at + length :]
            else:
                data = data[:at] + bytes(len(data[at : at + length])) + data[at + length :]
        ops.append((kind, at))
    return form.name, data, ops


def test_fuzzed_archive_bytes_end_as_documents_or_rejections(tmp_path):
    """Flips, cuts and insertions in the sample archives: the whole extract task, every capture accounted."""
    task = Task(tmp_path)

    @settings(FUZZ, max_examples=_examples(1500))
    @given(damaged_archives())
    def case(damaged):
        name, data, _ = damaged
        task.run(data, name)

    case()
    task.check_leaks()
    print(task.summary("archive bytes"))


# ---------------------------------------------------------------- layer 2: HTTP responses

try:
    import brotli
except ImportError:  # resiliparse's fastwarc brings it; without it "br" bodies are gzip under the wrong label
    brotli = None

# Portuguese pages (the samples' prose) to put in the bodies: a charset that reads them right gives the same
# HTML, so the extractor meets each page once
_TEXTS = [
    page["text"]
    for variety in ("pt_pt", "pt_br")
    for page in yaml.safe_load((SAMPLES / "pages" / f"{variety}.yaml").read_text(encoding="utf-8"))["pages"]
    if page.get("text")
][:40]
PAGE = (
    "<!DOCTYPE html>\n<html{lang}><head>{meta}<title>Página {n}</title></head>\n<body><article>\n{body}\n"
    "</article></body></html>"
)
# the labels servers send (right, wrong, unknown, and codecs Python knows that are not text encodings)
CHARSETS = (
    "utf-8", "UTF8", "utf8", "iso-8859-1", "ISO8859-1", "latin1", "windows-1252", "cp1252", "us-ascii", "ascii",
    "utf-16", "utf-16le", "utf-16be", "utf-32", "utf-8-sig", "koi8-r", "shift_jis", "euc-jp", "gb2312", "big5",
    "iso-8859-15", "x-user-defined", "unknown-8bit", "undefined", "idna", "punycode", "unicode_escape",
    "raw_unicode_escape", "utf-7", "base64", "rot13", "zlib", "hex", "uu", "bz2", "quopri", "mbcs", "cp65001",
    "charmap", "palmos", "",
)  # fmt: skip
# encodings the bodies are really in
BODY_ENCODINGS = ("utf-8", "latin-1", "cp1252", "utf-16", "utf-16-le", "utf-32", "koi8-r", "shift_jis", "utf-8-sig")
MEDIA_TYPES = ("text/html", "TEXT/HTML", "application/xhtml+xml", "text/plain", "image/gif", "", "text/html;;", "x")
LANGUAGES = ("pt-PT", "pt-BR", "pt", "en", "pt_PT, en", "x" * 300, "")
ENCODING_LABELS = ("gzip", "x-gzip", "deflate", "br", "compress", "identity", "GZIP ", "gzip, deflate", "zstd")


@cache
def _bomb(size: int) -> bytes:
    return b"<html><body><p>" + b"a " * (size // 2) + b"</p></body></html>"


def _text_bytes(draw) -> tuple[bytes, str]:
    """A body before transfer and content codings, and the media type to declare."""
    kind = draw(st.sampled_from(("page", "page", "page", "text", "binary", "bomb", "large", "empty")))
    if kind == "binary":
        return draw(st.binary(max_size=2048)), draw(st.sampled_from(MEDIA_TYPES))
    if kind == "empty":
        return draw(st.sampled_from((b"", b" \r\n\t", b"\x00" * 64))), "text/html"
    if kind == "bomb":  # compressed below (to a few kB), it decodes past ingest.max_body_bytes or just under it
        return _bomb(draw(st.sampled_from((MAX_BODY - 64, MAX_BODY + 1, 4 * MAX_BODY, 32 * MAX_BODY)))), "text/html"
    if kind == "large":  # stored as it is: a body past the cap
        return _bomb(MAX_BODY + 2), "text/html"
    if kind == "text":
        text = draw(st.text(max_size=400))
    else:
        n = draw(st.integers(0, len(_TEXTS) - 1))
        meta = ""
        if draw(st.booleans()):
            label = draw(st.sampled_from(CHARSETS))
            equiv = f'<meta http-equiv="Content-Type" content="text/html; charset={label}">'
            meta = draw(st.sampled_from((f'<meta charset="{label}">', equiv)))
        lang = draw(st.sampled_from(("", ' lang="pt-PT"', ' lang="pt-BR"', ' lang="en"', " lang")))
        body = "\n".join(f"<p>{p}</p>" for p in _TEXTS[n].split("\n\n") if p.strip())
        text = PAGE.format(lang=lang, meta=meta, n=n, body=body)
    encoding = draw(st.sampled_from(BODY_ENCODINGS))
    return text.encode(encoding, errors="xmlcharrefreplace"), "text/html"


@lru_cache(maxsize=256)
def _compress(body: bytes, mode: str) -> bytes:
    if mode == "deflate":
        return zlib.compress(body)
    if mode == "raw_deflate":
        squeeze = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return squeeze.compress(body) + squeeze.flush()
    if mode == "br" and brotli is not None:
        return brotli.compress(body)
    return gzip.compress(body, mtime=0)


def _content_coding(draw, body: bytes) -> tuple[bytes, str | None]:
    """Content-Encoding: the body compressed as labelled, mislabelled, unlabelled or cut short."""
    compressed = ("gzip", "deflate", "raw_deflate", "br", "unlabelled")
    bomb = len(body) > MAX_BODY - 100
    mode = draw(st.sampled_from(compressed if bomb else ("none", "none", "label_only", *compressed)))
    if mode == "none":
        return body, None
    if mode == "label_only":
        return body, draw(st.sampled_from(ENCODING_LABELS))
    body = _compress(body, mode)
    label = {"gzip": draw(st.sampled_from(("gzip", "x-gzip", "GZIP "))), "unlabelled": None}.get(mode, mode)
    if label == "raw_deflate":
        label = "deflate"
    if body and draw(st.integers(0, 3)) == 0:  # cut short
        body = body[: draw(st.integers(0, len(body) - 1))]
    return body, label


def _chunked(draw, body: bytes) -> tuple[bytes, str | None]:
    """Transfer-Encoding: chunked, with good chunks, bad sizes, extensions, no last chunk, or only the label."""
    mode = draw(st.sampled_from(("none", "none", "good", "bad", "label_only")))
    if mode == "none":
        return body, None
    label = draw(st.sampled_from(("chunked", "Chunked", "gzip, chunked", " chunked ")))
    if mode == "label_only":
        return body, label
    out, at = b"", 0
    while at < len(body):
        size = draw(st.integers(1, max(1, len(body) - at)))
        field = f"{size:x}".encode()
        if mode == "bad" and draw(st.booleans()):
            field = draw(
                st.sampled_from((b"-6", b"-1", b"-0x10", b"zz", b"", b"ffffffffffffffffffff", b"0", b" 1 ", b"1;x=y"))
            )
        elif draw(st.integers(0, 5)) == 0:
            field = field.upper() + b";ext=1"
        out += field + b"\r\n" + body[at : at + size] + b"\r\n"
        at += size
    if mode == "good" or draw(st.booleans()):
        out += b"0\r\n\r\n"
    return out, label


STATUS_LINES = st.one_of(
    st.just(b"HTTP/1.1 200 OK"),
    st.just(b"HTTP/1.1 200 OK"),
    st.just(b"HTTP/1.1 200 OK"),
    st.sampled_from((b"HTTP/1.1 200 OK", b"HTTP/1.0 200 OK", b"HTTP/2 200", b"HTTP/1.1 200")),
    st.sampled_from((b"HTTP/1.1 404 Not Found", b"HTTP/1.1 301 Moved", b"HTTP/1.1 304", b"HTTP/0.9 200 OK")),
    st.sampled_from((b"HTTP/1.1 99999999999 OK", b"HTTP/1.1 -200 OK", b"HTTP/1.1 +200 OK", b"HTTP/1.1")),
    st.sampled_from((b"http/1.1 200 ok", b" HTTP/1.1 200 OK", b"ICY 200 OK", b"HTTP/1.1 2OO OK", b"")),
    st.builds(lambda n: b"HTTP/1.1 %d X" % n, st.integers(-(2**70), 2**70)),
    st.binary(max_size=40),
)
CONTENT_TYPES = (
    "{media}",
    "{media}; charset={charset}",
    '{media}; charset="{charset}"',
    "{media};charset={charset};charset=utf-8",
    "{media}; charset = '{charset}' ; q=1",
    "{media}; charset={charset}\x00",
)
# more headers: duplicated, contradicting, missing their colon or name, folded, with NUL and non-ASCII bytes
EXTRA_HEADERS = st.lists(
    st.one_of(
        st.sampled_from(
            (
                (b"Content-Length", b"99999999999999999999"),
                (b"Content-Length", b"-1"),
                (b"Content-Type", b""),
                (b"Server", b"Apache/1.3.9 (Unix)"),
                (b"Set-Cookie", b"a=" + b"x" * 5000),
                (b"X-\xe7\xe3o", b"caf\xe9 \xc3\xa7"),
                (b"Bad Header", b""),  # a line with no colon
                (b"", b"empty name"),
                (b"X-Folded", b"first\r\n  continued"),
                (b"X-Nul", b"a\x00b"),
            )
        ),
        st.tuples(st.just(b"Content-Language"), st.sampled_from(LANGUAGES).map(str.encode)),
        st.tuples(st.just(b"Content-Type"), st.sampled_from(CHARSETS).map(lambda c: f"text/html;charset={c}".encode())),
        st.tuples(st.just(b"Content-Encoding"), st.sampled_from(ENCODING_LABELS).map(str.encode)),
    ),
    max_size=4,
)
SEPARATORS = st.sampled_from((b": ", b":", b" : ", b":\t", b":   "))
LINE_ENDS = st.sampled_from((b"\r\n", b"\r\n", b"\n"))


@st.composite
def http_responses(draw) -> bytes:
    """An HTTP response as a crawler stored it: status line, headers, body."""
    text, media = _text_bytes(draw)
    body, coding = _content_coding(draw, text)
    body, transfer = _chunked(draw, body)
    status = draw(STATUS_LINES)
    content_type = draw(st.sampled_from(CONTENT_TYPES)).format(media=media, charset=draw(st.sampled_from(CHARSETS)))
    headers: list[tuple[bytes, bytes]] = [(b"Content-Type", content_type.encode("latin-1"))]
    if coding is not None:
        headers.append((b"Content-Encoding", coding.encode()))
    if transfer is not None:
        headers.append((b"Transfer-Encoding", transfer.encode()))
    if draw(st.booleans()):
        headers.append((b"Content-Length", str(len(body)).encode()))
    headers = draw(st.permutations(headers + draw(EXTRA_HEADERS)))
    separator, eol = draw(SEPARATORS), draw(LINE_ENDS)
    lines = [name if name == b"Bad Header" else name + separator + value for name, value in headers]
    return status + eol + eol.join(lines) + eol + eol + body


URLS = (
    "http://www.exemplo.pt/noticias/a.html",
    "https://www.exemplo.com.br/",
    "http://xn--exemplo-9ta.pt/página?q=ção",
    "http://www.exemplo.pt/a b.html",
    "http://[::1]:80/",
    "https://exemplo.pt",
    "dns:www.exemplo.pt",
)


@st.composite
def response_archives(draw) -> tuple[str, bytes]:
    """1-3 responses (now and then with a request, revisit or metadata record) in a WARC file written by
    warcio's writer. A response's HTTP bytes are stored as generated: the record is built as a resource
    (warcio does not parse its block) and then typed ``response``, so nothing is re-serialised."""
    gz = draw(st.booleans())
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=gz)
    for i in range(draw(st.integers(1, 3))):
        uri = draw(st.sampled_from(URLS))
        headers = {"WARC-Date": f"2024-01-01T00:00:{i:02d}Z"}
        other = draw(st.sampled_from((None,) * 6 + ("request", "revisit", "metadata")))
        if other == "revisit":
            record = writer.create_revisit_record(
                uri, "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ", uri, "2023-01-01T00:00:00Z", warc_headers_dict=headers
            )
        elif other is not None:
            block = b"GET / HTTP/1.1\r\nHost: exemplo.pt\r\n\r\n" if other == "request" else b"via: x\r\n"
            record = writer.create_warc_record(uri, other, payload=io.BytesIO(block), warc_headers_dict=headers)
        else:
            block = draw(http_responses())
            record = writer.create_warc_record(
                uri,
                "resource",
                payload=io.BytesIO(block),
                length=len(block),
                warc_content_type="application/http; msgtype=response",
                warc_headers_dict=headers,
            )
            record.rec_type = "response"
            record.rec_headers.replace_header("WARC-Type", "response")
        writer.write_record(record)
    return ("case.warc.gz" if gz else "case.warc"), out.getvalue()


# a body labelled 'unicode_escape' (a codec Python has, no browser) warns of its stray backslashes
@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")
def test_generated_http_responses_end_as_documents_or_rejections(tmp_path):
    """Status lines, headers, charsets, content and transfer codings: every response a document or a
    rejection, decompression bombs refused at the cap in bounded memory."""
    task = Task(tmp_path)

    @settings(FUZZ, max_examples=_examples(1500))
    @given(response_archives())
    def case(archive):
        name, data = archive
        task.run(data, name)

    case()
    task.check_leaks()
    print(task.summary("HTTP responses"))


# ---------------------------------------------------------------- what the fuzzing found: regressions


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return Task(tmp_path_factory.mktemp("fuzz_regressions"), warm_up=False)


def _one_response(block: bytes) -> bytes:
    """A WARC file holding one response record whose block is ``block``, byte for byte."""
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    record = writer.create_warc_record(
        URLS[0],
        "resource",
        payload=io.BytesIO(block),
        length=len(block),
        warc_content_type="application/http; msgtype=response",
        warc_headers_dict={"WARC-Date": "2024-01-01T00:00:00Z"},
    )
    record.rec_type = "response"
    record.rec_headers.replace_header("WARC-Type", "response")
    writer.write_record(record)
    return out.getvalue()


def _page() -> bytes:
    return PAGE.format(lang="", meta="", n=0, body=f"<p>{_TEXTS[0]}</p>").encode()


def test_a_status_code_that_is_not_three_digits_is_a_broken_header(task):
    """Found by the HTTP layer: "HTTP/1.1 99999999999 OK" was read as status 99999999999, which the writer
    cannot store (int32): the task died in the writer, losing the file's documents."""
    for status in (b"99999999999", b"-200", b"2_00"):
        block = b"HTTP/1.1 " + status + b" OK\r\nContent-Type: text/html\r\n\r\n" + _page()
        [doc] = task.run(_one_response(block), "case.warc")
        assert doc.metadata["reject"] == "bad_http_headers", status


def test_a_charset_whose_codec_raises_a_plain_unicode_error_is_ignored(task):
    """Found by the HTTP layer: the 'undefined' and 'punycode' codecs raise UnicodeError, not
    UnicodeDecodeError; a page labelled with them stopped the task."""
    assert payload.decode_html("<p>olá</p>".encode("cp1252"), "text/html; charset=undefined") == (
        "<p>olá</p>",
        "cp1252",
    )
    assert payload.decode_html(b"<p>ola</p>", "text/html; charset=punycode")[0] == "<p>ola</p>"
    for label in (b"undefined", b"punycode"):
        block = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=" + label + b"\r\n\r\n" + _page()
        [doc] = task.run(_one_response(block), "case.warc")
        assert "reject" not in doc.metadata and "Câmara Municipal" in doc.text, label


def test_a_negative_chunk_size_ends_dechunking():
    """Found by the HTTP layer: a chunk size of "-6" sent the parser back to where it started, for ever,
    the output growing by the body's length each turn (the task hung, then exhausted memory)."""
    with bounded(256 << 20, cpu_s=5):
        assert payload.dechunk(b"-6\r\n") == b"-6\r\n"
        assert payload.dechunk(b"-6\r\n" + b"x" * 4096) == b"-6\r\n" + b"x" * 4096
        assert payload.dechunk(b"3\r\nabc\r\n-6\r\nxyz") == b"abc"
