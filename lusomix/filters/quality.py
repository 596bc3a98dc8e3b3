"""Quality signals of a document (the values behind the Gopher, FineWeb and C4 heuristics) and the rules.

Signals are values, not verdicts. They are stored as docs/ columns (``SIGNAL_TYPES``), so that later
passes can apply other thresholds without re-extracting anything (``flags_expr``). Rules and their two
presets live at the end of this module: ``fineweb2-por`` (FineWeb-2's Portuguese values, as AMÁLIA ran
them) and the default ``lusomix``.

Each definition follows datatrove's filter of the same family (GopherQualityFilter,
GopherRepetitionFilter, FineWebQualityFilter, C4QualityFilter): same words (spaCy ``blank("pt")``'s, via
filters.portuguese_words), same line and paragraph splits, denominators and tie-breaks;
tests/test_quality.py runs datatrove's own filters against these values. What differs, on purpose:
- the n-gram signals run on integer token ids with numpy instead of joined strings (same values);
- C4's cookie/policy and javascript checks, which drop *lines* in C4, become the share of the text's
  characters in such lines, with Portuguese phrases added to C4's English list;
- lx_stop_word_ratio, lusomix's own: the share of words that are stop words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
import pyarrow as pa

from lusomix.filters.portuguese_words import words
from lusomix.filters.text import count_words

# FineWeb-2's por_Latn stop words (also the Gopher stop-word rule's list for Portuguese)
STOP_WORDS = frozenset("de a e o em do da que um no uma com para na é foi".split())

# datatrove.utils.text.PUNCTUATION_SET and TERMINAL_PUNCTUATION, copied so that filters/ stays free of
# datatrove; a test asserts they are equal.
_PUNCTUATION = (
    "!/\u2014\u201d:\uff05\uff11\u3008&(\u3001\u2501\\\u3010#%\u300c\u300d\uff0c\u3011\uff1b+^]~\u201c\u300a"
    "\u201e';\u2019{|\u2236\xb4[=-`*\uff0e\uff08\u2013\uff1f\uff01\uff1a$\uff5e\xab\u3009,><\u300b)?\uff09"
    '\u3002\u2026@_."}\u25ba\xbb' + "".join(map(chr, [*range(0, 9), 11, 12, *range(13, 32), *range(127, 160)]))
)
TERMINAL_PUNCTUATION = frozenset(
    "!.?\u0589\u061d\u061e\u061f\u06d4\u0700\u0701\u0702\u07f9\u0837\u0839\u083d\u083e\u0964\u0965\u104a"
    "\u104b\u1362\u1367\u1368\u166e\u1735\u1736\u17d4\u17d5\u17d6\u17d9\u17da\u1803\u1809\u1944\u1945\u1aa8"
    "\u1aa9\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1b7d\u1b7e\u1c3b\u1c3c\u1c7e\u1c7f\u203c\u203d\u2047\u2048"
    "\u2049\u2e2e\u2e3c\u2e53\u2e54\u3002\ua4ff\ua60e\ua60f\ua6f3\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8"
    "\ua9c9\uaa5d\uaa5e\uaa5f\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\uff61\U00010a56\U00010a57"
    "\U00010f55\U00010f56\U00010f57\U00010f58\U00010f59\U00010f86\U00010f87\U00010f88\U00010f89\U00011047"
    "\U00011048\U000110be\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6"
    "\U000111cd\U000111de\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c"
    "\U000115c2\U000115c3\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf\U000115d0"
    "\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7\U00011641\U00011642\U0001173c"
    "\U0001173d\U0001173e\U00011944\U00011946\U00011a42\U00011a43\U00011a9b\U00011a9c\U00011c41\U00011c42"
    "\U00011ef7\U00011ef8\U00011f43\U00011f44\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44"
    "\U00016e98\U0001bc9f\U0001da88"
)
PUNCTUATION_SET = frozenset(_PUNCTUATION) | TERMINAL_PUNCTUATION

_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile("\n+")
_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
# C4's English phrases, plus what cookie banners, consent walls and legal boilerplate say in Portuguese.
# Phrases, not the bare word: an article on web security "can steal session cookies" in one long line.
_POLICY = re.compile(
    r"terms of use|privacy policy|cookie policy|uses cookies|use of cookies|use cookies|terms of service"
    r"|pol[íi]tica de (?:privacidade|cookies)|termos (?:de (?:utiliza[çc][ãa]o|uso|servi[çc]o)|e condi[çc][õo]es)"
    r"|(?:utiliz|us)a(?:mos|m)? (?:os |de |alguns )?cookies"
    r"|(?:uso|utiliza[çc][ãa]o|armazenamento|instala[çc][ãa]o) (?:de|dos) cookies|aceit\w* (?:todos os |os )?cookies"
    r"|cookies (?:essenciais|estritamente|necess[áa]rios|anal[íi]ticos|funcionais|publicit[áa]rios|pr[óo]prios"
    r"|de (?:desempenho|marketing|publicidade|terceiros))"
    r"|(?:gerir|configurar|personalizar|rejeitar|recusar|defini[çc][õo]es de|prefer[êe]ncias de) (?:os )?cookies"
    r"|seu consentimento|consentir|\brgpd\b|\bgdpr\b"
)
# every phrase of _POLICY contains one of these: a cheap test before the line-by-line search ("term" alone
# would send four Portuguese pages in ten to that search: "determinar", "termo")
_POLICY_HINT = re.compile(r"cookie|consent|rgpd|gdpr|privac|terms of|termos ")
C4_END_PUNCTUATION = (".", "?", "!", '"', "'")
N_GRAM_TOP = (2, 3, 4)
N_GRAM_DUP = (5, 6, 7, 8, 9, 10)

# signal column -> Arrow type, in the column order of docs/ (n_words is a docs/ column of its own)
SIGNAL_TYPES: dict[str, pa.DataType] = {
    "gopher_mean_word_len": pa.float32(),
    "gopher_hash_ratio": pa.float32(),
    "gopher_ellipsis_ratio": pa.float32(),
    "gopher_bullet_lines_frac": pa.float32(),
    "gopher_ellipsis_lines_frac": pa.float32(),
    "gopher_alpha_words_frac": pa.float32(),
    "gopher_stop_words": pa.int32(),
    "gopher_dup_para_frac": pa.float32(),
    "gopher_dup_para_char_frac": pa.float32(),
    "gopher_dup_line_frac": pa.float32(),
    "gopher_dup_line_char_frac": pa.float32(),
    **{f"gopher_top_{n}gram_frac": pa.float32() for n in N_GRAM_TOP},
    **{f"gopher_dup_{n}gram_frac": pa.float32() for n in N_GRAM_DUP},
    "fw_line_punct_ratio": pa.float32(),
    "fw_short_line_ratio": pa.float32(),
    "fw_char_dup_ratio": pa.float32(),
    "fw_new_line_ratio": pa.float32(),
    "c4_punct_lines_frac": pa.float32(),
    "c4_policy_char_frac": pa.float32(),
    "c4_javascript_char_frac": pa.float32(),
    "c4_too_long_words": pa.int32(),
    "c4_curly_bracket": pa.bool_(),
    "c4_lorem_ipsum": pa.bool_(),
    "lx_stop_word_ratio": pa.float32(),
}
_FLOAT_SIGNALS = [name for name, dtype in SIGNAL_TYPES.items() if dtype == pa.float32()]


def find_duplicates(items: list[str]) -> tuple[int, int]:
    """(elements seen before, their characters): datatrove's gopher_repetition_filter.find_duplicates."""
    seen: set[str] = set()
    n_dup = chars = 0
    for item in items:
        if item in seen:
            n_dup += 1
            chars += len(item)
        else:
            seen.add(item)
    return n_dup, chars


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def _n_gram_signals(ids: np.ndarray, n_distinct: int, ends: np.ndarray, text_len: int) -> dict[str, float]:
    """Top n-gram (2..4) and duplicated n-gram (5..10) character fractions, on integer token ids.

    ``ids``: a dense id per token; ``ends``: cumulated token lengths, starting at 0. Same values as
    datatrove's find_top_duplicate over " ".join(n-gram) (the most frequent n-gram, ties to the one seen
    first) and find_all_duplicate (greedy left to right: a repeated n-gram counts its characters and
    skips its n words, which are then never remembered as seen).
    """
    out = {f"gopher_top_{n}gram_frac": 0.0 for n in N_GRAM_TOP}
    out |= {f"gopher_dup_{n}gram_frac": 0.0 for n in N_GRAM_DUP}
    m = len(ids)
    gram: np.ndarray | None = ids  # dense ids of the (n-1)-grams; n-gram ids pair them with the next token's id
    for n in range(2, N_GRAM_DUP[-1] + 1):
        k = m - n + 1
        if k <= 0 or not text_len:
            break
        if gram is None:  # no (n-1)-gram repeats, so no n-gram does: the top one is the first one
            if n in N_GRAM_TOP:
                out[f"gopher_top_{n}gram_frac"] = (ends[n] + n - 1) / text_len
            continue
        keys = gram[:k] * n_distinct + ids[n - 1 :]
        _, first, gram, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
        chars = ends[n : n + k] - ends[:k]  # characters of the n words, without separators
        top = counts.max()
        if n in N_GRAM_TOP:
            winner = first[counts == top].min()
            out[f"gopher_top_{n}gram_frac"] = (chars[winner] + n - 1) * top / text_len
        elif top > 1:
            repeated = np.flatnonzero(counts[gram] > 1)
            seen: set[int] = set()
            next_free = dup_chars = 0
            for pos, gid, length in zip(repeated.tolist(), gram[repeated].tolist(), chars[repeated].tolist()):
                if pos < next_free:
                    continue
                if gid in seen:
                    dup_chars += length
                    next_free = pos + n
                else:
                    seen.add(gid)
            out[f"gopher_dup_{n}gram_frac"] = dup_chars / text_len
        if top == 1:
            gram = None
    return out


