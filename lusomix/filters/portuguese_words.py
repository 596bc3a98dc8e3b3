"""Portuguese word tokens as spaCy's ``blank("pt")`` tokenizer makes them, without spaCy.

datatrove's filters take their words from spaCy ``blank("pt")`` (datatrove.utils.word_tokenizers, "por"),
and FineWeb-2's Portuguese thresholds were set on those words. spaCy costs ~3.5 ms per 150-word page;
this module replays its algorithm (special cases, then prefixes and suffixes peeled off one at a time,
then URLs, then infixes) with its Portuguese rule lists on Python regular expressions, and leaves plain
words alone: the same tokens (all but 4 of 18,052 test pages identical), some twenty times faster,
and nothing to load in each worker.
tests/test_quality.py compares the two on real pages where spaCy is installed.

Character classes are built from Unicode categories (spaCy lists the same letters script by script).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache


def _char_classes(*wanted: tuple[str, ...]) -> list[str]:
    """For each tuple of Unicode categories, a regex character-class body (no brackets) of the BMP
    characters in them, as ranges. Below "À" spaCy's classes have ASCII letters only (not ª º µ)."""
    codes: list[list[int]] = [[] for _ in wanted]
    for code in range(0xC0, 0x10000):
        category = unicodedata.category(chr(code))
        for i, categories in enumerate(wanted):
            if category in categories:
                codes[i].append(code)
    return [_ranges(c) for c in codes]


def _ranges(codes: list[int]) -> str:
    out = []
    i = 0
    while i < len(codes):
        j = i
        while j + 1 < len(codes) and codes[j + 1] == codes[j] + 1:
            j += 1
        a, b = chr(codes[i]), chr(codes[j])
        out.append(re.escape(a) if i == j else f"{re.escape(a)}-{re.escape(b)}")
        i = j + 1
    return "".join(out)


_lower, _upper, _alpha, _icons = _char_classes(("Ll", "Lo"), ("Lu", "Lo"), ("Ll", "Lu", "Lt", "Lm", "Lo"), ("So",))
_LOWER = "a-z" + _lower
_UPPER = "A-Z" + _upper
_ALPHA = "A-Za-z" + _alpha
_ICONS = "[\u00a6\u00a9\u00ae\u00b0" + _icons + "\U0001f000-\U0001faff]"

# spacy/lang/char_classes.py
_PUNCT = r"… …… , : ; \! \? ¿ ؟ ¡ \( \) \[ \] \{ \} < > _ # \* & 。 ？ ！ ， 、 ； ： ～ · । ، ۔ ؛ ٪".split()
_QUOTES = "' \" ” “ ` ‘ ´ ’ ‚ , „ » « 「 」 『 』 （ ） 〔 〕 【 】 《 》 〈 〉 〈 〉 ⟦ ⟧".split()
_CURRENCY = r"\$ £ € ¥ ฿ US\$ C\$ A\$ ₽ ﷼ ₴ ₠ ₡ ₢ ₣ ₤ ₥ ₦ ₧ ₨ ₩ ₪ ₫ € ₭ ₮ ₯ ₰ ₱ ₲ ₳ ₴ ₵ ₶ ₷ ₸ ₹ ₺ ₻ ₼ ₽ ₾ ₿".split()
_UNITS = (
    "km km² km³ m m² m³ dm dm² dm³ cm cm² cm³ mm mm² mm³ ha µm nm yd in ft kg g mg µg t lb oz m/s km/h kmh mph "
    "hPa Pa mbar mb MB kb KB gb GB tb TB T G M K %"
).split()
_HYPHENS = "-|–|—|--|---|——|~"
_ELLIPSES = [r"\.\.+", "…"]
_QUOTE_CHARS = re.escape("".join(_QUOTES))
_PUNCT_CHARS = "".join(_PUNCT).replace("\\", "")

