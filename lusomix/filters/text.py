"""Text clean-up shared by every stage: control characters, mojibake repair, normalised hashing.

Pure functions, no I/O. The normalised form is what exact deduplication compares: two captures of the
same article that differ only in case, accents' Unicode form or whitespace hash the same.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import unicodedata

import ftfy

from lusomix.filters.mojibake import is_bad

# C0 controls except \t \n \r, DEL, and C1 controls: never part of real text (NUL bytes in old
# captures, form feeds from PDF converters); they break tokenizers and Parquet viewers.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_WORD = re.compile(r"\w+", re.UNICODE)

_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,  # trafilatura already unescaped; "&lt;" in text is meant literally
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    normalization="NFC",
    explain=False,
)


# ftfy.fix_text costs ~0.3 ms a call (each line goes through every fixer and a large mojibake regex), and
# most pages need nothing from it. With _FTFY_CONFIG (the fast path depends on its settings) it returns the
# text unchanged when, in each of its segments (lines, "\n" included, for a text of at most
# max_decode_length characters): no enabled fixer has anything to act on (_FTFY_WORK: the control
# characters it removes, \r and the Unicode line breaks it rewrites, C1 controls, surrogates, the BOM; ANSI
# escapes start with \x1b), the segment is NFC (true of every segment when true of the text: "\n" neither
# composes nor reorders), and ftfy's mojibake test (badness.is_bad) is false. That test can only be true
# on a segment holding a character outside ASCII and NEVER_MOJIBAKE (no branch of its regex matches a
# string of those characters alone; tests/test_text.py checks it on the installed ftfy's regex), so only
# the lines holding such a character are tested.
_FTFY_WORK = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u206a-\u206f\ud800-\udfff\ufeff\ufff9-\ufffc]")
# Portuguese lower-case letters and common punctuation; not the capitals ("çÃ" is mojibake to ftfy), not
# º ª « » “ ” © ® € (each can make a match with an accented letter)
NEVER_MOJIBAKE = "áàâãçéêíóôõúüèìòùëïöñîûäåæøß’–—…°·´″′→←↑↓−‑\u00a0\u2009\u200b\u200c\u200d"
_MAYBE_MOJIBAKE = re.compile(f"[^\\x00-\\x7f{NEVER_MOJIBAKE}]")


def strip_control(text: str) -> str:
    return _CONTROL.sub("", text)


def ftfy_would_change(text: str) -> bool:
    """False only when ``ftfy.fix_text(text, _FTFY_CONFIG)`` is sure to return ``text`` itself (see above)."""
    if len(text) > _FTFY_CONFIG.max_decode_length or _FTFY_WORK.search(text):
        return True
    if not unicodedata.is_normalized("NFC", text):
        return True
    pos = 0
    while (found := _MAYBE_MOJIBAKE.search(text, pos)) is not None:
        start = text.rfind("\n", 0, found.start()) + 1
        end = text.find("\n", found.start()) + 1 or len(text)
        if is_bad(text[start:end]):  # ftfy's own test (run by RE2), on the segment ftfy would test
            return True
        pos = end
    return False


def repair(text: str) -> str:
    """Repair mojibake (UTF-8 read as latin-1/cp1252, e.g. "aÃ§Ã£o" -> "ação"), drop control bytes, NFC."""
    if ftfy_would_change(text):
        text = ftfy.fix_text(text, config=_FTFY_CONFIG)
    return strip_control(text)


def tidy_whitespace(text: str) -> str:
    # _SPACES holds no "\n": one pass over the text collapses the same runs as one pass per line
    lines = (line.strip() for line in _SPACES.sub(" ", text).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def has_words(text: str, n: int) -> bool:
    """``count_words(text) >= n``, without counting past the n-th word (pages have hundreds, bars are ~20)."""
    return n <= 0 or next(itertools.islice(_WORD.finditer(text), n - 1, None), None) is not None


def normalise_for_hash(text: str) -> str:
    """Case-folded, NFC, single-spaced: the form exact deduplication compares."""
    text = unicodedata.normalize("NFC", text).casefold()
    return " ".join(text.split())


def text_hash(text: str) -> int:
    """64-bit hash of the normalised text (blake2b; stable across processes, unlike ``hash``)."""
    digest = hashlib.blake2b(normalise_for_hash(text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")
