"""Figures for the variety model: classification reports, calibration error, held-out page accuracy.

Pure functions over arrays (the CLI's `variety eval` and the training recipe's held-out report).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lusomix.filters.variety import LABELS, PT_BR, PT_PT, UNKNOWN, Calibration

if TYPE_CHECKING:
    from lusomix.pipeline.variety_training import Corpus

POST_AO90_PT = ("mozilla-langpacks", "installation-guide", "debian-reference")
NEWS_WITH_BOTH = ("dslcc_v1_v2", "ud_bosque_train_dev", "assin1_test")
NEWS_SOURCES = (*NEWS_WITH_BOTH, "ud_porttinari", "ud_petrogold", "ud_dantestocks", "ud_gsd")


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


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
    best = None
    for half in np.arange(0.0, 0.5, 0.01):
        lo, hi = 0.5 - half, 0.5 + half
        covered = (p <= lo) | (p >= hi)
        wrong = float((covered & ((p >= 0.5) != (y == 1))).mean())
        cost = wrong + abstain_cost * float((~covered).mean())
        if best is None or cost < best[0] - 1e-12:
            best = (cost, (round(float(lo), 2), round(float(hi), 2)), float(covered.mean()))
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
            table.append({"bin": f"{b / bins:.1f}-{(b + 1) / bins:.1f}", "n": int(m.sum()), "mean_p": round(conf, 4), "frac_pt_PT": round(freq, 4)})
    return float(ece), table


def classification_report(y_true: list[str], y_pred: list[str]) -> dict:
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
    lines = [f"n={report['n']}  accuracy={report['accuracy']:.4f}  macro-F1={report['macro_f1']:.4f}  unknown={report['unknown_rate']:.4f}"]
    for c, m in report["per_class"].items():
        lines.append(f"  {c}: precision={m['precision']:.4f} recall={m['recall']:.4f} f1={m['f1']:.4f} support={m['support']}")
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
    page_log_odds: np.ndarray


def heldout_figures(corpus: "Corpus", folds: np.ndarray, n_words: np.ndarray, h: HeldOut) -> dict:
    """Everything the model card reports, from the cross-fitted held-out scores."""
    ok, y = h.ok, corpus.y
    p = _sigmoid(np.where(ok, h.z, 0.0))
    p_pages = _sigmoid(h.page_log_odds)
    truth = np.where(y == 1, PT_PT, PT_BR)
    argmax = np.where(p >= 0.5, PT_PT, PT_BR)
    news, both_news = ok & corpus.news, ok & np.isin(corpus.source, NEWS_WITH_BOTH)
    dslcc = ok & (corpus.source == "dslcc_v1_v2")
    ao90 = ok & np.isin(corpus.source, POST_AO90_PT) & (y == 1)
    band, coverage = choose_band(p_pages, h.y_pages)
    outside = (p_pages <= band[0]) | (p_pages >= band[1])
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
    page_key = np.array([f"{corpus.source[idx[0]]}.{truth[idx[0]]}" for idx in h.pages])
    news_pages = np.isin(page_source, NEWS_SOURCES)
    per_source = {}
    for key in sorted(set(np.char.add(np.char.add(corpus.source[ok], "."), truth[ok]))):
        m = ok & (np.char.add(np.char.add(corpus.source, "."), truth) == key)
        mp = page_key == key
        per_source[key] = {
            "fold": int(folds[m][0]), "segments": int(m.sum()), "accuracy": _accuracy(p[m], y[m]),
            "pages": int(mp.sum()), "page_accuracy": _accuracy(p_pages[mp], h.y_pages[mp]) if mp.any() else None,
        }
    balanced = balanced_weights(y[ok])
    p_raw = _sigmoid(np.clip(h.raw[ok], -11.5, 11.5))
    return {
        "segments": int(ok.sum()),
        "accuracy_all_segments": _accuracy(p[ok], y[ok]),
        "dslcc_accuracy": _accuracy(p[dslcc], y[dslcc]) if dslcc.any() else None,
        "news_both_varieties": classification_report(truth[both_news], argmax[both_news]),
        "news_all_sources": classification_report(truth[news], argmax[news]),
        "post_ao90_pt_PT_accuracy": _accuracy(p[ao90], y[ao90]) if ao90.any() else None,
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
        "page_accuracy": _accuracy(p_pages, h.y_pages),
        "page_accuracy_news": _accuracy(p_pages[news_pages], h.y_pages[news_pages]),
        "page_ece_before": expected_calibration_error(_sigmoid(raw_pages), h.y_pages)[0],
        "page_ece_after": expected_calibration_error(p_pages, h.y_pages)[0],
        "unknown_band": list(band),
        "page_coverage_outside_band": coverage,
        "page_accuracy_outside_band": _accuracy(p_pages[outside], h.y_pages[outside]),
        "news_page_coverage_outside_band": float(outside[news_pages].mean()) if news_pages.any() else None,
        "news_page_accuracy_outside_band": _accuracy(p_pages[outside & news_pages], h.y_pages[outside & news_pages]),
        "news_sentence_coverage_outside_band": float(((p[news] <= band[0]) | (p[news] >= band[1])).mean()),
        "per_source": per_source,
    }
