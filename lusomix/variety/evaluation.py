"""Figures for the variety model: classification reports, calibration error, held-out page accuracy.

Pure functions over arrays (the CLI's `variety eval` and the training recipe's held-out report).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lusomix.variety import LABELS, PT_BR, PT_PT, UNKNOWN
from lusomix.variety.corpus import (
    FRMT,
    MODERN_DOCS,
    MODERN_DOCS_BOTH,
    MODERN_PT,
    NEWS_1990S,
    NEWS_HUMAN,
    SECOND_PRODUCT,
    UNSEEN_NEWS,
    Corpus,
    build_pages,
)
from lusomix.variety.evidence import CONFIDENT_TEXT
from lusomix.variety.model import Calibration, sigmoid


def page_log_odds(pages: list[np.ndarray], z: np.ndarray, n_words: np.ndarray, cal: Calibration) -> np.ndarray:
    """Document log-odds of each page (line indices) from its segments' calibrated log-odds."""
    if not pages:
        return np.zeros(0)
    idx = np.concatenate(pages)
    owner = np.repeat(np.arange(len(pages)), [len(p) for p in pages])
    return cal.document_log_odds(z[idx], n_words[idx], owner, len(pages))


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Equal total weight per variety: calibrated p = 0.5 means "no evidence", priors come from the URL."""
    n_pt, n_br = max(1, int((y == 1).sum())), max(1, int((y == 0).sum()))
    return np.where(y == 1, len(y) / (2 * n_pt), len(y) / (2 * n_br))


def _accuracy(p: np.ndarray, y: np.ndarray) -> float:
    return float(((p >= 0.5) == (y == 1)).mean()) if len(y) else float("nan")


def choose_band(p: np.ndarray, y: np.ndarray, abstain_cost: float = 0.25) -> tuple[tuple[float, float], float]:
    """The symmetric unknown band with the lowest cost on held-out pages, and the share it labels.

    Cost = wrong labels + ``abstain_cost`` x unknowns: a mislabelled page pollutes a variety's mix, an
    unknown one is only set aside, so an error is taken to cost four unknowns. With calibrated p the
    optimum sits near (abstain_cost, 1 - abstain_cost); the data decide where exactly.
    """
    best: tuple[float, tuple[float, float], float] | None = None
    for half in np.arange(0.0, 0.5, 0.01):
        lo, hi = 0.5 - half, 0.5 + half
        covered = (p <= lo) | (p >= hi)
        wrong = float((covered & ((p >= 0.5) != (y == 1))).mean())
        cost = wrong + abstain_cost * float((~covered).mean())
        if best is None or cost < best[0] - 1e-12:
            best = (cost, (round(float(lo), 2), round(float(hi), 2)), float(covered.mean()))
    assert best is not None  # the grid is never empty
    return best[1], best[2]


def expected_calibration_error(p: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, bins: int = 10):
    """ECE of p(pt_PT) against y in equal-width bins, and the reliability table behind it.

    ``weight`` (e.g. balanced_weights) measures calibration under another variety mix than the data's.
    """
    weight = np.ones(len(y)) if weight is None else weight
    which = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            w = weight[m]
            conf, freq = float(np.average(p[m], weights=w)), float(np.average(y[m], weights=w))
            ece += w.sum() / weight.sum() * abs(conf - freq)
            table.append(
                {
                    "bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}",
                    "n": int(m.sum()),
                    "mean_p": round(conf, 4),
                    "frac_pt_PT": round(freq, 4),
                }
            )
    return float(ece), table


def classification_report(y_true: list[str] | np.ndarray, y_pred: list[str] | np.ndarray) -> dict:
    """Accuracy, macro-F1 over pt_PT/pt_BR, per-class precision/recall, confusion matrix (rows = truth).

    An ``unknown`` prediction counts as wrong for accuracy and recall; it gets its own column.
    """
    t, p = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    columns = [PT_PT, PT_BR, UNKNOWN]
    confusion = {a: {b: int(((t == a) & (p == b)).sum()) for b in columns} for a in LABELS}
    per_class = {}
    for c in LABELS:
        tp = float(((t == c) & (p == c)).sum())
        precision = tp / max(1, int((p == c).sum()))
        recall = tp / max(1, int((t == c).sum()))
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = {"precision": precision, "recall": recall, "f1": f1, "support": int((t == c).sum())}
    return {
        "n": len(t),
        "accuracy": float((t == p).mean()) if len(t) else 0.0,
        "macro_f1": float(np.mean([per_class[c]["f1"] for c in LABELS])),
        "per_class": per_class,
        "confusion": confusion,
        "unknown_rate": float((p == UNKNOWN).mean()) if len(t) else 0.0,
    }


def format_report(report: dict) -> str:
    lines = [
        f"n={report['n']}  accuracy={report['accuracy']:.4f}  macro-F1={report['macro_f1']:.4f}  "
        f"unknown={report['unknown_rate']:.4f}"
    ]
    for c, m in report["per_class"].items():
        lines.append(
            f"  {c}: precision={m['precision']:.4f} recall={m['recall']:.4f} f1={m['f1']:.4f} support={m['support']}"
        )
    lines.append("confusion (rows = true, columns = predicted):")
    lines.append(f"  {'':8}" + "".join(f"{c:>9}" for c in (PT_PT, PT_BR, UNKNOWN)))
    for a, row in report["confusion"].items():
        lines.append(f"  {a:8}" + "".join(f"{row[b]:>9}" for b in (PT_PT, PT_BR, UNKNOWN)))
    return "\n".join(lines)


@dataclass
class HeldOut:
    """Out-of-fold evidence, cross-fitted: a fold's calibrated scores use parameters fitted on the
    other folds' predictions, so calibration is never measured on the data it was fitted to."""

    ok: np.ndarray  # lines with a held-out score and at least one word
    raw: np.ndarray  # raw fastText log-odds
    z: np.ndarray  # calibrated segment log-odds
    pages: list[np.ndarray]  # line indices of each multi-paragraph page
    y_pages: np.ndarray
    page_log_odds: np.ndarray  # text alone
    page_fold: np.ndarray
    pooling: dict  # fold -> the Calibration its pages were pooled with (fitted on the other folds' pages)


