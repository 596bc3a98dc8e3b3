"""The text form the variety model reads: normalisation, variety cue markers, segments.

Applied identically at training and at inference. Pure logic, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

# ---------------------------------------------------------------------------------------------- text
# Applied to a whole chunk of lines at once: the model sees lower-cased words with accents kept, digits
# folded, URLs and format placeholders dropped, and punctuation removed except hyphens inside words
# ("diz-me", enclisis, is a European cue) and a few symbols that differ between the two presses (R$, €, «»).
# After the case cue (Python), every pass runs in polars, lower-casing too (Rust's regex engine, one
# automaton per pattern, no per-match Python): 1.6x faster than Python's re on the pipeline's pages.
# Rust's regex has no look-around and Python's \w, \s differ from its Unicode classes, so the classes
# are spelled out as Python's: \w is every letter and number (str.isalnum) and "_", \s adds the
# information separators \x1c-\x1f.
_W = r"\p{L}\p{N}_"
_S = r"\s\x1c-\x1f"
_NOISE = (
    rf"https?://[^{_S}]+|www\.[^{_S}]+|@[^{_S}]+"  # URLs, e-mail domains (the user part stays as a harmless word)
    rf"|%\([{_W}]+\)[a-z]|%[0-9.]*[a-z]|\{{[{_W}]*\}}|\\[nt]"  # gettext / printf placeholders, escaped newlines
)
_SYMBOLS = {"r$": " xbrl ", "€": " xeur ", "«": " xguil ", "»": " xguil ", "%": " xpct ", "_": " "}
_PUNCT = rf"[^ a-z0{_W}{_S}-]+"
# a hyphen survives only inside a word (diz-me, guarda-redes): dashes and hyphens next to a space go
_DANGLING_HYPHENS = r" -+|-+ "
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=\S)")
# Case is lost by lower-casing, but one use of it tells the presses apart: European news capitalises
# month names and Governo / Presidente inside a sentence (the labelled news sentences: 6.7% of the
# 11,499 European ones carry such a capital, 0.6% of the 30,985 Brazilian ones). Marked before
# lower-casing. Post-AO90 European writes months in lower case too: only the capitals are a cue.
_CASE_WORDS = re.compile(
    r"(?:Janeiro(?<!Rio de Janeiro)|Fevereiro|Março|Abril|Maio|Junho|Julho|Agosto|Setembro|Outubro|Novembro"
    r"|Dezembro|Governo|Presidente)\b"
)
_MID_SENTENCE = frozenset(',;)»"”%')


def _case_marker(match: re.Match) -> str:
    # inside a sentence: after a word (or , ; ) » " %) and one space; a sentence start is not a cue. The
    # context is checked here rather than by a leading look-behind, which would cost the regex its fast
    # scan for the words' first letters.
    text, i = match.string, match.start()
    if i >= 2 and text[i - 1] == " " and (text[i - 2].isalnum() or text[i - 2] in _MID_SENTENCE):
        return match.group(0) + " xptcap"
    return match.group(0)


# Grammar and vocabulary cues, appended as marker tokens after the words that carry them. Each cue
# pools many rare words into one frequent feature, so a cue seen in software docs or 1990s news still
# counts on an unseen page ("estou a aprender" shares the progressive marker with "está a fazer").
# The model learns each marker's weight from the data; only spellings that AO90 did NOT merge are
# used (ótimo, ação, selecionar are written alike in both varieties now and are not cues).

# forms of estar / andar / continuar / ficar / viver
_ESTAR = (
    "est(?:ou|ás|á|amos|ão|ava|avas|ávamos|avam|eve|ive|iveram|ivemos|ar|ará|arão|aria|ariam|eja|ejam)"
    "|and(?:o|a|am|ava|avam)|continu(?:a|am|ava|avam|ar)|fic(?:a|am|ou|aram|ava|ar)|viv(?:e|em|ia)"
)
# Words one variety uses and the other does not (or spells differently after AO90 too).
_PT_WORDS = (
    r"autocarros? comboios? ecrãs? ficheiros? utilizador(?:es|as?)? telemóve(?:l|is) casas?\sde\sbanho "
    r"equipas? pequenos?-almoços? frigoríficos? sumos? raparigas? miúd[oa]s? montras? passadeiras? "
    r"relvados? golos? guarda-redes adeptos? avançados? autarquias? autárquic[oa]s? freguesias? "
    r"concelhos? euros? registos? registar factos? contactos? secç(?:ão|ões) "
    # post-AO90 European spellings where Brazil keeps the consonant (receção / recepção)
    r"rece(?:ção|ções) perce(?:ção|ções) conce(?:ção|ções) dece(?:ção|ções) dete(?:ção|ções) infe(?:ção|ções) "
    r"respetiv\w* aspetos? perspetiv\w* espetador\w* "
    r"câmaras?\smunicipa(?:l|is) portagens? apelidos? camião camiões eléctric[oa]s? "
    r"bilhetes?\sde\sidentidade ratos? guião guiões seleccion\w* planeamento desporto desportiv\w+ "
    r"plantel futebolistas? aquando descarregar partilh\w+ definições predefinid[oa]s? premir carregue".split()
)
_BR_WORDS = (
    r"ônibus trem trens telas? usuári[oa]s? celular(?:es)? banheiros? times? café\sda\smanhã geladeiras? "
    r"sucos? açougue moças? garot[oa]s? vitrines? gramados? gols? goleiros? torcedor(?:es|as?)? "
    r"atacantes? prefeituras? prefeit[oa]s? reais registros? registrar fatos? contatos? recepç\w+ "
    r"percepç\w+ equipes? caminhão caminhões carteira\sde\sidentidade mouse planejamento esportes? "
    r"esportiv\w+ placar baixar compartilh\w+ configurações pressione bilhões ao\sinvés "
    # spellings the 2009 Brazilian reform removed: never European
    r"vôo idéia estréia assembléia freqüent\w* conseqüênc\w* lingüístic\w* tranqüil\w*".split()
)
_AUXILIARIES = (
    "tem têm tinha tinham havia vai vão ia iam pode podem poderia deve devem deveria precisa quer querem consegue "
    "começou acabou está estão estava".split()
)


def _either(words: list[str]) -> str:
    return "(?:" + "|".join(words) + ")"


# The cues below are written as patterns over the text as it reads at this point (single spaces, \w a
# word character) and run in its doubled-space form, where each space is two: a cue ending at a word end
# must see the character after the word without look-ahead, so it consumes it (and puts it back after
# the marker); with doubled spaces the next word's leading space is still there for the next match.
# After the punctuation pass only word characters, whitespace and hyphens are left: a word character is
# anything but whitespace and "-" (and, digits being "0" by then, a letter is anything but those and "0").
_WORD = rf"[^{_S}-]"
_LETTER = rf"[^{_S}0-]"
_AT_WORD_END = rf"(?P<end>[{_S}-]|$)"
_AT_WORD_END_NO_HYPHEN = rf"(?P<end>[{_S}]|$)"
_NOT_SPACE = rf"[[{_S}]&&[^ ]]"


@dataclass(frozen=True)
class Cue:
    """A marker ``token`` appended after the text matching ``pattern`` (single spaces, ``\\w``, ``\\s``
    as in the text before doubling). ``start``: "word" (a word start), "line" (the line's first word) or
    "any" (anywhere, inside words too); ``end``: "word" (a word end), "clitic" (a word end not continued
    by a hyphen) or "any"."""

    token: str
    pattern: str
    start: str = "word"
    end: str = "word"

    def replace_all(self) -> tuple[str, str]:
        """The polars ``str.replace_all`` pattern and replacement in the doubled-space form."""
        body = (
            self.pattern.replace(" ", "  ")
            .replace(r"[^\W\d]", _LETTER)
            .replace(r"\w", _WORD)
            .replace(r"\s", f"(?:  |{_NOT_SPACE})")
        )
        # a word start is a space before it (the last one of a run); the line's first word follows the one
        # space that opens every line
        body = {"word": " ", "line": "^  ", "any": ""}[self.start] + body
        if self.end == "any":
            return body, "${0} " + self.token
        end = _AT_WORD_END if self.end == "word" else _AT_WORD_END_NO_HYPHEN
        return f"(?P<cue>{body}){end}", "${cue} " + self.token + "${end}"


_CUES = [
    Cue("xptprog", rf"(?:{_ESTAR}) a \w+[aei]r"),  # European progressive: está a fazer
    Cue("xbrprog", rf"(?:{_ESTAR}) \w+ndo"),  # Brazilian progressive: está fazendo
    Cue("xptmeso", r"-(?:[mts]e|lhes?|nos|vos|l?[oa]s?)-(?:á|ão|ia|iam|ei|emos|ás|íamos)", "any"),  # dir-se-á
    Cue("xptencl", r"-(?:me|te|se|lhe|lhes|nos|vos|lo|la|los|las|o|a|os|as)", "any", "clitic"),  # diz-me
    # a clitic opening a segment (me diz); not "se" (if) or "nos" (in the), which open sentences anywhere
    Cue("xbrproc", r"(?:me|te|lhe|lhes) [^\W\d]+", "line", "any"),
    # a clitic between auxiliary and verb (tem se destacado, pode se unir); European joins it with a
    # hyphen (tem-se destacado) or puts it before the auxiliary (que se tem destacado)
    Cue(
        "xbrproc",
        rf"{_either(_AUXILIARIES)} (?:se|me|te|lhe|lhes) [^\W\d]+(?:ar|er|ir|ado|ido|ada|ida|ados|idos|adas|idas|ndo)",
    ),
    # económico, género, António / econômico, gênero, Antônio, ônibus
    Cue("xptacc", r"[óé][mn][aeiou]\w*", "any", "any"),
    Cue("xbracc", r"[ôê][mn][aeiou]\w*", "any", "any"),
    Cue("xpttu", _either("tu contigo teu tua teus tuas vós convosco".split())),
    Cue("xbrvoce", _either(["você", "vocês", "a gente", "pra", "né", "tá", "cadê"])),
    Cue("xptlex", _either(_PT_WORDS)),
    Cue("xbrlex", _either(_BR_WORDS)),
]


def _text_form() -> pl.Expr:
    """Every pass after the case cue, as one polars expression over a column of lines."""
    line = (
        pl.col("line")
        # Rust's lower case is Python's str.lower on every line of shared/data (final sigma included), at a
        # third of its cost
        .str.to_lowercase()
        .str.replace_all(_NOISE, " ")
        .str.replace_many(_SYMBOLS)
        .str.replace_all(r"\d+", "0")
        .str.replace_all(_PUNCT, " ")
        .str.replace_all(" ", "  ", literal=True)  # why spaces are doubled: see the comment above Cue
        .str.replace_all(_DANGLING_HYPHENS, " ")
        .str.strip_suffix("-")
    )
    for cue in _CUES:
        line = line.str.replace_all(*cue.replace_all())
    return line.str.replace_all("  ", " ", literal=True)


_TEXT_FORM = _text_form()


# lone surrogates (text decoded with errors="surrogateescape") cannot enter a polars (UTF-8) string; they
# are punctuation to the text form, as U+FFFD is
_SURROGATE = re.compile("[\ud800-\udfff]")


def _normalised(texts: list[str]) -> pl.Series:
    joined = " " + "\n ".join(texts)
    if "\r" in joined or joined.count("\n") != len(texts) - 1:  # a text of several lines is one line here
        joined = " " + "\n ".join(t.replace("\n", " ").replace("\r", " ") for t in texts)
    joined = _CASE_WORDS.sub(_case_marker, joined)
    try:
        lines = pl.DataFrame({"line": joined.split("\n")}, schema={"line": pl.String})
    except UnicodeEncodeError:
        lines = pl.DataFrame({"line": _SURROGATE.sub("\ufffd", joined).split("\n")}, schema={"line": pl.String})
    return lines.select(_TEXT_FORM).to_series()


def normalise_lines(texts: list[str]) -> list[str]:
    """The form the model was trained on, for a batch of single-line texts (newlines become spaces).

    Each pass runs once over the whole batch (one polars Series of lines): near 15 µs per sentence (this
    is on `variety predict`'s hot path and in the extract pass's variety step).
    """
    return _normalised(texts).to_list() if texts else []


# a cue marker token (xptlex, xbrproc, ... and R$ as xbrl) is a whole word, "x(?:pt|br)[a-z]+" with a space or
# the line's edge on both sides: what a "cue-less" segment lacks. Without look-ahead (Rust's regex), the
# markers are counted at a word boundary, less those a hyphen continues (xptprog-se: a clitic after a
# marked verb)
_MARKER_AT_BOUNDARY = r"(?:^| )x(?:pt|br)[a-z]+\b"
_MARKER_BEFORE_HYPHEN = r"(?:^| )x(?:pt|br)[a-z]+-"


def normalise_with_counts(texts: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """normalise_lines, the words of each line and its cue markers (what the model's calibration
    reads: a segment without any cue is trusted less, see model.Calibration)."""
    if not texts:
        return [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    lines = _normalised(texts)
    n_words = lines.str.count_matches(rf"[^{_S}]+").to_numpy().astype(np.int64)
    n_cues = lines.str.count_matches(_MARKER_AT_BOUNDARY) - lines.str.count_matches(_MARKER_BEFORE_HYPHEN)
    return lines.to_list(), n_words, n_cues.to_numpy().astype(np.int64)


def normalise(text: str) -> str:
    return normalise_lines([text])[0]


def segments(text: str, max_words: int = 80) -> list[str]:
    """Paragraphs; a paragraph longer than ``max_words`` is cut at sentence ends into ~max_words pieces.

    Segments, not whole pages, are what the model was trained on (sentences and paragraphs), and
    several segments let one odd sentence be outvoted.
    """
    if "\n" not in text and len(text) < max_words * 5:  # one short paragraph: a line of `variety predict`
        text = text.strip()
        return [text] if text else []
    pieces: list[str] = []
    for paragraph in text.split("\n"):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) < max_words * 5:  # cheap upper bound on the word count
            pieces.append(paragraph)
            continue
        current: list[str] = []
        n_current = 0
        for sentence in _SENTENCE_END.split(paragraph):
            n = len(sentence.split())
            if current and n_current + n > max_words:
                pieces.append(" ".join(current))
                current, n_current = [], 0
            current.append(sentence)
            n_current += n
        if current:
            pieces.append(" ".join(current))
    return pieces


def within_budget(pieces: list[str], budget: int | None) -> list[str]:
    """At most ~``budget`` words of segments, spread evenly over the document (not just its start,
    which is often navigation or a lead paragraph): cost stays bounded on very long pages."""
    if not budget or len(pieces) < 2:
        return pieces
    total = sum(p.count(" ") + 1 for p in pieces)
    if total <= budget:
        return pieces
    keep = np.unique(np.linspace(0, len(pieces) - 1, max(1, len(pieces) * budget // total)).round().astype(np.int64))
    return [pieces[i] for i in keep]
