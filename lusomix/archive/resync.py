"""Finding where records start: how a reader gets back on its feet after a damaged span.

A record starts with a WARC version line (``WARC/1.0``, ``WARC/1.1``) or an ARC URL-record line
(``URL IP YYYYMMDDhhmmss TYPE … LENGTH``). In a per-record gzip file each record is its own gzip member, so
a record starts where a gzip member header (``1f 8b 08``, reserved flag bits clear) decompresses to such a
line. ``next_start`` scans a byte range for the first such place, in fixed-size windows: linear time and
bounded memory, whatever the file holds. A place found here is only a candidate; the reader confirms it by
reading the whole record there (CRC, Content-Length, digest).
"""

from __future__ import annotations

import re
import zlib
from typing import BinaryIO

WINDOW = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b\x08"
# a gzip member header holds 10 bytes; the record line follows within the first few hundred compressed bytes
_GZIP_PROBE = 4096
LINE_PROBE = 2100  # an ARC line may run to 2 KiB
_WARC_LINE = re.compile(rb"WARC/(?:1\.[01]|0\.1[78])\r?\n")
# ARC v1 "URL IP DATE TYPE LENGTH" and v2 (more fields between DATE and LENGTH); a URL has a scheme
_ARC_LINE = re.compile(rb"[a-z][a-z0-9+.-]*:[^ \r\n]* [^ \r\n]+ \d{14} [^\r\n]{0,2048} \d+\r?\n")
# a cheap first pass over raw bytes: a line that begins like one of the two
_PLAIN_PREFILTER = re.compile(rb"\n(?=WARC/[01]\.|[a-z][a-z0-9+.-]*:[^ \r\n]* [^ \r\n]+ \d{14} )")


def starts_record(head: bytes) -> bool:
    """Whether bytes begin with a WARC version line or an ARC URL-record line."""
    return bool(_WARC_LINE.match(head) or _ARC_LINE.match(head))


def gzip_member_starts_record(data: bytes) -> bool:
    """Whether ``data`` begins a gzip member whose decompressed start is a record line."""
    if not data.startswith(_GZIP_MAGIC) or len(data) < 10 or data[3] & 0xE0:
        return False
    try:
        head = zlib.decompressobj(31).decompress(data, LINE_PROBE)
    except zlib.error:
        return False
    return starts_record(head)


def next_start(fh: BinaryIO, start: int, end: int, gzip: bool) -> int | None:
    """The first candidate record start in ``[start, end)``, or None."""
    if start >= end:
        return None
    if gzip:
        return _next_member(fh, start, end)
    # plain: a record starts a line, so the byte before it is a newline (or it is the file's first byte)
    if start == 0:
        fh.seek(0)
        if starts_record(fh.read(LINE_PROBE)):
            return 0
        start = 1
    pos = start - 1
    while pos < end - 1:
        fh.seek(pos)
        limit = min(WINDOW, end - 1 - pos)  # newlines at pos .. pos+limit-1; the probe reads past them
        window = fh.read(limit + LINE_PROBE)
        for match in _PLAIN_PREFILTER.finditer(window):  # endpos would hide the lookahead's bytes
            if match.start() >= limit:
                break
            if starts_record(window[match.start() + 1 : match.start() + 1 + LINE_PROBE]):
                return pos + match.start() + 1
        pos += limit
    return None


def _next_member(fh: BinaryIO, start: int, end: int) -> int | None:
    pos = start
    while pos < end:
        fh.seek(pos)
        limit = min(WINDOW, end - pos)
        window = fh.read(limit + _GZIP_PROBE)  # the probe reads past the window: a header near its end is whole
        at = window.find(_GZIP_MAGIC, 0, limit + 2)
        while 0 <= at < limit:
            if gzip_member_starts_record(window[at : at + _GZIP_PROBE]):
                return pos + at
            at = window.find(_GZIP_MAGIC, at + 1, limit + 2)
        pos += limit
    return None
