"""Dedup: exact and near-duplicate clusters over the whole corpus, from the band hashes in ``docs/``.

Extract pass: ``MinHashSigner`` (:mod:`lusomix.stages.minhash_signer`) stores ``minhash_bands`` (one uint64
per LSH band) and ``text_hash``.

Dedup pass, in two steps that the executors run as tasks:

1. :class:`BandGrouper` — one *unit* per band plus one for exact duplicates (``text_hash``); task ``rank``
   of ``world_size`` takes the units ``u`` with ``u % world_size == rank``. ``grouping_tasks`` makes one
   task per worker (more only where a task's hashes would pass ``TASK_HASH_BYTES``): a task scans
   ``docs/*.parquet`` once for all its units (its band values and row numbers), then for each unit groups
   equal hashes with polars and writes star edges (every member -> the group's smallest member) to
   ``OUT/dedup/edges/<unit>.parquet``, handing on one item per unit for the pass's progress. (A task per
   unit read every document's hashes 26 times, from the store on a cluster, and started 26 Ray actors.)
   Documents are named by their global row number in ``docs/`` (files in name order): uint32 edges
   instead of string ids keep the graph small at 10^7 documents.
2. :class:`ClusterBuilder` — one task: connected components of all edges in one scipy call, then the
   keep policy with one polars sort, written to ``OUT/dedup/clusters.parquet`` (``CLUSTERS_SCHEMA``, one
   row per document of ``docs/`` in ``docs/`` order, ``cluster_id`` = the smallest id of the cluster);
   with ``index`` on (default) also ``OUT/dedup/index.parquet`` + ``index.json`` for later runs.

``previous_index`` (optional) adds a previous run's ``dedup/index.parquet`` (ids and hashes of every
document it saw, cumulative along a chain of runs) to the rows grouped: a document of this run whose
cluster holds a document of the index is not kept, so a new Arquivo.pt collection is deduplicated against
collections already processed. ``cluster_size`` and ``cluster_id`` then count those earlier members too.

Every edge file records a fingerprint of the rows (docs/ file names and row counts, the previous index)
and of the MinHash parameters: a rerun skips units whose edges are current and redoes stale ones, and
the builder refuses edges that do not match. Candidates are not verified (only band hashes are stored,
not signatures; FineWeb does not verify either): the LSH parameters keep false candidates rare.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from pydantic import Field, field_validator
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from lusomix.config_base import StageConfig
from lusomix.errors import UsageError
from lusomix.filters.minhash import MinHasher, lsh_params
from lusomix.filters.quality import flags_expr
from lusomix.run_folder import PT_PT, RunFolder, part_sizes
from lusomix.stages.schema import CLUSTERS_SCHEMA

# Which document a cluster keeps: criteria applied in order, the smallest id breaking the last tie.
# Each is (sort expression, descending, columns of docs/ it reads).
KEEP_CRITERIA: dict[str, tuple[pl.Expr, bool, tuple[str, ...]]] = {
    "prefer_pt_PT": ((pl.col("variety") == PT_PT).fill_null(False), True, ("variety",)),
    "fewer_quality_flags": (pl.col("quality_flags").list.len().fill_null(0), False, ("quality_flags",)),
    "most_recent": (pl.col("crawl_date"), True, ("crawl_date",)),
    "oldest": (pl.col("crawl_date"), False, ("crawl_date",)),
    "longest": (pl.col("n_words"), True, ("n_words",)),
}
EXACT_UNIT = "exact"
INDEX, INDEX_PARAMS = "index.parquet", "index.json"
EDGE_SCHEMA = pa.schema([pa.field("doc", pa.uint32(), nullable=False), pa.field("root", pa.uint32(), nullable=False)])
_FINGERPRINT_KEY = b"lusomix.dedup.fingerprint"


class DedupInputError(UsageError, ValueError):
    """docs/ and the dedup config or work folder do not match (a user's mistake, reported in one line)."""


class DedupConfig(StageConfig):
    """Exact + MinHash-LSH near-duplicate detection."""

    threshold: float = Field(0.8, gt=0.0, lt=1.0, description="word 5-gram Jaccard similarity of near duplicates")
    # 256 permutations -> 25 bands x 10 rows (datasketch's optimiser, recall-weighted). Measured on planted
    # pairs (benchmarks/dedup_quality.py, seeds 0 and 1): recall 0.99 at Jaccard >= 0.8, as with FineWeb's
    # 14x8, but false merges (true Jaccard < 0.5) 0.1-0.5% of merged pairs instead of 1.0-1.3%; signatures
    # ~2,000 docs per CPU-second instead of ~2,400.
    num_perm: int = Field(256, ge=2, le=1024, description="MinHash permutations (bands x rows fit in it)")
    ngram: int = Field(5, ge=1, le=32, description="words per shingle")
    seed: int = Field(1, ge=0, description="MinHash permutation seed; changing it needs a new extract pass")
    keep: tuple[str, ...] = Field(
        ("prefer_pt_PT", "fewer_quality_flags", "most_recent"),
        description=f"which document a cluster keeps, criteria in order: {', '.join(KEEP_CRITERIA)}",
    )
    index: bool = Field(True, description="write dedup/index.parquet so later runs can dedup against this one")
    previous_index: str | None = Field(
        None, description="a previous run's dedup/ folder: documents duplicating its index are not kept"
    )

    @field_validator("keep")
    @classmethod
    def _known_criteria(cls, keep: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in keep if name not in KEEP_CRITERIA]
        if unknown:
            raise ValueError(f"unknown keep criteria {unknown}; known: {', '.join(KEEP_CRITERIA)}")
        if len(set(keep)) != len(keep):
            raise ValueError("keep criteria must not repeat")
        return keep

    def bands_rows(self) -> tuple[int, int]:
        return lsh_params(self.threshold, self.num_perm)

    def minhasher(self) -> MinHasher:
        bands, rows = self.bands_rows()
        return MinHasher(self.num_perm, bands, rows, seed=self.seed, ngram=self.ngram)


def units(config: DedupConfig) -> int:
    """Independent grouping units: one per band, plus exact duplicates."""
    return config.bands_rows()[0] + 1


def _unit_name(unit: int, bands: int) -> str:
    return EXACT_UNIT if unit == bands else f"band-{unit:05d}"


def _unit_done(unit: int, bands: int) -> Document:
    """What a grouping task hands on when a unit is done: counted by the pass's progress, nothing else."""
    return Document(text="", id=_unit_name(unit, bands))


def docs_files(run: RunFolder) -> list[str]:
    return list(docs_sizes(run))


def docs_sizes(run: RunFolder) -> dict[str, int]:
    """The docs/ parts and their sizes, from one listing."""
    files = part_sizes(run, RunFolder.DOCS)
    if not files:
        raise DedupInputError(f"no documents to deduplicate: {run.url_of(RunFolder.DOCS)} has no part-*.parquet files")
    return files


def _params(config: DedupConfig) -> dict:
    bands, rows = config.bands_rows()
    return {"num_perm": config.num_perm, "bands": bands, "rows": rows, "seed": config.seed, "ngram": config.ngram}


def previous_index(config: DedupConfig, storage_options: dict | None = None) -> RunFolder | None:
    """A previous run's dedup/ folder (local or a URL), checked: its index is there and was made with this
    run's MinHash parameters."""
    if config.previous_index is None:
        return None
    folder = RunFolder(config.previous_index, storage_options)
    try:
        previous = folder.read_json(INDEX_PARAMS)
    except (OSError, ValueError):
        raise DedupInputError(f"previous_index: {folder} has no readable {INDEX_PARAMS} (a dedup/ folder?)") from None
    if not folder.isfile(INDEX):
        raise DedupInputError(f"previous_index: {folder.url_of(INDEX)} not found")
    mine = _params(config)
    if {k: previous.get(k) for k in mine} != mine:
        raise DedupInputError(f"previous_index: {folder} was built with MinHash {previous}, this run uses {mine}")
    return folder


class Corpus:
    """The rows the dedup pass numbers: docs/ files in name order, then a previous run's index, if any.

    The fingerprint (file names, sizes and row counts, MinHash parameters) names this numbering: edges
    built for another one are stale.
    """

    def __init__(self, run: RunFolder, config: DedupConfig, storage_options: dict | None = None):
        self.run = run
        self.listed = docs_sizes(run)
        self.files = list(self.listed)
        counts = [run.parquet_file(f).metadata.num_rows for f in self.files]
        self.n_docs = sum(counts)
        self.previous = previous_index(config, storage_options if storage_options is not None else run.storage_options)
        self.n_previous = self.previous.parquet_file(INDEX).metadata.num_rows if self.previous else 0
        sizes = [[Path(f).name, size] for f, size in self.listed.items()]
        if self.previous:
            sizes.append([INDEX, self.previous.size(INDEX)])
        # names, not paths: tasks on other machines may mount the output elsewhere
        inventory = sizes, counts, self.n_previous
        self.fingerprint = hashlib.blake2b(
            json.dumps([inventory, _params(config)]).encode(), digest_size=16
        ).hexdigest()

    def scan(self, *columns: str) -> pl.LazyFrame:
        """``columns`` of every row with its number ``doc`` (docs first, then the previous index)."""
        scans = [self.run.scan_parquet(self.files, row_index_name="doc").select("doc", *columns)]
        if self.previous:
            scans.append(
                self.previous.scan_parquet([INDEX], row_index_name="doc", row_index_offset=self.n_docs).select(
                    "doc", *columns
                )
            )
        return pl.concat(scans)


def _edge_fingerprint(run: RunFolder, rel: str) -> str | None:
    try:
        meta = run.parquet_file(rel).schema_arrow.metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    value = meta.get(_FINGERPRINT_KEY)
    return value.decode() if value else None


def _write(run: RunFolder, rel: str, table: pa.Table) -> None:
    with run.publish(rel) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def _edges(unit: int, bands: int) -> str:
    return f"{RunFolder.DEDUP}/edges/{_unit_name(unit, bands)}.parquet"


def _star_edges(groups: pl.DataFrame) -> pl.DataFrame:
    """Edges member -> smallest member for every hash shared by 2+ documents (columns doc, h)."""
    shared = groups.filter(pl.col("h").is_duplicated())
    return (
        shared.with_columns(root=pl.col("doc").min().over("h"))
        .filter(pl.col("doc") != pl.col("root"))
        .select("doc", "root")
        .sort("doc", "root")
    )


def _unit_hashes(corpus: Corpus, todo: list[int], bands: int) -> pl.DataFrame:
    """One scan of docs/ for all the ``todo`` units: ``doc`` and a hash column ``h<unit>`` per unit (a task
    reads the band hashes once, whatever the number of its units)."""
    column = pl.col("minhash_bands")
    band_units = [unit for unit in todo if unit != bands]
    read = (["minhash_bands"] if band_units else []) + (["text_hash"] if bands in todo else [])
    hashes = [column.list.get(unit, null_on_oob=True).alias(f"h{unit}") for unit in band_units]
    if bands in todo:
        hashes.append(pl.col("text_hash").alias(f"h{bands}"))
    lengths = [column.list.len().alias("n")] if band_units else []
    frame = corpus.scan(*read).select("doc", *hashes, *lengths).collect(engine="streaming")
    if band_units:
        n = frame["n"].drop_nulls().to_numpy()
        if len(n) and (n.min() != bands or n.max() != bands):
            raise DedupInputError(
                f"docs/ has {n.min()}..{n.max()} band hashes per document but the dedup config "
                f"gives {bands} bands: use the num_perm/threshold of the extract pass, or re-extract"
            )
        frame = frame.drop("n")
    return frame


# A grouping task holds one uint64 hash per row for each of its units: the units per task are capped so that
# these stay under this many bytes (2 GiB: every unit of 10^7 documents in one task; one per task at 3*10^8).
TASK_HASH_BYTES = 2 * 1024**3


def grouping_tasks(config: DedupConfig, n_rows: int, workers: int) -> int:
    """How many grouping tasks: one per worker, each reading the band hashes once for all its units (a task
    per unit read the whole column once per unit and, under Ray, started an actor for each); more where a
    task's hashes would pass ``TASK_HASH_BYTES``."""
    n_units = units(config)
    per_task = max(1, TASK_HASH_BYTES // max(8 * n_rows, 1))
    return min(n_units, max(workers, -(-n_units // per_task)))


class BandGrouper(PipelineStep):
    """Dedup pass, grouping task: candidate edges of this rank's bands (and of exact duplicates)."""

    name = "🪣 band groups"
    type = "🫂 - DEDUP"

    def __init__(self, run: RunFolder, config: DedupConfig):
        super().__init__()
        self.run_folder, self.config = run, config

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        corpus = Corpus(self.run_folder, self.config)
        current = corpus.fingerprint
        bands = self.config.bands_rows()[0]
        todo = []
        # one listing, then a footer read for each edge file there (asking for a file not there costs a HEAD
        # and a LIST on a store)
        present = set(self.run_folder.glob(f"{RunFolder.DEDUP}/edges/*.parquet"))
        for unit in range(rank, bands + 1, world_size):
            edges_file = _edges(unit, bands)
            if edges_file in present and _edge_fingerprint(self.run_folder, edges_file) == current:
                self.stat_update("units_already_done")
                yield _unit_done(unit, bands)
            else:
                todo.append(unit)
        if not todo:
            return
        with self.track_time(unit="read"):
            frame = _unit_hashes(corpus, todo, bands)
        for unit in todo:
            with self.track_time(unit="unit"):
                edges = _star_edges(frame.select("doc", h=f"h{unit}").drop_nulls())
                frame = frame.drop(f"h{unit}")  # this unit's hashes are no longer needed
                table = edges.to_arrow().cast(EDGE_SCHEMA)
                _write(
                    self.run_folder,
                    _edges(unit, bands),
                    table.replace_schema_metadata({_FINGERPRINT_KEY: current.encode()}),
                )
            self.stat_update("exact_edges" if unit == bands else "band_edges", value=len(edges))
            self.stat_update("units_done")
            yield _unit_done(unit, bands)


def _components(run: RunFolder, n_rows: int, bands: int, current: str) -> np.ndarray:
    """Cluster label of every row: connected components of all units' edges."""
    sources, targets = [], []
    for unit in range(bands + 1):
        edges_file = _edges(unit, bands)
        try:
            table = run.read_parquet(edges_file)
        except FileNotFoundError:
            raise DedupInputError(
                f"dedup edges missing: {run.url_of(edges_file)} (run every band task before the builder)"
            ) from None
        if (table.schema.metadata or {}).get(_FINGERPRINT_KEY, b"").decode() != current:
            raise DedupInputError(
                f"dedup edges are stale: {run.url_of(edges_file)} was built from other docs/ or parameters"
            )
        sources.append(table["doc"].to_numpy())
        targets.append(table["root"].to_numpy())
    src, dst = np.concatenate(sources), np.concatenate(targets)
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n_rows, n_rows))
    _, labels = connected_components(graph, directed=False)
    return labels


class ClusterBuilder(PipelineStep):
    """Dedup pass, final task: clusters, sizes and the kept document of each cluster; and the index."""

    name = "🕸️ clusters"
    type = "🫂 - DEDUP"

    def __init__(self, run: RunFolder, config: DedupConfig, quality_rules=None):
        super().__init__()
        self.run_folder, self.config = run, config
        self.quality_rules = quality_rules

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        if rank != 0:
            return
        corpus = Corpus(self.run_folder, self.config)
        with self.track_time(unit="run"):
            table = build_clusters(corpus, self.config, self.quality_rules)
            _write(self.run_folder, RunFolder.CLUSTERS, table)
            if self.config.index:
                write_index(corpus, self.config)
        kept = int(table["keep"].to_numpy().sum())
        self.stat_update("documents", value=len(table))
        self.stat_update("kept", value=kept)
        self.stat_update("duplicates_dropped", value=len(table) - kept)


def build_clusters(corpus: Corpus, config: DedupConfig, quality_rules=None) -> pa.Table:
    """The clusters table (``CLUSTERS_SCHEMA``) of the docs/ rows, from the edges of every unit.

    ``quality_rules`` (filters.quality rules): recompute ``quality_flags`` from the stored signals under
    these thresholds for the keep policy; None uses the flags stored by the extract pass."""
    n = corpus.n_docs
    all_labels = _components(corpus.run, n + corpus.n_previous, config.bands_rows()[0], corpus.fingerprint)
    counts = np.bincount(all_labels)
    labels, sizes = all_labels[:n], counts[all_labels[:n]].astype(np.int32)

    criteria = [KEEP_CRITERIA[name] for name in config.keep]
    columns = sorted({"id", *(col for _, _, cols in criteria for col in cols)})
    scan = corpus.run.scan_parquet(corpus.files)
    if quality_rules is not None:
        scan = scan.with_columns(flags_expr(quality_rules))
    docs = scan.select(columns).collect(engine="streaming")

    # Only documents with duplicates need the policy; singletons are their own cluster and kept.
    multi = np.flatnonzero(sizes > 1)
    members = docs[multi].with_columns(
        label=pl.Series(labels[multi], dtype=pl.UInt32), row=pl.Series(multi, dtype=pl.UInt32)
    )
    members = members.sort(
        ["label", *(expr for expr, _, _ in criteria), "id"],
        descending=[False, *(desc for _, desc, _ in criteria), False],
        nulls_last=True,
    ).with_columns(keep=pl.col("label").is_first_distinct())
    smallest = members.group_by("label").agg(cluster_id=pl.col("id").min())
    keep = np.ones(n, dtype=bool)
    keep[members["row"].to_numpy()] = members["keep"].to_numpy()

    if corpus.n_previous:
        # A cluster with a document of the previous index is already in the corpus: keep none of it here.
        earlier = np.bincount(all_labels[n:], minlength=len(counts)) > 0
        keep &= ~earlier[labels]
        previous = corpus.scan("id").filter(pl.col("doc") >= n).collect(engine="streaming")
        prev_labels = all_labels[previous["doc"].to_numpy()]
        previous = previous.with_columns(label=pl.Series(prev_labels, dtype=pl.UInt32)).filter(
            pl.col("label").is_in(smallest["label"].implode())
        )
        smallest = (
            pl.concat([smallest, previous.select("label", cluster_id="id")])
            .group_by("label")
            .agg(pl.col("cluster_id").min())
        )
    cluster_id = members.select("row", "label").join(smallest, on="label")
    ids = docs["id"].clone().scatter(cluster_id["row"].to_numpy(), cluster_id["cluster_id"])
    return pa.table(
        {
            "id": docs["id"].to_arrow(),
            "cluster_id": ids.to_arrow(),
            "cluster_size": pa.array(sizes, pa.int32()),
            "keep": pa.array(keep),
        }
    ).cast(CLUSTERS_SCHEMA)


def write_index(corpus: Corpus, config: DedupConfig) -> None:
    """``dedup/index.parquet``: ids and hashes of this run's documents and of the previous index (so a
    chain of runs accumulates), with ``index.json`` naming the MinHash parameters they were made with."""
    columns = ("id", "minhash_bands", "text_hash")
    dedup = corpus.run.child(RunFolder.DEDUP)
    with dedup.publish(INDEX) as tmp:
        corpus.scan(*columns).select(columns).sink_parquet(tmp, compression="zstd")
    dedup.write_json(INDEX_PARAMS, _params(config), indent=1)


def run_dedup_local(run: RunFolder, config: DedupConfig) -> str:
    """Every grouping unit, then the builder, in this process: the URL of ``dedup/clusters.parquet``."""
    for _ in BandGrouper(run, config).run(None, rank=0, world_size=1):
        pass
    for _ in ClusterBuilder(run, config).run(None):
        pass
    return run.url_of(RunFolder.CLUSTERS)
