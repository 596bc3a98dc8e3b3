"""HTTP payloads of archived captures: transfer/content decoding under a size cap, and charset decoding.

Pure functions over bytes. Archives hold what servers sent, so every layer may lie: chunked bodies that are
not chunked, gzip that is truncated, pages declared ISO-8859-1 that are really UTF-8 (and the reverse), old
Portuguese pages in windows-1252 with no declaration at all. Each function degrades instead of failing.
"""

from __future__ import annotations

import codecs
import re
import zlib

# The first bytes decide <meta charset>; browsers look at the first 1024, some pages put it later.
_META_SNIFF_BYTES = 4096
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_CT_CHARSET = re.compile(r"charset\s*=\s*[\"']?\s*([a-zA-Z0-9_.:-]+)", re.IGNORECASE)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Labels that mean "one byte per character, Western": a UTF-8 page mislabelled with one of these is the
# commonest mojibake source in Arquivo.pt ("informaÃ§Ã£o").
_SINGLE_BYTE_WESTERN = frozenset({"latin-1", "iso8859-1", "cp1252", "ascii", "iso8859-15"})


class BodyTooLarge(Exception):
    """The decoded body would exceed the cap (e.g. a decompression bomb)."""


def media_type(content_type: str | None) -> str:
    """'text/html; charset=UTF-8' -> 'text/html'."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def dechunk(body: bytes) -> bytes:
    """Undo Transfer-Encoding: chunked. Returns the body unchanged when it is not valid chunked data
    (archived headers often keep 'chunked' for bodies the crawler already de-chunked)."""
    out = bytearray()
    pos = 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            return bytes(out) if out else body
        size_field = body[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            size = -1
        if size < 0:  # not a chunk size (a negative one, "-6", would send the parse backwards for ever)
            return bytes(out) if out else body
        if size == 0:
            return bytes(out)
        start = eol + 2
        out += body[start : start + size]
        pos = start + size + 2
        if start + size > len(body):  # truncated final chunk: keep what arrived
            return bytes(out)


def decompress(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """Undo Content-Encoding gzip/deflate, never producing more than ``max_bytes`` (else BodyTooLarge).
    A truncated stream gives what could be decoded; an unknown encoding or plain bytes pass through."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity", "none"):
        if len(body) > max_bytes:
            raise BodyTooLarge(len(body))
        return body
    wbits_options: tuple[int, ...]
    if encoding in ("gzip", "x-gzip"):
        wbits_options = (16 + zlib.MAX_WBITS,)
    elif encoding == "deflate":  # servers send both zlib-wrapped and raw deflate under this name
        wbits_options = (zlib.MAX_WBITS, -zlib.MAX_WBITS)
    else:
        return body
    for wbits in wbits_options:
        decoder = zlib.decompressobj(wbits)
        try:
            out = decoder.decompress(body, max_bytes + 1)
        except zlib.error:
            continue
        if len(out) > max_bytes:
            raise BodyTooLarge(max_bytes)
        return out
    return body  # labelled compressed but is not: archives are full of such headers


def declared_charset(content_type: str | None, body: bytes) -> tuple[str | None, str | None]:
    """(charset from the HTTP header, charset from <meta>), as Python codec names, None when absent/unknown."""
    header = _CT_CHARSET.search(content_type or "")
    meta = _META_CHARSET.search(body[:_META_SNIFF_BYTES])
    return _codec(header.group(1) if header else None), _codec(
        meta.group(1).decode("ascii", "ignore") if meta else None
    )


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().lower()).name
    except LookupError:
        return None
    # WHATWG: browsers decode latin-1 and ascii labels as windows-1252 (curly quotes, €, – in 0x80-0x9f)
    return "cp1252" if name in ("latin-1", "iso8859-1", "ascii") else name


def decode_html(body: bytes, content_type: str | None) -> tuple[str, str]:
    """Decode an HTML body to text; returns (text, charset actually used).

    Order: HTTP header, then <meta>, then detection — but a declaration is only trusted when the bytes
    agree with it. Valid UTF-8 with non-ASCII bytes is UTF-8 whatever the label says (latin-1 text that is
    also valid UTF-8 is vanishingly rare), and a page labelled UTF-8 whose bytes are not UTF-8 is decoded
    as windows-1252, the encoding of undeclared old Portuguese pages.
    """
    header, meta = declared_charset(content_type, body)
    declared = header or meta
    is_ascii = body.isascii()
    if not is_ascii and (declared is None or declared == "utf-8" or declared in _SINGLE_BYTE_WESTERN):
        try:
            return body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
    if declared and declared != "utf-8":
        try:
            return body.decode(declared), declared
        except (UnicodeError, LookupError):  # UnicodeError: codecs such as 'undefined' and 'punycode' raise it
            pass
    if is_ascii:
        return body.decode("ascii"), declared or "ascii"
    return body.decode("cp1252", errors="replace"), "cp1252"
