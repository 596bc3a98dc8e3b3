"""Scale of the dedup pass on synthetic band hashes, and MinHash signature throughput.

Dedup pass: N synthetic documents are written as docs/ part files (only the columns the dedup pass
reads: id, variety, quality_flags, crawl_date, minhash_bands, text_hash) with random uint64 bands and
planted duplicate groups: near-duplicate groups (sizes 2-10) whose members share a few of their bands
with the group, and exact-duplicate groups sharing text_hash and all bands. The band units and the
cluster builder then run in a child process (on ``--workers`` processes), timed, and with peak memory
from ``getrusage`` (ru_maxrss of the builder process and of its largest band worker: polars allocates
outside Python, so tracemalloc would see nothing). The clusters are checked against the planted groups.

Signatures: ``MinHasher.bands`` on ~800-word documents of real text (../shared/data/variety) in docs per
CPU-second of one process (= per core), beside datasketch's own ``MinHash.update_batch`` (SHA-1 of every
shingle string) on the same documents.

    .venv/bin/python benchmarks/dedup_scale.py --signatures
    nice -n 10 .venv/bin/python benchmarks/dedup_scale.py --docs 1000000 3000000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "variety" / "docs"
ROWS_PER_FILE = 500_000
DUP_FRACTION = 0.2  # documents that belong to a planted group
EXACT_SHARE = 0.3  # of the groups, exact duplicates
SHARED_BANDS = 3  # bands a near-duplicate shares with its group


def generate(n_docs: int, bands: int, folder: Path, seed: int = 0) -> np.ndarray:
    """Write docs/ part files; return the planted group of every document (-1 = none)."""
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lusomix.stages.schema import DOCS_SCHEMA

    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 11, size=int(n_docs * DUP_FRACTION / 6))
    sizes = sizes[np.cumsum(sizes) <= n_docs * DUP_FRACTION]
    group = np.full(n_docs, -1, dtype=np.int64)
    members = rng.permutation(n_docs)[: sizes.sum()]
    group[members] = np.repeat(np.arange(len(sizes)), sizes)
    exact_group = rng.random(len(sizes)) < EXACT_SHARE
    group_bands = rng.integers(0, 2**64, size=(len(sizes), bands), dtype=np.uint64)
    group_hash = rng.integers(0, 2**64, size=len(sizes), dtype=np.uint64)
    common_band = rng.integers(0, bands, size=len(sizes))
    schema = pa.schema([DOCS_SCHEMA.field(c) for c in ("id", "crawl_date", "variety", "quality_flags")])
    varieties = np.array(["pt_PT", "pt_BR", "unknown"])
    flags = np.array(["", "gopher_repetition", "fineweb_line_punct"])
    folder.mkdir(parents=True, exist_ok=True)
    for start in range(0, n_docs, ROWS_PER_FILE):
        stop = min(start + ROWS_PER_FILE, n_docs)
        n, g = stop - start, group[start:stop]
        band_values = rng.integers(0, 2**64, size=(n, bands), dtype=np.uint64)
        text_hash = rng.integers(0, 2**64, size=n, dtype=np.uint64)
        in_group = g >= 0
        exact = in_group & exact_group[np.maximum(g, 0)]
        band_values[exact] = group_bands[g[exact]]
        text_hash[exact] = group_hash[g[exact]]
        near = np.flatnonzero(in_group & ~exact)
        # every member shares the group's own band (so the group is one component), plus random others
        for copy in range(SHARED_BANDS):
            which = common_band[g[near]] if copy == 0 else rng.integers(0, bands, size=len(near))
            band_values[near, which] = group_bands[g[near], which]
        frame = pl.DataFrame(
            {
                "row": np.arange(start, stop),
                "crawl_date": (rng.integers(946_684_800, 1_735_689_600, size=n) * 1000).astype("datetime64[ms]"),
                "variety": varieties[rng.integers(0, 3, size=n)],
                "flag": flags[rng.integers(0, 3, size=n)],
            }
        )
        table = (
            frame.select(
                id=pl.format("arquivo-{}", pl.col("row").cast(pl.String).str.zfill(12)),
                crawl_date=pl.col("crawl_date").dt.replace_time_zone("UTC"),
                variety="variety",
                quality_flags=pl.concat_list("flag").list.eval(pl.element().filter(pl.element() != "")),
            )
            .to_arrow()
            .cast(schema)
        )
        offsets = pa.array(np.arange(0, (n + 1) * bands, bands, dtype=np.int32))
        table = table.append_column(
            DOCS_SCHEMA.field("minhash_bands"), pa.ListArray.from_arrays(offsets, pa.array(band_values.ravel()))
        ).append_column(DOCS_SCHEMA.field("text_hash"), pa.array(text_hash))
        pq.write_table(table, folder / f"part-{start // ROWS_PER_FILE:05d}.parquet", compression="zstd")
    return group


def _band_worker(args: tuple[str, int, int]) -> int:
    from lusomix.run_folder import RunFolder
    from lusomix.stages.dedup import BandGrouper, DedupConfig

    root, rank, world_size = args
    list(BandGrouper(RunFolder(root), DedupConfig()).run(None, rank=rank, world_size=world_size))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_dedup(root: str, workers: int) -> dict:
    """Child process: band units on ``workers`` processes, then the builder here (ROOT/docs -> ROOT/dedup)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from lusomix.run_folder import RunFolder
    from lusomix.stages.dedup import ClusterBuilder, DedupConfig

    start = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        worker_rss = list(pool.map(_band_worker, [(root, r, workers) for r in range(workers)]))
    grouped = time.perf_counter()
    list(ClusterBuilder(RunFolder(root), DedupConfig()).run(None))
    done = time.perf_counter()
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return {
        "cpu_s": sum(u.ru_utime + u.ru_stime for u in usage),
        "group_s": grouped - start,
        "build_s": done - grouped,
        "builder_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_rss_mb": max(worker_rss) / 1024,
    }


