"""Records of the sample archives: the Capture a manifest line describes, its expectation, HTTP helpers.

Shared by make_samples.py (pages) and sample_specials.py (redirects, errors, images, revisits, ...).
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit

FILES = {
    "arc1999": "arquivo-1999.arc.gz",
    "arc2000": "arquivo-2000.arc",
    "w05": "crawl-2005-2008.warc.gz",
    "w09": "crawl-2009-2012.warc",
    "w13": "crawl-2013-2016.warc.gz",
    "w17": "crawl-2017-2020.warc.gz",
    "w21": "crawl-2021-2024.warc",
    "trunc": "damaged-truncated.warc.gz",
    "badhdr": "damaged-bad-headers.warc",
    # page evidence of the variety (URL, declared languages); last, so the files above keep their order
    "w25": "evidence-2025.warc.gz",
}
GARBAGE, EMPTY = "damaged-garbage.warc.gz", "damaged-empty.warc"
# what each crawl wrote besides responses, and the web server its pages came from
WARC_STYLE = {
    "w05": {"version": "1.0", "requests": True, "server": "Apache/2.0.52 (Red Hat)"},
    "w09": {"version": "1.0", "server": "Apache/2.2.15 (CentOS)"},
    "w13": {"version": "1.0", "requests": True, "server": "nginx/1.4.6 (Ubuntu)"},
    "w17": {"version": "1.0", "requests": True, "metadata": True, "identify": True, "server": "nginx"},
    "w21": {"version": "1.1", "server": "nginx/1.18.0"},
    # the truncated file starts straight with captures, so its 4th record is the one cut in half
    "trunc": {"version": "1.0", "server": "Apache/2.4.7 (Ubuntu)", "no_warcinfo": True},
    "badhdr": {"version": "1.0", "server": "nginx"},
    "w25": {"version": "1.1", "server": "nginx/1.26.2"},
}
ARC_SERVER = "Apache/1.3.6 (Unix)"
REASONS = (
    "kept",
    "revisit",
    "http_status",
    "not_html",
    "too_large",
    "bad_http_headers",
    "not_a_capture",
    "no_text",
    "too_short",
    "extraction_failed",
    "not_portuguese",
    "damaged_record",
)
_WORD = re.compile(r"\w+")


@dataclass
class Capture:
    """One record of an archive that the extract pass sees as a capture (plus its expected fate)."""

    file: str
    url: str
    date: str
    record_type: str  # response | revisit | resource
    block: bytes  # the HTTP message, or the resource's bytes
    expect: dict
    html: str | None = None  # the page as written, before charset encoding (for the checks)
    text: str | None = None  # its main text
    warc_headers: dict = field(default_factory=dict)
    content_type: str | None = None  # WARC Content-Type when the block is not HTTP
    broken: bool = False  # written by hand: warcio would repair the HTTP headers
    truncated: bool = False  # the damaged file is cut inside this record: rejected as damaged_record


def expectation(**given) -> dict:
    base = {
        "expect": "kept",
        "lang": None,
        "variety": None,
        "variety_allowed": None,
        "evidence_expected": None,
        "evidence_absent": None,
        "page_kind": None,
        "quality": None,
        "junk_kind": None,
        "dup_group": None,
        "dup_kind": None,
        "jaccard_to_original": None,
        "lookalike_group": None,
        "spelling": None,
        "must_contain": [],
        "must_not_contain": [],
        "must_not_contain_control": False,
        "notes": "",
    }
    unknown = set(given) - set(base)
    assert not unknown, unknown
    base.update(given)
    assert base["expect"] in REASONS, base["expect"]
    return base


# ------------------------------------------------------------------------------------------ small helpers
def gzip_bytes(data: bytes) -> bytes:
    """A gzip member without timestamp or file name (zlib's own header: reproducible)."""
    c = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return c.compress(data) + c.flush()


def chunked(body: bytes, size: int = 1000) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def http_date(iso: str) -> str:
    return format_datetime(datetime.fromisoformat(iso.replace("Z", "+00:00")), usegmt=True)


def http_message(status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = status + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + body


def payload_of(block: bytes) -> bytes:
    return block.split(b"\r\n\r\n", 1)[1]


def sha1_digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def record_id(*identity: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'lusomix-sample:' + '|'.join(identity))}>"


def ip_for(url: str) -> str:
    host = urlsplit(url).hostname or url
    h = hashlib.sha256(host.encode()).digest()
    return f"{(192, 198, 203)[h[0] % 3]}.{(0, 51, 0)[h[0] % 3]}.{(2, 100, 113)[h[0] % 3]}.{h[1] % 250 + 2}"


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)
