"""Recipe variants of the variety model on the fixed held-out protocol: the model card's table "Measured after
the round, on the same protocol, not kept" (raw argmax of each held-out group, the four source-held-out
folds of ``corpus.assign_folds``), for the variants of issue 24's fourth pass and the shipped recipe beside them.

    .venv/bin/python benchmarks/variety_variants.py [VARIANT ...] [--jobs 2] [--wheels DIR]
        [--topic-subtraction] [--out DIR]

Variants (default: base topic-weights):
- ``base``: the shipped recipe (``TrainParams()``), the reference run in the same script;
- ``epoch6``: the same with 6 epochs;
- ``topic-weights``: each training line weighed by how little a content-word topic model gives its
  variety away (naive Bayes on the words outside the fold's 400 most frequent, the four lists and the
  cue markers; cross-fitted on two random halves of the fold's training lines, Platt-scaled); a line
  weighs 2 (1 - p_topic(its label)), at least 0.05, renormalised within each source and variety;
- ``catalogues``, ``catalogues-x4``, ``catalogues-epoch6``: pt_PT / pt_BR string pairs aligned by msgid
  from the gettext catalogues of the wheels in ``--wheels`` (``pip download --no-deps -d DIR gramps
  weblate ...``; the card names the 18 projects) as one more parallel source beside FRMT's pairs (its
  contrast lines as FRMT's; folds in contiguous blocks of the file, which is ordered by project), weight
  x1 or x4, epoch 16 or 6. The catalogues' own lines are not scored: the table's groups are the same for
  every variant.

``--topic-subtraction`` also prints base's held-out scores minus beta x the topic model's held-out
log-odds, for a few beta (needs ``base``). Each fold's model is trained in a fresh interpreter
(``training.train_fasttext``), ``--jobs`` folds at a time; held-out scores are kept in ``--out`` and reused
by a later run (delete the folder for a fresh one).
Needs ../shared/data/variety. About 5 minutes a variant on two idle cores.
"""

from __future__ import annotations

import argparse
import gettext
import io
import re
import sys
import tempfile
import zipfile
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from lusomix.variety import corpus as corpus_module
from lusomix.variety import training
from lusomix.variety.calibration import fit_logistic
from lusomix.variety.corpus import FRMT, NEWS_1990S, NEWS_HUMAN, UNSEEN_NEWS, Corpus, assign_folds, load_corpus
from lusomix.variety.evaluation import classification_report
from lusomix.variety.lexicon import Lexicons, find_lexicon_dir, load_lexicons
from lusomix.variety.model import sigmoid
from lusomix.variety.text import normalise_lines

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "variety"
CATALOGUES = "catalogue_pairs"
GROUPS = [
    ("FRMT", FRMT),
    ("Mozilla", ("mozilla-langpacks",)),
    ("OBS", ("obs-studio",)),
    ("DSLCC", UNSEEN_NEWS),
    ("1990s", NEWS_1990S),
    ("human", NEWS_HUMAN),
    ("Tatoeba", ("tatoeba",)),
    ("law", ("pt_legislation",)),
    ("tweets", ("dslcc_v3_tweets",)),
]
VARIANTS = {
    "base": {},
    "epoch6": {"epoch": 6},
    "topic-weights": {"topic_weights": True},
    "catalogues": {"catalogues": 1.0},
    "catalogues-x4": {"catalogues": 4.0},
    "catalogues-epoch6": {"catalogues": 1.0, "epoch": 6},
}

# ------------------------------------------------------------------------------------- catalogues
EUROPEAN, BRAZILIAN = ("pt_PT", "pt-PT", "pt"), ("pt_BR", "pt-BR", "pt_br")
_MARKUP = re.compile(r"<[^>]+>|&[a-z]+;|%\([^)]*\)[sd]|%[sd]|\{[^}]*\}|&(?=\w)")


def catalogue_pairs(wheels: Path) -> list[tuple[str, str, str]]:
    """(project, pt_PT, pt_BR) for every msgid both catalogues of a wheel translate, at least 3 words a
    side, the two sides differing after markup is dropped (Django's own catalogues, which some wheels
    vendor, are skipped: the labelled data already holds them)."""
    pairs: list[tuple[str, str, str]] = []
    for whl in sorted(wheels.glob("*.whl")):
        project = whl.name.split("-")[0].lower()
        with zipfile.ZipFile(whl) as z:
            by_place: dict[str, dict[str, str]] = defaultdict(dict)
            for name in z.namelist():
                if not name.endswith(".mo") or "/dist/django/" in name:
                    continue
                parts = name.split("/")
                for i, part in enumerate(parts):
                    if part in EUROPEAN + BRAZILIAN:
                        by_place["/".join(parts[:i] + ["*"] + parts[i + 1 :])][part] = name
            seen: set[tuple[str, str]] = set()
            for _, locales in sorted(by_place.items()):
                pt = next((locales[x] for x in EUROPEAN if x in locales), None)
                br = next((locales[x] for x in BRAZILIAN if x in locales), None)
                if not pt or not br:
                    continue
                cat_pt = gettext.GNUTranslations(io.BytesIO(z.read(pt)))._catalog  # type: ignore[attr-defined]
                cat_br = gettext.GNUTranslations(io.BytesIO(z.read(br)))._catalog  # type: ignore[attr-defined]
                for msgid, s_pt in cat_pt.items():
                    s_br = cat_br.get(msgid)
                    if not msgid or not s_pt or not s_br or (isinstance(msgid, tuple) and msgid[1] != 0):
                        continue  # the header, untranslated strings, plural forms after the first
                    a, b = " ".join(_MARKUP.sub(" ", s_pt).split()), " ".join(_MARKUP.sub(" ", s_br).split())
                    if a == b or min(len(a.split()), len(b.split())) < 3 or "\t" in a + b or (a, b) in seen:
                        continue
                    seen.add((a, b))
                    pairs.append((project, a, b))
    return pairs


