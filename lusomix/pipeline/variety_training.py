"""Training the pt_PT / pt_BR variety model: data, source-held-out splits, fastText, calibration.

Data layout (see ../shared/data/variety/SOURCES.md): ``*.tsv`` files of ``text<TAB>label`` sentences
(news/) and ``SOURCE.LABEL.txt`` files of paragraphs (docs/). Held-out figures come from folds that hold
out whole *sources*; the two news sources with both labels and related neighbouring lines are split
by document (Bosque: blocks of consecutive sentences, one article sits together) or by pair (ASSIN).
DSLCC's fold holds no other news source with both varieties: its accuracy is on newspapers never seen.
The figures themselves are computed in variety_evaluation.

Reproducibility: fastText is trained with ``thread=1`` and a fixed seed, the training file is built
and shuffled with a seeded numpy generator, so the same data and parameters give a bit-identical
model and calibration file on the same fastText build (different CPUs/compilers may round
differently; the figures then agree to the last digits, not bit for bit).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lusomix.filters.variety import (
    DEFAULT_MIN_WORDS,
    DEFAULT_UNKNOWN_BAND,
    FASTTEXT_LABEL,
    LABELS,
    PT_BR,
    PT_PT,
    Calibration,
    VarietyModel,
    normalise_lines,
)
from lusomix.errors import UsageError
from lusomix.pipeline.variety_evaluation import HeldOut, balanced_weights, heldout_figures, page_log_odds

N_FOLDS = 4
# Source → fold. Each fold holds out a mix of news and docs sources and at least one pt_PT source, so
# every training part keeps both varieties in both domains; the post-agreement (AO90) European sources
# (mozilla-langpacks, installation-guide, debian-reference) are held out in two different folds.
FOLD_OF_SOURCE = {
    "dslcc_v1_v2": 0, "mozilla-langpacks": 0, "debian-faq": 0, "debian-history": 0, "fortunes-br": 0,
    "ud_porttinari": 0, "gnome-help": 0, "harden-doc": 0,
    "installation-guide": 1, "debian-reference": 1, "ddtp": 1, "focalinux": 1, "ud_petrogold": 1,
    "gimp-help": 1, "ubuntu-packaging-guide": 1,
    "kde-docs": 2, "debconf-templates": 2, "django-po": 2, "ud_dantestocks": 2, "debian-handbook": 2,
    "manpages-pt-br": 2, "gnome-sysadmin": 2,
    "gettext-mo": 3, "tool-manpages": 3, "debian-edu-doc": 3, "debian-edu-doc-legacy": 3, "ud_gsd": 3,
    "gnome-app-help": 3, "scilab-doc": 3,
}
# Sources split inside themselves (lines per block): half of the blocks go to fold 1, half to fold 2.
BLOCK_SPLIT = {"ud_bosque_train_dev": 40, "assin1_test": 20}


@dataclass
class Corpus:
    texts: list[str]
    y: np.ndarray  # 1 = pt_PT, 0 = pt_BR
    source: np.ndarray  # source name per line
    news: np.ndarray  # bool: from a .tsv (sentences) rather than docs paragraphs
    group: np.ndarray  # document / pair block per line, unique within a source

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, mask: np.ndarray) -> "Corpus":
        idx = np.flatnonzero(mask)
        return Corpus([self.texts[i] for i in idx], self.y[idx], self.source[idx], self.news[idx], self.group[idx])


def _label(value: str, where: str) -> int:
    if value not in LABELS:
        raise UsageError(f"{where}: label {value!r} is not one of {', '.join(LABELS)}")
    return int(value == PT_PT)


def read_tsv(path: Path) -> tuple[list[str], list[int]]:
    """``text<TAB>label`` lines (the label after the last tab); blank lines are skipped."""
    texts, ys = [], []
    n = 0
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                text, sep, label = line.rpartition("\t")
                if not sep:
                    raise UsageError(f"{path}:{n}: expected text<TAB>label")
                texts.append(text)
                ys.append(_label(label.strip(), f"{path}:{n}"))
    except UnicodeDecodeError:
        raise UsageError(f"{path}:{n + 1}: not UTF-8 text") from None
    return texts, ys


def load_corpus(dirs: list[str | Path]) -> Corpus:
    """Every ``*.tsv`` and ``SOURCE.LABEL.txt`` under the given directories (recursively), sorted."""
    texts: list[str] = []
    ys, sources, news, groups = [], [], [], []
    for d in map(Path, dirs):
        if not d.is_dir():
            raise UsageError(f"variety data directory not found: {d}")
        files = sorted(p for p in d.rglob("*") if p.suffix in (".tsv", ".txt") and p.is_file())
        if not files:
            raise UsageError(f"no .tsv or SOURCE.LABEL.txt files in {d}")
        for path in files:
            if path.suffix == ".tsv":
                t, y = read_tsv(path)
                source = path.stem
            else:
                source, _, label = path.stem.rpartition(".")
                if not source:
                    raise UsageError(f"{path}: expected a SOURCE.LABEL.txt name (label pt_PT or pt_BR)")
                y0 = _label(label, str(path))
                t = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
                y = [y0] * len(t)
            block = BLOCK_SPLIT.get(source, 1)
            texts += t
            ys += y
            sources += [source] * len(t)
            news += [path.suffix == ".tsv"] * len(t)
            groups += [i // block for i in range(len(t))]
    if not texts:
        raise UsageError(f"no labelled text found in {', '.join(map(str, dirs))}")
    return Corpus(texts, np.array(ys, np.int8), np.array(sources), np.array(news), np.array(groups, np.int64))


def assign_folds(corpus: Corpus, n_folds: int = N_FOLDS) -> np.ndarray:
    """Fold per line: by source (table above, else a stable hash), by block for the split sources."""
    fold = np.empty(len(corpus), np.int64)
    for source in np.unique(corpus.source):
        mask = corpus.source == source
        if source in BLOCK_SPLIT:
            fold[mask] = 1 + corpus.group[mask] % 2
        else:
            fold[mask] = FOLD_OF_SOURCE.get(source, zlib.crc32(source.encode()) % n_folds)
    return fold % n_folds


# Pre-agreement → post-agreement European spelling (AO90 drops consonants that Portugal did not
# pronounce). Pre-agreement sources teach "acção = Portugal"; without post-agreement copies the model
# learns "ação = Brazil" and calls modern European text Brazilian. Kept: facto, contacto, secção, and
# the European accents (económico, António), which are exactly what still tells the varieties apart.
_AO90 = [
    (r"(?<![s])ecç", "eç"), (r"acç", "aç"), (r"acti", "ati"), (r"ectiv", "etiv"), (r"actu", "atu"),
    (r"ectu", "etu"), (r"([eé])ctr", r"\1tr"), (r"(?<!con)ector", "etor"), (r"(?<!con)ect([oa])", r"et\1"),
    (r"ectá", "etá"), (r"\bactor", "ator"), (r"\bactriz", "atriz"), (r"\bacto(s?)\b", r"ato\1"),
    (r"exact", "exat"), (r"óptim", "ótim"), (r"óptic", "ótic"), (r"bapti", "bati"), (r"adopt", "adot"),
    (r"adopç", "adoç"), (r"([rc]e|ex|con|per|de)cepç", r"\1ceç"), (r"excepto", "exceto"),
]
_AO90_RE = [(re.compile(a), b) for a, b in _AO90]
_AO90_ANY = re.compile("|".join(a for a, _ in _AO90))


def to_ao90(text: str) -> str:
    """Lower-cased pre-agreement European text rewritten in post-agreement European spelling."""
    for pattern, repl in _AO90_RE:
        text = pattern.sub(repl, text)
    return text


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
    pt_weight: float = 0.0  # 0 = balance the two varieties' total weight inside each domain
    news_weight: float = 1.5  # > 1 repeats news (closer to web text than software docs)
    # a source with one variety only also teaches its topic ("stock tweets are Brazilian"): weigh it down
    single_label_weight: float = 0.5
    # each source's lines weigh (n_source / median n_source) ** (source_power - 1): 1 = as they come,
    # 0.5 = a source counts as the square root of its size, so no one translation team's style dominates
    source_power: float = 1.0
    ao90_copies: bool = True
    quantize: bool = True
    # 0 = no pruning: a pruned model looks every n-gram up in a hash map, which made prediction 1.8x
    # slower for no held-out gain across seeds (VARIETY_MODEL_CARD.md, "Ablations")
    cutoff: int = 0
    dsub: int = 4  # product-quantizer sub-vector size: 4 decodes half as many codes as fastText's 2
    qnorm: bool = False
    extra: dict = field(default_factory=dict)


def training_lines(corpus: Corpus, params: TrainParams) -> list[str]:
    """fastText lines with repetition weights, AO90 copies of European lines, seeded shuffle."""
    rng = np.random.default_rng(params.seed)
    norm = normalise_lines(corpus.texts)
    weight = np.where(corpus.news, params.news_weight, 1.0)
    names, sizes = np.unique(corpus.source, return_counts=True)
    for source, size in zip(names, sizes):
        in_source = corpus.source == source
        weight[in_source] *= (size / np.median(sizes)) ** (params.source_power - 1.0)
        if len(np.unique(corpus.y[in_source])) == 1:
            weight[in_source] *= params.single_label_weight
    for is_news in (True, False):
        dom = corpus.news == is_news
        w_pt_total, w_br_total = weight[dom & (corpus.y == 1)].sum(), weight[dom & (corpus.y == 0)].sum()
        if w_pt_total and w_br_total:
            # the lighter variety is repeated up to the heavier one (pt_weight overrides the ratio)
            ratio = params.pt_weight or w_br_total / w_pt_total
            if ratio >= 1:
                weight[dom & (corpus.y == 1)] *= ratio
            else:
                weight[dom & (corpus.y == 0)] /= ratio
    repeats = np.floor(weight).astype(np.int64) + (rng.random(len(weight)) < weight % 1)
    lines: list[str] = []
    for text, y, r in zip(norm, corpus.y, repeats):
        if not text.strip():
            continue
        label = FASTTEXT_LABEL[PT_PT if y else PT_BR]
        line = f"{label} {text}"
        lines += [line] * int(r)
        if y and params.ao90_copies and _AO90_ANY.search(text):
            lines += [f"{label} {to_ao90(text)}"] * int(r)
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
            input=str(path), epoch=params.epoch, lr=params.lr, dim=params.dim, wordNgrams=params.word_ngrams,
            minn=params.minn, maxn=params.maxn, bucket=params.bucket, minCount=params.min_count,
            seed=params.seed, thread=params.thread, verbose=0, loss="softmax", **params.extra,
        )
        quantize = None
        if params.quantize:
            quantize = dict(
                # fastText retrains only after pruning (cutoff > 0)
                input=str(path), retrain=params.cutoff > 0, qnorm=params.qnorm, cutoff=params.cutoff,
                dsub=params.dsub, thread=params.thread,
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
    return np.fromiter((len(t.split()) for t in normalise_lines(texts)), np.int64, len(texts))


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
def fit_logistic(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None, l2: float = 1e-3) -> np.ndarray:
    """Weights of p = sigmoid(x @ w) by Newton's method (x includes any bias column)."""
    weight = np.ones(len(y)) if weight is None else weight
    w = np.zeros(x.shape[1])
    for _ in range(100):
        p = 1 / (1 + np.exp(-(x @ w)))
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
    best = None
    weight = balanced_weights(y_pages)
    for cap in (2.0, 3.0, 4.0, 6.0, 8.0):
        for gamma in np.linspace(0.0, 1.0, 21):
            cal = Calibration(**{**asdict(base), "gamma": round(float(gamma), 2), "segment_cap": cap})
            p = np.clip(1 / (1 + np.exp(-page_log_odds(pages, z, n_words, cal))), 1e-9, 1 - 1e-9)
            loss = -np.mean(weight * (y_pages * np.log(p) + (1 - y_pages) * np.log(1 - p)))
            if best is None or loss < best[0] - 1e-12:
                best = (loss, cal)
    return best[1]


