"""Calibration of the variety model's scores and the page rule, fitted on source-held-out predictions.

From the out-of-fold raw fastText scores (:func:`lusomix.variety.training.out_of_fold`): the segment
calibration, the document pooling, the page-evidence weights, each cross-fitted (a fold's figures use
parameters fitted on the other folds), and the held-out figures of
:mod:`lusomix.variety.evaluation`.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from lusomix.variety.corpus import Corpus, build_pages
from lusomix.variety.evaluation import HeldOut, balanced_weights, evidence_figures, heldout_figures, page_log_odds
from lusomix.variety.evidence import CONFIDENT_TEXT, KINDS, EvidenceWeights
from lusomix.variety.model import Calibration, sigmoid


# ------------------------------------------------------------------------------------- calibration
def fit_logistic(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, l2: float = 1e-3, offset: np.ndarray | float = 0.0
) -> np.ndarray:
    """Weights of p = sigmoid(offset + x @ w) by Newton's method (x includes any bias column)."""
    weight = np.ones(len(y)) if weight is None else weight
    w = np.zeros(x.shape[1])
    for _ in range(100):
        p = sigmoid(offset + x @ w)
        grad = x.T @ (weight * (p - y)) + l2 * w
        hess = (x * (weight * p * (1 - p))[:, None]).T @ x + l2 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w


def fit_segment_calibration(
    raw: np.ndarray, n_words: np.ndarray, n_cues: np.ndarray, y: np.ndarray, base: Calibration, cue_term: bool = True
) -> Calibration:
    """Platt scaling with a length term and (``cue_term``) a no-cue term, fitted on held-out sentences
    and paragraphs."""
    r = np.clip(raw, -base.raw_cap, base.raw_cap)
    no_cue = (n_cues == 0) * r if cue_term else np.zeros_like(r)
    x = np.column_stack([r, np.log(np.maximum(n_words, 1)) * r, no_cue, np.ones_like(r)])
    a, b, d, c = fit_logistic(x, y.astype(np.float64), balanced_weights(y))
    return Calibration(**{**asdict(base), "a": float(a), "b": float(b), "c": float(c), "d": float(d)})


def fit_document_pooling(pages, z, n_words, y_pages, base: Calibration) -> Calibration:
    """Pooling exponent gamma (0 = mean of segments, 1 ~ sum) and per-segment cap, by log loss on
    held-out pages (equal weight per variety)."""
    best: tuple[float, Calibration] | None = None
    weight = balanced_weights(y_pages)
    for cap in (2.0, 3.0, 4.0, 6.0, 8.0):
        for gamma in np.linspace(0.0, 1.0, 21):
            cal = Calibration(**{**asdict(base), "gamma": round(float(gamma), 2), "segment_cap": cap})
            p = np.clip(sigmoid(page_log_odds(pages, z, n_words, cal)), 1e-9, 1 - 1e-9)
            loss = -np.mean(weight * (y_pages * np.log(p) + (1 - y_pages) * np.log(1 - p)))
            if best is None or loss < best[0] - 1e-12:
                best = (loss, cal)
    assert best is not None  # the grid is never empty
    return best[1]


# ------------------------------------------------------------------------------------- the recipe
def cross_fit(
    corpus: Corpus, folds: np.ndarray, raw: np.ndarray, n_words: np.ndarray, n_cues: np.ndarray, cue_term: bool = True
) -> tuple[Calibration, HeldOut]:
    """The shipped calibration (fitted on all out-of-fold scores) and the cross-fitted held-out scores."""
    base = Calibration()
    ok = ~np.isnan(raw) & (n_words > 0)
    y = corpus.y.astype(np.float64)
    z = np.full(len(raw), np.nan)
    pages: list[np.ndarray] = []
    folds_of_pages: list[int] = []
    for k in np.unique(folds[ok]):
        fit, apply = ok & (folds != k), ok & (folds == k)
        cal_k = (
            fit_segment_calibration(raw[fit], n_words[fit], n_cues[fit], y[fit], base, cue_term) if fit.any() else base
        )
        z[apply] = cal_k.segment_log_odds(raw[apply], n_words[apply], n_cues[apply])
        new = build_pages(corpus, n_words, np.flatnonzero(apply), seed=int(k))
        pages += new
        folds_of_pages += [int(k)] * len(new)
    segment = fit_segment_calibration(raw[ok], n_words[ok], n_cues[ok], y[ok], base, cue_term)
    page_fold = np.array(folds_of_pages, np.int64)
    y_pages = np.array([corpus.y[idx[0]] for idx in pages], np.float64)
    page_lo = np.zeros(len(pages))
    pooling: dict[int, Calibration] = {}
    for k in np.unique(page_fold):
        fit, apply = np.flatnonzero(page_fold != k), np.flatnonzero(page_fold == k)
        cal_k = (
            fit_document_pooling([pages[i] for i in fit], z, n_words, y_pages[fit], segment) if len(fit) else segment
        )
        page_lo[apply] = page_log_odds([pages[i] for i in apply], z, n_words, cal_k)
        pooling[int(k)] = cal_k
    final = fit_document_pooling(pages, z, n_words, y_pages, segment) if pages else segment
    return final, HeldOut(ok, raw, z, pages, y_pages, page_lo, page_fold, pooling)