def compute_signals(text: str, n_words: int | None = None) -> dict[str, float | int | bool]:
    """Every signal of ``SIGNAL_TYPES`` plus ``n_words`` (filters.text.count_words, the docs/ column;
    ``n_words``: that count, when the caller has it already).

    Float signals are rounded to float32, the type they are stored in, so that flags recomputed from a
    docs/ table equal the flags computed here.
    """
    chunks = text.split()
    tokens = words(text, chunks)
    n_tok = len(tokens)
    text_len = len(text)
    sig: dict[str, float | int | bool] = {"n_words": count_words(text) if n_words is None else n_words}

    # Gopher quality: datatrove's per-word tests, once per distinct token
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    ids = np.fromiter(map(vocab.__getitem__, tokens), dtype=np.int64, count=n_tok)
    ends = np.zeros(n_tok + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, tokens), dtype=np.int64, count=n_tok), out=ends[1:])
    n_alpha = n_stop = 0
    word_chars = n_word = 0
    for t, c in zip(vocab, np.bincount(ids, minlength=len(vocab)).tolist()):
        if not PUNCTUATION_SET.issuperset(t):
            n_word += c
            word_chars += c * len(t)
            if t.lower() in STOP_WORDS:
                n_stop += c
        if t.isalpha() or any(ch.isalpha() for ch in t):
            n_alpha += c
    lines = text.splitlines()
    sig["gopher_mean_word_len"] = _ratio(word_chars, n_word)
    sig["gopher_hash_ratio"] = _ratio(text.count("#"), n_tok)
    sig["gopher_ellipsis_ratio"] = _ratio(text.count("...") + text.count("…"), n_tok)
    sig["gopher_bullet_lines_frac"] = _ratio(sum(s.lstrip().startswith(("•", "-")) for s in lines), len(lines))
    sig["gopher_ellipsis_lines_frac"] = _ratio(sum(s.rstrip().endswith(("...", "…")) for s in lines), len(lines))
    sig["gopher_alpha_words_frac"] = _ratio(n_alpha, n_tok)
    sig["gopher_stop_words"] = len(STOP_WORDS.intersection(vocab))

    # Gopher repetition
    paragraphs = _PARAGRAPHS.split(text.strip())
    n_dup, dup_chars = find_duplicates(paragraphs)
    sig["gopher_dup_para_frac"] = _ratio(n_dup, len(paragraphs))
    sig["gopher_dup_para_char_frac"] = _ratio(dup_chars, text_len)
    rep_lines = _LINES.split(text)
    n_dup, dup_chars = find_duplicates(rep_lines)
    sig["gopher_dup_line_frac"] = _ratio(n_dup, len(rep_lines))
    sig["gopher_dup_line_char_frac"] = _ratio(dup_chars, text_len)
    sig |= _n_gram_signals(ids, len(vocab), ends, text_len)

    # FineWeb
    fw_lines = [line for line in text.split("\n") if line.strip()]
    sig["fw_line_punct_ratio"] = _ratio(sum(line[-1] in TERMINAL_PUNCTUATION for line in fw_lines), len(fw_lines))
    sig["fw_short_line_ratio"] = _ratio(sum(len(line) <= 30 for line in fw_lines), len(fw_lines))
    sig["fw_char_dup_ratio"] = _ratio(find_duplicates(fw_lines)[1], text_len - text.count("\n"))
    sig["fw_new_line_ratio"] = _ratio(text.count("\n"), n_tok)

    # C4, per document
    lower = text.lower()
    c4_lines = [line for line in (s.strip() for s in lower.splitlines()) if line]
    c4_chars = sum(map(len, c4_lines))
    sig["c4_punct_lines_frac"] = _ratio(
        sum(
            line.endswith(C4_END_PUNCTUATION) and not line.endswith("...")
            for line in (_CITATION.sub("", s) if "[" in s else s for s in c4_lines)
        ),
        len(c4_lines),
    )
    # the per-line searches only run on the rare documents where the whole text matches
    policy = sum(len(s) for s in c4_lines if _POLICY.search(s)) if _POLICY_HINT.search(lower) else 0
    javascript = sum(len(s) for s in c4_lines if "javascript" in s) if "javascript" in lower else 0
    sig["c4_policy_char_frac"] = _ratio(policy, c4_chars)
    sig["c4_javascript_char_frac"] = _ratio(javascript, c4_chars)
    sig["c4_too_long_words"] = sum(len(c) > 1000 for c in chunks) if max(map(len, chunks), default=0) > 1000 else 0
    sig["c4_curly_bracket"] = "{" in text
    sig["c4_lorem_ipsum"] = "lorem ipsum" in lower

    # lusomix: stop words as a share of all words. Running prose in Portuguese is ~30-40% stop words;
    # menus, keyword lists and tables have next to none, however many distinct ones they contain.
    sig["lx_stop_word_ratio"] = _ratio(n_stop, n_word)

    rounded = np.array([sig[name] for name in _FLOAT_SIGNALS], dtype=np.float32).tolist()
    sig.update(zip(_FLOAT_SIGNALS, rounded))
    return sig