def build_pages(corpus: Corpus, n_words: np.ndarray, index: np.ndarray, seed: int = 0, words=(120, 600)) -> list[np.ndarray]:
    """Multi-paragraph pages from consecutive held-out lines of one source and variety.

    Each page takes lines in their original order (a Bosque article, a handbook's paragraphs) until it
    reaches a word target drawn from ``words``; pages of fewer than two segments are dropped.
    """
    rng = np.random.default_rng(seed)
    pages: list[np.ndarray] = []
    idx_sorted = index[np.lexsort((index, corpus.y[index], corpus.source[index]))]
    key = np.char.add(corpus.source[idx_sorted], corpus.y[idx_sorted].astype(str))
    for k in np.unique(key):
        lines = idx_sorted[key == k]
        start, target, total = 0, rng.integers(*words), 0
        for pos, i in enumerate(lines):
            total += n_words[i]
            if total >= target:
                if pos + 1 - start >= 2:
                    pages.append(lines[start : pos + 1])
                start, target, total = pos + 1, rng.integers(*words), 0
    return pages


# ------------------------------------------------------------------------------------- the recipe
def cross_fit(corpus: Corpus, folds: np.ndarray, raw: np.ndarray, n_words: np.ndarray) -> tuple[Calibration, HeldOut]:
    """The shipped calibration (fitted on all out-of-fold scores) and the cross-fitted held-out scores."""
    base = Calibration()
    ok = ~np.isnan(raw) & (n_words > 0)
    y = corpus.y.astype(np.float64)
    z = np.full(len(raw), np.nan)
    pages, page_fold = [], []
    for k in np.unique(folds[ok]):
        fit, apply = ok & (folds != k), ok & (folds == k)
        cal_k = fit_segment_calibration(raw[fit], n_words[fit], y[fit], base) if fit.any() else base
        z[apply] = cal_k.segment_log_odds(raw[apply], n_words[apply])
        new = build_pages(corpus, n_words, np.flatnonzero(apply), seed=int(k))
        pages += new
        page_fold += [k] * len(new)
    segment = fit_segment_calibration(raw[ok], n_words[ok], y[ok], base)
    page_fold = np.array(page_fold, np.int64)
    y_pages = np.array([corpus.y[idx[0]] for idx in pages], np.float64)
    page_lo = np.zeros(len(pages))
    for k in np.unique(page_fold):
        fit, apply = np.flatnonzero(page_fold != k), np.flatnonzero(page_fold == k)
        cal_k = fit_document_pooling([pages[i] for i in fit], z, n_words, y_pages[fit], segment) if len(fit) else segment
        page_lo[apply] = page_log_odds([pages[i] for i in apply], z, n_words, cal_k)
    final = fit_document_pooling(pages, z, n_words, y_pages, segment) if pages else segment
    return final, HeldOut(ok, raw, z, pages, y_pages, page_lo)


def train_variety_model(dirs: list[str | Path], out: str | Path, params: TrainParams, heldout: bool = True, log=print) -> dict:
    """Held-out folds (calibration + figures), then the shipped model on all sources; writes MODEL + .json."""
    out = Path(out)
    corpus = load_corpus(dirs)
    n_words = word_counts(corpus.texts)
    folds = assign_folds(corpus)
    cal, figures = Calibration(), None
    log(f"{len(corpus)} labelled lines from {len(np.unique(corpus.source))} sources")
    if heldout:
        raw = out_of_fold(corpus, params, folds, log)
        scored = ~np.isnan(raw)
        if scored.any() and len(np.unique(corpus.y[scored])) == 2:
            cal, held = cross_fit(corpus, folds, raw, n_words)
            figures = heldout_figures(corpus, folds, n_words, held) if held.pages else None
        else:
            log("not enough held-out data to calibrate: shipping uncalibrated scores")
    out.parent.mkdir(parents=True, exist_ok=True)
    train_fasttext(corpus, params, out)
    sidecar = {
        "calibration": asdict(cal),
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
