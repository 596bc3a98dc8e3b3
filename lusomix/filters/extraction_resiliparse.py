"""Main-text extraction from HTML with resiliparse: the fast engine beside trafilatura (``extraction.py``).

resiliparse (``extract_plain_text`` in main-content mode, on its own lexbor-based ``HTMLTree``) is what DCLM
chose for its corpus: it is C code end to end, and several times faster than trafilatura on the same
pages (``benchmarks/extraction_engines.py`` measures both). It returns the same ``Extracted`` as
``extract_main_text``, post-processed the same way (mojibake repair, whitespace tidied, title repaired, input
bounded in size, None when no text is left), with the declared languages and hreflang alternates read from
resiliparse's DOM with the same rules as ``declared_languages``.

Its options were chosen on one half of the article-extraction-benchmark gold set and measured on the
other half (see ``benchmarks/extraction_engines.py``). Known gap: resiliparse finds the main content from
element names and class/id names, so a 1990s page laid out in tables keeps its navigation cell and its
footer lines, which trafilatura drops.

Pure logic, no I/O. The time bound is the extract pass's child process (``lusomix.stages.extract_sandbox``),
which can stop C code; here the input is bounded in size, and a page nested deeper than main-content mode
handles well raises ``ExtractionTooDeep``: trafilatura, whose parser stops at that depth, takes it instead.
"""

from __future__ import annotations

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import DocumentNode, HTMLTree

from lusomix.filters.extraction import Declarations, Extracted, read_declarations
from lusomix.filters.text import count_words, has_words, repair, tidy_whitespace

# Chosen on the tuning half of the gold set, F1 there: main-content mode alone 0.892, with these options 0.938,
# with SKIP_ELEMENTS too 0.961 (the held-out half: 0.905 -> 0.948, trafilatura 0.949):
# - main_content: resiliparse's boilerplate removal (nav, footer, sidebars, by element and class names);
# - alt_texts, comments, post_meta off: image descriptions, reader comments and bylines/dates are not the
#   article (the trafilatura path leaves out images, comments and metadata too);
# - links, form_fields, noscript, hidden_elements off (resiliparse's defaults): URLs, form widgets and
#   "enable JavaScript" notices are not text;
# - preserve_formatting on: one block per line, as trafilatura's text has, for the line-based quality signals;
#   list_bullets on: a list stays readable as a list ("• item").
_OPTIONS = {
    "main_content": True,
    "preserve_formatting": True,
    "list_bullets": True,
    "alt_texts": False,
    "links": False,
    "form_fields": False,
    "noscript": False,
    "comments": False,
    "post_meta": False,
    "hidden_elements": False,
}
# Left out on top of main-content mode, each worth 0.001-0.009 F1 on the tuning half: the headline (<h1>; the
# page title is kept apart in Extracted.title), <header> blocks (site banner, or headline + standfirst + byline),
# image captions and newsletter sign-up boxes. Broad class selectors were tried and rejected: a substring
# such as "sidebar" or "more" also matches <body> or the article's wrapper on some sites (class="one-sidebar").
SKIP_ELEMENTS = ("h1", "header", '[class*="caption"]', '[class*="newsletter"]')


class ExtractionTooDeep(Exception):
    """The page's elements nest deeper than main-content mode can take in bounded time (see _MAX_DEPTH)."""


# resiliparse's main-content pass costs about elements x depth: 8,000 unclosed <div>s (400 kB) take 8 s, 2 MB of
# them minutes (past the time bound, the page would be rejected where trafilatura has its text). lxml stops
# building the tree at depth 256 (libxml2's limit), so the trafilatura path never sees deeper pages; at that
# depth a 2 MB page takes ~1 s here. The selector (an
# element with _MAX_DEPTH - 1 ancestors) costs ~0.1 s on that page and nothing measurable on ordinary ones.
_MAX_DEPTH = 256
_TOO_DEEP = " > ".join(["*"] * _MAX_DEPTH)


def page_title(document: DocumentNode) -> str:
    """The first <title>'s text, whitespace collapsed (as extraction.page_title)."""
    node = document.query_selector("title")
    return " ".join((node.text or "").split()) if node is not None else ""


def declared_languages(document: DocumentNode) -> Declarations:
    """extraction.declared_languages on resiliparse's DOM, through the same ``read_declarations``: both
    engines give the same answer on the same page (they can still differ where lxml and lexbor repair
    broken markup differently). Collections are read with ``.values()``: indexing or iterating one rebuilds
    it at every item (quadratic). Only the elements ``read_declarations`` can use are selected (a meta
    without content and a link without hreflang are skipped there): pages carry dozens of stylesheet and
    preload links, and each element handed to Python costs a node object."""
    root = document.query_selector("html")
    lang = (root.getattr("lang") or root.getattr("xml:lang")) if root is not None else None
    metas = document.query_selector_all("meta[content]").values()
    links = document.query_selector_all("link[hreflang]").values()
    return read_declarations(lang, metas, links, lambda element, name: element.getattr(name))


def extract_main_text_resiliparse(html: str, *, min_words: int, max_html_chars: int) -> Extracted | None:
    """Title and main text of a page, or None when the page has no main text.

    The page is parsed once. When the main text has fewer than ``min_words`` words, it is extracted again
    without ``SKIP_ELEMENTS`` and that is kept if longer: on a short page the headline, <header> or caption
    may be all the text there is (as the trafilatura path retries with tables). The retry never leaves
    main-content mode: a page that is only navigation stays empty rather than becoming its menu.

    Raises ExtractionTooDeep when elements nest ``_MAX_DEPTH`` deep (the trafilatura path, whose parser stops
    at that depth, can take such a page); other exceptions (``HTMLParserException``) are the caller's to count.
    """
    html = html[:max_html_chars]
    if not html.strip():
        return None
    tree = HTMLTree.parse(html)
    document = tree.document
    if document is None:
        return None
    if document.query_selector(_TOO_DEEP) is not None:
        raise ExtractionTooDeep(f"elements nested {_MAX_DEPTH} deep or more")
    title = page_title(document)
    languages, hreflang = declared_languages(document)
    text = extract_plain_text(tree, skip_elements=list(SKIP_ELEMENTS), **_OPTIONS)  # type: ignore[arg-type]
    if not has_words(text, min_words):
        # extraction does not change the tree: no second parse
        retry = extract_plain_text(tree, **_OPTIONS)  # type: ignore[arg-type]
        if count_words(retry) > count_words(text):
            text = retry
    # tidied before the emptiness test: resiliparse can return only blank lines where trafilatura returns ""
    text = tidy_whitespace(repair(text))
    if not text:
        return None
    return Extracted(title=repair(title), text=text, languages=languages, hreflang=hreflang)