# spacy/lang/punctuation.py with spacy/lang/pt/punctuation.py
_PREFIXES = (
    [r"\w{1,3}\$", "§", "%", "=", "—", "–", r"\+(?![0-9])"]
    + _PUNCT
    + _ELLIPSES
    + [re.escape(q) for q in _QUOTES]
    + _CURRENCY
    + [_ICONS]
)
_SUFFIXES = (
    _PUNCT
    + _ELLIPSES
    + [re.escape(q) for q in _QUOTES]
    + [_ICONS]
    + ["'s", "'S", "’s", "’S", "—", "–"]
    + [
        r"(?<=[0-9])\+",
        r"(?<=°[FfCcKk])\.",
        r"(?<=[0-9])(?:{})".format("|".join(_CURRENCY)),
        r"(?<=[0-9])(?:{})".format("|".join(_UNITS)),
        # spaCy writes this class with "|" and "(?:" inside: they are members of it too
        rf"(?<=[0-9{_LOWER}%²\-\+{re.escape(_PUNCT_CHARS)}|(?:{_QUOTE_CHARS})])\.",
        rf"(?<=[{_UPPER}][{_UPPER}])\.",
    ]
)
_INFIXES = (
    [r"(\w+-\w+(-\w+)*)"]
    + _ELLIPSES
    + [
        _ICONS,
        r"(?<=[0-9])[+\-\*^](?=[0-9-])",
        rf"(?<=[{_LOWER}{_QUOTE_CHARS}])\.(?=[{_UPPER}{_QUOTE_CHARS}])",
        rf"(?<=[{_ALPHA}]),(?=[{_ALPHA}])",
        rf"(?<=[{_ALPHA}])(?:{_HYPHENS})(?=[{_ALPHA}])",
        rf"(?<=[{_ALPHA}0-9])[:<>=/](?=[{_ALPHA}])",
    ]
)
_PREFIX = re.compile("|".join("^" + p for p in _PREFIXES))
_SUFFIX = re.compile("|".join(p + "$" for p in _SUFFIXES))
_INFIX = re.compile("|".join(_INFIXES))

# spacy/lang/tokenizer_exceptions.py URL_PATTERN
_URL = re.compile(
    r"^(?:(?:[\w\+\-\.]{2,})://)?(?:\S+(?::\S*)?@)?(?:(?!(?:10|127)(?:\.\d{1,3}){3})"
    r"(?!(?:169\.254|192\.168)(?:\.\d{1,3}){2})(?!172\.(?:1[6-9]|2\d|3[0-1])(?:\.\d{1,3}){2})"
    r"(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{1,2}|2[0-4]\d|25[0-5])){2}"
    r"(?:\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4]))|(?:(?:[A-Za-z0-9\u00a1-\uffff][A-Za-z0-9\u00a1-\uffff_-]{0,62})?"
    rf"[A-Za-z0-9\u00a1-\uffff]\.)+(?:[{_LOWER}]{{2,63}}))(?::\d{{2,5}})?(?:[/?#]\S*)?$"
)

# special cases: spaCy's base exceptions (emoticons, "a." ... "z.", "C++") and Portuguese abbreviations
_EMOTICONS = r"""
:) :-) :)) :-)) :))) :-))) (: (-: =) (= :] :-] [: [-: [= =] :o) (o: :} :-} 8) 8-) (-8 ;) ;-) (; (-; :( :-(
:(( :-(( :((( :-((( ): )-: =( >:( :') :'-) :'( :'-( :/ :-/ =/ =| :| :-| ]= =[ :1 :P :-P :p :-p :O :-O :o :-o
:0 :-0 :() >:o :* :-* :3 :-3 =3 :> :-> :X :-X :x :-x :D :-D ;D ;-D =D xD XD xDD XDD 8D 8-D ^_^ ^__^ ^___^ >.<
>.> <.< ._. ;_; -_- -__- v.v V.V v_v V_V o_o o_O O_o O_O 0_o o_0 0_0 o.O O.o O.O o.o 0.0 o.0 0.o @_@ <3 <33
<333 </3 (^_^) (-_-) (._.) (>_<) (*_*) (¬_¬) ಠ_ಠ ಠ︵ಠ (ಠ_ಠ) ¯\(ツ)/¯ (╯°□°）╯︵┻━┻ ><(((*>
""".split()
_PT_ABBREVIATIONS = (
    "Adm. Art. art. Av. av. Cia. dom. Dr. dr. e.g. E.g. E.G. e/ou ed. eng. etc. Fund. Gen. Gov. i.e. I.e. I.E. "
    "Inc. Jr. km/h Ltd. Mr. p.m. Ph.D. Rep. Rev. S/A Sen. Sr. sr. Sra. sra. vs. tel. pág. pag."
).split()
_SPECIAL: dict[str, list[str]] = {
    s: [s]
    for s in ["'", '\\")', "<space>", "''", "C++", "\\t", "\\n", "\u2014", *_EMOTICONS, *_PT_ABBREVIATIONS]
    + [f"{c}." for c in "abcdefghijklmnopqrstuvwxyzäöü"]
}
_SPECIAL |= {f"°{u}.": ["°", u, "."] for u in "cfkCFK"}


