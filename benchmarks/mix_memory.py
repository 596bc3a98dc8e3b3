"""Mix memory benchmark: build a training mix over N synthetic documents and report time and peak RSS.

    nice -n 10 .venv/bin/python benchmarks/mix_memory.py                 # 1 M documents, ~150 words each
    .venv/bin/python benchmarks/mix_memory.py --docs 100000 --keep /tmp/mixbench

Documents have 50-250 words (mean 150, ≈ 0.8 KB of text: 1 M documents ≈ 0.8 GB of text, ~0.3 GB of
Parquet): the size of a cleaned web page after boilerplate removal, and small enough to generate on a
shared 2-core machine in about a minute. Varieties 60 % pt_PT / 30 % pt_BR / 10 % unknown, 8 % flagged,
dedup clusters of 2-5 over 10 % of the documents. The mix uses the default recipe + rehydration, 64 MB shards.

Each measured step runs in its own child process (2 threads for polars and Arrow), so peak RSS is that
step's alone (ru_maxrss of the child). Reference steps in the same run:
- ``read floor``: decode the mix's columns (text included) of every docs/ row once — the least any mix
  must do before writing anything;
- ``in-memory``: the naive mix (load the selected documents with their text, repeat, sort, write),
  whose memory grows with the corpus. Skip it with --no-naive.
Goal: mix peak RSS ≤ 4 GB.
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
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

WORDS = (
    "a o e de do da que em um uma para com não por mais como mas foi ao ele das tem à seu sua ou ser "
    "quando muito há nos já está eu também só pelo pela até isso ela entre era depois sem mesmo aos ter "
    "seus quem nas me esse eles estão você tinha foram essa num nem suas meu às minha têm numa pelos "
    "elas havia seja qual será nós tenho lhe deles essas esses pelas este fosse dele tu te vocês vos "
    "lhes meus minhas teu tua teus tuas nosso nossa nossos nossas dela delas esta estes estas aquele "
    "autocarro comboio ecrã ficheiro utilizador telemóvel equipa ônibus trem tela arquivo usuário celular "
    "governo câmara município escola saúde notícias desporto futebol economia política cultura Lisboa "
    "Porto Coimbra Braga Faro Brasil São Paulo Rio cidade país mundo ano anos dia dias semana mês"
).split()
DOCS_PER_PART = 50_000


def generate(run_dir: Path, n_docs: int, seed: int = 0) -> None:
    from lusomix.stages.schema import CLUSTERS_SCHEMA, DOCS_SCHEMA

    rng = np.random.default_rng(seed)
    vocab = pa.array(WORDS)
    (run_dir / "docs").mkdir(parents=True)
    (run_dir / "dedup").mkdir()
    cluster_tables = []
    for part, lo in enumerate(range(0, n_docs, DOCS_PER_PART)):
        n = min(DOCS_PER_PART, n_docs - lo)
        n_words = rng.integers(50, 251, n).astype(np.int32)
        offsets = np.concatenate([[0], np.cumsum(n_words)]).astype(np.int32)
        words = vocab.take(pa.array(rng.integers(0, len(WORDS), int(offsets[-1])).astype(np.int32)))
        text = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), words), " ")
        ids = pa.array([f"doc-{i:08d}" for i in range(lo, lo + n)])
        domain = pc.binary_join_element_wise("site", pa.array((rng.integers(0, 5000, n)).astype(str)), ".pt", "")
        variety = pa.array(np.array(["pt_PT", "pt_BR", "unknown"])[rng.choice(3, n, p=[0.6, 0.3, 0.1])])
        flagged = rng.random(n) < 0.08
        flags = pa.array([["dup_line_frac"] if f else [] for f in flagged], pa.list_(pa.string()))
        cols = {name: pa.nulls(n, DOCS_SCHEMA.field(name).type) for name in DOCS_SCHEMA.names}
        cols.update(
            id=ids,
            url=pc.binary_join_element_wise("http://", domain, "/", ids, ""),
            domain=domain,
            tld=pa.array(["pt"] * n),
            crawl_date=pa.array(np.full(n, 1_300_000_000, "datetime64[s]")).cast(DOCS_SCHEMA.field("crawl_date").type),
            source_file=pa.array([f"synthetic-{part:03d}.warc.gz"] * n),
            n_words=pa.array(n_words),
            text=text,
            lang=pa.array(["pt"] * n),
            variety=variety,
            quality_flags=flags,
        )
        pq.write_table(
            pa.table(cols, schema=DOCS_SCHEMA),
            run_dir / "docs" / f"part-{part:05d}.parquet",
            compression="zstd",
            row_group_size=10_000,
        )
        # clusters: the first 10 % of each part, in runs of 2, 3, 4, 5 members; the first member is kept
        sizes = np.tile(np.array([2, 3, 4, 5], np.int32), n // 140 + 1)
        sizes = sizes[np.cumsum(sizes) <= n // 10]
        members = int(sizes.sum())
        position = np.arange(members) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        keep = np.ones(n, bool)
        keep[:members] = position == 0
        cluster_size = np.ones(n, np.int32)
        cluster_size[:members] = np.repeat(sizes, sizes)
        singles = np.arange(len(sizes), len(sizes) + n - members)
        cluster_id = np.concatenate([np.repeat(np.arange(len(sizes)), sizes), singles])
        cluster_id = pc.binary_join_element_wise(f"p{part}-", pa.array(cluster_id.astype(str)), "")
        cluster_tables.append(
            pa.table(
                {"id": ids, "cluster_id": cluster_id, "cluster_size": pa.array(cluster_size), "keep": pa.array(keep)},
                schema=CLUSTERS_SCHEMA,
            )
        )
    pq.write_table(pa.concat_tables(cluster_tables), run_dir / "dedup" / "clusters.parquet")


def _child(step: str, run_dir: Path, out_dir: Path) -> None:
    pa.set_cpu_count(2)
    pa.set_io_thread_count(2)
    import polars as pl

    from lusomix.mix.build import build_mix
    from lusomix.mix.recipe import MixRecipe

    recipe = MixRecipe(name="bench", rehydrate=True, shard_target_bytes=64 * 2**20, seed=1)
    start = time.perf_counter()
    if step == "mix":
        manifest = build_mix(run_dir, recipe, out_dir)
        result = {
            "rows": manifest["totals"]["rows"],
            "shards": len(manifest["shards"]),
            "bytes": manifest["totals"]["bytes"],
            "tokens_est": manifest["totals"]["tokens_est"],
        }
    elif step == "read floor":  # decode the mix's columns of every document once, keep nothing
        from lusomix.stages.schema import MIX_SCHEMA

        rows = 0
        for part in sorted((run_dir / "docs").glob("*.parquet")):
            for batch in pq.ParquetFile(part).iter_batches(65536, columns=MIX_SCHEMA.names):
                rows += batch.num_rows
        result = {"rows_read": rows}
    else:  # the naive in-memory mix: same selection and weights, texts all loaded at once
        from lusomix.mix.build import plan_mix
        from lusomix.mix.hashing import id_hash64
        from lusomix.stages.schema import MIX_SCHEMA

        plan = plan_mix(run_dir, recipe)
        docs = pl.read_parquet(run_dir / "docs", columns=MIX_SCHEMA.names)
        docs = docs.with_columns(id_hash=pl.Series(id_hash64(docs["id"]), dtype=pl.UInt64))
        mix = plan.select("id_hash").join(docs, on="id_hash", how="left", maintain_order="left").drop("id_hash")
        out_dir.mkdir(parents=True, exist_ok=True)
        mix.write_parquet(out_dir / "all.parquet", compression="zstd")
        result = {"rows": mix.height}
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)  # KiB on Linux
    print(json.dumps(result))


def measure(step: str, run_dir: Path, out_dir: Path) -> dict:
    env = dict(os.environ, POLARS_MAX_THREADS="2")
    proc = subprocess.run(
        [sys.executable, __file__, "--child", step, str(run_dir), str(out_dir)], env=env, capture_output=True, text=True
    )
    if proc.returncode:
        sys.exit(f"{step} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one, removed)")
    parser.add_argument("--no-naive", action="store_true", help="skip the in-memory reference mix")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="mixbench-"))
    run_dir = work / "run"
    try:
        if not (run_dir / "docs").exists():
            t = time.perf_counter()
            generate(run_dir, args.docs)
            print(
                f"generated {args.docs:,} documents in {time.perf_counter() - t:.0f} s "
                f"({sum(f.stat().st_size for f in (run_dir / 'docs').iterdir()) / 2**20:.0f} MiB of docs/)"
            )
        steps = ["read floor", "mix"] + ([] if args.no_naive else ["in-memory"])
        results = {s: measure(s, run_dir, work / s.replace(" ", "-")) for s in steps}
        for step, r in results.items():
            print(f"{step:>11}: {r}")
        mix, floor = results["mix"], results["read floor"]
        verdict = "met" if mix["peak_rss_gb"] <= 4 else "NOT met"
        print(
            f"mix: {mix['seconds']} s, peak RSS {mix['peak_rss_gb']} GB (goal ≤ 4 GB: {verdict}); "
            f"time ×{mix['seconds'] / max(floor['seconds'], 0.1):.1f} the read floor"
        )
        if "in-memory" in results:
            naive = results["in-memory"]
            print(
                f"in-memory reference: {naive['seconds']} s, peak RSS {naive['peak_rss_gb']} GB "
                f"(streaming mix uses ×{mix['peak_rss_gb'] / max(naive['peak_rss_gb'], 0.01):.2f} of its memory)"
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
