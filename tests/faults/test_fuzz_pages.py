"""Fault matrix, fuzzed input: generated HTML (hypothesis), through both main-text engines.

Pages are built from elements hypothesis chooses: nested, badly nested (end tags missing, swapped, stray) and
deeply nested tags, attributes (lang, hreflang alternates, og:locale, http-equiv Content-Language and
Content-Type, charset, class names the engines key on, hidden, huge values, odd names and quoting),
entities (named, numeric, out of range, unterminated), NUL, control characters and lone surrogates (a page
decoded with a 'unicode_escape' label has them), scripts, styles, comments, CDATA, XML declarations with
non-UTF-8 encodings, and Portuguese prose from the samples so that many pages reach the variety step.

Each page goes, as the reader hands it on (a document holding the decoded HTML), through the extract pass's
annotating steps with ``ingest.engine`` trafilatura and resiliparse: main text → language → variety →
PII → quality → MinHash. For every page and engine: no exception escapes; the page is a kept document
(Portuguese, enough words, a variety label and its probabilities) or a rejection with a reason; the row
converts to its Parquet schema (docs/ or rejected/) as the writer does; memory stays bounded and a page
that runs away fails, as in ``test_fuzz_archives`` ("Memory"). Two engines and the steps after them cost
~30 ms a page: the default of 500 pages fits ~30 s of one core here (``LUSOMIX_FUZZ_EXAMPLES`` for more).
"""

from __future__ import annotations

import hashlib
import math
import tracemalloc

import pyarrow as pa
import pytest
from datatrove.data import Document
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz_archives import (
    _TEXTS,
    CHARSETS,
    FUZZ,
    LANGUAGES,
    LEAK_EVERY,
    LEAK_SAMPLE,
    PEAK_LIMIT,
    REASON,
    TRACE_EVERY,
    URLS,
    _examples,
    bounded,
    escaped,
    leak_rounds,
)

from lusomix.filters import url as urls
from lusomix.filters.portuguese_words import words
from lusomix.pipeline.config import RunConfig
from lusomix.pipeline.plan import extract_steps
from lusomix.run_folder import RunFolder
from lusomix.stages.schema import DOCS_SCHEMA, REJECTED_SCHEMA
from lusomix.stages.writer import _row

pytestmark = pytest.mark.faults

ENGINES = ("trafilatura", "resiliparse")
VARIETIES = {"pt_PT", "pt_BR", "unknown"}

# ---------------------------------------------------------------- pages

TAGS = (
    "div", "p", "span", "a", "table", "tr", "td", "th", "tbody", "ul", "ol", "li", "dl", "dt", "dd", "article",
    "main", "section", "nav", "header", "footer", "aside", "figure", "figcaption", "h1", "h2", "h3", "b", "i",
    "em", "strong", "font", "center", "pre", "code", "blockquote", "q", "form", "select", "option", "textarea",
    "button", "label", "iframe", "noscript", "template", "svg", "math", "object", "title", "head", "body",
    "html", "frameset", "frame", "marquee", "blink", "x-custom", "DIV", "P", "TABLE", "Td",
)  # fmt: skip
VOID = ("br", "img", "hr", "input", "meta", "link", "base", "wbr", "col", "embed", "param", "source")
SENTENCES = sorted({s.strip() + "." for text in _TEXTS for s in text.replace("\n", " ").split(". ") if s.strip()})
ENTITIES = (
    "&amp;", "&lt;", "&gt;", "&quot;", "&eacute;", "&atilde;", "&ccedil;", "&nbsp;", "&nbsp", "&copy", "&#233;",
    "&#xE7;", "&#0;", "&#x0;", "&#1114112;", "&#xD800;", "&#65533;", "&#x110000;", "&#99999999999;", "&",
    "&#", "&#x;", "&unknown;", "&amp", "&;",
)  # fmt: skip
ODD_CHARS = (
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\x9f", "\u00a0", "\u2028", "\u2029",
    "\ufeff", "\ufffd", "\ufffe", "\U0010ffff", "\ud800", "\udfff", "\u202e", "\u200b", "\r", "\t", "\n\n\n",
)  # fmt: skip
CLASS_NAMES = ("content", "article", "main", "post", "nav", "menu", "sidebar", "footer", "caption", "newsletter")
LANG_VALUES = ("pt-PT", "pt-BR", "pt_PT", "pt", "PT-br", "en", "es", "", " pt-PT ", "pt-PT\x00", "x" * 300)

