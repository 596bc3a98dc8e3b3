"""Capture indexes (CDXJ, CDX 11-column) and the selection of the captures a run reads.

pywb-style archives keep, beside the archive files, one index line per capture: its SURT key, timestamp,
URL, MIME type, HTTP status, payload digest, and where the record lies (file, offset, length). With one, a
run reads only the records it will use instead of every byte of every file. ``parse_line`` reads both
formats; ``select`` is a pure function from entries to the ones a ``Selection`` keeps.

An entry's ``filename`` is kept as written (usually relative); where it leads is the caller's business
(``lusomix.archive.sources``).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import Field, field_validator

from lusomix.config_base import StageConfig
from lusomix.filters.payload import HTML_TYPES

# MIME values an indexer writes when the capture declared none: the pass reads those as HTML when they
# look like HTML, so the default selection keeps them
UNKNOWN_MIME = frozenset({"", "-", "unk", "unknown", "none"})
_GLOB_CHARS = frozenset("*?[")


class IndexLineError(ValueError):
    """A line that is neither CDXJ nor CDX 11-column, or lacks what a capture needs to be read."""


@dataclass(frozen=True)
class IndexEntry:
    surt: str
    timestamp: str  # 14 digits, YYYYMMDDhhmmss
    url: str
    mime: str  # lower case, no parameters
    status: int | None
    digest: str  # the payload digest as written ("sha1:BASE32" or bare BASE32), "" when none
    filename: str
    offset: int
    length: int


def parse_line(line: str) -> IndexEntry | None:
    """One index line → an entry; None for a blank line or a CDX header (`` CDX N b a m s k r M S V g``)."""
    text = line.strip()
    if not text or text.startswith(("CDX ", "!")):
        return None
    surt, _, rest = text.partition(" ")
    timestamp, _, rest = rest.partition(" ")
    if rest.startswith("{"):
        try:
            fields = json.loads(rest)
        except json.JSONDecodeError:
            raise IndexLineError("CDXJ line whose third part is not JSON") from None
        if not isinstance(fields, dict):
            raise IndexLineError("CDXJ line whose third part is not a JSON object")
        return _entry(surt, timestamp, fields)
    columns = text.split()
    if len(columns) != 11:
        raise IndexLineError(f"neither CDXJ (SURT TIMESTAMP {{json}}) nor CDX 11-column ({len(columns)} columns)")
    _, _, url, mime, status, digest, _redirect, _robots, length, offset, filename = columns
    fields = {"url": url, "mime": mime, "status": status, "digest": digest}
    return _entry(surt, timestamp, fields | {"length": length, "offset": offset, "filename": filename})


def _entry(surt: str, timestamp: str, fields: dict) -> IndexEntry:
    if not (timestamp.isascii() and timestamp.isdigit() and 4 <= len(timestamp) <= 14):
        raise IndexLineError(f"timestamp {timestamp!r} is not 4 to 14 digits")
    missing = [key for key in ("url", "filename", "offset", "length") if str(fields.get(key, "-")) in ("", "-")]
    if missing:
        raise IndexLineError(f"no {', '.join(missing)}: the record cannot be read by offset")
    try:
        offset, length = int(fields["offset"]), int(fields["length"])
    except (TypeError, ValueError):
        raise IndexLineError("offset and length must be whole numbers") from None
    if offset < 0 or length <= 0:
        raise IndexLineError(f"offset {offset} and length {length} do not name a byte range")
    status = str(fields.get("status", "")).strip()
    return IndexEntry(
        surt=surt,
        timestamp=timestamp.ljust(14, "0"),
        url=str(fields["url"]),
        mime=_bare_mime(str(fields.get("mime", ""))),
        status=int(status) if status.isascii() and status.isdigit() else None,
        digest=str(fields.get("digest", "")).strip().removeprefix("-"),
        filename=str(fields["filename"]),
        offset=offset,
        length=length,
    )


def _bare_mime(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def parse_lines(lines: Iterable[str], source: str) -> list[IndexEntry]:
    """Every entry of an index file; a malformed line is an ``IndexLineError`` naming ``source:line``."""
    entries = []
    for number, line in enumerate(lines, 1):
        try:
            entry = parse_line(line)
        except IndexLineError as err:
            raise IndexLineError(f"{source}:{number}: {err}") from None
        if entry is not None:
            entries.append(entry)
    return entries


def read_index_file(path: str) -> list[IndexEntry]:
    """Every entry of one index file, local or remote (fsspec), plain or gzip-compressed (``.gz``)."""
    import fsspec

    with fsspec.open(path, "rt", encoding="utf-8", compression="infer") as lines:
        return parse_lines(lines, path)


def _time_bound(value: str | None, fill: str) -> str | None:
    """'2009', '2009-05', '2009-05-01T10:00' → 14 digits, the missing ones filled (0 from, 9 until)."""
    if value is None:
        return None
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    if not 4 <= len(digits) <= 14:
        raise ValueError(f"{value!r}: give a year, a date or a date and time (YYYY[-MM[-DD[Thh[:mm[:ss]]]]])")
    return digits.ljust(14, fill)


class Selection(StageConfig):
    """Which captures of an index a run reads. The defaults keep what the extract pass keeps anyway."""

    mime: list[str] = Field(
        default_factory=lambda: sorted(HTML_TYPES | UNKNOWN_MIME),
        description="MIME types read (the index's 'mime'); the default: HTML, and captures that declared none",
    )
    status: list[int] = Field(default_factory=lambda: [200], description="HTTP statuses read")
    urls: list[str] = Field(
        default_factory=list,
        description="URL prefixes (http://…), SURT prefixes (pt,gov)/…) or globs (* ? [ ]) over either; "
        "empty: every URL",
    )
    crawled_from: str | None = Field(None, description="earliest capture time read, e.g. 2009 or 2009-05-01")
    crawled_until: str | None = Field(None, description="latest capture time read (inclusive), e.g. 2012")
    one_per_digest: bool = Field(False, description="read one capture (the earliest) per payload digest")

    @field_validator("crawled_from", "crawled_until")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        _time_bound(value, "0")
        return value

    @field_validator("mime")
    @classmethod
    def _mime(cls, values: list[str]) -> list[str]:
        return [_bare_mime(v) for v in values]

    def keeps(self, entry: IndexEntry) -> bool:
        """Whether the selection reads this capture (``one_per_digest`` aside: it needs every entry)."""
        if entry.mime not in self.mime and not (entry.mime in UNKNOWN_MIME and "" in self.mime):
            return False
        if entry.status not in self.status:
            return False
        start, end = _time_bound(self.crawled_from, "0"), _time_bound(self.crawled_until, "9")
        if (start and entry.timestamp < start) or (end and entry.timestamp > end):
            return False
        return not self.urls or any(_url_matches(pattern, entry) for pattern in self.urls)


def _url_matches(pattern: str, entry: IndexEntry) -> bool:
    if _GLOB_CHARS & set(pattern):
        return fnmatch.fnmatchcase(entry.url, pattern) or fnmatch.fnmatchcase(entry.surt, pattern)
    return entry.url.startswith(pattern) or entry.surt.startswith(pattern)


def select(entries: Iterable[IndexEntry], selection: Selection) -> list[IndexEntry]:
    """The entries ``selection`` keeps, in (file, offset) order; with ``one_per_digest``, the earliest
    capture of each payload digest (entries without a digest are all kept)."""
    kept = [entry for entry in entries if selection.keeps(entry)]
    if selection.one_per_digest:
        first: dict[str, IndexEntry] = {}
        for entry in sorted(kept, key=lambda e: (e.timestamp, e.filename, e.offset)):
            first.setdefault(digest_key(entry.digest), entry)
        kept = [entry for entry in kept if not entry.digest or first[digest_key(entry.digest)] is entry]
    return sorted(set(kept), key=lambda e: (e.filename, e.offset))


def digest_key(digest: str) -> str:
    """'sha1:ABC', 'ABC' and 'sha1:abc' (hex is lower case, base32 upper case) are the same digest."""
    return digest.rpartition(":")[2].upper()
