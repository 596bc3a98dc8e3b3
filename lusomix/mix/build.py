"""Training mixes: select a run's documents, weight them, shuffle them globally and write even shards.

A mix is ``OUT/mixes/NAME/shard-NNNNN.parquet`` (MIX_SCHEMA, zstd) + ``manifest.json`` (the mix contract
read by the pretraining stage). How it is built, with memory bounded whatever the corpus size:

1. **Plan** (polars, lazy, the ``text`` column is never read): scan docs/ for the selection columns plus a
   per-file row position, join dedup/clusters.parquet, apply the recipe's selection and weights. Each
   selected document becomes ``floor(w)`` repeats plus one more with probability ``frac(w)``; the draw and
   the shuffle key come from a stable hash of (seed, id, repeat index) (:mod:`lusomix.mix.hashing`),
   never from RNG state, so the same inputs and recipe give the same mix on any machine. The plan is
   sorted by shuffle key (= the global order of the mix), cut by the optional token budget, and cut into
   *buckets* of roughly
   ``bucket_bytes`` of text. It holds ~100 bytes per planned row: the only part that grows with the
   corpus, and it is small (1 M documents ≈ 0.1 GB).
2. **Scatter**: stream every docs/ part once in record batches, gather the planned rows of each batch by
   their row position (a repeat is gathered twice), and append them to their bucket's temporary file.
   The total text bytes are summed on the way, so shard cuts can be even.
3. **Shard**: load one bucket at a time, sort it by shuffle key, and stream rows into shards cut where
   the running total of text bytes (or estimated tokens) crosses ``k * total / n_shards``: every shard
   is within one document of the same size. Row groups have a fixed row count and are written from
   contiguous buffers, so the bytes of a shard do not depend on where buckets fell.

Peak memory ≈ plan + ~3 buckets. Every file is written under a temporary name and renamed; the
manifest is removed first and written last, so a mix folder with a manifest is always complete.

``tokens_est`` of a document = ceil(1.4 × n_words): Portuguese runs about 1.3-1.6 BPE tokens per
word with Llama-family tokenizers; the pretraining stage can recount exactly.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import lusomix
from lusomix.filters.quality import flags_expr
from lusomix.manifest import Manifest
from lusomix.mix.hashing import _SALT_SHUFFLE, id_hash64, repeat_key, repeats_for
from lusomix.mix.recipe import MixInputError, MixRecipe, selection, weight
from lusomix.run_folder import UNKNOWN, VARIETIES, RunFolder, as_folder, local_sha256, part_sizes, parts
from lusomix.stages.schema import MIX_SCHEMA

TOKENS_PER_WORD_X10 = 14  # tokens_est = ceil(n_words * 1.4), in integers so sums are exact
DEFAULT_SHARD_BYTES = 128 * 2**20
ROW_GROUP_ROWS = 4096
ZSTD_LEVEL = 3
SCATTER_BATCH_ROWS = 8192
_EST_BYTES_PER_WORD = 7  # bucket sizing only (UTF-8 Portuguese ≈ 6 bytes/word + space); output unaffected

# The caller's display of a build: called with (rows read, rows written, planned rows) as the planned rows
# are read from docs/ into their buckets (scatter), then as they are written into shards.
Progress = Callable[[int, int, int], None]


def docs_files(run: RunFolder) -> list[str]:
    files = parts(run, RunFolder.DOCS)
    if not files:
        raise MixInputError(f"no documents: {run.url_of(RunFolder.DOCS)} has no part-*.parquet (run the extract pass)")
    return files


def plan_mix(
    run: RunFolder | str | Path, recipe: MixRecipe, bucket_bytes: int = 256 * 2**20, quality_rules=None
) -> pl.DataFrame:
    """The mix without its text, one row per output row in output order: id_hash (``id_hash64`` of the
    id), variety, n_words, repeat, key (the shuffle key), file (index into ``docs_files``), row (position
    in that file), tokens_est, bucket."""
    run = as_folder(run)
    files = docs_files(run)
    starts = np.cumsum([0] + [run.parquet_file(f).metadata.num_rows for f in files])
    lf = run.scan_parquet(files, row_index_name="_global_row")
    lf = lf.with_columns(pl.col("variety").fill_null(UNKNOWN))
    if quality_rules is not None:  # the run's current thresholds, re-applied to the stored signals
        lf = lf.with_columns(flags_expr(quality_rules))
    clusters = RunFolder.CLUSTERS
    if run.exists(clusters):
        # a document the dedup pass does not list is a cluster of one, kept
        lf = lf.join(run.scan_parquet([clusters]).select("id", "cluster_size", "keep"), on="id", how="left")
        lf = lf.with_columns(pl.col("cluster_size").fill_null(1), pl.col("keep").fill_null(True))
    elif recipe.select.dedup_keep_only or recipe.rehydrate:
        raise MixInputError(
            f"mix {recipe.name!r} needs {run.url_of(clusters)} (dedup keep / rehydration): run the dedup pass, "
            "or set select.dedup_keep_only and rehydrate to false"
        )
    if recipe.select.dedup_keep_only:
        lf = lf.filter(pl.col("keep"))
    lf = lf.filter(selection(recipe.select)).select(
        "id",
        "variety",
        pl.col("n_words").fill_null(0).cast(pl.Int64),
        pl.col("_global_row").cast(pl.Int64).alias("_global_row"),
        weight(recipe).alias("weight"),
    )
    docs = lf.collect(engine="streaming")  # may be empty: an empty selection is a data outcome
    # from here on a document is its 64-bit id hash: the plan stays ~60 bytes a row, whatever the ids
    id_hash = id_hash64(docs["id"])
    global_row = docs["_global_row"].to_numpy()
    file_of = (np.searchsorted(starts, global_row, side="right") - 1).astype(np.int32)
    docs = pl.DataFrame(
        {
            "id_hash": pl.Series(id_hash, dtype=pl.UInt64),
            "variety": docs["variety"].cast(pl.Categorical),
            "n_words": docs["n_words"].cast(pl.Int32),
            "file": pl.Series(file_of, dtype=pl.Int32),
            "row": pl.Series(global_row - starts[file_of], dtype=pl.Int64),
            "n_rep": pl.Series(repeats_for(id_hash, docs["weight"].to_numpy(), recipe.seed), dtype=pl.Int32),
        }
    ).filter(pl.col("n_rep") > 0)
    plan = docs.with_columns(repeat=pl.int_ranges(0, "n_rep", dtype=pl.Int32)).explode("repeat").drop("n_rep")
    del docs
    key = repeat_key(plan["id_hash"].to_numpy(), plan["repeat"].to_numpy(), recipe.seed, _SALT_SHUFFLE)
    plan = plan.with_columns(key=pl.Series(key, dtype=pl.UInt64)).sort("key", "id_hash", "repeat")
    plan = plan.with_columns(tokens_est=(pl.col("n_words").cast(pl.Int64) * TOKENS_PER_WORD_X10 + 9) // 10)
    if recipe.token_budget is not None:
        plan = plan.filter(pl.col("tokens_est").cum_sum() <= recipe.token_budget)
    est_bytes = pl.col("n_words").cast(pl.Int64) * _EST_BYTES_PER_WORD + 64
    return plan.with_columns(bucket=((est_bytes.cum_sum() - est_bytes) // bucket_bytes).cast(pl.Int32))


# ---- scatter and shard ---------------------------------------------------------------------------------

_BUCKET_SCHEMA = MIX_SCHEMA.append(pa.field("_rank", pa.int64()))
_LOW_CARDINALITY = ["variety", "domain", "crawl_date", "n_words", "lang"]


def _text_bytes(table: pa.Table) -> np.ndarray:
    return pc.fill_null(pc.binary_length(table["text"]), 0).to_numpy().astype(np.int64)


def _tokens_est(table: pa.Table) -> np.ndarray:
    n_words = pc.fill_null(table["n_words"], 0).to_numpy().astype(np.int64)
    return (n_words * TOKENS_PER_WORD_X10 + 9) // 10


def _planned_rows(run: RunFolder, files: list[str], plan: pl.DataFrame) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """Stream docs/ once, yielding for each record batch its planned rows (a repeated document as often as
    it repeats) with their text and ``_rank`` (position in the mix), and the bucket of each row."""
    rank = pl.int_range(pl.len(), dtype=pl.Int64).alias("rank")
    located = plan.select("id_hash", "file", "row", "bucket", rank).sort("file", "row")
    for (file_no,), part in located.partition_by("file", as_dict=True, maintain_order=True).items():
        rows, ranks, buckets, id_hashes = (part[c].to_numpy() for c in ("row", "rank", "bucket", "id_hash"))
        pf = run.parquet_file(files[file_no])
        group_starts = np.cumsum([0] + [pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)])
        # read only the row groups that hold planned rows: a narrow recipe skips most of the corpus
        for group in np.unique(np.searchsorted(group_starts, rows, side="right") - 1):
            start = int(group_starts[group])
            for batch in pf.iter_batches(SCATTER_BATCH_ROWS, row_groups=[int(group)], columns=MIX_SCHEMA.names):
                lo, hi = np.searchsorted(rows, [start, start + batch.num_rows])
                first, start = start, start + batch.num_rows
                if lo == hi:
                    continue
                picked = pa.Table.from_batches([batch]).take(rows[lo:hi] - first)
                if not (id_hash64(picked["id"]) == id_hashes[lo:hi]).all():  # positions must name planned ids
                    raise RuntimeError(f"{files[file_no]} changed while the mix was being built")
                variety = pc.fill_null(picked["variety"], UNKNOWN)
                picked = picked.set_column(picked.schema.get_field_index("variety"), "variety", variety)
                yield picked.append_column("_rank", pa.array(ranks[lo:hi])).cast(_BUCKET_SCHEMA), buckets[lo:hi]


def _scatter(
    run: RunFolder, files: list[str], plan: pl.DataFrame, bucket_dir: Path, by_tokens: bool, progress: Progress
) -> int:
    """Append each planned row (with its text) to its bucket's file; return the total cut measure."""
    writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
    total = scattered = 0
    try:
        for picked, buckets in _planned_rows(run, files, plan):
            scattered += picked.num_rows
            progress(scattered, 0, plan.height)
            total += int((_tokens_est(picked) if by_tokens else _text_bytes(picked)).sum())
            order = np.argsort(buckets, kind="stable")
            for chunk in np.split(order, np.flatnonzero(np.diff(buckets[order])) + 1):
                b = int(buckets[chunk[0]])
                if b not in writers:  # Arrow IPC + lz4: a temporary file that costs ~nothing to write or read
                    writers[b] = pa.ipc.new_file(
                        bucket_dir / f"bucket-{b:06d}.arrow",
                        _BUCKET_SCHEMA,
                        options=pa.ipc.IpcWriteOptions(compression="lz4"),
                    )
                writers[b].write_table(picked.take(chunk))
    finally:
        for w in writers.values():
            w.close()
    return total


