"""The variety model: fastText segment scores, their calibration, and the page rule.

A supervised fastText model (word + character n-grams) scores short segments; a document's variety is
decided by all of its text: the segments' calibrated log-odds are capped (one odd sentence cannot decide a
page), length-weighted, and combined with the page's other evidence (URL, declared languages; see
:mod:`lusomix.variety.evidence`). Everything is in log-odds space::

    p_pt_PT_text = sigmoid(text_log_odds)
    p_pt_PT      = sigmoid(text_log_odds + evidence_weight * page_evidence_log_odds)

Pure logic: no datatrove, no I/O except loading the shipped model files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from lusomix.errors import UsageError
from lusomix.variety import FASTTEXT_LABEL, PT_BR, PT_PT, UNKNOWN
from lusomix.variety.evidence import EvidenceWeights, evidence_log_odds
from lusomix.variety.text import normalise_with_counts, segments, within_budget

MODELS_DIR = Path(__file__).parent / "models"
DEFAULT_MODEL = MODELS_DIR / "variety.ftz"

DEFAULT_UNKNOWN_BAND = (0.32, 0.68)  # measured: see VARIETY_MODEL_CARD.md, "Decisions"
DEFAULT_MIN_WORDS = 4  # measured: held-out texts of 1-3 words are right less often than chance
DEFAULT_EVIDENCE_WEIGHT = 1.0  # 1 = the fitted page rule; 0 = text alone
DEFAULT_WORD_BUDGET = 2000  # words scored per document at most (cost bound; see within_budget)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


@dataclass(frozen=True)
class Calibration:
    """Parameters beside the model (variety.json), fitted on source-held-out predictions.

    Segment: ``z = max(0, a + b*log(words) + d*[no cue]) * r + c`` with ``r`` the raw fastText log-odds
    clipped at ±raw_cap (Platt scaling with a length term: short texts deserve less confidence; and a
    term for segments without any variety cue marker, whose score comes from topic and neutral words
    and should sit near 0.5, not lean to the larger side's vocabulary). Document: the
    length-weighted mean of its segments' z, each capped at ±segment_cap so one odd sentence cannot
    decide a page, times ``n_eff ** gamma``, n_eff being the effective number of segments (Kish:
    (Σn)²/Σn²): gamma = 0 trusts a page no more than its average sentence, 1 treats segments as
    independent evidence. A one-segment document keeps its own z. Capped at ±document_cap.
    """

    a: float = 1.0
    b: float = 0.0
    c: float = 0.0
    d: float = 0.0
    raw_cap: float = 11.5
    segment_cap: float = 4.0
    gamma: float = 0.5
    document_cap: float = 12.0

    @classmethod
    def from_dict(cls, d: dict) -> Calibration:
        return cls(**{k: float(v) for k, v in d.items() if k in cls.__dataclass_fields__})

    def segment_log_odds(self, raw: np.ndarray, n_words: np.ndarray, n_cues: np.ndarray | None = None) -> np.ndarray:
        raw = np.clip(raw, -self.raw_cap, self.raw_cap)
        # the slope grows with length; never negative (a one- or two-word text is no evidence at all)
        slope = self.a + self.b * np.log(np.maximum(n_words, 1))
        if n_cues is not None:
            slope = slope + self.d * (np.asarray(n_cues) == 0)
        slope = np.maximum(slope, 0.0)
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
    evidence: tuple[str, ...] = ()


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
    """The fastText classifier plus its calibration and page-evidence weights. Load once per process
    (fastText handles do not pickle); every method is batched over texts."""

    def __init__(
        self,
        fasttext_model,
        calibration: Calibration | None = None,
        defaults: dict | None = None,
        evidence: EvidenceWeights | None = None,
    ):
        self._ft = fasttext_model
        self.calibration = calibration or Calibration()
        self.defaults = defaults or {}
        self.evidence = evidence or EvidenceWeights()
        labels = sorted(fasttext_model.get_labels())
        if labels != sorted(FASTTEXT_LABEL.values()):
            raise ValueError(f"not a variety model: labels {labels}")

    @classmethod
    def load(cls, path: str | Path | None = None) -> VarietyModel:
        """Model file + its parameters JSON beside it (same name, .json); None = the shipped model."""
        path = Path(path) if path is not None else DEFAULT_MODEL
        if not path.is_file():
            raise FileNotFoundError(f"variety model not found: {path}")
        calibration, defaults, evidence = Calibration(), {}, EvidenceWeights()
        side = path.with_suffix(".json")
        try:
            if side.is_file():
                params = json.loads(side.read_text(encoding="utf-8"))
                calibration = Calibration.from_dict(params.get("calibration", {}))
                defaults = params.get("defaults", {})
                evidence = EvidenceWeights.from_dict(params.get("evidence", {}))
            return cls(_load_fasttext(str(path.resolve())), calibration, defaults, evidence)
        except (ValueError, TypeError, AttributeError) as err:  # not fastText, wrong labels, bad JSON
            raise UsageError(f"not a usable variety model: {path} ({err})") from None

    def raw_log_odds(self, normalised: list[str]) -> np.ndarray:
        """Uncalibrated log-odds of pt_PT for already normalised lines (one fastText batch call)."""
        if not normalised:
            return np.zeros(0)
        # the most probable label and its probability (two labels: the other one has the rest). The
        # binding's own batch call: fastText's predict() wraps it with a Python check per line (that no
        # line holds a newline, which the text form never leaves), ~1 µs of a ~50 µs line
        labels, probs = self._ft.f.multilinePredict([line + "\n" for line in normalised], 1, 0.0, "strict")
        first_pt = np.fromiter((lab[0] == "__label__pt_PT" for lab in labels), bool, len(labels))
        top = np.fromiter((p[0] for p in probs), np.float64, len(probs))
        p_pt = np.clip(np.where(first_pt, top, 1.0 - top), 1e-6, 1 - 1e-6)
        return np.log(p_pt) - np.log1p(-p_pt)

    def sentence_log_odds(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated log-odds per text, each text scored as one segment; and its word counts."""
        normalised, n_words, n_cues = normalise_with_counts(texts)
        return self.calibration.segment_log_odds(self.raw_log_odds(normalised), n_words, n_cues), n_words

    def predict_sentences(self, texts: list[str]) -> np.ndarray:
        """Calibrated p(pt_PT) per text, each text scored as one segment (one model call)."""
        return sigmoid(self.sentence_log_odds(texts)[0])

    def text_log_odds(self, texts: list[str], word_budget: int | None = DEFAULT_WORD_BUDGET):
        """Document-level calibrated log-odds from the text alone, and words scored, per document."""
        pieces: list[str] = []
        counts: list[int] = []
        for text in texts:
            segs = within_budget(segments(text), word_budget)
            pieces += segs
            counts.append(len(segs))
        z, n_words = self.sentence_log_odds(pieces)
        owner_arr = np.repeat(np.arange(len(texts)), counts)
        log_odds = self.calibration.document_log_odds(z, n_words, owner_arr, len(texts))
        return log_odds, np.bincount(owner_arr, n_words, len(texts)).astype(np.int64)

    def p_pt_PT_text(self, text: str) -> float:
        """Document-level calibrated p(pt_PT) from the text alone."""
        return float(sigmoid(self.text_log_odds([text])[0][0]))

    def identify_batch(
        self,
        texts: list[str],
        urls: list[str | None] | None = None,
        declared: list[dict | None] | None = None,
        *,
        unknown_band: tuple[float, float] | None = None,
        evidence_weight: float | None = None,
        min_words: int | None = None,
        word_budget: int | None = DEFAULT_WORD_BUDGET,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[str]]]:
        """(variety labels, p_pt_PT, p_pt_PT_text, evidence used) per document.

        ``urls`` and ``declared`` (the page's declared languages, see evidence.DECLARED_SOURCES) are the
        page evidence; None = the model's measured default for every keyword.
        """
        d = self.defaults
        band = tuple(unknown_band or d.get("unknown_band", DEFAULT_UNKNOWN_BAND))
        weight = DEFAULT_EVIDENCE_WEIGHT if evidence_weight is None else evidence_weight
        min_words = d.get("min_words", DEFAULT_MIN_WORDS) if min_words is None else min_words
        text_lo, n_words = self.text_log_odds(texts, word_budget)
        page_lo = np.zeros(len(texts))
        used: list[list[str]] = [["text"] if n else [] for n in n_words]
        if weight and (urls is not None or declared is not None):
            for i in range(len(texts)):
                lo, kinds = evidence_log_odds(
                    urls[i] if urls is not None else None, declared[i] if declared is not None else None, self.evidence
                )
                page_lo[i] = weight * lo
                used[i] += kinds
        p = sigmoid(text_lo + page_lo)
        return label_for(p, n_words, band, min_words), p, sigmoid(text_lo), used

    def identify(
        self,
        text: str,
        url: str | None = None,
        declared: dict | None = None,
        *,
        unknown_band: tuple[float, float] | None = None,
        evidence_weight: float | None = None,
        min_words: int | None = None,
        word_budget: int | None = DEFAULT_WORD_BUDGET,
    ) -> VarietyResult:
        """Variety of one document: text log-odds + weighted page evidence; unknown inside the band."""
        labels, p, p_text, used = self.identify_batch(
            [text],
            [url],
            [declared],
            unknown_band=unknown_band,
            evidence_weight=evidence_weight,
            min_words=min_words,
            word_budget=word_budget,
        )
        return VarietyResult(str(labels[0]), float(p[0]), float(p_text[0]), tuple(used[0]))