@dataclass(frozen=True)
class Rule:
    """A document fails rule ``name`` when ``signal`` is below (bound "min") or above (bound "max") ``threshold``."""

    name: str
    signal: str
    bound: Literal["min", "max"]
    threshold: float

    def fails(self, value: float | int | bool | None) -> bool:
        if value is None:  # a signal missing from an older table fails nothing, as in flags_expr
            return False
        return float(value) < self.threshold if self.bound == "min" else float(value) > self.threshold


# rule name -> (signal, bound), in the order flags are listed. Names follow datatrove's exclusion reasons.
RULE_SIGNALS: dict[str, tuple[str, Literal["min", "max"]]] = {
    "gopher_short_doc": ("n_words", "min"),
    "gopher_long_doc": ("n_words", "max"),
    "gopher_below_avg_word_len": ("gopher_mean_word_len", "min"),
    "gopher_above_avg_word_len": ("gopher_mean_word_len", "max"),
    "gopher_too_many_hashes": ("gopher_hash_ratio", "max"),
    "gopher_too_many_ellipsis": ("gopher_ellipsis_ratio", "max"),
    "gopher_too_many_bullets": ("gopher_bullet_lines_frac", "max"),
    "gopher_too_many_end_ellipsis": ("gopher_ellipsis_lines_frac", "max"),
    "gopher_below_alpha": ("gopher_alpha_words_frac", "min"),
    "gopher_few_stop_words": ("gopher_stop_words", "min"),
    "dup_para_frac": ("gopher_dup_para_frac", "max"),
    "dup_para_char_frac": ("gopher_dup_para_char_frac", "max"),
    "dup_line_frac": ("gopher_dup_line_frac", "max"),
    "dup_line_char_frac": ("gopher_dup_line_char_frac", "max"),
    **{f"top_{n}_gram": (f"gopher_top_{n}gram_frac", "max") for n in N_GRAM_TOP},
    **{f"duplicated_{n}_n_grams": (f"gopher_dup_{n}gram_frac", "max") for n in N_GRAM_DUP},
    "fw_line_punct_ratio": ("fw_line_punct_ratio", "min"),
    "fw_short_line_ratio": ("fw_short_line_ratio", "max"),
    "fw_char_dup_ratio": ("fw_char_dup_ratio", "max"),
    "fw_list_ratio": ("fw_new_line_ratio", "max"),
    "c4_few_punct_lines": ("c4_punct_lines_frac", "min"),
    "c4_policy": ("c4_policy_char_frac", "max"),
    "c4_javascript": ("c4_javascript_char_frac", "max"),
    "c4_too_long_word": ("c4_too_long_words", "max"),
    "c4_curly_bracket": ("c4_curly_bracket", "max"),
    "c4_lorem_ipsum": ("c4_lorem_ipsum", "max"),
    "lx_few_stop_words": ("lx_stop_word_ratio", "min"),
}

