"""Build the shipped evaluation sets (lusomix/pretrain/evalsets/) from ../shared/data.

    python -m lusomix.pretrain.build_eval_sets [--shared ../shared/data] [--out lusomix/pretrain/evalsets]

Deterministic (a fixed seed, sorted inputs): rerunning on the same data writes the same files. What each
file holds, where it comes from and under which licence: evalsets/EVAL_SETS_CARD.md. A corpus a model is
trained on must leave out every line of these sets and every line sharing a 13-word window with one
(eval_sets.LeakCheck; benchmarks/mix_ablation.py does, and a test checks it).
"""

from __future__ import annotations

import argparse
import random
from collections import Counter, defaultdict
from pathlib import Path

from lusomix.pretrain.eval_sets import EVALSETS_DIR, SHIPPED, words
from lusomix.run_folder import LABELS, PT_BR, PT_PT

SEED = 23
FRMT_PAIRS = 400
DOCS_PAIRS = 400
# held-out sentences per variety: (file, count) — sources with both varieties and a licence that allows copies
TEXT_SOURCES = {
    "news/dslcc_v1_v2.tsv": 150,  # CC0, newspapers 2014-2015
    "news/ud_bosque_train_dev.tsv": 100,  # CC BY-SA 4.0, Público / Folha de S. Paulo
}
TEXT_DOCS = {"kde-docs": 50, "mozilla-langpacks": 50}  # paragraphs per variety from these docs/ sources
# docs/ sources translated by both teams, whose paragraphs are aligned here (licences in the card)
ALIGNED_DOCS = ("kde-docs", "mozilla-langpacks", "gettext-mo", "debconf-templates", "debian-edu-doc", "obs-studio")


def frmt_pairs(shared: Path, rng: random.Random) -> list[tuple[str, str]]:
    """FRMT's dev pairs: lines 1-2, 3-4, ... are one sentence, the European rendering first."""
    lines = (shared / "variety/general/frmt_dev_pairs.tsv").read_text(encoding="utf-8").splitlines()
    pairs = []
    for pt, br in zip(lines[0::2], lines[1::2]):
        (pt_text, pt_label), (br_text, br_label) = pt.split("\t"), br.split("\t")
        if (pt_label, br_label) == (PT_PT, PT_BR) and pt_text.strip() != br_text.strip():
            pairs.append((pt_text.strip(), br_text.strip()))
    return sorted(rng.sample(pairs, min(FRMT_PAIRS, len(pairs))))


def _paragraphs(path: Path) -> list[str]:
    seen = dict.fromkeys(line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [p for p in seen if p and "\t" not in p and 8 <= len(p.split()) <= 80]


def align(pt: list[str], br: list[str], min_jaccard: float = 0.5) -> list[tuple[str, str]]:
    """Paragraph pairs that are each other's best match by word-set Jaccard (>= min_jaccard), and differ.

    Candidates come from rare words (in at most 20 Brazilian paragraphs): names, commands, numbers, which
    two translations of one source paragraph share whatever their wording.
    """
    br_words = [set(words(p)) for p in br]
    df = Counter(w for ws in br_words for w in ws)
    index = defaultdict(list)
    for j, ws in enumerate(br_words):
        for w in ws:
            if df[w] <= 20:
                index[w].append(j)
    best_pt: dict[int, tuple[float, int]] = {}  # br index -> (jaccard, pt index)
    best_br: dict[int, tuple[float, int]] = {}
    for i, paragraph in enumerate(pt):
        ws = set(words(paragraph))
        candidates = Counter(j for w in sorted(ws) if w in index for j in index[w])  # sorted: same ties every run
        for j, _ in candidates.most_common(5):
            jaccard = len(ws & br_words[j]) / len(ws | br_words[j])
            if jaccard >= min_jaccard and paragraph != br[j]:
                best_br[i] = max(best_br.get(i, (0.0, -1)), (jaccard, j))
                best_pt[j] = max(best_pt.get(j, (0.0, -1)), (jaccard, i))
    return [(pt[i], br[j]) for i, (_, j) in best_br.items() if best_pt[j][1] == i]


def docs_pairs(shared: Path, rng: random.Random) -> list[tuple[str, str]]:
    pairs = []
    for source in ALIGNED_DOCS:
        pt = _paragraphs(shared / f"variety/docs/{source}.pt_PT.txt")
        br = _paragraphs(shared / f"variety/docs/{source}.pt_BR.txt")
        pairs += align(pt, br)
    return sorted(rng.sample(pairs, min(DOCS_PAIRS, len(pairs))))


def heldout_texts(shared: Path, rng: random.Random, taken: set[str]) -> list[tuple[str, str]]:
    """Sentences (news) and paragraphs (docs) per variety, none of them already in a pairs set."""
    chosen = []
    for file, count in TEXT_SOURCES.items():
        rows = [line.split("\t") for line in (shared / "variety" / file).read_text(encoding="utf-8").splitlines()]
        for label in LABELS:
            pool = sorted({t.strip() for t, lab in rows if lab == label and 8 <= len(t.split()) <= 80} - taken)
            chosen += [(t, label) for t in rng.sample(pool, count)]
    for source, count in TEXT_DOCS.items():
        for label in LABELS:
            pool = sorted(set(_paragraphs(shared / f"variety/docs/{source}.{label}.txt")) - taken)
            chosen += [(t, label) for t in rng.sample(pool, count)]
    return chosen


def build(shared: Path, out: Path) -> dict[str, int]:
    rng = random.Random(SEED)
    frmt, docs = frmt_pairs(shared, rng), docs_pairs(shared, rng)
    taken = {t for pair in frmt + docs for t in pair}
    texts = heldout_texts(shared, rng, taken)
    cloze = [
        " ".join(line.split())  # the source has a few doubled spaces
        for line in (shared / "eval/calamept/calamept.txt").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    files = {
        SHIPPED["frmt"][1]: [f"{pt}\t{br}" for pt, br in frmt],
        SHIPPED["docs"][1]: [f"{pt}\t{br}" for pt, br in docs],
        SHIPPED["heldout"][1]: [f"{t}\t{label}" for t, label in texts],
        SHIPPED["calamept"][1]: cloze,
    }
    out.mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        (out / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return {name: len(lines) for name, lines in files.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=EVALSETS_DIR)
    args = parser.parse_args()
    for name, n in build(args.shared, args.out).items():
        print(f"{args.out / name}: {n} lines")


if __name__ == "__main__":
    main()