texts = st.one_of(
    st.sampled_from(SENTENCES),
    st.sampled_from(SENTENCES),
    st.sampled_from(ENTITIES),
    st.sampled_from(ODD_CHARS),
    st.text(max_size=30),
)


def _quoted(value: str, style: int) -> str:
    return (f'"{value}"', f"'{value}'", value, f'"{value}')[style]


ATTRIBUTES = st.one_of(
    st.tuples(st.just("lang"), st.sampled_from(LANG_VALUES)),
    st.tuples(st.sampled_from(("class", "id")), st.sampled_from(CLASS_NAMES)),
    st.tuples(st.sampled_from(("style", "hidden", "aria-hidden")), st.sampled_from(("display:none", "", "true"))),
    st.tuples(st.sampled_from(("href", "src")), st.sampled_from(URLS + ("javascript:void(0)", ""))),
    st.tuples(st.sampled_from(("title", "alt", "data-x", "on\x00click", "=", '"', "xml:lang")), texts),
    # a huge value: a data: URI, an inline style, a tracking blob
    st.tuples(st.sampled_from(("data-blob", "style", "src")), st.integers(1_000, 200_000).map(lambda n: "x" * n)),
)


ATTRIBUTE_LISTS = st.lists(st.tuples(ATTRIBUTES, st.integers(0, 3), st.integers(0, 5)), max_size=3)


def _attributes(drawn: list) -> str:
    """`` name=value`` with a quoting style (the last leaves a quote open), or now and then a bare name."""
    return "".join(f" {name}={_quoted(value, style)}" if bare else f" {name}" for (name, value), style, bare in drawn)


attributes = ATTRIBUTE_LISTS.map(_attributes)
# what a <head> declares: languages, alternates, charsets
HEAD_ELEMENTS = st.one_of(
    st.sampled_from(LANG_VALUES).map(lambda v: f'<meta property="og:locale" content="{v}">'),
    st.sampled_from(LANG_VALUES).map(lambda v: f'<meta http-equiv="Content-Language" content="{v}">'),
    st.sampled_from(CHARSETS).map(lambda v: f'<meta http-equiv="Content-Type" content="text/html; charset={v}">'),
    st.sampled_from(CHARSETS).map(lambda v: f'<meta charset="{v}">'),
    st.sampled_from(CHARSETS).map(lambda v: f"<meta charset={v}>"),
    st.tuples(st.sampled_from(LANG_VALUES), st.sampled_from(URLS)).map(
        lambda v: f'<link rel="alternate" hreflang="{v[0]}" href="{v[1]}">'
    ),
    texts.map(lambda v: f"<title>{v}</title>"),
    st.sampled_from(
        (
            '<link rel="alternate" hreflang="x-default" href="http://www.exemplo.pt/">',
            "<base href='http://outro.pt/'>",
            "<script>var a = '</div><p>texto</p>'; if (a < b && c) {}</script>",
            "<style>p { color: red } </style><style>",
        )
    ),
)


def _element(children: list[str], tag: str, attrs: str, end: int) -> str:
    """``end``: 0 closed, 1 left open, 2 closed with another tag's end tag, 3 self-closed (``<div/>``)."""
    if tag in VOID or end == 3:
        return f"<{tag}{attrs}/>" + "".join(children)
    close = ("</{t}>", "", "</{o}>", "")[end].format(t=tag, o="span" if tag != "span" else "div")
    return f"<{tag}{attrs}>{''.join(children)}{close}"


LEAVES = st.one_of(
    texts,
    st.sampled_from(("<!-- comentário -- com -- traços -->", "<![CDATA[ x < y ]]>", "<![if IE]>", "</div>")),
    st.sampled_from(("</p></p>", "<p", "<", ">", "<<>>", "</>", "<?php echo 1; ?>", "<br/ >", "<tr><td>célula")),
    st.sampled_from(
        ("<script>document.write('<p>')</script>", "<style>*{}</style>", "<noscript>Ative o JS</noscript>")
    ),
)
NODES = st.recursive(
    LEAVES,
    lambda inner: st.builds(
        _element,
        st.lists(inner, max_size=4),
        st.sampled_from(TAGS + VOID),
        attributes,
        st.sampled_from((0, 0, 0, 1, 2, 3)),
    ),
    max_leaves=24,
)