_FINEWEB2_POR = {
    # FineWeb-2's por_Latn values (DESIGN.md, "Facts of the domain")
    "gopher_below_avg_word_len": 3,
    "gopher_above_avg_word_len": 13,
    "gopher_below_alpha": 0.814,
    "gopher_few_stop_words": 2,
    "dup_line_frac": 0.287,
    "top_2_gram": 0.371,
    "top_3_gram": 0.191,
    "top_4_gram": 0.163,
    "duplicated_5_n_grams": 0.163,
    "duplicated_6_n_grams": 0.153,
    "duplicated_7_n_grams": 0.141,
    "duplicated_8_n_grams": 0.13,
    "duplicated_9_n_grams": 0.119,
    "duplicated_10_n_grams": 0.108,
    "fw_line_punct_ratio": 0.077,
    "fw_list_ratio": 0.186,
    # datatrove's Gopher defaults, which FineWeb-2 leaves as they are
    "gopher_short_doc": 50,
    "gopher_long_doc": 100_000,
    "gopher_too_many_hashes": 0.1,
    "gopher_too_many_ellipsis": 0.1,
    "gopher_too_many_bullets": 0.9,
    "gopher_too_many_end_ellipsis": 0.3,
    # FineWeb-2 sets the FineWeb character-duplication ratio to 0.1, and switches off the short-line
    # rule (short_line_thr=999) and the paragraph and line-character repetition rules (0); it runs no
    # C4 filter.
    "fw_char_dup_ratio": 0.1,
}

