"""filters.text.repair: ftfy is skipped only where it would change nothing."""

from __future__ import annotations

import random
import re
import re._compiler as sre_compile  # ftfy's mojibake regex, taken apart branch by branch
import re._parser as sre_parse

import ftfy
import pytest
from ftfy.badness import BADNESS_RE, is_bad

from lusomix.filters import mojibake
from lusomix.filters.text import (
    _FTFY_CONFIG,
    NEVER_MOJIBAKE,
    count_words,
    ftfy_would_change,
    has_words,
    repair,
    strip_control,
    tidy_whitespace,
)

PORTUGUESE = (
    "A informação está disponível em português: não há razão para pânico.\n"
    "O Governo aprovou ontem, 12 de Março, o orçamento — «um passo», disse o ministro.\n"
    "NÃO PERCA: INSCRIÇÕES ABERTAS ATÉ 31/12. Preço: 1.234,56 € (IVA incluído); nº 5, 1ª edição.\n"
    "“Aspas curvas”, ‘simples’, © 2024 Câmara Municipal, ® marca registada, • item, 20 °C, ½ dose.\n"
    "É útil? Sim… Ótimo! Página 2 de 3 → próxima."
)


def ftfy_repair(text: str) -> str:
    return strip_control(ftfy.fix_text(text, config=_FTFY_CONFIG))


def _element_alphabet_hits(item, state, alphabet: list[str]) -> bool:
    """Whether one single-character element of the regex matches some character of ``alphabet``."""
    element = sre_compile.compile(sre_parse.SubPattern(state, [item]), BADNESS_RE.flags & ~re.VERBOSE)
    return any(element.fullmatch(c) for c in alphabet)


def test_no_branch_of_ftfys_mojibake_regex_matches_ascii_and_the_never_mojibake_characters():
    """The fast path tests only the lines holding a character outside ASCII + NEVER_MOJIBAKE: sound only if
    no branch of BADNESS_RE can match a string of those characters alone (checked on the installed ftfy)."""
    tree = sre_parse.parse(BADNESS_RE.pattern, BADNESS_RE.flags)
    assert len(tree.data) == 1 and tree.data[0][0] == sre_parse.BRANCH
    alphabet = [chr(i) for i in range(128)] + list(NEVER_MOJIBAKE)
    for branch in tree.data[0][1][1]:
        mandatory = []
        for op, av in branch.data:
            if op == sre_parse.AT:  # ^: zero width
                continue
            if op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT) and av[0] == 0:  # optional: constrains nothing
                continue
            assert op in (sre_parse.LITERAL, sre_parse.IN, sre_parse.ANY), f"unexpected regex element {op}"
            mandatory.append((op, av))
        assert not all(_element_alphabet_hits(item, tree.state, alphabet) for item in mandatory), branch


def test_repair_equals_ftfy_on_portuguese_mojibake_and_control_characters():
    rng = random.Random(0)
    lines = PORTUGUESE.split("\n")
    weird = list("\x00\x01\x0b\x0c\r\x1b\x7f\x80\x85\x93\x9f\u2028\u2029\ud800\ufeff\ufffa\u206b\u0301\u0327ºª«»“”Ã©Â")
    texts = [PORTUGUESE, "", "\n", "plain ascii\nlines\n", "Ã ", "x\nÃ y", "Â "]
    for _ in range(3000):
        chosen = rng.sample(lines, rng.randint(1, len(lines)))
        if rng.random() < 0.3:  # a line read in the wrong encoding
            k = rng.randrange(len(chosen))
            chosen[k] = chosen[k].encode("utf-8").decode(rng.choice(["cp1252", "latin-1", "cp1251"]), errors="replace")
        text = list("\n".join(chosen))
        for _ in range(rng.randint(0, 3)):
            text.insert(rng.randrange(len(text) + 1), rng.choice(weird))
        texts.append("".join(text))
    for text in texts:
        assert repair(text) == ftfy_repair(text), repr(text)


@pytest.mark.parametrize(
    "text, changes",
    [
        (PORTUGUESE, False),  # Portuguese, curly quotes, symbols, capitals: nothing for ftfy
        ("informaÃ§Ã£o", True),  # UTF-8 read as cp1252
        ("linha\r\noutra", True),  # line breaks ftfy rewrites
        ("e\u0301", True),  # not NFC
        ("texto\x85com C1", True),
    ],
)
def test_ftfy_is_called_only_when_it_has_work(text, changes):
    assert ftfy_would_change(text) is changes
    assert (ftfy_repair(text) != strip_control(text)) is changes


@pytest.mark.parametrize("text", ["", "   ", "um", "um dois", "A casa, a rua e o café: 3 coisas.", "— … ·", "x " * 40])
def test_has_words_is_a_count_words_bar(text):
    for bar in range(-1, 45):
        assert has_words(text, bar) == (count_words(text) >= bar)


def test_tidy_whitespace_collapses_runs_within_lines_only():
    text = " Uma\u00a0 linha\t\tcom   espaços \n\n\n\u2003 outra\u202flinha \n  \n fim "
    assert tidy_whitespace(text) == "Uma linha com espaços\n\noutra linha\n\nfim"


def test_python_space_is_every_character_str_isspace_takes():
    assert mojibake.PYTHON_SPACE == "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


MOJIBAKE_LINES = [
    "aÃ§Ã£o e informaÃ§Ã£o",  # UTF-8 read as cp1252
    "Ã“timo, disse o diretor",
    "O preÃ§o Ã© 5 â‚¬",
    "â€œAspasâ€\x9d e travessÃ£o â€” fim",
    "Ð¿Ñ€Ð¸Ð²ÐµÑ‚",  # Cyrillic read as cp1252
    "Ã ",
    "na Ã  frente",
    "ГўВЂВ™s",
]


def test_re2_runs_ftfys_mojibake_regex_with_the_same_answers():
    """filters.mojibake.is_bad equals ftfy.badness.is_bad: on real lines, on mojibake, and on strings drawn
    from the characters the regex names (where branches meet, overlap and nearly match)."""
    lines = PORTUGUESE.splitlines(keepends=True) + MOJIBAKE_LINES + [line + "\n" for line in MOJIBAKE_LINES]
    rng = random.Random(7)
    alphabet = sorted({c for c in BADNESS_RE.pattern if ord(c) > 127}) + list("abcxyzAZ 09\n\t.-_\xa0\u2003\x1c")
    lines += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(40_000)]
    assert sum(map(is_bad, lines)) > 10_000  # both answers well represented
    assert [mojibake.is_bad(line) for line in lines] == [is_bad(line) for line in lines]