def check(clusters_path: Path, group: np.ndarray) -> str:
    """The clusters must be exactly the planted groups (and singletons)."""
    import polars as pl

    frame = pl.read_parquet(clusters_path, columns=["cluster_id", "keep"]).with_columns(
        planted=pl.Series(np.where(group >= 0, group, -1 - np.arange(len(group))))
    )
    split = frame.group_by("planted").agg(pl.col("cluster_id").n_unique()).filter(pl.col("cluster_id") > 1)
    merged = frame.group_by("cluster_id").agg(pl.col("planted").n_unique()).filter(pl.col("planted") > 1)
    keeps = frame.group_by("cluster_id").agg(pl.col("keep").sum()).filter(pl.col("keep") != 1)
    if len(split) or len(merged) or len(keeps):
        return f"WRONG: {len(split)} planted groups split, {len(merged)} clusters merged, {len(keeps)} bad keeps"
    return f"clusters == planted groups ({int((group >= 0).sum())} duplicates in {group.max() + 1} groups)"


def scale(n_docs: int, workers: int, root: Path) -> None:
    from lusomix.stages.dedup import DedupConfig

    bands = DedupConfig().bands_rows()[0]
    t = time.perf_counter()
    group = generate(n_docs, bands, root / "docs")
    size_mb = sum(f.stat().st_size for f in (root / "docs").glob("*")) / 2**20
    print(f"{n_docs:>10,} docs: generated {size_mb:,.0f} MB of docs/ in {time.perf_counter() - t:.0f}s", flush=True)
    env = {**os.environ, "POLARS_MAX_THREADS": str(max(1, os.cpu_count() // workers))}
    cmd = [sys.executable, __file__, "--child", str(root), str(workers)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    total = r["group_s"] + r["build_s"]
    peak = max(r["builder_rss_mb"], workers * r["worker_rss_mb"])
    print(
        f"{n_docs:>10,} docs, {bands + 1} units on {workers} workers: {total:6.1f}s wall, {r['cpu_s']:.0f} CPU-s "
        f"(grouping {r['group_s']:.1f}s, clusters + index {r['build_s']:.1f}s); peak RSS builder "
        f"{r['builder_rss_mb']:,.0f} MB, band worker {r['worker_rss_mb']:,.0f} MB -> at most {peak:,.0f} MB at once"
        f"\n{'':>16}{check(root / 'dedup' / 'clusters.parquet', group)}",
        flush=True,
    )


def signatures(n_docs: int) -> None:
    from datasketch import MinHash

    from lusomix.filters.minhash import MinHasher, lsh_params, shingles

    texts, words, current = [], 0, []
    for path in sorted(DATA.glob("*.txt")) if DATA.is_dir() else []:
        for line in path.read_text(encoding="utf-8").splitlines():
            current.append(line)
            words += len(line.split())
            if words >= 800:
                texts.append("\n".join(current))
                current, words = [], 0
    if not texts:
        print("signatures: skipped, ../shared/data/variety not found")
        return
    texts = texts[:: max(1, len(texts) // n_docs)][:n_docs]
    mean_words = np.mean([len(t.split()) for t in texts])

    def cpu_rate(fn, items) -> float:
        start = time.process_time()
        for item in items:
            fn(item)
        return len(items) / (time.process_time() - start)

    def datasketch_bands(text: str, num_perm: int = 112) -> None:
        m = MinHash(num_perm=num_perm)
        m.update_batch([s.encode("utf-8") for s in shingles(text)])

    reference = cpu_rate(datasketch_bands, texts[: max(50, len(texts) // 4)])
    print(f"signatures on {len(texts)} documents of {mean_words:.0f} words (docs per CPU-second = per core):")
    print(f"  datasketch MinHash(112).update_batch, SHA-1 per shingle: {reference:8.0f} docs/s")
    for num_perm in (112, 192, 256):
        hasher = MinHasher(num_perm, *lsh_params(0.8, num_perm))
        hasher.bands(texts[0])
        rate = cpu_rate(hasher.bands, texts)
        print(f"  MinHasher({num_perm}) bands: {rate:8.0f} docs/s  ({rate / reference:.1f}x datasketch)   goal >= 1500")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(run_dedup(sys.argv[2], int(sys.argv[3]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, nargs="*", default=[], help="corpus sizes of the dedup pass")
    parser.add_argument("--workers", type=int, default=2, help="band worker processes")
    parser.add_argument("--signatures", action="store_true", help="measure signature throughput")
    parser.add_argument("--signature-docs", type=int, default=600)
    parser.add_argument("--tmp", default=None, help="scratch folder (needs ~250 MB per million documents)")
    args = parser.parse_args()
    if args.signatures:
        signatures(args.signature_docs)
    for n_docs in args.docs:
        root = Path(tempfile.mkdtemp(prefix="dedup-scale-", dir=args.tmp))
        try:
            scale(n_docs, args.workers, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