# The default: FineWeb-2's rules, loosened where they drop real Portuguese documentation, plus rules for
# what they miss. benchmarks/quality_thresholds.py (17,872 documentation pages of 150+ words from
# ../shared/data/variety/docs, 600 generated junk documents): fineweb2-por keeps 74.6% of the pages and
# flags 79.0% of the junk; this preset keeps 92.7% and flags 99.8%.
_LUSOMIX = {
    **_FINEWEB2_POR,
    # datatrove counts punctuation tokens as words, so technical prose (options, paths, parentheses)
    # falls under FineWeb-2's 0.814 (2,927 pages); tables of numbers sit at 0.0-0.25.
    "gopher_below_alpha": 0.6,
    # manuals and UI catalogues reuse set phrases ("Seleccione aqui a cor de ..."); a page made of one
    # line repeated sits above 0.6 and fails dup_line_frac as well.
    "duplicated_5_n_grams": 0.3,
    "duplicated_6_n_grams": 0.28,
    "duplicated_7_n_grams": 0.26,
    "duplicated_8_n_grams": 0.24,
    "duplicated_9_n_grams": 0.22,
    "duplicated_10_n_grams": 0.2,
    # Portuguese prose is 20-40% stop words; keyword lists, menus, tag clouds, tables and Latin filler
    # have next to none, however many distinct ones appear once (which is all gopher_few_stop_words sees).
    "lx_few_stop_words": 0.15,
    # cookie banners and consent walls: lines of their phrases are a quarter of the text or more (18 of
    # the 17,872 pages: privacy and terms sections of manuals)
    "c4_policy": 0.25,
    "c4_lorem_ipsum": 0,
    "c4_too_long_word": 0,
}