def _deep(depth: int, tag: str, sentences: list[str], closed: bool) -> str:
    return f"<{tag}>" * depth + " ".join(sentences) + (f"</{tag}>" * depth if closed else "")


# elements nested hundreds or thousands deep (resiliparse's main-content mode has a depth bound, lxml stops
# building the tree at 256), closed or not
DEEP = st.builds(
    _deep,
    st.sampled_from((100, 255, 256, 257, 600, 3000)),
    st.sampled_from(("div", "span", "table", "b", "li")),
    st.lists(st.sampled_from(SENTENCES), min_size=1, max_size=8),
    st.booleans(),
)
BODIES = st.lists(st.one_of(NODES, DEEP), min_size=1, max_size=4).map("".join)
PROSE = st.lists(st.sampled_from(SENTENCES), min_size=2, max_size=12).map(lambda s: "".join(f"<p>{x}</p>" for x in s))
PREFIXES = st.sampled_from(
    (
        "<!DOCTYPE html>",
        "",
        '<?xml version="1.0" encoding="ISO-8859-1"?>',
        "<?xml version='1.0' encoding='shift_jis'?><!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0//EN\">",
        "\ufeff<!DOCTYPE html>",
        "<!doctype html><!doctype html>",
    )
)
HEADS = st.lists(HEAD_ELEMENTS, max_size=5).map("".join)


@st.composite
def pages(draw) -> str:
    body = draw(BODIES)
    if draw(st.integers(0, 2)):  # Portuguese prose in the page, so that language and variety steps see text
        at = draw(st.integers(0, len(body)))
        wrap = draw(st.sampled_from(("<article>{}</article>", "{}", "<div class=content>{}")))
        body = body[:at] + wrap.format(draw(PROSE)) + body[at:]
    if draw(st.integers(0, 3)) == 0:
        return body  # a fragment: no <html>, <head> or <body>
    prefix, head, html_attrs, body_attrs = draw(PREFIXES), draw(HEADS), draw(attributes), draw(attributes)
    return f"{prefix}<html{html_attrs}><head>{head}</head><body{body_attrs}>{body}</body></html>"


# ---------------------------------------------------------------- the steps, per engine


class Steps:
    """The extract pass's annotating steps (main text → language → variety → PII → quality → MinHash) for one
    engine, the default config otherwise, run on one document per case."""

    def __init__(self, engine: str):
        # extraction in this process: the time bound's child process is tested in tests/test_extraction_bound.py
        config = RunConfig(ingest={"engine": engine, "extraction_timeout_s": 0})
        self.engine, self.min_words = engine, config.ingest.min_words
        # the pass's own list, without its reader and writer (nothing here reads or writes files)
        self.steps = extract_steps(config, [], RunFolder("unused"), RunFolder("unused"))[1:-1]
        self.keep = set(config.language.keep)

    def run(self, doc: Document) -> list[Document]:
        pipe = [doc]
        for step in self.steps:
            pipe = step(pipe, 0, 1)
        return list(pipe)


