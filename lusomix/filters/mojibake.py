"""ftfy's mojibake test with its own regex, run by RE2 (google-re2): the same answer, ~30x faster.

ftfy decides that a line may be mojibake with one large regex (``ftfy.badness.BADNESS_RE``: ~90 branches of
character classes, ``badness.is_bad``). Python's ``re`` tries every branch at every position, ~0.1 µs a
character, and a page of Portuguese news (curly quotes, « », º, capitals such as É) sends most of its lines
through it: ~0.7 ms a page, measured on real page shells. RE2 runs the same regex as one automaton (no
backtracking): ~0.02 ms a page. (polars' Rust engine would do as well, but it compiles the pattern at every
call, ~0.3 ms, and a page is one call.)

The rewrite is exact: from the regex's parse tree, every element is spelled as the code points Python's
engine matches (a literal as its code point, ``\\s`` as the characters of ``str.isspace``, ``^`` as the
start of the text, ``.`` as any character but a newline in both engines). A branch with an element whose
Unicode meaning differs between the engines (``\\w``) stays with Python's ``re``, as a small regex of its
own. tests/test_text.py checks the two against ftfy's own test on generated and real lines.
"""

from __future__ import annotations

import re
import re._parser as sre_parse  # the parse tree of ftfy's regex (the module the stdlib's re compiles with)
from functools import lru_cache

import re2
from ftfy.badness import BADNESS_RE

# every character for which str.isspace() is true lies below U+3001 (a test checks the whole range)
PYTHON_SPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())


class _Unsupported(Exception):
    """An element of the regex that the RE2 spelling does not take (the branch stays with Python's re)."""


def _code_point(c: int, for_re2: bool) -> str:
    return f"\\x{{{c:X}}}" if for_re2 else f"\\U{c:08X}"


def _class(items, for_re2: bool) -> str:
    parts = []
    negate = False
    for op, av in items:
        if op is sre_parse.NEGATE:
            negate = True
        elif op is sre_parse.LITERAL:
            parts.append(_code_point(av, for_re2))
        elif op is sre_parse.RANGE:
            if av[0] <= 0xDFFF and av[1] >= 0xD800:  # surrogates: RE2 matches UTF-8, which holds none
                raise _Unsupported(op, av)
            parts.append(f"{_code_point(av[0], for_re2)}-{_code_point(av[1], for_re2)}")
        elif op is sre_parse.CATEGORY and av is sre_parse.CATEGORY_SPACE:
            parts += [_code_point(ord(c), for_re2) for c in PYTHON_SPACE]
        elif op is sre_parse.CATEGORY and av is sre_parse.CATEGORY_WORD and not for_re2:
            parts.append(r"\w")
        else:
            raise _Unsupported(op, av)
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def _pattern(items, for_re2: bool) -> str:
    """The regex text of parsed ``items``, for RE2 or for Python's re."""
    out = []
    for op, av in items:
        if op is sre_parse.LITERAL:
            out.append(_code_point(av, for_re2))
        elif op is sre_parse.IN:
            out.append(_class(av, for_re2))
        elif op is sre_parse.ANY:
            out.append(".")
        elif op is sre_parse.AT and av is sre_parse.AT_BEGINNING:
            out.append(r"\A")
        elif op is sre_parse.MAX_REPEAT:
            low, high, sub = av
            out.append(f"(?:{_pattern(sub, for_re2)}){{{low},{'' if high is sre_parse.MAXREPEAT else high}}}")
        else:
            raise _Unsupported(op, av)
    return "".join(out)


@lru_cache(maxsize=1)
def _compiled() -> tuple[re2._Regexp, re.Pattern | None]:
    """(RE2 regex of the branches it can take, Python regex of the others or None)."""
    flags = BADNESS_RE.flags & ~(re.VERBOSE | re.UNICODE)
    if flags:
        raise RuntimeError(f"ftfy's BADNESS_RE has flags {flags!r} the rewrite does not know")
    tree = sre_parse.parse(BADNESS_RE.pattern, BADNESS_RE.flags)
    if len(tree.data) != 1 or tree.data[0][0] is not sre_parse.BRANCH:
        raise RuntimeError("ftfy's BADNESS_RE is not one alternation of branches")
    fast, python = [], []
    for branch in tree.data[0][1][1]:
        try:
            fast.append(_pattern(branch.data, for_re2=True))
        except _Unsupported:
            python.append(_pattern(branch.data, for_re2=False))
    return re2.compile("|".join(fast)), re.compile("|".join(python)) if python else None


def is_bad(segment: str) -> bool:
    """``ftfy.badness.is_bad(segment)``, for a segment without surrogates."""
    fast, python = _compiled()
    return fast.search(segment) is not None or (python is not None and python.search(segment) is not None)
