"""Main-text extraction from HTML with trafilatura, bounded in input size and time.

trafilatura is ~95% of the extract pass's cost and, on pathological markup, can run for minutes; a
bounded call keeps one bad page from stalling a task. The time bound uses SIGALRM and so applies only in
a process's main thread (datatrove's local and Ray workers run tasks there); elsewhere only the size
bound applies.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import trafilatura
from trafilatura.utils import load_html

from lusomix.filters.text import repair, tidy_whitespace


class ExtractionTimeout(Exception):
    pass


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str


@contextmanager
def _time_limit(seconds: float):
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        raise ExtractionTimeout(f"extraction took over {seconds}s")

    previous = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def page_title(tree) -> str:
    nodes = tree.xpath("//title")
    return " ".join(nodes[0].text_content().split()) if nodes else ""


def extract_main_text(
    html: str,
    url: str | None = None,
    *,
    favour_precision: bool = False,
    max_html_chars: int = 2_000_000,
    timeout_s: float = 10.0,
) -> Extracted | None:
    """Title and main text of a page, or None when the page has no main text.

    The page is parsed once (trafilatura's load_html) for both the title and the extraction. Text is repaired (mojibake, control bytes) and whitespace tidied. Raises
    ExtractionTimeout when over the time bound; other exceptions are the caller's to count.
    """
    html = html[:max_html_chars]
    if not html.strip():
        return None
    with _time_limit(timeout_s):
        # trafilatura's own parser settings (its load_html), so passing the tree changes nothing but speed
        tree = load_html(html)
        if tree is None:
            return None
        title = page_title(tree)
        result = trafilatura.bare_extraction(
            tree,
            url=url,
            favor_precision=favour_precision,
            include_comments=False,
            include_tables=True,
            with_metadata=False,
            deduplicate=False,
        )
    text = getattr(result, "text", None) if result is not None else None
    if not text:
        return None
    return Extracted(title=repair(title), text=tidy_whitespace(repair(text)))
