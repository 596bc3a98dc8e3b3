"""The text form the variety model reads: normalisation, variety cue markers, segments.

Applied identically at training and at inference. Pure logic, no I/O.
"""

from __future__ import annotations

import re

import numpy as np

# ---------------------------------------------------------------------------------------------- text
# Applied to a whole chunk of lines at once (one regex pass per chunk, not per line): the model sees
# lower-cased words with accents kept, digits folded, URLs and format placeholders dropped, and
# punctuation removed except hyphens inside words ("diz-me", enclisis, is a European cue) and a few
# symbols that differ between the two presses (R$, €, «»).
_NOISE = re.compile(
    r"https?://\S+|www\.\S+|@\S+"  # URLs, e-mail domains (the user part stays as a harmless word)
    r"|%\(\w+\)[a-z]|%[0-9.]*[a-z]|\{\w*\}|\\[nt]"  # gettext / printf placeholders, escaped newlines
)
_SYMBOLS = (("r$", " xbrl "), ("€", " xeur "), ("«", " xguil "), ("»", " xguil "), ("%", " xpct "), ("_", " "))
_DIGITS = re.compile(r"\d+")
# [^\w\s-] with the common characters of lower-cased, digit-folded text listed first: the same set,
# but most characters are accepted by a quick range check before Unicode category lookups (1.5x faster)
_PUNCT = re.compile(r"[^ a-z0\n\w\s-]+")
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

# forms of estar / andar / continuar / ficar / viver, factored by prefix (a regex alternation is tried at
# every word start; a shared literal prefix lets most words fail on their first letters)
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
_REGEX_META = frozenset("\\()[]{}?*+|.^$")


def _trie(words: list[str]) -> str:
    """One regex alternation for a list of word patterns, factored by shared leading letters (a trie).

    The regex engine tries every branch of an alternation at each candidate position: ~80 flat words
    cost ~80 first-letter checks per word of text; factored, most words fail after one or two (the
    lexicon cues run 2.4x faster, same matches). A pattern is split only at plain letters; whatever
    follows its first regex syntax stays whole.
    """
    groups: dict[str, list[str]] = {}
    whole: list[str] = []
    for word in words:
        first = word[:1]
        if first and first not in _REGEX_META and word[1:2] not in ("?", "*", "+", "{"):
            groups.setdefault(first, []).append(word[1:])
        else:
            whole.append(word)
    branches = [
        re.escape(first) + (_trie(rest) if len(rest) > 1 else f"(?:{rest[0]})") for first, rest in groups.items()
    ]
    return "(?:" + "|".join(branches + whole) + ")"


# Every line of the joined batch starts with "\n " and words are separated by spaces, so " word" marks a
# word start: a literal first character is much faster for the regex engine than \b.
_CUES = [
    ("xptprog", rf" (?:{_ESTAR}) a \w+[aei]r\b"),  # European progressive: está a fazer
    ("xbrprog", rf" (?:{_ESTAR}) \w+ndo\b"),  # Brazilian progressive: está fazendo
    ("xptmeso", r"-(?:[mts]e|lhes?|nos|vos|l?[oa]s?)-(?:á|ão|ia|iam|ei|emos|ás|íamos)\b"),  # dir-se-á
    ("xptencl", r"-(?:me|te|se|lhe|lhes|nos|vos|lo|la|los|las|o|a|os|as)\b(?!-)"),  # diz-me
    # a clitic opening a segment (me diz); not "se" (if) or "nos" (in the), which open sentences anywhere.
    # "\n " opens every line (not ^, which would cost the regex its fast scan for a literal first char)
    ("xbrproc", r"\n (?:me|te|lhe|lhes) [^\W\d]+"),
    # a clitic between auxiliary and verb (tem se destacado, pode se unir); European joins it with a
    # hyphen (tem-se destacado) or puts it before the auxiliary (que se tem destacado)
    (
        "xbrproc",
        rf" {_trie(_AUXILIARIES)} (?:se|me|te|lhe|lhes) [^\W\d]+"
        r"(?:ar|er|ir|ado|ido|ada|ida|ados|idos|adas|idas|ndo)\b",
    ),
    # económico, género, António / econômico, gênero, Antônio, ônibus; one regex per letter: a literal
    # first character is scanned for 4-5x faster than a character class
    ("xptacc", r"ó[mn][aeiou]\w*"),
    ("xptacc", r"é[mn][aeiou]\w*"),
    ("xbracc", r"ô[mn][aeiou]\w*"),
    ("xbracc", r"ê[mn][aeiou]\w*"),
    ("xpttu", rf" {_trie('tu contigo teu tua teus tuas vós convosco'.split())}\b"),
    ("xbrvoce", rf" {_trie(['você', 'vocês', 'a gente', 'pra', 'né', 'tá', 'cadê'])}\b"),
    ("xptlex", rf" {_trie(_PT_WORDS)}(?!\w)"),
    ("xbrlex", rf" {_trie(_BR_WORDS)}(?!\w)"),
]


def _append(token: str):
    r"""The replacement that puts the marker right after the match (the end of the word with the cue).
    A function, not the template r"\g<0> token": Python 3.11 expands a template in Python per match."""
    suffix = " " + token
    return lambda match: match.group(0) + suffix


_CUES_RE = [(re.compile(rx, re.M), _append(tok)) for tok, rx in _CUES]


def _mark(joined: str) -> str:
    for rx, append in _CUES_RE:
        joined = rx.sub(append, joined)
    return joined


def normalise_lines(texts: list[str]) -> list[str]:
    """The form the model was trained on, for a batch of single-line texts (newlines become spaces).

    Every step runs once over the whole batch joined by newlines; literal-prefixed regexes and
    str.replace keep it near 20 µs per sentence (this is on `variety predict`'s hot path).
    """
    if not texts:
        return []
    joined = "\n " + "\n ".join(t.replace("\n", " ").replace("\r", " ") for t in texts)
    joined = _CASE_WORDS.sub(_case_marker, joined).lower()
    joined = _NOISE.sub(" ", joined)
    for symbol, token in _SYMBOLS:
        if symbol in joined:
            joined = joined.replace(symbol, token)
    joined = _PUNCT.sub(" ", _DIGITS.sub("0", joined))
    # a hyphen survives only inside a word (diz-me, guarda-redes): drop dashes and dangling hyphens
    while " -" in joined or "- " in joined:
        joined = joined.replace(" -", " ").replace("- ", " ")
    joined = joined.replace("-\n", "\n")
    return _mark(joined).split("\n")[1:]


def normalise(text: str) -> str:
    return normalise_lines([text])[0]


def segments(text: str, max_words: int = 80) -> list[str]:
    """Paragraphs; a paragraph longer than ``max_words`` is cut at sentence ends into ~max_words pieces.

    Segments, not whole pages, are what the model was trained on (sentences and paragraphs), and
    several segments let one odd sentence be outvoted.
    """
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
