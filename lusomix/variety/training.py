"""Training the pt_PT / pt_BR variety model: sampling, fastText, calibration, the recipe.

The labelled data and its source-held-out folds are in :mod:`lusomix.variety.corpus`; the held-out
figures are computed in :mod:`lusomix.variety.evaluation`.

Reproducibility: fastText is trained with ``thread=1`` and a fixed seed, the training file is built
and shuffled with a seeded numpy generator, so the same data and parameters give a bit-identical
model and calibration file on the same fastText build (different CPUs/compilers may round
differently; the figures then agree to the last digits, not bit for bit).
"""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lusomix.variety import FASTTEXT_LABEL, PT_BR, PT_PT
from lusomix.variety.corpus import AO90_ANY, SPLIT_BY_GROUP, Corpus, assign_folds, build_pages, load_corpus, to_ao90
from lusomix.variety.evaluation import HeldOut, balanced_weights, evidence_figures, heldout_figures, page_log_odds
from lusomix.variety.evidence import CONFIDENT_TEXT, KINDS, EvidenceWeights
from lusomix.variety.model import DEFAULT_MIN_WORDS, DEFAULT_UNKNOWN_BAND, Calibration, VarietyModel, sigmoid
from lusomix.variety.text import normalise_lines, normalise_with_word_counts


@dataclass(frozen=True)
class TrainParams:
    epoch: int = 16
    lr: float = 0.3
    dim: int = 16
    word_ngrams: int = 2
    minn: int = 3
    maxn: int = 4
    bucket: int = 500_000
    min_count: int = 2
    seed: int = 13
    thread: int = 1
    # total weight of each domain relative to docs/ (a domain's lines share it; news is the closest to web text)
    news_weight: float = 1.5
    general_weight: float = 1.0
    social_weight: float = 0.5
    legal_weight: float = 0.5
    # a source with one variety only also teaches its topic ("stock tweets are Brazilian"): weigh it down
    single_label_weight: float = 0.5
    # each source's lines weigh (n_source / median n_source) ** (source_power - 1): 1 = as they come,
    # 0.5 = a source counts as the square root of its size, so no one translation team's style dominates
    source_power: float = 1.0
    # per-source multipliers on top of the above. FRMT's parallel pairs are the one source where only
    # the variety differs (same sentence, same topic): x24 moved held-out FRMT from 0.767 to 0.790 with
    # every other group level (VARIETY_MODEL_CARD.md, "Ablations")
    source_weight: dict = field(default_factory=lambda: {"frmt_dev_pairs": 24.0})
    ao90_copies: bool = True
    pair_contrast: float = 4.0  # copies of each span where a parallel pair differs (contrast_lines)
    contrast_context: int = 1  # shared words kept on each side of a span
    quantize: bool = True
    # 0 = no pruning: a pruned model looks every n-gram up in a hash map, which made prediction 1.8x
    # slower for no held-out gain across seeds (VARIETY_MODEL_CARD.md, "Ablations")
    cutoff: int = 0
    dsub: int = 4  # product-quantizer sub-vector size: 4 decodes half as many codes as fastText's 2
    qnorm: bool = False
    extra: dict = field(default_factory=dict)

    def domain_weight(self, domain: str) -> float:
        return {
            "news": self.news_weight,
            "general": self.general_weight,
            "social": self.social_weight,
            "legal": self.legal_weight,
        }.get(domain, 1.0)


def _balance(weight: np.ndarray, pt: np.ndarray, br: np.ndarray) -> None:
    """Scale the lighter variety's lines up so both weigh as much as the heavier one (in place)."""
    if weight[pt].sum() and weight[br].sum():
        heavier = max(weight[pt].sum(), weight[br].sum())
        weight[pt] *= heavier / weight[pt].sum()
        weight[br] *= heavier / weight[br].sum()


def line_weights(corpus: Corpus, params: TrainParams) -> np.ndarray:
    """Sampling weight per line: by source (size damped by source_power, single-variety sources down),
    then the two varieties balanced inside each domain, each domain scaled to its weight x the docs
    domain's size, and the varieties balanced overall (a one-variety domain such as the law tilts it)."""
    weight = np.ones(len(corpus))
    names, sizes = np.unique(corpus.source, return_counts=True)
    for source, size in zip(names, sizes):
        in_source = corpus.source == source
        weight[in_source] *= (size / np.median(sizes)) ** (params.source_power - 1.0)
        if len(np.unique(corpus.y[in_source])) == 1:
            weight[in_source] *= params.single_label_weight
        weight[in_source] *= params.source_weight.get(str(source), 1.0)
    reference = weight[corpus.domain == "docs"].sum() or weight.sum()
    for domain in np.unique(corpus.domain):
        dom = corpus.domain == domain
        _balance(weight, dom & (corpus.y == 1), dom & (corpus.y == 0))
        weight[dom] *= params.domain_weight(str(domain)) * reference / weight[dom].sum()
    _balance(weight, corpus.y == 1, corpus.y == 0)
    return weight * len(corpus) / weight.sum()  # as many training lines as labelled lines, on average


