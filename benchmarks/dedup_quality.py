"""Planted near-duplicate benchmark: pair recall by Jaccard level, and false merges of hard negatives.

Documents are real text from ../shared/data/variety/docs (unique paragraphs, consecutive ones joined into
300-800-word documents). Planted:
- positives: a base document and one variant made by random word edits (replace / insert / delete) until
  its word-5-gram Jaccard with the base reaches a target level in 0.5..0.95; the true Jaccard of every
  pair is computed from the shingle sets and the pair is reported in its bucket;
- hard negatives: two different documents that share one long common paragraph block, sized so that
  their true Jaccard is spread over 0.1..0.5.

Every document gets its bands from ``MinHasher`` and goes through the real dedup pass
(``run_dedup_local``); a pair is found when both documents end in the same cluster. The figures are
printed for FineWeb's 14x8 (112 permutations) and for the other settings given, side by side.

    .venv/bin/python benchmarks/dedup_quality.py                    # 112 vs 192 permutations
    .venv/bin/python benchmarks/dedup_quality.py --num-perm 112 160 192 256 --bases 3000
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lusomix.filters.minhash import candidate_probability, shingles  # noqa: E402
from lusomix.filters.text import text_hash  # noqa: E402
from lusomix.run_folder import RunFolder  # noqa: E402
from lusomix.stages.dedup import DedupConfig, run_dedup_local  # noqa: E402
from lusomix.stages.schema import DOCS_SCHEMA  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "variety" / "docs"
POSITIVE_LEVELS = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
BUCKETS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0001]
COLUMNS = ["id", "crawl_date", "variety", "quality_flags", "minhash_bands", "text_hash"]


def paragraphs() -> list[str]:
    """Unique paragraphs of 8+ words, in file order (licence boilerplate repeats across sources)."""
    seen: set[str] = set()
    out = []
    for path in sorted(DATA.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if len(line.split()) >= 8 and line not in seen:
                seen.add(line)
                out.append(line)
    return out


class ParagraphStream:
    """Consecutive unique paragraphs, handed out once each: no two planted units share text by accident."""

    def __init__(self, paras: list[str]):
        self.paras, self.pos = paras, 0

    def take(self, words: int) -> list[str]:
        out, n = [], 0
        while n < words:
            if self.pos >= len(self.paras):
                raise SystemExit("not enough text in ../shared/data for this many documents: lower --bases")
            out.append(self.paras[self.pos])
            n += len(self.paras[self.pos].split())
            self.pos += 1
        return out


def jaccard(a: str, b: str) -> float:
    sa, sb = set(shingles(a)), set(shingles(b))
    return len(sa & sb) / len(sa | sb)


def variant(base: str, target: float, vocabulary: list[str], rng: random.Random) -> tuple[str, float]:
    """``base`` with the fewest random edits (from one fixed edit sequence) that bring Jaccard <= target."""
    words = base.split(" ")
    edits = [(rng.choice("rid"), rng.random(), rng.choice(vocabulary)) for _ in range(len(words))]

    def apply(k: int) -> str:
        out = list(words)
        for kind, where, word in edits[:k]:
            pos = int(where * len(out))
            if kind == "r":
                out[pos] = word
            elif kind == "i":
                out.insert(pos, word)
            elif len(out) > 1:
                del out[pos]
        return " ".join(out)

    lo, hi = 1, len(edits)
    while lo < hi:  # Jaccard falls (almost) monotonically with the number of edits
        mid = (lo + hi) // 2
        if jaccard(base, apply(mid)) <= target:
            hi = mid
        else:
            lo = mid + 1
    text = apply(lo)
    return text, jaccard(base, text)


def plant(bases: int, negatives: int, seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str, float]], list]:
    """(documents as (id, text), positive pairs (a, b, J), negative pairs (a, b, J))."""
    rng = random.Random(seed)
    stream = ParagraphStream(paragraphs())
    vocabulary = sorted({w for p in stream.paras[:3000] for w in p.split()})
    docs: list[tuple[str, str]] = []
    positives, negatives_out = [], []
    for i in range(bases):
        base = "\n".join(stream.take(rng.randint(300, 800)))
        target = POSITIVE_LEVELS[i % len(POSITIVE_LEVELS)] + rng.uniform(-0.02, 0.04)
        text, j = variant(base, min(target, 0.985), vocabulary, rng)
        docs += [(f"p{i:05d}a", base), (f"p{i:05d}b", text)]
        positives.append((f"p{i:05d}a", f"p{i:05d}b", j))
    for i in range(negatives):
        own_x = stream.take(rng.randint(150, 500))
        own_y = stream.take(rng.randint(150, 500))
        target = rng.uniform(0.1, 0.5)
        total = sum(len(p.split()) for p in own_x + own_y)
        shared_words = int(target * total / (1 - target))
        shared = " ".join(" ".join(stream.take(shared_words)).split()[:shared_words])
        x = own_x[:]
        x.insert(rng.randint(0, len(x)), shared)
        y = own_y[:]
        y.insert(rng.randint(0, len(y)), shared)
        x_text, y_text = "\n".join(x), "\n".join(y)
        j = jaccard(x_text, y_text)
        if j < 0.5:
            docs += [(f"n{i:05d}x", x_text), (f"n{i:05d}y", y_text)]
            negatives_out.append((f"n{i:05d}x", f"n{i:05d}y", j))
    return docs, positives, negatives_out


def write_docs(docs: list[tuple[str, str]], config: DedupConfig, folder: Path) -> float:
    """docs/-like parquet with bands from the config's MinHasher; returns signing docs per CPU-second."""
    hasher = config.minhasher()
    start = time.process_time()
    bands = [hasher.bands(text) for _, text in docs]
    rate = len(docs) / (time.process_time() - start)
    date = datetime(2010, 1, 1, tzinfo=UTC)
    table = pa.table(
        {
            "id": [doc_id for doc_id, _ in docs],
            "crawl_date": [date] * len(docs),
            "variety": ["pt_PT"] * len(docs),
            "quality_flags": [[]] * len(docs),
            "minhash_bands": bands,
            "text_hash": [text_hash(text) for _, text in docs],
        },
        schema=pa.schema([DOCS_SCHEMA.field(name) for name in COLUMNS]),
    )
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-00000.parquet")
    return rate