def _document(html: str, url: str, content_language: str | None) -> Document:
    """As ArchiveReader hands a capture on: the decoded HTML and the capture's metadata."""
    digest = hashlib.blake2b(html.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    meta = {
        "url": url,
        "domain": urls.host(url),
        "tld": urls.tld(url),
        "crawl_date": None,
        "source_file": "fuzz.warc",
        "source_offset": 0,
        "record_type": "response",
        "http_status": 200,
        "content_type": "text/html",
        "charset": "utf-8",
        "payload_digest": digest,
    }
    if content_language is not None:
        meta["content_language"] = content_language
    return Document(text=html, id=digest[:16], metadata=meta)


def _check(doc: Document, steps: Steps) -> str:
    """The page's outcome: 'kept', or its rejection reason. Its row converts to its table's schema."""
    reason = doc.metadata.get("reject")
    if reason is not None:
        assert isinstance(reason, str) and REASON.fullmatch(reason), reason
        pa.Table.from_pylist([_row(doc, REJECTED_SCHEMA)], schema=REJECTED_SCHEMA)
        return reason
    meta = doc.metadata
    assert doc.text.strip() and meta["lang"] in steps.keep and meta["n_words"] >= steps.min_words, meta
    assert meta["extractor"] in ENGINES and (meta["extractor"] == steps.engine or steps.engine == "resiliparse")
    assert meta["variety"] in VARIETIES, meta
    assert all(0.0 <= meta[p] <= 1.0 and math.isfinite(meta[p]) for p in ("p_pt_PT", "p_pt_PT_text")), meta
    assert all(isinstance(e, str) for e in meta["variety_evidence"]) and meta["minhash_bands"]
    pa.Table.from_pylist([_row(doc, DOCS_SCHEMA)], schema=DOCS_SCHEMA)
    return "kept"


def test_generated_html_ends_as_a_document_or_a_rejection_with_both_engines():
    engines = [Steps(engine) for engine in ENGINES]
    prose = "".join(f"<p>{s}</p>" for s in SENTENCES[:20])
    warm_up = (prose, "<p>Olá.</p>", f"<table><tr><td>{prose}</td></tr></table>", "<div>" * 300 + prose)
    for steps in engines:  # the models and the engines' lazily loaded parts in memory before anything is measured
        for html in warm_up:
            steps.run(_document(html, URLS[0], None))
    outcomes: dict[str, dict[str, int]] = {engine: {} for engine in ENGINES}
    peaks: list[int] = []
    sample: list[tuple[str, str, str | None]] = []  # for the leak check
    cases = [0]

    def run(html: str, url: str, content_language: str | None, trace: bool = False, count: bool = True) -> None:
        for steps in engines:
            out: list[Document] = []
            doc = _document(html, url, content_language)
            if trace:
                tracemalloc.start()
            try:
                with bounded():
                    failure = escaped(lambda out=out, steps=steps, doc=doc: out.extend(steps.run(doc)))
                peak = tracemalloc.get_traced_memory()[1] if trace else 0
            finally:
                if trace:
                    tracemalloc.stop()
            assert failure is None, f"an exception escaped ({steps.engine}):\n{failure}"
            assert len(out) == 1
            outcome = _check(out[0], steps)
            if trace:
                peaks.append(peak)
                assert peak < PEAK_LIMIT, f"peak Python heap of one page: {peak >> 20} MiB ({steps.engine})"
            if count:
                outcomes[steps.engine][outcome] = outcomes[steps.engine].get(outcome, 0) + 1

    @settings(FUZZ, max_examples=_examples(500))
    @given(pages(), st.sampled_from(URLS), st.one_of(st.none(), st.sampled_from(LANGUAGES)))
    def case(html, url, content_language):
        cases[0] += 1
        run(html, url, content_language, trace=cases[0] % TRACE_EVERY == 0)
        if cases[0] % LEAK_EVERY == 0 and len(sample) < LEAK_SAMPLE:
            sample.append((html, url, content_language))

    case()
    rounds = [r >> 20 for r in leak_rounds(lambda item: run(*item, count=False), sample)]
    peaks = sorted(peaks) or [0]
    print(
        f"HTML pages: {cases[0]} cases, outcomes {outcomes}; traced {len(peaks)}: peak heap median "
        f"{peaks[len(peaks) // 2] >> 10} KiB, max {peaks[-1] >> 10} KiB; memory in use after 3 rounds of "
        f"{len(sample)} of them: {rounds} MiB"
    )


# ---------------------------------------------------------------- what the fuzzing found: regressions


def test_a_long_run_of_symbols_is_one_word_in_bounded_time():
    """Found by the HTML layer: a page whose text held a 200,000-character chunk with no space (an attribute
    quote left open turned a blob into text) spent minutes in the quality step: spaCy's affix loop, which
    the Portuguese word tokens replay, is quadratic in a chunk's length (16,000 "!" took ~13 s)."""
    chunks = ("!" * 200_000, "'" + "x" * 200_000 + ".", "\U0001f600" * 50_000)
    with bounded(1 << 30, cpu_s=10):
        for chunk in chunks:
            assert words(chunk) == [chunk]
    prose = " ".join(SENTENCES[:20])
    with bounded(1 << 30, cpu_s=30):
        for engine in ENGINES:
            steps = Steps(engine)
            for chunk in chunks:
                [doc] = steps.run(
                    _document(f"<html><body><article><p>{prose} {chunk}</p></article></body></html>", URLS[0], None)
                )
                assert _check(doc, steps) == "kept", engine