PRESETS: dict[str, dict[str, float]] = {"fineweb2-por": _FINEWEB2_POR, "lusomix": _LUSOMIX}
Preset = Literal["lusomix", "fineweb2-por"]
DEFAULT_PRESET: Preset = "lusomix"


def thresholds(preset: str = DEFAULT_PRESET, overrides: Mapping[str, float | None] | None = None) -> tuple[Rule, ...]:
    """The rules of a preset, with thresholds changed (or, with None, switched off) by ``overrides``."""
    if preset not in PRESETS:
        raise ValueError(f"unknown quality preset {preset!r}; known: {', '.join(PRESETS)}")
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(RULE_SIGNALS))
    if unknown:
        raise ValueError(f"unknown quality rule {', '.join(map(repr, unknown))}; known: {', '.join(RULE_SIGNALS)}")
    values = {**PRESETS[preset], **overrides}
    return tuple(
        Rule(name, signal, bound, float(value))
        for name, (signal, bound) in RULE_SIGNALS.items()
        if (value := values.get(name)) is not None
    )


def flags_for(signals: Mapping[str, float | int | bool | None], rules: Iterable[Rule]) -> list[str]:
    """Names of the rules the document fails, in rule order; [] = passes."""
    return [rule.name for rule in rules if rule.fails(signals.get(rule.signal))]


def flags_expr(rules: Iterable[Rule]) -> pl.Expr:
    """``quality_flags`` recomputed from the signal columns of a docs/ table (same result as flags_for)."""
    parts = []
    for rule in rules:
        value = pl.col(rule.signal).cast(pl.Float64)
        failed = value < rule.threshold if rule.bound == "min" else value > rule.threshold
        parts.append(pl.when(failed).then(pl.lit(rule.name)))
    if not parts:  # an empty list on every row (n_words, a docs/ column, gives the rows)
        return pl.concat_list(pl.col("n_words").cast(pl.String)).list.head(0).alias("quality_flags")
    return pl.concat_list(parts).list.drop_nulls().alias("quality_flags")