# ------------------------------------------------------------------------------- page evidence
# How often each kind of page evidence says European (+1) or Brazilian (-1) on a page of each variety:
# P(+1), P(-1); the rest says nothing. ASSUMED, not measured: this project has no labelled crawl with
# its metadata. They encode what is known of the Portuguese web qualitatively: most European pages are
# on .pt and most Brazilian ones on .br; many European sites run CMS themes that declare pt-BR or a
# bare "pt"; explicit pt-PT / pt-BR path tags are rare and reliable. They are used only to give
# held-out pages metadata so the weights of the rule can be fitted with the text's log-odds as offset
# (how much a kind adds depends on how often the text already decides); the cap keeps metadata from
# overruling a confident text whatever these rates are.
EVIDENCE_RATES = {
    "tld": ((0.55, 0.01), (0.01, 0.60)),  # (pt_PT page: P(+1), P(-1)), (pt_BR page: P(+1), P(-1))
    "url_tag": ((0.03, 0.005), (0.002, 0.05)),
    "url_dir": ((0.05, 0.005), (0.02, 0.03)),
    "declared": ((0.40, 0.10), (0.01, 0.65)),
    "declared_bare": ((0.35, 0.0), (0.20, 0.0)),  # only where no regional tag is declared
}


def draw_evidence(y_pages: np.ndarray, seed: int) -> np.ndarray:
    """Signs (pages x KINDS) drawn from EVIDENCE_RATES for pages of known variety."""
    rng = np.random.default_rng(seed)
    signs = np.zeros((len(y_pages), len(KINDS)))
    for j, kind in enumerate(KINDS):
        (pt_pos, pt_neg), (br_pos, br_neg) = EVIDENCE_RATES[kind]
        pos = np.where(y_pages == 1, pt_pos, br_pos)
        neg = np.where(y_pages == 1, pt_neg, br_neg)
        u = rng.random(len(y_pages))
        signs[:, j] = np.where(u < pos, 1.0, np.where(u < pos + neg, -1.0, 0.0))
    declared, bare = KINDS.index("declared"), KINDS.index("declared_bare")
    signs[signs[:, declared] != 0, bare] = 0.0
    return signs


def fit_evidence(text_lo: np.ndarray, signs: np.ndarray, y_pages: np.ndarray, band_hi: float) -> EvidenceWeights:
    """Weights of the page rule by logistic regression with the text log-odds as offset (balanced
    varieties, no intercept); ``cap`` such that a confident text keeps its side of the band."""
    w = fit_logistic(signs, y_pages, balanced_weights(y_pages), l2=1e-2, offset=text_lo)
    cap = CONFIDENT_TEXT - float(np.log(band_hi / (1 - band_hi)))
    return EvidenceWeights(**{k: round(float(max(v, 0.0)), 4) for k, v in zip(KINDS, w)}, cap=round(cap, 4))


def evidence_page_log_odds(text_lo: np.ndarray, signs: np.ndarray, weights: EvidenceWeights) -> np.ndarray:
    vector = np.array([getattr(weights, k) for k in KINDS])
    return text_lo + np.clip(signs @ vector, -weights.cap, weights.cap)


def cross_fit_evidence(held: HeldOut, band_hi: float, seed: int) -> tuple[EvidenceWeights, np.ndarray, np.ndarray]:
    """The shipped evidence weights (all held-out pages), and each page's log-odds with evidence under
    weights fitted on the other folds' pages; and the drawn signs."""
    signs = draw_evidence(held.y_pages, seed)
    with_evidence = np.zeros(len(held.y_pages))
    for k in np.unique(held.page_fold):
        fit, apply = held.page_fold != k, held.page_fold == k
        weights = fit_evidence(held.page_log_odds[fit], signs[fit], held.y_pages[fit], band_hi)
        with_evidence[apply] = evidence_page_log_odds(held.page_log_odds[apply], signs[apply], weights)
    return fit_evidence(held.page_log_odds, signs, held.y_pages, band_hi), with_evidence, signs


def calibrate_and_measure(
    corpus: Corpus,
    folds: np.ndarray,
    raw: np.ndarray,
    n_words: np.ndarray,
    n_cues: np.ndarray,
    seed: int,
    cue_term: bool = True,
) -> tuple[Calibration, dict | None, EvidenceWeights]:
    """From out-of-fold raw scores: the shipped calibration, the held-out figures (cross-fitted) and the
    page-evidence weights."""
    cal, held = cross_fit(corpus, folds, raw, n_words, n_cues, cue_term)
    figures = heldout_figures(corpus, folds, n_words, held) if held.pages else None
    evidence = EvidenceWeights()
    if figures and len(np.unique(held.page_fold)) > 1:
        band = tuple(figures["unknown_band"])
        evidence, with_evidence, signs = cross_fit_evidence(held, band[1], seed)
        figures["pages_with_evidence"] = evidence_figures(corpus, held, with_evidence, signs, band)
    return cal, figures, evidence