def bucket_of(j: float) -> str:
    i = int(np.searchsorted(BUCKETS, j, side="right")) - 1
    return f"[{BUCKETS[i]:.2f},{min(BUCKETS[i + 1], 1.0):.2f})"


def evaluate(docs, positives, negatives, config: DedupConfig, work: Path) -> dict:
    rate = write_docs(docs, config, work / "docs")
    clusters = pl.read_parquet(run_dedup_local(RunFolder(work), config))
    cluster_of = dict(zip(clusters["id"], clusters["cluster_id"]))
    bands, rows = config.bands_rows()

    def found(pairs):
        return [(j, cluster_of[a] == cluster_of[b]) for a, b, j in pairs]

    # merged pairs that are not planted pairs: the source text repeats itself, or a false merge
    planted = {frozenset((a, b)) for a, b, _ in positives + negatives}
    text = dict(docs)
    members = clusters.filter(pl.col("cluster_size") > 1).group_by("cluster_id").agg("id")["id"].to_list()
    merged_pairs = sum(len(m) * (len(m) - 1) // 2 for m in members)
    accidental = [
        jaccard(text[a], text[b])
        for m in members
        for i, a in enumerate(m)
        for b in m[i + 1 :]
        if frozenset((a, b)) not in planted
    ]
    return {
        "config": f"{config.num_perm} perms -> {bands} bands x {rows} rows",
        "bands": bands,
        "rows": rows,
        "rate": rate,
        "positives": found(positives),
        "negatives": found(negatives),
        "merged_pairs": merged_pairs,
        "accidental": accidental,
    }


def report(result: dict) -> None:
    bands, rows = result["bands"], result["rows"]
    print(f"\n== {result['config']}   (signing: {result['rate']:.0f} docs per CPU-second)")
    print(f"{'true Jaccard':<14}{'pairs':>7}{'expected':>10}{'recall':>9}")
    by_bucket = defaultdict(list)
    for j, hit in result["positives"]:
        by_bucket[bucket_of(j)].append((j, hit))
    for name in sorted(by_bucket):
        items = by_bucket[name]
        expected = float(np.mean([candidate_probability(j, bands, rows) for j, _ in items]))
        print(f"{name:<14}{len(items):>7}{expected:>10.3f}{np.mean([h for _, h in items]):>9.3f}")
    high = [hit for j, hit in result["positives"] if j >= 0.8]
    print(f"pair recall at Jaccard >= 0.8: {np.mean(high):.3f} ({sum(high)}/{len(high)})   goal >= 0.95")
    print(f"{'hard negatives':<14}{'pairs':>7}{'expected':>10}{'merged':>9}")
    by_bucket = defaultdict(list)
    for j, hit in result["negatives"]:
        by_bucket[bucket_of(j)].append((j, hit))
    for name in sorted(by_bucket):
        items = by_bucket[name]
        expected = float(np.mean([candidate_probability(j, bands, rows) for j, _ in items]))
        print(f"{name:<14}{len(items):>7}{expected:>10.4f}{np.mean([h for _, h in items]):>9.4f}")
    false = sum(hit for _, hit in result["negatives"])
    n_neg = len(result["negatives"])
    print(f"hard negatives merged: {false}/{n_neg} = {false / max(n_neg, 1):.4f}   goal <= 0.01")
    merged, accidental = result["merged_pairs"], result["accidental"]
    low = [j for j in accidental if j < 0.5]
    print(
        f"false merges (true Jaccard < 0.5) / merged pairs: {false + len(low)}/{merged} "
        f"= {(false + len(low)) / max(merged, 1):.4f}   goal <= 0.01"
    )
    if accidental:
        print(
            f"  merged pairs not planted (repeated source text): {len(accidental)}, true Jaccard "
            + ", ".join(f"{j:.2f}" for j in sorted(accidental))
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-perm", type=int, nargs="+", default=[112, DedupConfig().num_perm])
    parser.add_argument("--bases", type=int, default=1500, help="positive pairs")
    parser.add_argument("--negatives", type=int, default=1500, help="hard negative pairs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found")
        return 0
    start = time.perf_counter()
    docs, positives, negatives = plant(args.bases, args.negatives, args.seed)
    print(
        f"planted {len(positives)} positive and {len(negatives)} hard-negative pairs "
        f"({len(docs)} documents, mean {np.mean([len(t.split()) for _, t in docs]):.0f} words) "
        f"in {time.perf_counter() - start:.0f}s"
    )
    for num_perm in args.num_perm:
        with tempfile.TemporaryDirectory() as tmp:
            report(evaluate(docs, positives, negatives, DedupConfig(num_perm=num_perm), Path(tmp)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