def contrast_lines(
    corpus: Corpus, norm: list[str], copies: float, rng: np.random.Generator, context: int = 1
) -> list[str]:
    """From each parallel pair (the same sentence translated for each variety, SPLIT_BY_GROUP sources),
    each span where the two translations differ, as a line of that side's label, with ``context`` words
    of the shared text on each side: what the two share is topic and says nothing of the variety; what
    differs is (mostly) the variety, and the shared neighbours carry the syntax ("o seu pai" against
    "seu pai", "até aos" against "até os"). One line per span, so each difference is learnt on its own
    rather than only next to the sentence's other differences."""
    lines: list[str] = []
    for source in SPLIT_BY_GROUP:
        idx = np.flatnonzero(corpus.source == source)
        for a, b in zip(idx[0::2], idx[1::2]):
            if corpus.group[a] != corpus.group[b] or corpus.y[a] == corpus.y[b]:
                continue  # a pair cut by a fold boundary or not one of each variety
            words_a, words_b = norm[a].split(), norm[b].split()
            spans_a: list[str] = []
            spans_b: list[str] = []
            matcher = difflib.SequenceMatcher(a=words_a, b=words_b, autojunk=False)
            for op, i1, i2, j1, j2 in matcher.get_opcodes():
                if op != "equal":
                    spans_a.append(" ".join(words_a[max(0, i1 - context) : i2 + context]))
                    spans_b.append(" ".join(words_b[max(0, j1 - context) : j2 + context]))
            for spans, y in ((spans_a, corpus.y[a]), (spans_b, corpus.y[b])):
                label = FASTTEXT_LABEL[PT_PT if y else PT_BR]
                n = int(np.floor(copies) + (rng.random() < copies % 1))
                lines += [f"{label} {span}" for span in spans if span for _ in range(n)]
    return lines


def training_lines(corpus: Corpus, params: TrainParams) -> list[str]:
    """fastText lines with repetition weights, AO90 copies of European lines, seeded shuffle."""
    rng = np.random.default_rng(params.seed)
    norm = normalise_lines(corpus.texts)
    weight = line_weights(corpus, params)
    repeats = np.floor(weight).astype(np.int64) + (rng.random(len(weight)) < weight % 1)
    lines: list[str] = []
    for text, y, r in zip(norm, corpus.y, repeats):
        if not text.strip():
            continue
        label = FASTTEXT_LABEL[PT_PT if y else PT_BR]
        line = f"{label} {text}"
        lines += [line] * int(r)
        if y and params.ao90_copies and AO90_ANY.search(text):
            lines += [f"{label} {to_ao90(text)}"] * int(r)
    if params.pair_contrast:
        lines += contrast_lines(corpus, norm, params.pair_contrast, rng, params.contrast_context)
    order = rng.permutation(len(lines))
    return [lines[i] for i in order]


# Run by a fresh interpreter (see train_fasttext): only fastText, nothing that re-imports the caller.
_TRAIN_SCRIPT = """
import json, sys
import fasttext
job = json.loads(sys.argv[1])
model = fasttext.train_supervised(**job["args"])
if job["quantize"]:
    model.quantize(**job["quantize"])
model.save_model(job["out"])
"""


def train_fasttext(corpus: Corpus, params: TrainParams, out: str | Path | None = None):
    """Train (and quantize) in a fresh interpreter, save to ``out``, return the loaded model.

    Why a fresh process: this fastText build reuses uninitialised heap memory across trainings in one
    process, so a second training in the same process can give a different model or "Encountered
    NaN". A new process starts clean, and then one thread + a fixed seed is bit-reproducible.
    """
    import fasttext

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        path.write_text("\n".join(training_lines(corpus, params)) + "\n", encoding="utf-8")
        args = dict(
            input=str(path),
            epoch=params.epoch,
            lr=params.lr,
            dim=params.dim,
            wordNgrams=params.word_ngrams,
            minn=params.minn,
            maxn=params.maxn,
            bucket=params.bucket,
            minCount=params.min_count,
            seed=params.seed,
            thread=params.thread,
            verbose=0,
            loss="softmax",
            **params.extra,
        )
        quantize = None
        if params.quantize:
            quantize = dict(
                # fastText retrains only after pruning (cutoff > 0)
                input=str(path),
                retrain=params.cutoff > 0,
                qnorm=params.qnorm,
                cutoff=params.cutoff,
                dsub=params.dsub,
                thread=params.thread,
            )
        target = str(out) if out is not None else str(Path(tmp) / "model.bin")
        job = json.dumps({"args": args, "quantize": quantize, "out": target})
        done = subprocess.run([sys.executable, "-c", _TRAIN_SCRIPT, job], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"fastText training failed: {done.stderr.strip().splitlines()[-1:]}")
        return fasttext.load_model(target)


