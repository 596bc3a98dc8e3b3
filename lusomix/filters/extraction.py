"""Main-text extraction from HTML with trafilatura, bounded in input size.

trafilatura is ~95% of the extract pass's cost and, on pathological markup, can run for minutes. The time
bound is not here: it is a child process that can be killed (``lusomix.stages.extract_sandbox``), which
bounds either engine, in any thread, C code included; this module stays pure logic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import trafilatura
from trafilatura.utils import load_html

from lusomix.filters.text import has_words, repair, tidy_whitespace


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    # languages the page declares (evidence for the variety step): html_lang, og_locale,
    # content_language (<meta http-equiv>), and every (hreflang, href) of <link rel=alternate>
    languages: tuple[tuple[str, str], ...] = ()
    hreflang: tuple[tuple[str, str], ...] = ()


def page_title(tree) -> str:
    nodes = tree.xpath("//title")
    return " ".join(nodes[0].text_content().split()) if nodes else ""


_MAX_TAG = 35  # a language tag is short; anything longer is not one


Declarations = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]


def read_declarations(
    lang: str | None, metas: Iterable[Any], links: Iterable[Any], attr: Callable[[Any, str], str | None]
) -> Declarations:
    """The declarations of a page from its <html lang>, <meta> and <link> elements, whatever the DOM
    (``attr(element, name)`` reads an attribute): ((kind, tag), ...) and ((hreflang, href), ...). Only the
    first of each kind counts; a value is tested before it is stripped."""
    found: dict[str, str] = {}
    if lang:
        found["html_lang"] = lang.strip()[:_MAX_TAG]
    for meta in metas:
        key = (attr(meta, "property") or attr(meta, "name") or "").strip().lower()
        equiv = (attr(meta, "http-equiv") or "").strip().lower()
        content = (attr(meta, "content") or "").strip()[:_MAX_TAG]
        if not content:
            continue
        if key == "og:locale" and "og_locale" not in found:
            found["og_locale"] = content
        elif equiv == "content-language" and "content_language" not in found:
            found["content_language"] = content
    alternates: list[tuple[str, str]] = []
    for link in links:
        hreflang, href = attr(link, "hreflang"), attr(link, "href")
        if hreflang and href and "alternate" in (attr(link, "rel") or "").lower() and len(alternates) < 50:
            alternates.append((hreflang.strip()[:_MAX_TAG], href.strip()))
    return tuple(found.items()), tuple(alternates)


def declared_languages(tree) -> Declarations:
    """What the page says its language is: ((kind, tag), ...) and its alternates ((hreflang, href), ...).

    Read before trafilatura, which prunes the tree.
    """
    root = tree.getroottree().getroot() if hasattr(tree, "getroottree") else tree
    lang = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang") or root.get("xml:lang")
    return read_declarations(lang, tree.iterfind(".//meta"), tree.iterfind(".//link"), lambda el, name: el.get(name))


def _trafilatura(tree, favour_precision: bool, include_tables: bool) -> str:
    result = trafilatura.bare_extraction(
        tree,
        favor_precision=favour_precision,
        include_comments=False,
        include_tables=include_tables,
        with_metadata=False,
        deduplicate=False,
    )
    return (getattr(result, "text", None) or "") if result is not None else ""


def extract_main_text(
    html: str,
    *,
    favour_precision: bool = False,
    include_tables: bool = False,
    min_words: int = 20,
    max_html_chars: int = 2_000_000,
) -> Extracted | None:
    """Title and main text of a page, or None when the page has no main text.

    Tables are left out by default: pages of the 1990s and 2000s (a large part of Arquivo.pt) lay out
    the whole page in tables, and with tables included trafilatura returns navigation and article as one
    "| cell | cell |" line. When that leaves fewer than ``min_words`` words, the page is extracted again
    with tables (the content may be a real table). The page is parsed with trafilatura's own parser,
    once per attempt. Text is repaired (mojibake, control bytes) and whitespace tidied. Exceptions (the
    engine on malformed markup) are the caller's to count.
    """
    html = html[:max_html_chars]
    if not html.strip():
        return None
    tree = load_html(html)
    if tree is None:
        return None
    title = page_title(tree)
    languages, hreflang = declared_languages(tree)
    text = _trafilatura(tree, favour_precision, include_tables)
    if not include_tables and not has_words(text, min_words):
        retry = load_html(html)
        text = (_trafilatura(retry, favour_precision, True) if retry is not None else "") or text
    if not text:
        return None
    return Extracted(title=repair(title), text=tidy_whitespace(repair(text)), languages=languages, hreflang=hreflang)