@lru_cache(maxsize=1 << 16)  # as spaCy caches chunks: "(ver", "etc.)", "2,1%" come back again and again
def _split_chunk(chunk: str) -> tuple[str, ...]:
    """spaCy's Tokenizer._split_affixes + _attach_tokens for one whitespace-free chunk."""
    prefixes: list[str] = []
    suffixes: list[str] = []
    s = chunk
    last = -1
    while s and len(s) != last and s not in _SPECIAL:
        last = len(s)
        m = _PREFIX.search(s)
        pre = m.end() if m else 0
        if pre and s[pre:] in _SPECIAL:
            prefixes.append(s[:pre])
            s = s[pre:]
            break
        m = _SUFFIX.search(s[pre:])
        suf = len(s) - pre - m.start() if m else 0
        if suf and s[:-suf] in _SPECIAL:
            suffixes.append(s[-suf:])
            s = s[:-suf]
            break
        if pre and suf and pre + suf <= len(s):
            prefixes.append(s[:pre])
            suffixes.append(s[-suf:])
            s = s[pre:-suf]
        elif pre:
            prefixes.append(s[:pre])
            s = s[pre:]
        elif suf:
            suffixes.append(s[-suf:])
            s = s[:-suf]
    tokens = prefixes
    if s in _SPECIAL:
        tokens += _SPECIAL[s]
    elif s and _URL.match(s):
        tokens.append(s)
    elif s:
        start = 0
        for m in _INFIX.finditer(s):
            a, b = m.span()
            if a == 0:  # an infix at the start splits nothing (and so "diz-me" stays whole)
                continue
            if a != start:
                tokens.append(s[start:a])
            if a != b:
                tokens.append(s[a:b])
            start = b
        if s[start:]:
            tokens.append(s[start:])
    tokens += reversed(suffixes)
    return tuple(_merge_specials(tokens) if len(tokens) > 1 else tokens)


_LONGEST_SPECIAL = max(len(v) for v in _SPECIAL.values()) + 4


def _merge_specials(tokens: list[str]) -> list[str]:
    """spaCy's special-case matcher: adjacent tokens that spell a special case become that case again
    ("abaixo):" -> "abaixo", "):" since "):" is an emoticon)."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for j in range(min(len(tokens), i + _LONGEST_SPECIAL), i + 1, -1):  # longest first
            joined = "".join(tokens[i:j])
            if joined in _SPECIAL:
                out += _SPECIAL[joined]
                i = j
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


# spaCy's affix loop takes time quadratic in a chunk's length (16,000 "!" or emoji take ~13 s here, longer
# in spaCy): a chunk longer than this, which no word is (a line of symbols, script or data leaked into the
# text), is one token.
_MAX_CHUNK = 256


def words(text: str, chunks: list[str] | None = None) -> list[str]:
    """The tokens of datatrove's Portuguese word tokenizer: words, numbers and punctuation marks.

    ``chunks``: ``text.split()``, when the caller has it already. A chunk of more than ``_MAX_CHUNK``
    characters that is not a plain word stays whole.
    """
    tokens: list[str] = []
    for chunk in text.split() if chunks is None else chunks:
        if chunk.isalpha() or chunk.isdecimal():  # most chunks: nothing to peel off, nothing to split
            tokens.append(chunk)
            continue
        # next most: a word and one mark ("casa," "fim." "(ver"), which the rules split the obvious way
        head, last = chunk[:-1], chunk[-1]
        if chunk not in _SPECIAL and head.isalpha():
            if last in _ALWAYS_SUFFIX or (last == "." and _period_is_suffix(head)):
                tokens += (head, last)
                continue
        elif chunk[0] in _ALWAYS_PREFIX and chunk[1:].isalpha():
            tokens += (chunk[0], chunk[1:])
            continue
        if len(chunk) > _MAX_CHUNK:
            tokens.append(chunk)
            continue
        tokens += _split_chunk(chunk)
    return tokens


_ALWAYS_SUFFIX = frozenset(",;:!?)]}\"'»”’…")
_ALWAYS_PREFIX = frozenset("([{\"'«“‘")


def _period_is_suffix(word: str) -> bool:
    """spaCy peels a final "." after a lower-case letter or after two capitals ("fim." "EUA." but "J.")."""
    if word[-1].islower():
        return word[-1] not in "ªº"  # lower-case to Python, not letters to spaCy
    return len(word) > 1 and word[-1].isupper() and word[-2].isupper()
