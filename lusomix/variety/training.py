"""Training the pt_PT / pt_BR variety model: sampling, fastText, calibration, the recipe.

The labelled data and its source-held-out folds are in :mod:`lusomix.variety.corpus`, the word lists
in :mod:`lusomix.variety.lexicon`; calibration and the page rule are fitted in
:mod:`lusomix.variety.calibration`, the held-out figures computed in :mod:`lusomix.variety.evaluation`.

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
from lusomix.variety.calibration import calibrate_and_measure
from lusomix.variety.corpus import AO90_ANY, SPLIT_BY_GROUP, Corpus, assign_folds, load_corpus, to_ao90
from lusomix.variety.evidence import EvidenceWeights
from lusomix.variety.lexicon import Lexicons, find_lexicon_dir, load_lexicons, modernise, prior_words, swap_spans
from lusomix.variety.model import DEFAULT_MIN_WORDS, DEFAULT_UNKNOWN_BAND, Calibration, VarietyModel
from lusomix.variety.text import normalise_lines, normalise_with_counts


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
    # pre-1990 European lines also rewritten word by word with the pre->post-1990 list (lexicon/), not
    # only by the consonant rules of corpus.to_ao90 (issue 24: AO90 pt-PT must not be learnt as Brazilian)
    modernise: bool = True
    swap_copies: float = 1.0  # copies of each counterfactual span pair (lexicon.swap_spans); 0 = none
    swap_context: int = 2  # words of the real sentence kept on each side of a swapped word
    lexicon_prior: float = 1.0  # copies of each list word as a one-word line (both sides balanced); 0 = none
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


def _copies(weight: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``weight`` copies of each of n lines, the fraction drawn at random."""
    return np.floor(weight).astype(np.int64) + (rng.random(n) < weight % 1)


def lexicon_lines(corpus: Corpus, params: TrainParams, lex: Lexicons, rng: np.random.Generator) -> list[str]:
    """Counterfactual span pairs from the corpus's own lines, and the lists' words as a prior."""
    lines: list[str] = []
    labels: list[int] = []
    if params.swap_copies and lex.br_to_pt:
        spans, y = swap_spans(corpus.texts, corpus.y, lex, params.swap_context)
        for span, label, r in zip(normalise_lines(spans), y, _copies(params.swap_copies, len(spans), rng)):
            lines += [span] * int(r)
            labels += [label] * int(r)
    if params.lexicon_prior:
        words, y_words = prior_words(lex)
        y_arr = np.array(y_words, np.int64)
        # the two sides weigh the same in total, whatever the lists' sizes
        n_pt, n_br = max(1, int(y_arr.sum())), max(1, int((1 - y_arr).sum()))
        side = np.where(
            y_arr == 1, params.lexicon_prior * min(n_pt, n_br) / n_pt, params.lexicon_prior * min(n_pt, n_br) / n_br
        )
        r = np.floor(side).astype(np.int64) + (rng.random(len(side)) < side % 1)
        for word, label, k in zip(normalise_lines(words), y_words, r):
            lines += [word] * int(k)
            labels += [label] * int(k)
    return [f"{FASTTEXT_LABEL[PT_PT if y else PT_BR]} {t}" for t, y in zip(lines, labels) if t.strip()]


def training_lines(corpus: Corpus, params: TrainParams, lex: Lexicons | None = None) -> list[str]:
    """fastText lines with repetition weights, AO90 copies of European lines, the pairs' contrast
    lines, the lexicons' counterfactual spans and prior words; seeded shuffle."""
    rng = np.random.default_rng(params.seed)
    lex = lex or Lexicons()
    norm = normalise_lines(corpus.texts)
    weight = line_weights(corpus, params)
    repeats = np.floor(weight).astype(np.int64) + (rng.random(len(weight)) < weight % 1)
    modern = norm
    if params.modernise and lex.pre_to_post_1990:
        modern = normalise_lines(
            [modernise(t, lex.pre_to_post_1990) if y else "" for t, y in zip(corpus.texts, corpus.y)]
        )
    lines: list[str] = []
    for text, new, y, r in zip(norm, modern, corpus.y, repeats):
        if not text.strip():
            continue
        label = FASTTEXT_LABEL[PT_PT if y else PT_BR]
        line = f"{label} {text}"
        lines += [line] * int(r)
        if y and params.ao90_copies:
            if params.modernise and lex.pre_to_post_1990:
                if (new := to_ao90(new)) != text:
                    lines += [f"{label} {new}"] * int(r)
            elif AO90_ANY.search(text):
                lines += [f"{label} {to_ao90(text)}"] * int(r)
    if params.pair_contrast:
        lines += contrast_lines(corpus, norm, params.pair_contrast, rng, params.contrast_context)
    if lex:
        lines += lexicon_lines(corpus, params, lex, rng)
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


