"""WARC/ARC records read so that a damaged span costs only the records it touches.

``read_archive`` walks a file record by record and yields ``Record``s and, for every stretch it could not
read, a ``DamagedSpan`` (byte range, damaged records, why). warcio parses each record's header (WARC and
ARC, ARC mapped to WARC headers); the framing around it is ours, because warcio stops at the first damage
and reads a gzip error in mid-file as a clean end of data.

What makes a record whole:
- per-record gzip (``.warc.gz``, ``.arc.gz``): its gzip member inflates without error and ends with the
  record (zlib checks the member's CRC-32 and length);
- uncompressed: after its Content-Length comes a record start or the end of the file, or its
  ``WARC-Block-Digest`` matches. A record whose declared length runs into the next record is cut there.

After damage the reader looks for the next record start (``resync.next_start``) and goes on. A record whose
header was read but whose bytes are damaged comes out with ``damage`` set (the ingest step rejects it with
that reason), so rejected/ names the lost captures. A whole-file gzip (one member for all records) cannot be
resumed inside: the records before the damage are kept, the span runs to the end of the file.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from warcio.limitreader import LimitReader
from warcio.recordloader import ArcWarcRecordLoader
from warcio.statusandheaders import StatusAndHeaders

from lusomix.archive.resync import LINE_PROBE, next_start, starts_record

_CHUNK = 1 << 16
_INFLATE_INPUT = 1 << 14
_MAX_LINE = 1 << 16  # one header line; longer is not WARC/ARC
_MAX_HEAD = 1 << 20  # one record's header block
_LOADER = ArcWarcRecordLoader(verify_http=False, arc2warc=True)
# warcio logs every URI with spaces it mends, whole: on damaged bytes, kilobytes of garbage per record
logging.getLogger("warcio.recordloader").setLevel(logging.ERROR)
# fields a record's header holds once
_ONCE = frozenset(
    {"warc-type", "warc-date", "warc-target-uri", "warc-record-id", "content-length", "warc-block-digest"}
)
_DATE_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y%m%d%H%M%S", "%Y-%m-%dT%H:%M:%S%z")


@dataclass
class Record:
    offset: int  # where the record starts in the file (its gzip member, for per-record gzip)
    rec_type: str
    headers: StatusAndHeaders  # WARC headers (ARC records mapped to WARC names by warcio)
    block: bytes  # the record block (HTTP headers + body for a response), its first max_block_bytes
    oversize: bool = False  # the block was longer than max_block_bytes (the rest was read and dropped)
    damage: str | None = None  # set: the header was read, the bytes after it are damaged


@dataclass
class DamagedSpan:
    start: int
    end: int  # exclusive; the next record read, or the file's size
    records: int  # damaged records whose header was read here (they come out with ``damage`` set)
    why: str  # the first problem met in the span


class _Broken(Exception):
    """The bytes at a position do not read as a whole record."""

    def __init__(
        self,
        why: str,
        record: Record | None = None,
        resume: int | None = None,
        scan_from: int = 0,
        at: int | None = None,
    ):
        super().__init__(why)
        self.why = why
        self.at = at  # where the damage begins, when not at the record being read
        self.record = record  # the damaged record, when its header was read
        self.resume = resume  # a record start already found (a length that runs into the next record)
        self.scan_from = scan_from  # where to look for the next record start


def parse_date(value: str | None) -> datetime | None:
    """A WARC (ISO 8601) or ARC (14 digits) date, in UTC."""
    if not value:
        return None
    value = value.strip()
    if len(value) > 14:  # ISO 8601, the WARC form: the C parser first (strptime costs ~20 µs a record)
        try:
            return _utc(datetime.fromisoformat(value))
        except ValueError:
            pass
    for fmt in _DATE_FORMATS:
        try:
            return _utc(datetime.strptime(value, fmt))
        except ValueError:
            continue
    return None


def _utc(parsed: datetime) -> datetime:
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def read_archive(fh: BinaryIO, size: int, *, gzip: bool, max_block_bytes: int) -> Iterator[Record | DamagedSpan]:
    """Every readable record of a seekable file, and a span for every stretch that is not."""
    pos, span = 0, None
    while pos < size:
        unit = _member_records(fh, pos, max_block_bytes) if gzip else _plain_record(fh, pos, size, max_block_bytes)
        try:
            while True:
                record = next(unit)
                if span is not None:  # a whole record read again: the damaged span ends here
                    span.end = pos
                    yield span
                    span = None
                yield record
        except StopIteration as done:
            pos = done.value
        except _Broken as broken:
            if span is None:
                span = DamagedSpan(pos if broken.at is None else broken.at, size, 0, broken.why)
            if broken.record is not None:
                span.records += 1
                yield broken.record
            resume = broken.resume
            if resume is None:
                resume = next_start(fh, max(broken.scan_from, pos + 1), size, gzip)
            if resume is None:
                span.end = size
                yield span
                return
            pos = resume


def _plain_record(fh: BinaryIO, pos: int, size: int, max_block_bytes: int) -> Generator[Record, None, int]:
    """The uncompressed record at ``pos``; returns where the next one starts."""
    stream = _Plain(fh, pos)
    head = _head(stream, pos)
    block_start = stream.tell()
    digest = _BlockDigest.of(head.rec_headers)
    block, oversize, complete = _read_block(head.raw_stream, max_block_bytes, digest)
    record = Record(pos, head.rec_type or "unknown", head.rec_headers, block, oversize)
    if not complete:
        raise _Broken(f"the file ends inside the record at byte {pos}", _damaged(record), scan_from=size)
    after = stream.tell()
    fh.seek(after)
    trail = fh.read(8)
    following = after + len(trail) - len(trail.lstrip(b"\r\n"))
    digest_ok = digest.matches() if digest else None
    if digest_ok is None:
        # no digest: the length is trusted when a record (or the end of the file) follows it, or, in a WARC
        # file, when the record separator does and no record starts inside (an ARC separator is one
        # newline: too common to trust)
        whole = following >= size or _record_at(fh, following)
        if not whole and trail.startswith(b"\r\n\r\n") and _warc_at(fh, pos):
            whole = next_start(fh, block_start, after, gzip=False) is None
    else:
        whole = digest_ok
    if whole:
        yield record
        return following
    # the declared length is wrong (or the block changed): the record is damaged; reading resumes at a
    # record that starts inside its declared bytes, if one does
    inside = next_start(fh, block_start, after, gzip=False)
    if inside is not None:
        why = f"the record at byte {pos} runs into the record at byte {inside}"
    elif digest_ok is False:
        why = f"the record at byte {pos} does not match its WARC-Block-Digest"
    else:
        why = f"the record at byte {pos} does not end where its Content-Length says"
    raise _Broken(why, _damaged(record), resume=inside, scan_from=after)


def _member_records(fh: BinaryIO, pos: int, max_block_bytes: int) -> Generator[Record, None, int]:
    """The record(s) of the gzip member at ``pos``; returns where the next member starts. A member holds
    one record, except in a whole-file gzip, whose later records are placed at the member's offset plus
    their offset in the decompressed stream."""
    member = _Member(fh, pos)
    offset = pos
    while True:
        try:
            head = _head(member, offset)
        except _Broken as broken:
            if offset == pos:
                raise
            raise _Broken(
                f"{broken.why} (a whole-file gzip: nothing after it can be read)", at=member.consumed
            ) from None
        record = Record(offset, head.rec_type or "unknown", head.rec_headers, b"")
        try:
            record.block, record.oversize, complete = _read_block(head.raw_stream, max_block_bytes, None)
            if not complete:
                raise _Broken(f"the record at byte {offset} runs past the end of its gzip member")
            more = member.more()
        except _Broken as broken:
            if offset == pos:
                raise _Broken(broken.why, _damaged(record)) from None
            # inside a whole-file gzip: the damage is near the compressed bytes read so far
            why = f"{broken.why} (a whole-file gzip: nothing after it can be read)"
            raise _Broken(why, _damaged(record), at=member.consumed) from None
        if not more:
            yield record
            assert member.end is not None  # more() is False only at the member's end
            return member.end
        # another record in the same member: a whole-file gzip, read on without the CRC check of the end
        yield record
        offset = pos + member.out


def _damaged(record: Record) -> Record:
    record.block, record.oversize = b"", False
    record.damage = "damaged_record"
    return record


def _warc_at(fh: BinaryIO, pos: int) -> bool:
    fh.seek(pos)
    return fh.read(5) == b"WARC/"


def _record_at(fh: BinaryIO, pos: int) -> bool:
    fh.seek(pos)
    return starts_record(fh.read(LINE_PROBE))


def _head(stream: _Plain | _Member, offset: int):
    """warcio's parse of the record header at ``offset``, checked: warcio reads any line that is not a WARC
    header as an ARC header line, so garbage comes out as an 'ARC response' with a nonsense URL. Every real
    record has a date and a valid length; captures have a URL."""
    stream.head_bytes = 0
    try:
        head = _LOADER.parse_record_stream(stream, no_record_parse=True)
    except _Broken:
        raise
    except Exception:  # warcio's parse errors, EOF, undecodable bytes
        raise _Broken(f"not WARC/ARC data at byte {offset}") from None
    headers = head.rec_headers
    uri = headers.get_header("WARC-Target-URI") or ""
    has_url = ("://" in uri or uri.startswith(("dns:", "filedesc:", "urn:"))) and uri.isprintable()
    length = headers.get_header("Content-Length") or ""
    names = [name.lower() for name, _ in headers.headers if name.lower() in _ONCE]
    if (
        len(names) != len(set(names))  # two records' headers run together
        or not parse_date(headers.get_header("WARC-Date"))
        or (head.rec_type in ("response", "revisit", "request") and not has_url)
        or not length.strip().isdigit()
        or not isinstance(head.raw_stream, LimitReader)
    ):
        raise _Broken(f"not WARC/ARC data at byte {offset}")
    return head


def _read_block(stream: LimitReader, max_bytes: int, digest: _BlockDigest | None) -> tuple[bytes, bool, bool]:
    """(the block's first max_bytes, whether it was longer, whether all its declared bytes were there)."""
    parts, kept, total = [], 0, 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
        if digest:
            digest.update(chunk)
        if kept < max_bytes:
            parts.append(chunk[: max_bytes - kept])
            kept += len(parts[-1])
    return b"".join(parts), total > max_bytes, stream.limit == 0


class _BlockDigest:
    """A record's WARC-Block-Digest (``sha1:BASE32``, or hex), checked over the block as read."""

    def __init__(self, algorithm: str, expected: str):
        self._hash = hashlib.new(algorithm)
        self._expected = expected

    @classmethod
    def of(cls, headers: StatusAndHeaders) -> _BlockDigest | None:
        value = headers.get_header("WARC-Block-Digest") or ""
        algorithm, _, expected = value.partition(":")
        algorithm = algorithm.strip().lower().replace("-", "")
        if algorithm not in ("sha1", "sha256", "md5") or not expected.strip():
            return None
        return cls(algorithm, expected.strip())

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def matches(self) -> bool:
        digest = self._hash.digest()
        return self._expected.upper() == base64.b32encode(digest).decode() or self._expected.lower() == digest.hex()


class _Plain:
    """An uncompressed file read from ``start``, with header lines bounded."""

    def __init__(self, fh: BinaryIO, start: int):
        fh.seek(start)
        self._fh = fh
        self.head_bytes = 0

    def read(self, n: int | None = None) -> bytes:
        return self._fh.read(-1 if n is None else n)

    def readline(self, limit: int | None = None) -> bytes:
        line = self._fh.readline(_MAX_LINE if limit is None else min(limit, _MAX_LINE))
        self.head_bytes += len(line)
        if self.head_bytes > _MAX_HEAD:
            raise _Broken(f"no record header ends within {_MAX_HEAD} bytes")
        return line

    def tell(self) -> int:
        return self._fh.tell()


class _Member:
    """One gzip member read from ``start`` as a stream of its decompressed bytes. Strict where warcio's
    reader is lenient: a zlib error (a bad CRC included) or an early end of file raises."""

    def __init__(self, fh: BinaryIO, start: int):
        fh.seek(start)
        self._fh = fh
        self._inflate = zlib.decompressobj(31)
        self._buf = b""
        self._at = 0
        self.start = start
        self.consumed = start  # file position after the compressed bytes given to zlib
        self.out = 0  # decompressed bytes handed out
        self.end: int | None = None  # where the member ends, once its trailer is read
        self.head_bytes = 0

    def _fill(self) -> bool:
        if self.end is not None:
            return False
        data = self._inflate.unconsumed_tail
        if not data:
            # small inputs: zlib drops the output of the input that fails, and a whole-file gzip keeps the
            # records inflated before its damage
            data = self._fh.read(_INFLATE_INPUT)
            if not data:
                raise _Broken("the file ends inside a gzip member")
            self.consumed += len(data)
        try:
            out = self._inflate.decompress(data, 4 * _CHUNK)
        except zlib.error as err:
            if self.consumed - len(data) == self.start and not data.startswith(b"\x1f\x8b"):
                raise _Broken(f"not a gzip member at byte {self.start}") from None
            raise _Broken(f"damaged gzip data near byte {self.consumed} ({err})") from None
        if self._inflate.eof:
            self.end = self.consumed - len(self._inflate.unused_data)
        self._buf = self._buf[self._at :] + out
        self._at = 0
        return True

    def _take(self, n: int) -> bytes:
        chunk = self._buf[self._at : self._at + n]
        self._at += len(chunk)
        self.out += len(chunk)
        return chunk

    def read(self, n: int | None = None) -> bytes:
        while (n is None or len(self._buf) - self._at < n) and self._fill():
            pass
        return self._take(len(self._buf) - self._at if n is None else n)

    def readline(self, limit: int | None = None) -> bytes:
        cap = _MAX_LINE if limit is None else min(limit, _MAX_LINE)
        while True:
            newline = self._buf.find(b"\n", self._at, self._at + cap)
            if newline >= 0:
                line = self._take(newline + 1 - self._at)
                break
            if len(self._buf) - self._at >= cap or not self._fill():
                line = self._take(cap)
                break
        self.head_bytes += len(line)
        if self.head_bytes > _MAX_HEAD:
            raise _Broken(f"no record header ends within {_MAX_HEAD} bytes")
        return line

    def tell(self) -> int:
        return self.out

    def more(self) -> bool:
        """Skip the newlines after a record; whether another record follows in this member. Reading to
        the member's end makes zlib check its CRC; bytes that do not start a record are damage."""
        while True:
            rest = self._buf[self._at :]
            data = rest.lstrip(b"\r\n")
            self._take(len(rest) - len(data))
            if data:
                while len(self._buf) - self._at < LINE_PROBE and self._fill():
                    pass
                if not starts_record(self._buf[self._at : self._at + LINE_PROBE]):
                    raise _Broken("the gzip member goes on after its record with bytes that start no record")
                return True
            if not self._fill():
                return False