class _ShardWriter:
    """One shard: fixed-size row groups from contiguous buffers, into the temporary its mix folder publishes
    when the shard is closed."""

    def __init__(self, mix: RunFolder, name: str):
        self.name = name
        self._published = mix.publish(name)
        self.tmp = self._published.__enter__()
        # no dictionary or min/max statistics for the long unique strings: costly, and useless to readers
        self.writer = pq.ParquetWriter(
            self.tmp,
            MIX_SCHEMA,
            compression="zstd",
            compression_level=ZSTD_LEVEL,
            use_dictionary=_LOW_CARDINALITY,
            write_statistics=_LOW_CARDINALITY,
        )
        self.pending: list[pa.Table] = []
        self.pending_rows = self.rows = self.tokens_est = 0

    def write(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.pending_rows += table.num_rows
        self.rows += table.num_rows
        self.tokens_est += int(_tokens_est(table).sum())
        if self.pending_rows >= ROW_GROUP_ROWS:
            buffered = pa.concat_tables(self.pending)
            full = (buffered.num_rows // ROW_GROUP_ROWS) * ROW_GROUP_ROWS
            for at in range(0, full, ROW_GROUP_ROWS):
                group = buffered.slice(at, ROW_GROUP_ROWS).combine_chunks()
                self.writer.write_table(group, row_group_size=ROW_GROUP_ROWS)
            self.pending = [buffered.slice(full)]
            self.pending_rows = buffered.num_rows - full

    def close(self) -> dict:
        if self.pending_rows:
            self.writer.write_table(pa.concat_tables(self.pending).combine_chunks(), row_group_size=ROW_GROUP_ROWS)
        self.writer.close()
        entry = {
            "path": self.name,
            "rows": self.rows,
            "bytes": os.path.getsize(self.tmp),
            "sha256": local_sha256(self.tmp),  # of the bytes published next, read on this node's disk
            "tokens_est": self.tokens_est,
        }
        self._published.__exit__(None, None, None)
        return entry

    def abort(self, error: BaseException) -> None:
        """Nothing of this shard is published."""
        self.writer.close()
        self._published.__exit__(type(error), error, error.__traceback__)


def _write_shards(
    bucket_dir: Path, mix: RunFolder, total: int, target: int, by_tokens: bool, progress: Progress, rows: int
) -> list[dict]:
    """Stream the buckets in shuffle order into shards cut at k * total / n_shards of the measure."""
    n_shards = max(1, round(total / target))
    shards: list[dict] = []
    writer: _ShardWriter | None = None
    current = -1
    done = written = 0
    try:
        for bucket_path in sorted(bucket_dir.glob("bucket-*.arrow")):
            with pa.memory_map(str(bucket_path)) as source:
                table = pa.ipc.open_file(source).read_all().combine_chunks()  # take() is slow across chunks
            table = table.take(pc.sort_indices(table["_rank"])).drop_columns(["_rank"])
            measure = _tokens_est(table) if by_tokens else _text_bytes(table)
            before = done + np.cumsum(measure) - measure
            done += int(measure.sum())
            shard_of = np.minimum(before * n_shards // max(total, 1), n_shards - 1)
            cuts = np.flatnonzero(np.diff(shard_of)) + 1
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, table.num_rows]):
                if shard_of[lo] != current:
                    if writer is not None:
                        shards.append(writer.close())
                        writer = None
                    current = int(shard_of[lo])
                    # numbered by order, not by cut index: a document bigger than a whole shard skips a cut
                    writer = _ShardWriter(mix, f"shard-{len(shards):05d}.parquet")
                assert writer is not None  # the first slice always opens a shard
                writer.write(table.slice(lo, hi - lo))
            written += table.num_rows
            progress(rows, written, rows)
            del table
        if writer is not None:
            shards.append(writer.close())
    except BaseException as error:
        if writer is not None:
            writer.abort(error)
        raise
    return shards


# ---- manifest -------------------------------------------------------------------------------------------


def run_fingerprint(run: RunFolder) -> str:
    """sha256 over the name, size and Parquet footer of every docs/ part and of dedup/clusters.parquet.

    Provenance, not a check (nothing reads it back): a footer holds every row group's row count and each
    column chunk's offsets, compressed sizes and statistics, so other content gives another footer but for a
    change that keeps every one of them (the parts are written once, whole). It is two ranged reads a file:
    hashing the files' bytes read the whole of docs/ once more for each mix, a third of the pass's reading
    (terabytes at Arquivo.pt's size)."""
    inputs = part_sizes(run, RunFolder.DOCS) | run.glob_sizes(RunFolder.CLUSTERS)
    lines = (f"{rel}\t{size}\t{hashlib.sha256(run.parquet_footer(rel)).hexdigest()}\n" for rel, size in inputs.items())
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _by_variety(plan: pl.DataFrame) -> dict:
    counts = plan.group_by("variety").agg(rows=pl.len(), tokens_est=pl.col("tokens_est").sum())
    found = {r.pop("variety"): r for r in counts.iter_rows(named=True)}
    all_tokens = max(int(plan["tokens_est"].sum()), 1)
    names = list(VARIETIES) + sorted(set(found) - set(VARIETIES))
    rows = {v: found.get(v, {"rows": 0, "tokens_est": 0}) for v in names}
    return {v: {**r, "share_tokens": round(r["tokens_est"] / all_tokens, 6)} for v, r in rows.items()}


def build_mix(
    run: RunFolder | str | Path,
    recipe: MixRecipe,
    mix: RunFolder | str | Path | None = None,
    bucket_bytes: int = 256 * 2**20,
    quality_rules=None,
    progress: Progress | None = None,
) -> dict:
    """Build ``recipe`` from the run folder into the folder ``mix`` (default ``RUN/mixes/NAME``) and return
    the manifest. ``bucket_bytes`` bounds memory (≈ 3 × bucket_bytes + the plan); it does not change
    the output. ``quality_rules``: recompute quality_flags from the stored signals under these
    thresholds (None: the flags the extract pass stored). ``progress``: see :data:`Progress`."""
    progress = progress or (lambda read, written, planned: None)
    run = as_folder(run)
    mix = as_folder(mix) if mix is not None else run.mix(recipe.name)
    files = docs_files(run)
    mix.rm(Manifest.FILE)  # no manifest = mix incomplete, whatever shards lie there
    plan = plan_mix(run, recipe, bucket_bytes, quality_rules)
    by_tokens = recipe.shard_target_tokens is not None
    target = recipe.shard_target_tokens or recipe.shard_target_bytes or DEFAULT_SHARD_BYTES  # one at most is set
    shards: list[dict] = []
    warnings = []
    if plan.height == 0:  # written as an empty mix (no shards), with a warning: the report says why
        warnings.append("selects no documents (no document passes the selection: see the report's funnel)")
    else:
        with mix.scratch(f"buckets-{recipe.name}") as bucket_dir:
            total = _scatter(run, files, plan, Path(bucket_dir), by_tokens, progress)
            shards = _write_shards(Path(bucket_dir), mix, total, target, by_tokens, progress, plan.height)
    manifest = Manifest(
        name=recipe.name,
        created_by=f"lusomix {lusomix.__version__}",
        recipe=recipe.model_dump(mode="json"),
        quality_rules=None
        if quality_rules is None
        else [{"name": r.name, "signal": r.signal, "bound": r.bound, "threshold": r.threshold} for r in quality_rules],
        seed=recipe.seed,
        input={"run_dir": run.url, "fingerprint": run_fingerprint(run)},
        shards=shards,
        totals={
            "rows": sum(s["rows"] for s in shards),
            "bytes": sum(s["bytes"] for s in shards),
            "tokens_est": sum(s["tokens_est"] for s in shards),
            "documents_distinct": plan["id_hash"].n_unique(),
        },
        by_variety=_by_variety(plan),
        warnings=warnings,
    )
    keep = {s["path"] for s in shards}
    for stale in mix.glob("shard-*.parquet"):  # left by an earlier, larger build of this mix
        if stale not in keep:
            mix.rm(stale)
    manifest.write(mix)  # last: a mix folder with a manifest is complete
    return manifest.to_dict()
