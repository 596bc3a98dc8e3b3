"""European (pt_PT) vs Brazilian (pt_BR) Portuguese, identified from the text, with the URL as evidence.

A supervised fastText model (word + character n-grams) scores short segments; a document's variety is
decided by all of its text: the segments' calibrated log-odds are capped (one odd sentence cannot decide a
page), length-weighted, and combined with URL log-odds. Everything is in log-odds space::

    p_pt_PT_text = sigmoid(text_log_odds)
    p_pt_PT      = sigmoid(text_log_odds + url_weight * url_log_odds(url))

African Portuguese (Angola .ao, Mozambique .mz, Cape Verde .cv, Guinea-Bissau .gw, São Tomé .st,
East Timor .tl) and Macau (.mo) follow the European norm in writing, so their ccTLDs are evidence
*towards* pt_PT: for mixing purposes a Luanda newspaper written in European spelling is pt_PT. The text
still decides when it is clear (a Brazilian page on a .ao host stays pt_BR).

Pure logic: no datatrove, no I/O except loading the shipped model files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from lusomix.errors import UsageError

PT_PT, PT_BR, UNKNOWN = "pt_PT", "pt_BR", "unknown"
LABELS = (PT_PT, PT_BR)
FASTTEXT_LABEL = {PT_PT: "__label__pt_PT", PT_BR: "__label__pt_BR"}

MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = MODELS_DIR / "variety.ftz"

DEFAULT_UNKNOWN_BAND = (0.25, 0.75)  # measured: see VARIETY_MODEL_CARD.md, "Decisions"
DEFAULT_MIN_WORDS = 4  # measured: held-out texts of 1-3 words are right less often than chance
DEFAULT_URL_WEIGHT = 1.0
DEFAULT_CCTLD_LOG_ODDS = 1.0
DEFAULT_PATH_LOG_ODDS = 2.0
DEFAULT_WORD_BUDGET = 2000  # words scored per document at most (cost bound; see within_budget)

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
    branches = [re.escape(first) + (_trie(rest) if len(rest) > 1 else f"(?:{rest[0]})") for first, rest in groups.items()]
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
    ("xbrproc", rf" {_trie(_AUXILIARIES)} (?:se|me|te|lhe|lhes) [^\W\d]+"
     r"(?:ar|er|ir|ado|ido|ada|ida|ados|idos|adas|idas|ndo)\b"),
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
# the marker goes right after the match (the end of the word that carries the cue)
_CUES_RE = [(re.compile(rx, re.M), r"\g<0> " + tok) for tok, rx in _CUES]


def _mark(joined: str) -> str:
    for rx, template in _CUES_RE:
        joined = rx.sub(template, joined)
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


# ---------------------------------------------------------------------------------------------- URL
# Evidence towards pt_PT from the country-code TLD (sign only; the strength is a parameter).
_CCTLD_SIGN = {"pt": 1.0, "br": -1.0, "ao": 1.0, "mz": 1.0, "cv": 1.0, "gw": 1.0, "st": 1.0, "tl": 1.0, "mo": 1.0}
# A variety tag as a whole token of the path, query or first host label: /pt-br/, index_pt-BR.html,
# ?lang=pt_br, pt-br.example.com. Bounded by non-alphanumerics so "/sptbrand" or "/breve/" never match.
_TAG_BR = re.compile(r"(?<![a-z0-9])pt[-_]?br(?![a-z0-9])")
_TAG_PT = re.compile(r"(?<![a-z0-9])pt[-_]pt(?![a-z0-9])")
_SEGMENT_BR = re.compile(r"(?:^|/)br(?:/|$)")  # a bare /br/ directory: weaker, could mean other things


def url_log_odds(
    url: str | None,
    *,
    cctld: float = DEFAULT_CCTLD_LOG_ODDS,
    path: float = DEFAULT_PATH_LOG_ODDS,
) -> float:
    """Log-odds evidence towards pt_PT carried by a URL (0.0 when it says nothing).

    ``cctld`` for the host's country-code TLD (+ for .pt and the European-norm .ao .mz .cv .gw .st .tl
    .mo; - for .br); ``path`` for an explicit variety tag (pt-BR / pt-PT) in the path, query or first
    host label, half of it for a bare ``/br/`` directory. The host is parsed with urllib, never
    substring-tested: ``www.brisa.pt`` is a Portuguese host, not a Brazilian one.
    """
    if not url:
        return 0.0
    try:
        parts = urlsplit(url if "//" in url else "//" + url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return 0.0
    labels = host.split(".") if host else []
    evidence = cctld * _CCTLD_SIGN.get(labels[-1], 0.0) if labels else 0.0
    tagged = (parts.path + "?" + parts.query).lower()
    first_label = labels[0] if len(labels) > 2 else ""
    if _TAG_BR.search(tagged) or first_label in ("br", "pt-br", "ptbr"):
        evidence -= path
    elif _TAG_PT.search(tagged) or first_label == "pt-pt":
        evidence += path
    elif _SEGMENT_BR.search(parts.path.lower()):
        evidence -= path / 2
    return evidence


# ---------------------------------------------------------------------------------------------- model
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


@dataclass(frozen=True)
class Calibration:
    """Parameters beside the model (variety.json), fitted on source-held-out predictions.

    Segment: ``z = max(0, a + b*log(words)) * r + c`` with ``r`` the raw fastText log-odds clipped at
    ±raw_cap (Platt scaling with a length term: short texts deserve less confidence). Document: the
    length-weighted mean of its segments' z, each capped at ±segment_cap so one odd sentence cannot
    decide a page, times ``n_eff ** gamma``, n_eff being the effective number of segments (Kish:
    (Σn)²/Σn²): gamma = 0 trusts a page no more than its average sentence, 1 treats segments as
    independent evidence. A one-segment document keeps its own z. Capped at ±document_cap.
    """

    a: float = 1.0
    b: float = 0.0
    c: float = 0.0
    raw_cap: float = 11.5
    segment_cap: float = 4.0
    gamma: float = 0.5
    document_cap: float = 12.0

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        return cls(**{k: float(v) for k, v in d.items() if k in cls.__dataclass_fields__})

    def segment_log_odds(self, raw: np.ndarray, n_words: np.ndarray) -> np.ndarray:
        raw = np.clip(raw, -self.raw_cap, self.raw_cap)
        # the slope grows with length; never negative (a one- or two-word text is no evidence at all)
        slope = np.maximum(self.a + self.b * np.log(np.maximum(n_words, 1)), 0.0)
        return np.where(np.asarray(n_words) > 0, slope * raw + self.c, 0.0)

    def document_log_odds(self, z: np.ndarray, n_words: np.ndarray, owner: np.ndarray, n_docs: int) -> np.ndarray:
        """Pool segment log-odds into one per document (``owner[i]`` = document of segment i)."""
        w = np.asarray(n_words, dtype=np.float64)
        has_words = (w > 0).astype(np.float64)
        count = np.bincount(owner, has_words, n_docs)
        total = np.bincount(owner, w, n_docs)
        squares = np.bincount(owner, w * w, n_docs)
        mean = np.bincount(owner, w * np.clip(z, -self.segment_cap, self.segment_cap), n_docs)
        single = np.bincount(owner, z * has_words, n_docs)
        with np.errstate(divide="ignore", invalid="ignore"):
            pooled = mean / total * (total * total / squares) ** self.gamma
        out = np.where(count == 1, single, np.where(total > 0, pooled, 0.0))
        return np.clip(out, -self.document_cap, self.document_cap)


@dataclass(frozen=True)
class VarietyResult:
    variety: str
    p_pt_PT: float
    p_pt_PT_text: float


def label_for(p, n_words, unknown_band=DEFAULT_UNKNOWN_BAND, min_words=DEFAULT_MIN_WORDS) -> np.ndarray:
    """pt_PT at or above the band's top, pt_BR at or below its bottom, unknown inside it or when the
    text has fewer than ``min_words`` words (URL evidence alone never labels a document)."""
    lo, hi = unknown_band
    p = np.asarray(p, dtype=np.float64)
    labels = np.where(p >= hi, PT_PT, np.where(p <= lo, PT_BR, UNKNOWN))
    return np.where(np.asarray(n_words) < min_words, UNKNOWN, labels).astype(object)


def _load_fasttext(path: str):
    """One fastText handle per model file and process: executor workers run many tasks each, and a
    load costs ~0.35 s, more than scoring a small archive's documents. A file rewritten in place (a
    retrained model) is loaded again."""
    stat = Path(path).stat()
    return _load_fasttext_version(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _load_fasttext_version(path: str, mtime_ns: int, size: int):
    import fasttext

    return fasttext.load_model(path)


class VarietyModel:
    """The fastText classifier plus its calibration. Load once per process (fastText handles do not
    pickle); every method is batched over texts."""

    def __init__(self, fasttext_model, calibration: Calibration | None = None, defaults: dict | None = None):
        self._ft = fasttext_model
        self.calibration = calibration or Calibration()
        self.defaults = defaults or {}
        labels = sorted(fasttext_model.get_labels())
        if labels != sorted(FASTTEXT_LABEL.values()):
            raise ValueError(f"not a variety model: labels {labels}")

    @classmethod
    def load(cls, path: str | Path | None = None) -> "VarietyModel":
        """Model file + its calibration JSON beside it (same name, .json); None = the shipped model."""
        path = Path(path) if path is not None else DEFAULT_MODEL
        if not path.is_file():
            raise FileNotFoundError(f"variety model not found: {path}")
        calibration, defaults = Calibration(), {}
        side = path.with_suffix(".json")
        try:
            if side.is_file():
                params = json.loads(side.read_text(encoding="utf-8"))
                calibration = Calibration.from_dict(params.get("calibration", {}))
                defaults = params.get("defaults", {})
            return cls(_load_fasttext(str(path.resolve())), calibration, defaults)
        except (ValueError, TypeError, AttributeError) as err:  # not fastText, wrong labels, bad JSON
            raise UsageError(f"not a usable variety model: {path} ({err})") from None

    def raw_log_odds(self, normalised: list[str]) -> np.ndarray:
        """Uncalibrated log-odds of pt_PT for already normalised lines (one fastText batch call)."""
        if not normalised:
            return np.zeros(0)
        labels, probs = self._ft.predict(normalised, k=2, threshold=0.0)
        # k=2 returns both labels, most probable first: p(pt_PT) is the top prob when pt_PT leads
        first_pt = np.fromiter((lab[0] == "__label__pt_PT" for lab in labels), bool, len(labels))
        top = np.fromiter((p[0] for p in probs), np.float64, len(probs))
        p_pt = np.clip(np.where(first_pt, top, 1.0 - top), 1e-6, 1 - 1e-6)
        return np.log(p_pt) - np.log1p(-p_pt)

    def sentence_log_odds(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated log-odds per text, each text scored as one segment; and its word counts."""
        normalised = normalise_lines(texts)
        n_words = np.fromiter((len(t.split()) for t in normalised), np.int64, len(normalised))
        return self.calibration.segment_log_odds(self.raw_log_odds(normalised), n_words), n_words

    def predict_sentences(self, texts: list[str]) -> np.ndarray:
        """Calibrated p(pt_PT) per text, each text scored as one segment (one model call)."""
        return _sigmoid(self.sentence_log_odds(texts)[0])

    def text_log_odds(self, texts: list[str], word_budget: int | None = DEFAULT_WORD_BUDGET):
        """Document-level calibrated log-odds from the text alone, and words scored, per document."""
        pieces: list[str] = []
        owner: list[int] = []
        for i, text in enumerate(texts):
            segs = within_budget(segments(text), word_budget)
            pieces += segs
            owner += [i] * len(segs)
        z, n_words = self.sentence_log_odds(pieces)
        owner_arr = np.asarray(owner, dtype=np.int64)
        log_odds = self.calibration.document_log_odds(z, n_words, owner_arr, len(texts))
        return log_odds, np.bincount(owner_arr, n_words, len(texts)).astype(np.int64)

    def p_pt_PT_text(self, text: str) -> float:
        """Document-level calibrated p(pt_PT) from the text alone."""
        return float(_sigmoid(self.text_log_odds([text])[0][0]))

    def identify_batch(
        self,
        texts: list[str],
        urls: list[str | None] | None = None,
        *,
        unknown_band: tuple[float, float] | None = None,
        url_weight: float | None = None,
        cctld_log_odds: float | None = None,
        path_log_odds: float | None = None,
        min_words: int | None = None,
        word_budget: int | None = DEFAULT_WORD_BUDGET,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(variety labels, p_pt_PT, p_pt_PT_text) per document; None = the model's measured default."""
        d = self.defaults
        band = tuple(unknown_band or d.get("unknown_band", DEFAULT_UNKNOWN_BAND))
        weight = d.get("url_weight", DEFAULT_URL_WEIGHT) if url_weight is None else url_weight
        min_words = d.get("min_words", DEFAULT_MIN_WORDS) if min_words is None else min_words
        cctld = d.get("cctld_log_odds", DEFAULT_CCTLD_LOG_ODDS) if cctld_log_odds is None else cctld_log_odds
        path = d.get("path_log_odds", DEFAULT_PATH_LOG_ODDS) if path_log_odds is None else path_log_odds
        text_lo, n_words = self.text_log_odds(texts, word_budget)
        url_lo = np.zeros(len(texts))
        if urls is not None and weight:
            url_lo = np.array([url_log_odds(u, cctld=cctld, path=path) if u else 0.0 for u in urls])
        p = _sigmoid(text_lo + weight * url_lo)
        return label_for(p, n_words, band, min_words), p, _sigmoid(text_lo)

    def identify(
        self,
        text: str,
        url: str | None = None,
        *,
        unknown_band: tuple[float, float] | None = None,
        url_weight: float | None = None,
        cctld_log_odds: float | None = None,
        path_log_odds: float | None = None,
        min_words: int | None = None,
        word_budget: int | None = DEFAULT_WORD_BUDGET,
    ) -> VarietyResult:
        """Variety of one document: text log-odds + weighted URL log-odds; unknown inside the band."""
        labels, p, p_text = self.identify_batch(
            [text], [url], unknown_band=unknown_band, url_weight=url_weight,
            cctld_log_odds=cctld_log_odds, path_log_odds=path_log_odds, min_words=min_words,
            word_budget=word_budget,
        )
        return VarietyResult(str(labels[0]), float(p[0]), float(p_text[0]))