def train_fasttext(corpus: Corpus, params: TrainParams, out: str | Path | None = None, lex: Lexicons | None = None):
    """Train (and quantize) in a fresh interpreter, save to ``out``, return the loaded model.

    Why a fresh process: this fastText build reuses uninitialised heap memory across trainings in one
    process, so a second training in the same process can give a different model or "Encountered
    NaN". A new process starts clean, and then one thread + a fixed seed is bit-reproducible.
    """
    import fasttext

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        path.write_text("\n".join(training_lines(corpus, params, lex)) + "\n", encoding="utf-8")
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


def word_and_cue_counts(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    _, n_words, n_cues = normalise_with_counts(texts)
    return n_words, n_cues


def out_of_fold(
    corpus: Corpus, params: TrainParams, folds: np.ndarray, log=print, lex: Lexicons | None = None
) -> np.ndarray:
    """Raw log-odds for every line from the model that did not see its fold (NaN if it could not train)."""
    raw = np.full(len(corpus), np.nan)
    for k in np.unique(folds):
        train = folds != k
        if len(np.unique(corpus.y[train])) < 2:
            log(f"fold {k}: training part lacks a variety, skipped")
            continue
        model = train_fasttext(corpus.subset(train), params, lex=lex)
        idx = np.flatnonzero(~train)
        raw[idx] = raw_scores(model, [corpus.texts[i] for i in idx])
        log(f"fold {k}: held out {', '.join(sorted(set(corpus.source[idx])))}")
    return raw


def train_variety_model(
    dirs: list[str | Path], out: str | Path, params: TrainParams, heldout: bool = True, log=print
) -> dict:
    """Held-out folds (calibration + figures), then the shipped model on all sources; writes MODEL + .json."""
    out = Path(out)
    corpus = load_corpus(dirs)
    lex = load_lexicons(find_lexicon_dir(dirs))
    n_words, n_cues = word_and_cue_counts(corpus.texts)
    folds = assign_folds(corpus)
    cal, figures, evidence = Calibration(), None, EvidenceWeights()
    log(f"{len(corpus)} labelled lines from {len(np.unique(corpus.source))} sources")
    if heldout:
        raw = out_of_fold(corpus, params, folds, log, lex)
        scored = ~np.isnan(raw)
        if scored.any() and len(np.unique(corpus.y[scored])) == 2:
            cal, figures, evidence = calibrate_and_measure(corpus, folds, raw, n_words, n_cues, params.seed)
        else:
            log("not enough held-out data to calibrate: shipping uncalibrated scores")
    out.parent.mkdir(parents=True, exist_ok=True)
    train_fasttext(corpus, params, out, lex)
    sidecar = sidecar_dict(corpus, params, lex, cal, figures, evidence)
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) and {out.with_suffix('.json')}")
    return sidecar


def sidecar_dict(
    corpus: Corpus,
    params: TrainParams,
    lex: Lexicons,
    cal: Calibration,
    figures: dict | None,
    evidence: EvidenceWeights,
) -> dict:
    """What variety.json holds: calibration, evidence weights, decision defaults, recipe, data, figures."""
    return {
        "calibration": asdict(cal),
        "evidence": evidence.as_dict(),
        "defaults": {
            "unknown_band": figures["unknown_band"] if figures else list(DEFAULT_UNKNOWN_BAND),
            "min_words": figures["min_words"] if figures else DEFAULT_MIN_WORDS,
        },
        "params": {k: v for k, v in asdict(params).items() if k != "extra"} | params.extra,
        "sources": {s: int((corpus.source == s).sum()) for s in np.unique(corpus.source)},
        "lexicons": {
            "vocabulary_pairs": len(lex.vocabulary),
            "spelling_pairs": len(lex.spelling),
            "swappable_words": len(lex.br_to_pt) + len(lex.pt_to_br),
            "pre_to_post_1990": len(lex.pre_to_post_1990),
            "pt_PT_only_forms": len(lex.pt_only),
        },
        "heldout": figures,
    }
