"""Text clean-up shared by every stage: control characters, mojibake repair, normalised hashing.

Pure functions, no I/O. The normalised form is what exact deduplication compares: two captures of the
same article that differ only in case, accents' Unicode form or whitespace hash the same.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

import ftfy

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


def strip_control(text: str) -> str:
    return _CONTROL.sub("", text)


def repair(text: str) -> str:
    """Repair mojibake (UTF-8 read as latin-1/cp1252, e.g. "aÃ§Ã£o" -> "ação"), drop control bytes, NFC."""
    return strip_control(ftfy.fix_text(text, config=_FTFY_CONFIG))


def tidy_whitespace(text: str) -> str:
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def normalise_for_hash(text: str) -> str:
    """Case-folded, NFC, single-spaced: the form exact deduplication compares."""
    text = unicodedata.normalize("NFC", text).casefold()
    return " ".join(text.split())


def text_hash(text: str) -> int:
    """64-bit hash of the normalised text (blake2b; stable across processes, unlike ``hash``)."""
    digest = hashlib.blake2b(normalise_for_hash(text).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")