def _group(mask: np.ndarray, p: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy, per-variety recall and macro-F1 of a held-out group (argmax, no unknown band)."""
    if not mask.any():
        return {"n": 0}
    truth = np.where(y[mask] == 1, PT_PT, PT_BR)
    report = classification_report(truth, np.where(p[mask] >= 0.5, PT_PT, PT_BR))
    return {
        "n": int(mask.sum()),
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "recall_pt_PT": report["per_class"][PT_PT]["recall"] if (y[mask] == 1).any() else None,
        "recall_pt_BR": report["per_class"][PT_BR]["recall"] if (y[mask] == 0).any() else None,
    }


def _pages(mask: np.ndarray, p: np.ndarray, y: np.ndarray, band: tuple[float, float]) -> dict:
    """Held-out pages: right / wrong side / unknown under the band, and accuracy by argmax."""
    if not mask.any():
        return {"n": 0}
    pm, ym = p[mask], y[mask]
    right = ((pm >= band[1]) & (ym == 1)) | ((pm <= band[0]) & (ym == 0))
    wrong = ((pm >= band[1]) & (ym == 0)) | ((pm <= band[0]) & (ym == 1))
    return {
        "n": int(mask.sum()),
        "accuracy": _accuracy(pm, ym),
        "right": float(right.mean()),
        "wrong_side": float(wrong.mean()),
        "unknown": float(1 - right.mean() - wrong.mean()),
        "pt_PT_right": float(right[ym == 1].mean()) if (ym == 1).any() else None,
        "pt_PT_unknown": float((~right & ~wrong)[ym == 1].mean()) if (ym == 1).any() else None,
    }


def heldout_figures(corpus: Corpus, folds: np.ndarray, n_words: np.ndarray, h: HeldOut) -> dict:
    """Everything the model card reports, from the cross-fitted held-out scores."""
    ok, y = h.ok, corpus.y
    p = sigmoid(np.where(ok, h.z, 0.0))
    p_pages = sigmoid(h.page_log_odds)
    truth = np.where(y == 1, PT_PT, PT_BR)

    def sources(names):
        return ok & np.isin(corpus.source, names)

    band, coverage = choose_band(p_pages, h.y_pages)
    raw_pages = page_log_odds(h.pages, np.clip(h.raw, -11.5, 11.5), n_words, Calibration(gamma=0.0, segment_cap=11.5))
    edges = [1, 2, 3, 4, 6, 10, 20, 40, 10**9]
    by_length = {
        f"{lo}-{hi - 1}" if hi < 10**9 else f"{lo}+": _accuracy(p[m], y[m])
        for lo, hi in zip(edges, edges[1:])
        if (m := ok & (n_words >= lo) & (n_words < hi)).any()
    }
    # min_words: below it, held-out segments of that length are right no more often than chance
    by_count = [_accuracy(p[m], y[m]) if (m := ok & (n_words == n)).any() else 1.0 for n in range(1, 11)]
    min_words = next((n for n in range(1, 11) if all(a > 0.5 for a in by_count[n - 1 :])), 11)
    page_source = np.array([corpus.source[idx[0]] for idx in h.pages])
    page_domain = np.array([corpus.domain[idx[0]] for idx in h.pages])
    page_key = np.array([f"{corpus.source[idx[0]]}.{truth[idx[0]]}" for idx in h.pages])
    per_source = {}
    keys = np.char.add(np.char.add(corpus.source, "."), truth)
    for key in sorted(set(keys[ok])):
        m = ok & (keys == key)
        mp = page_key == key
        per_source[key] = {
            "fold": int(folds[m][0]),
            "segments": int(m.sum()),
            "accuracy": _accuracy(p[m], y[m]),
            "pages": int(mp.sum()),
            "page_accuracy": _accuracy(p_pages[mp], h.y_pages[mp]) if mp.any() else None,
        }
    balanced = balanced_weights(y[ok])
    p_raw = sigmoid(np.clip(h.raw[ok], -11.5, 11.5))
    modern_pt = sources(MODERN_PT) & (y == 1)
    # help "paragraphs": consecutive held-out strings of one product's two teams, 40-80 words each
    paragraphs = build_pages(corpus, n_words, np.flatnonzero(sources(MODERN_DOCS_BOTH)), seed=0, words=(40, 80))
    para_lo = np.array([page_log_odds([idx], h.z, n_words, h.pooling[int(folds[idx[0]])])[0] for idx in paragraphs])
    para_y = np.array([y[idx[0]] for idx in paragraphs])
    all_pages = np.ones(len(h.pages), bool)
    return {
        "segments": int(ok.sum()),
        "accuracy_all_segments": _accuracy(p[ok], y[ok]),
        # the rows, each on its own held-out group
        "frmt_pairs": _group(sources(FRMT), p, y),
        "modern_docs_one_product": _group(sources(MODERN_DOCS_BOTH), p, y),
        "modern_docs_paragraphs": _group(np.ones(len(paragraphs), bool), sigmoid(para_lo), para_y),
        "modern_docs_pt_PT": _group(sources(MODERN_DOCS) & (y == 1), p, y),
        "second_product_strings": _group(sources(SECOND_PRODUCT), p, y),
        "unseen_news": _group(sources(UNSEEN_NEWS), p, y),
        "news_1990s": _group(sources(NEWS_1990S), p, y),
        "news_human_labelled": _group(sources(NEWS_HUMAN), p, y),
        "tatoeba": _group(sources(("tatoeba",)), p, y),
        "legislation_pt_PT": _group(sources(("pt_legislation",)), p, y),
        "tweets": _group(sources(("dslcc_v3_tweets",)), p, y),
        "modern_pt_PT": _group(modern_pt, p, y),
        "news_all_sources": classification_report(
            truth[ok & (corpus.domain == "news")], np.where(p >= 0.5, PT_PT, PT_BR)[ok & (corpus.domain == "news")]
        ),
        "accuracy_by_words": by_length,
        "accuracy_by_word_count_1_to_10": by_count,
        "min_words": min_words,
        "ece_segments_before": expected_calibration_error(p_raw, y[ok])[0],
        "ece_segments_after": expected_calibration_error(p[ok], y[ok])[0],
        "ece_segments_balanced_before": expected_calibration_error(p_raw, y[ok], balanced)[0],
        "ece_segments_balanced_after": expected_calibration_error(p[ok], y[ok], balanced)[0],
        "reliability_segments_balanced": expected_calibration_error(p[ok], y[ok], balanced)[1],
        "pages": len(h.pages),
        "page_words_median": float(np.median([n_words[idx].sum() for idx in h.pages])),
        "page_ece_before": expected_calibration_error(sigmoid(raw_pages), h.y_pages)[0],
        "page_ece_after": expected_calibration_error(p_pages, h.y_pages)[0],
        "unknown_band": list(band),
        "page_coverage_outside_band": coverage,
        "pages_all": _pages(all_pages, p_pages, h.y_pages, band),
        "pages_by_domain": {str(d): _pages(page_domain == d, p_pages, h.y_pages, band) for d in np.unique(page_domain)},
        "pages_modern_pt_PT": _pages(np.isin(page_source, MODERN_PT) & (h.y_pages == 1), p_pages, h.y_pages, band),
        "pages_modern_docs": _pages(np.isin(page_source, MODERN_DOCS), p_pages, h.y_pages, band),
        "per_source": per_source,
    }


def evidence_figures(corpus: Corpus, h: HeldOut, with_evidence: np.ndarray, signs: np.ndarray, band) -> dict:
    """Held-out pages with page evidence (cross-fitted rule): overall, modern European, and the pages
    whose evidence contradicts a confident text (which must keep the text's side)."""
    p = sigmoid(with_evidence)
    page_source = np.array([corpus.source[idx[0]] for idx in h.pages])
    text_lo = h.page_log_odds
    confident_wrong_meta = (np.abs(text_lo) >= CONFIDENT_TEXT) & (np.sign(signs.sum(axis=1)) == -np.sign(text_lo))
    return {
        "all": _pages(np.ones(len(p), bool), p, h.y_pages, band),
        "modern_pt_PT": _pages(np.isin(page_source, MODERN_PT) & (h.y_pages == 1), p, h.y_pages, band),
        "modern_docs": _pages(np.isin(page_source, MODERN_DOCS), p, h.y_pages, band),
        "confident_text_contrary_evidence": {
            "n": int(confident_wrong_meta.sum()),
            # still labelled on the text's side, outside the unknown band
            "kept_text_side": float(np.where(text_lo > 0, p >= band[1], p <= band[0])[confident_wrong_meta].mean())
            if confident_wrong_meta.any()
            else None,
        },
    }
