"""Real page shells with Portuguese main text: a benchmark corpus that costs what real archives cost.

The generated sample pages in data_samples/ are small, tidy HTML: trafilatura extracts one in ~3 ms, where
a real crawled page (navigation, scripts, styles, sidebars, comment threads; median 115 KB) costs it
~17 ms. A speed benchmark on the samples alone measures the steps after extraction more than extraction.

This corpus keeps 181 real pages as they were crawled (``../shared/data/extraction/article-extraction-benchmark``,
news and blog pages, mostly English) and replaces their article text, text node by text node, with
Portuguese news sentences (``../shared/data/variety/news/dslcc_v3_a.tsv``): every node whose text is part
of the page's hand-marked article body gets as many words of Portuguese as it had of English (the
sentences run on from node to node), one variety per page copy (alternating), fresh sentences for every
copy. Everything else (markup, boilerplate, scripts) stays as it was, so extraction costs what it costs on
the real page and the steps after it see a Portuguese article of the real article's length.

    from real_pages import build_real_corpus   # benchmarks/ on sys.path
    build_real_corpus(out_dir, copies=55, files=4)  # 181 x 55 = 9,955 captures in 4 WARC files
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import lxml.html
from lxml import etree
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GOLD = SHARED / "extraction" / "article-extraction-benchmark"
SENTENCES = SHARED / "variety" / "news" / "dslcc_v3_a.tsv"
# a text node shorter than this is too short to tell article from boilerplate by containment ("the", "By")
MIN_NODE_CHARS = 20
_STOPS = ".!?:;,…\"”'’)"
# every gold page is UTF-8, 42 of them without saying so (lxml would read those as latin-1)
_UTF8 = lxml.html.HTMLParser(encoding="utf-8")


def available() -> bool:
    return GOLD.is_dir() and SENTENCES.is_file()


def _words(label: str) -> Iterator[str]:
    """The words of the news sentences of one variety, in file order, endlessly."""
    sentences = [
        text
        for text, _, variety in (line.rstrip("\n").rpartition("\t") for line in SENTENCES.open(encoding="utf-8"))
        if variety == label and text
    ]
    return itertools.cycle(word for sentence in sentences for word in sentence.split())


def _with_portuguese(tree, article: str, words: Iterator[str]):
    """Replace every text node of ``tree`` that is part of ``article`` with as many Portuguese words."""
    for element in tree.iter():
        parts = (
            ("tail",) if not isinstance(element.tag, str) or element.tag in ("script", "style") else ("text", "tail")
        )
        for part in parts:
            text = getattr(element, part)
            if text and len(text.strip()) >= MIN_NODE_CHARS and " ".join(text.split()) in article:
                portuguese = " ".join(itertools.islice(words, len(text.split()))).rstrip(_STOPS)
                # a paragraph that ended a sentence still does (FineWeb's line-punctuation rule reads it)
                end = text.rstrip()[-1]
                setattr(element, part, f" {portuguese}{end if end in _STOPS else ''} ")
    return tree


def page_shells() -> list[tuple[str, bytes, str]]:
    """(url, HTML as crawled, article body with whitespace collapsed) of each gold page."""
    truth = json.loads((GOLD / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for path in sorted((GOLD / "html").glob("*.html.gz")):
        entry = truth[path.name.split(".")[0]]
        pages.append((entry["url"], gzip.decompress(path.read_bytes()), " ".join(entry["articleBody"].split())))
    return pages


def build_real_corpus(out: Path, copies: int, files: int) -> int:
    """Write ``copies`` Portuguese versions of each real page shell into ``files`` WARC files (a copy's pages
    together, as a crawl's are); returns the number of captures."""
    out.mkdir(parents=True, exist_ok=True)
    streams = {"pt_PT": _words("pt_PT"), "pt_BR": _words("pt_BR")}
    shells = page_shells()
    handles = [(out / f"part-{i:02d}.warc.gz").open("wb") for i in range(files)]
    writers = [WARCWriter(handle, gzip=True) for handle in handles]
    captures = 0
    for copy in range(copies):
        writer = writers[copy % files]
        for index, (url, html, article) in enumerate(shells):
            stream = streams["pt_PT" if (copy + index) % 2 == 0 else "pt_BR"]
            tree = _with_portuguese(lxml.html.document_fromstring(html, parser=_UTF8), article, stream)
            body = etree.tostring(tree.getroottree(), method="html", encoding="utf-8")
            body += f"<!-- capture {captures} -->".encode()  # every payload distinct: nothing is extracted twice
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            record = writer.create_warc_record(
                f"{url}?copy={copy}", "response", payload=io.BytesIO(body), http_headers=headers
            )
            writer.write_record(record)
            captures += 1
    for handle in handles:
        handle.close()
    return captures