def raw_scores(model, texts: list[str], chunk: int = 20_000) -> np.ndarray:
    """Uncalibrated pt_PT log-odds of each text (batched)."""
    scorer = VarietyModel(model)
    out = [scorer.raw_log_odds(normalise_lines(texts[i : i + chunk])) for i in range(0, len(texts), chunk)]
    return np.concatenate(out) if out else np.zeros(0)


def word_counts(texts: list[str]) -> np.ndarray:
    return normalise_with_word_counts(texts)[1]


def out_of_fold(corpus: Corpus, params: TrainParams, folds: np.ndarray, log=print) -> np.ndarray:
    """Raw log-odds for every line from the model that did not see its fold (NaN if it could not train)."""
    raw = np.full(len(corpus), np.nan)
    for k in np.unique(folds):
        train = folds != k
        if len(np.unique(corpus.y[train])) < 2:
            log(f"fold {k}: training part lacks a variety, skipped")
            continue
        model = train_fasttext(corpus.subset(train), params)
        idx = np.flatnonzero(~train)
        raw[idx] = raw_scores(model, [corpus.texts[i] for i in idx])
        log(f"fold {k}: held out {', '.join(sorted(set(corpus.source[idx])))}")
    return raw


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


def fit_segment_calibration(raw: np.ndarray, n_words: np.ndarray, y: np.ndarray, base: Calibration) -> Calibration:
    """Platt scaling with a length term, fitted on held-out sentences and paragraphs."""
    r = np.clip(raw, -base.raw_cap, base.raw_cap)
    x = np.column_stack([r, np.log(np.maximum(n_words, 1)) * r, np.ones_like(r)])
    a, b, c = fit_logistic(x, y.astype(np.float64), balanced_weights(y))
    return Calibration(**{**asdict(base), "a": float(a), "b": float(b), "c": float(c)})


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
def cross_fit(corpus: Corpus, folds: np.ndarray, raw: np.ndarray, n_words: np.ndarray) -> tuple[Calibration, HeldOut]:
    """The shipped calibration (fitted on all out-of-fold scores) and the cross-fitted held-out scores."""
    base = Calibration()
    ok = ~np.isnan(raw) & (n_words > 0)
    y = corpus.y.astype(np.float64)
    z = np.full(len(raw), np.nan)
    pages: list[np.ndarray] = []
    folds_of_pages: list[int] = []
    for k in np.unique(folds[ok]):
        fit, apply = ok & (folds != k), ok & (folds == k)
        cal_k = fit_segment_calibration(raw[fit], n_words[fit], y[fit], base) if fit.any() else base
        z[apply] = cal_k.segment_log_odds(raw[apply], n_words[apply])
        new = build_pages(corpus, n_words, np.flatnonzero(apply), seed=int(k))
        pages += new
        folds_of_pages += [int(k)] * len(new)
    segment = fit_segment_calibration(raw[ok], n_words[ok], y[ok], base)
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


def train_variety_model(
    dirs: list[str | Path], out: str | Path, params: TrainParams, heldout: bool = True, log=print
) -> dict:
    """Held-out folds (calibration + figures), then the shipped model on all sources; writes MODEL + .json."""
    out = Path(out)
    corpus = load_corpus(dirs)
    n_words = word_counts(corpus.texts)
    folds = assign_folds(corpus)
    cal, figures, evidence = Calibration(), None, EvidenceWeights()
    log(f"{len(corpus)} labelled lines from {len(np.unique(corpus.source))} sources")
    if heldout:
        raw = out_of_fold(corpus, params, folds, log)
        scored = ~np.isnan(raw)
        if scored.any() and len(np.unique(corpus.y[scored])) == 2:
            cal, held = cross_fit(corpus, folds, raw, n_words)
            figures = heldout_figures(corpus, folds, n_words, held) if held.pages else None
            if figures and len(np.unique(held.page_fold)) > 1:
                band = tuple(figures["unknown_band"])
                evidence, with_evidence, signs = cross_fit_evidence(held, band[1], params.seed)
                figures["pages_with_evidence"] = evidence_figures(corpus, held, with_evidence, signs, band)
        else:
            log("not enough held-out data to calibrate: shipping uncalibrated scores")
    out.parent.mkdir(parents=True, exist_ok=True)
    train_fasttext(corpus, params, out)
    sidecar = {
        "calibration": asdict(cal),
        "evidence": evidence.as_dict(),
        "defaults": {
            "unknown_band": figures["unknown_band"] if figures else list(DEFAULT_UNKNOWN_BAND),
            "min_words": figures["min_words"] if figures else DEFAULT_MIN_WORDS,
        },
        "params": {k: v for k, v in asdict(params).items() if k != "extra"} | params.extra,
        "sources": {s: int((corpus.source == s).sum()) for s in np.unique(corpus.source)},
        "heldout": figures,
    }
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and {out.with_suffix('.json')}")
    return sidecar