def write_catalogues(pairs: list[tuple[str, str, str]], folder: Path) -> None:
    """The pairs as a docs source of consecutive pt_PT / pt_BR lines (``FOLDER/docs/catalogue_pairs.tsv``)."""
    (folder / "docs").mkdir(parents=True, exist_ok=True)
    lines = [f"{text}\t{label}" for _, pt, br in pairs for text, label in ((pt, "pt_PT"), (br, "pt_BR"))]
    (folder / "docs" / f"{CATALOGUES}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------- topic model
_ACCENT = re.compile(r"[óéôê][mn][aeiou]")  # the accent cue (económico / econômico) is variety, not topic


def _list_words(lex: Lexicons) -> set[str]:
    words = set(lex.br_to_pt) | set(lex.pt_to_br) | {w.lower() for w in lex.pt_only}
    return words | set(lex.pre_to_post_1990) | set(lex.pre_to_post_1990.values())


def content_words(norm: list[str], fit: np.ndarray, lex: Lexicons) -> list[set[str]]:
    """The words of each (normalised) line outside the 400 most frequent of the ``fit`` lines, the four
    lists' words, the cue markers and the accent cue: what a line is about rather than how it is written."""
    top = {w for w, _ in Counter(w for i in np.flatnonzero(fit) for w in norm[i].split()).most_common(400)}
    skip = top | _list_words(lex)
    return [{w for w in t.split() if w not in skip and not w.startswith("x") and not _ACCENT.search(w)} for t in norm]


def naive_bayes(words: list[set[str]], y: np.ndarray, fit: np.ndarray, score: np.ndarray) -> np.ndarray:
    """pt_PT log-odds of the ``score`` lines from a naive Bayes fitted on the ``fit`` lines (each variety
    counted as often; words seen fewer than twice ignored)."""
    counts: list[Counter] = [Counter(), Counter()]
    for i in np.flatnonzero(fit):
        counts[int(y[i])].update(words[i])
    n = [max(1, int((y[fit] == c).sum())) for c in (0, 1)]
    out = np.zeros(int(score.sum()))
    for j, i in enumerate(np.flatnonzero(score)):
        for w in words[i]:
            c0, c1 = counts[0].get(w, 0), counts[1].get(w, 0)
            if c0 + c1 >= 2:
                out[j] += np.log((c1 + 1) / (n[1] + 2)) - np.log((c0 + 1) / (n[0] + 2))
    return out


def topic_weights(train: Corpus, lex: Lexicons) -> np.ndarray:
    """Per training line: 2 (1 - p_topic(its label)), at least 0.05, renormalised within each source and
    variety; p_topic cross-fitted on two random halves of the lines and Platt-scaled (balanced)."""
    y = train.y.astype(np.int64)
    words = content_words(normalise_lines(train.texts), np.ones(len(y), bool), lex)
    half = np.random.default_rng(0).random(len(y)) < 0.5
    log_odds = np.zeros(len(y))
    for side in (True, False):
        log_odds[half != side] = naive_bayes(words, y, half == side, half != side)
    balanced = np.where(y == 1, 0.5 / max(1, y.sum()), 0.5 / max(1, (1 - y).sum())) * len(y)
    a, b = fit_logistic(np.column_stack([log_odds, np.ones_like(log_odds)]), y.astype(np.float64), balanced)
    p_pt = sigmoid(a * log_odds + b)
    weight = np.maximum(2 * (1 - np.where(y == 1, p_pt, 1 - p_pt)), 0.05)
    cell = np.char.add(train.source, train.y.astype(str))
    for c in np.unique(cell):
        weight[cell == c] *= (cell == c).sum() / weight[cell == c].sum()
    return weight


def heldout_topic(corpus: Corpus, folds: np.ndarray, lex: Lexicons) -> np.ndarray:
    """Each line's topic log-odds from the naive Bayes fitted on the other folds' lines."""
    norm = normalise_lines(corpus.texts)
    out = np.zeros(len(corpus))
    for k in np.unique(folds):
        fit = folds != k
        out[~fit] = naive_bayes(content_words(norm, fit, lex), corpus.y.astype(np.int64), fit, ~fit)
    return out


# ------------------------------------------------------------------------------------- one fold
def run_fold(variant: str, k: int, catalogue_dir: str | None, out: str) -> str:
    """Train the variant on every fold but k (fresh interpreter), score fold k's labelled lines."""
    spec = VARIANTS[variant]
    lex = load_lexicons(find_lexicon_dir([DATA]))
    corpus = load_corpus([DATA])
    n_labelled = len(corpus)
    weights: dict[str, float] = {"frmt_dev_pairs": 24.0}
    if spec.get("catalogues"):
        # the pairs as one more parallel source: grouped by two, split in blocks, contrast lines as FRMT's
        corpus_module.GROUP_LINES[CATALOGUES] = 2
        corpus_module.SPLIT_BY_GROUP = training.SPLIT_BY_GROUP = ("frmt_dev_pairs", CATALOGUES)
        corpus = load_corpus([DATA, catalogue_dir])
        weights[CATALOGUES] = float(spec["catalogues"])
    folds = assign_folds(corpus)
    train = corpus.subset(folds != k)
    params = training.TrainParams(epoch=int(spec.get("epoch", 16)), source_weight=weights)
    if spec.get("topic_weights"):
        extra = topic_weights(train, lex)
        shipped = training.line_weights
        training.line_weights = lambda c, p: shipped(c, p) * extra  # type: ignore[assignment]
    model = training.train_fasttext(train, params, lex=lex)
    idx = np.flatnonzero((folds == k) & (np.arange(len(corpus)) < n_labelled))
    path = Path(out) / f"{variant}.{k}.npz"
    np.savez(path, idx=idx, raw=training.raw_scores(model, [corpus.texts[i] for i in idx]))
    return str(path)


def heldout_raw(variant: str, out: Path, n: int) -> np.ndarray:
    raw = np.full(n, np.nan)
    for path in sorted(out.glob(f"{variant}.*.npz")):
        d = np.load(path)
        raw[d["idx"]] = d["raw"]
    return raw


def row(name: str, corpus: Corpus, raw: np.ndarray) -> str:
    ok = ~np.isnan(raw)
    cells = []
    for _, sources in GROUPS:
        m = ok & np.isin(corpus.source, sources)
        cells.append(f"{((raw[m] >= 0) == (corpus.y[m] == 1)).mean():8.3f}")
    m = ok & np.isin(corpus.source, NEWS_HUMAN)
    label = np.array(["pt_BR", "pt_PT"])
    f1 = classification_report(label[corpus.y[m]], label[(raw[m] >= 0).astype(int)])["macro_f1"]
    return f"{name:24s}" + "".join(cells) + f"{f1:9.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="*", default=["base", "topic-weights"], choices=list(VARIANTS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--wheels", type=Path, help="folder of wheels whose gettext catalogues give the pairs")
    ap.add_argument("--topic-subtraction", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "lusomix-variety-variants")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs {DATA}")
    if any(VARIANTS[v].get("catalogues") for v in args.variants) and not args.wheels:
        sys.exit("the catalogue variants need --wheels DIR (pip download --no-deps -d DIR PROJECT ...)")
    args.out.mkdir(parents=True, exist_ok=True)
    catalogue_dir = None
    if args.wheels:
        pairs = catalogue_pairs(args.wheels)
        catalogue_dir = str(args.out / "catalogues")
        write_catalogues(pairs, Path(catalogue_dir))
        by_project = Counter(p for p, _, _ in pairs)
        print(f"{len(pairs)} catalogue pairs from {len(by_project)} projects: {dict(sorted(by_project.items()))}")
    corpus = load_corpus([DATA])
    # scores already in --out are reused (delete it for a fresh run)
    jobs = [
        (v, k) for v in args.variants for k in range(corpus_module.N_FOLDS) if not (args.out / f"{v}.{k}.npz").exists()
    ]
    # one fold per worker process: a fold's variant patches module state (line_weights, SPLIT_BY_GROUP)
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn"), max_tasks_per_child=1) as pool:
        for path in pool.map(run_fold, *zip(*jobs), [catalogue_dir] * len(jobs), [str(args.out)] * len(jobs)):
            print("scored", path, flush=True)
    print(f"{'variant (raw argmax)':24s}" + "".join(f"{g:>8s}" for g, _ in GROUPS) + "  humanF1")
    for v in args.variants:
        print(row(v, corpus, heldout_raw(v, args.out, len(corpus))))
    if args.topic_subtraction and "base" in args.variants:
        lex = load_lexicons(find_lexicon_dir([DATA]))
        topic = heldout_topic(corpus, assign_folds(corpus), lex)
        base = heldout_raw("base", args.out, len(corpus))
        for beta in (-0.1, 0.1, 0.3):
            print(row(f"base - {beta} x topic", corpus, base - beta * topic))


if __name__ == "__main__":
    main()
