"""Training mixes: selection, weights, rehydration, determinism, even shards and the manifest contract."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from lusomix.mix.build import build_mix, plan_mix, run_fingerprint
from lusomix.mix.hashing import _SALT_DRAW, id_hash64, repeat_key, repeats_for
from lusomix.mix.recipe import MixInputError, MixRecipe
from lusomix.run_folder import RunFolder, local_sha256
from lusomix.stages.schema import CLUSTERS_SCHEMA, DOCS_SCHEMA, MIX_SCHEMA

VARIETY_CYCLE = ["pt_PT", "pt_BR", "unknown", "pt_PT", None]  # None: variety not decided → "unknown"
DOMAINS = ["publico.pt", "www.publico.pt", "folha.com.br", "sapo.pt", "exemplo.com"]


def _docs_table(ids: list[int]) -> pa.Table:
    cols = {name: [None] * len(ids) for name in DOCS_SCHEMA.names}
    cols["id"] = [f"doc-{i:03d}" for i in ids]
    cols["url"] = [f"http://{DOMAINS[i % 5]}/artigo/{i}" for i in ids]
    cols["domain"] = [DOMAINS[i % 5] for i in ids]
    cols["tld"] = [DOMAINS[i % 5].rsplit(".", 1)[1] for i in ids]
    cols["crawl_date"] = [datetime(2000 + i % 10, 1 + i % 12, 1, tzinfo=UTC) for i in ids]
    cols["source_file"] = [f"AWP-{2000 + i % 3}-part{i % 4}.warc.gz" for i in ids]
    cols["n_words"] = [20 + (i * 37) % 180 for i in ids]
    cols["text"] = [" ".join(f"palavra{i}x{k}" for k in range(20 + (i * 37) % 180)) for i in ids]
    cols["title"] = [f"Título {i}" for i in ids]
    cols["lang"] = ["pt" if i % 17 else "gl" for i in ids]
    cols["lang_score"] = [0.9] * len(ids)
    cols["variety"] = [VARIETY_CYCLE[i % 5] for i in ids]
    cols["quality_flags"] = [["dup_line_frac"] if i % 7 == 3 else (["short_lines"] if i % 11 == 5 else []) for i in ids]
    return pa.table(cols, schema=DOCS_SCHEMA)


def make_run(root: Path, n_docs: int = 200) -> Path:
    """Two docs/ parts with small row groups; clusters of 5 (0-4), 2 (7-8), 2 with a flagged keeper
    (10-11), the rest single. keep=false: the non-first members, and doc 20 (a lone keep=false)."""
    (root / "docs").mkdir(parents=True)
    (root / "dedup").mkdir()
    half = n_docs // 2
    pq.write_table(_docs_table(list(range(half))), root / "docs" / "part-00000.parquet", row_group_size=30)
    pq.write_table(_docs_table(list(range(half, n_docs))), root / "docs" / "part-00001.parquet", row_group_size=30)
    cluster = {i: ("c0", 5) for i in range(5)} | {7: ("c7", 2), 8: ("c7", 2), 10: ("c10", 2), 11: ("c10", 2)}
    rows = []
    for i in range(n_docs):
        cid, size = cluster.get(i, (f"s{i}", 1))
        keep = i in (0, 7, 10) or (i not in cluster and i != 20)
        rows.append({"id": f"doc-{i:03d}", "cluster_id": cid, "cluster_size": size, "keep": keep})
    pq.write_table(pa.Table.from_pylist(rows, schema=CLUSTERS_SCHEMA), root / "dedup" / "clusters.parquet")
    return root


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("run"))


def read_mix(mix_dir: Path) -> pl.DataFrame:
    manifest = json.loads((mix_dir / "manifest.json").read_text())
    return pl.concat([pl.read_parquet(mix_dir / s["path"]) for s in manifest["shards"]])


def docs_frame(run_dir: Path) -> pl.DataFrame:
    docs = pl.read_parquet(run_dir / "docs").with_columns(pl.col("variety").fill_null("unknown"))
    return docs.join(pl.read_parquet(run_dir / "dedup" / "clusters.parquet"), on="id")


def expected_repeats(docs: pl.DataFrame, weights: np.ndarray, seed: int) -> dict[str, int]:
    """Independent restatement of the rule: floor(w) sure copies, one more when the (seed, id, floor(w))
    draw falls under frac(w)."""
    h = id_hash64(docs["id"])
    whole = np.floor(weights)
    u = (repeat_key(h, whole, seed, _SALT_DRAW) >> np.uint64(11)).astype(np.float64) / 2.0**53
    n = whole + (u < weights - whole)
    return {i: int(k) for i, k in zip(docs["id"], n) if k > 0}


def test_id_hash_is_fnv1a_then_splitmix64():
    def reference(s: str) -> int:  # plain-Python FNV-1a 64 + splitmix64 finaliser
        h = 0xCBF29CE484222325
        for b in s.encode():
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        h = (h + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return h ^ (h >> 31)

    ids = ["", "a", "doc-001", "<urn:uuid:5d3c1f2e-aaaa-bbbb-cccc-000000000001>", "ação-ü"]
    assert [int(x) for x in id_hash64(ids)] == [reference(s) for s in ids]


def test_default_recipe_excludes_flagged_and_dropped_duplicates(run_dir, tmp_path):
    manifest = build_mix(run_dir, MixRecipe(name="demo", shard_target_bytes=20_000), tmp_path / "demo")
    mix, docs = read_mix(tmp_path / "demo"), docs_frame(run_dir)
    allowed = docs.filter(pl.col("quality_flags").list.len() == 0, pl.col("keep"))
    assert set(mix["id"]) <= set(allowed["id"])
    for bad in ["doc-003", "doc-005", "doc-001", "doc-008", "doc-020", "doc-010"]:  # flagged / keep=false
        assert bad not in set(mix["id"])
    weights = allowed["variety"].replace_strict({"pt_PT": 2.0, "pt_BR": 0.25, "unknown": 0.5}).to_numpy()
    expected = expected_repeats(allowed, weights, seed=0)
    assert Counter(mix["id"]) == expected
    # every pt_PT document twice; a ×0.25 side really is subsampled
    assert all(expected[i] == 2 for i in allowed.filter(pl.col("variety") == "pt_PT")["id"])
    br_ids = set(allowed.filter(pl.col("variety") == "pt_BR")["id"])
    assert 0 < sum(v for k, v in expected.items() if k in br_ids) < len(br_ids)
    by_variety = mix.group_by("variety").len()
    for row in by_variety.iter_rows(named=True):
        assert manifest["by_variety"][row["variety"]]["rows"] == row["len"]
    assert manifest["totals"]["documents_distinct"] == len(expected)
    # the text travelled with its id
    doc_text = dict(zip(docs["id"], docs["text"]))
    assert all(doc_text[i] == t for i, t in zip(mix["id"], mix["text"]))


def test_rehydration_repeats_only_kept_documents(run_dir, tmp_path):
    recipe = MixRecipe(name="rehy", weights={"pt_PT": 1.0, "pt_BR": 1.0, "unknown": 1.0}, rehydrate=True)
    build_mix(run_dir, recipe, tmp_path / "rehy")
    counts = Counter(read_mix(tmp_path / "rehy")["id"])
    assert counts["doc-000"] == 5  # kept member of a cluster of 5 → ×5
    assert counts["doc-007"] == 2  # cluster of 2 → ×2
    assert counts["doc-009"] == 1  # a single document
    assert not {"doc-001", "doc-004", "doc-008", "doc-010", "doc-011"} & set(counts)


def test_shards_are_byte_identical_on_rebuild_whatever_the_bucket_size(run_dir, tmp_path):
    recipe = MixRecipe(name="same", seed=7, shard_target_bytes=15_000)
    first = build_mix(run_dir, recipe, tmp_path / "a")
    second = build_mix(run_dir, recipe, tmp_path / "b", bucket_bytes=3_000)  # many buckets this time
    assert len(first["shards"]) > 2
    assert [s["sha256"] for s in first["shards"]] == [s["sha256"] for s in second["shards"]]
    build_mix(run_dir, recipe.model_copy(update={"seed": 8}), tmp_path / "c")
    assert read_mix(tmp_path / "a")["id"].to_list() != read_mix(tmp_path / "c")["id"].to_list()


def test_manifest_matches_files_and_contract(run_dir, tmp_path):
    manifest = build_mix(run_dir, MixRecipe(name="m", shard_target_bytes=20_000), tmp_path / "m")
    assert set(manifest) >= {"name", "created_by", "recipe", "seed", "input", "shards", "totals", "by_variety"}
    assert manifest["recipe"]["weights"] == {"pt_PT": 2.0, "pt_BR": 0.25, "unknown": 0.5}
    assert len(manifest["input"]["fingerprint"]) == 64
    rows = 0
    for shard in manifest["shards"]:
        path = tmp_path / "m" / shard["path"]
        assert shard["sha256"] == local_sha256(path)
        assert shard["bytes"] == path.stat().st_size
        table = pq.read_table(path)
        assert table.num_rows == shard["rows"]
        assert table.schema.names == MIX_SCHEMA.names  # (Parquet has no seconds: crawl_date reads back in ms)
        assert table.cast(MIX_SCHEMA).schema.equals(MIX_SCHEMA)
        assert shard["tokens_est"] == int(((pl.from_arrow(table["n_words"]).cast(pl.Int64) * 14 + 9) // 10).sum())
        assert pq.ParquetFile(path).metadata.row_group(0).column(1).compression == "ZSTD"
        rows += shard["rows"]
    assert manifest["totals"]["rows"] == rows
    assert manifest["totals"]["bytes"] == sum(s["bytes"] for s in manifest["shards"])
    assert json.loads((tmp_path / "m" / "manifest.json").read_text()) == manifest
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == sorted(
        [s["path"] for s in manifest["shards"]] + ["manifest.json"]
    )
    shares = [v["share_tokens"] for v in manifest["by_variety"].values()]
    assert sum(shares) == pytest.approx(1.0, abs=1e-5)


def test_the_input_fingerprint_changes_with_any_docs_or_clusters_content(tmp_path):
    run = make_run(tmp_path / "run", n_docs=40)
    first = run_fingerprint(RunFolder(run))
    assert run_fingerprint(RunFolder(run)) == first and len(first) == 64
    part = run / "docs" / "part-00001.parquet"
    table = pq.read_table(part)
    texts = table["text"].to_pylist()
    texts[3] = texts[3].replace("palavra", "palavrb")  # one letter of one document: same size of text
    pq.write_table(
        table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts)), part, row_group_size=30
    )
    second = run_fingerprint(RunFolder(run))
    assert second != first
    clusters = pq.read_table(run / "dedup" / "clusters.parquet")
    keep = clusters["keep"].to_pylist()
    keep[5] = not keep[5]
    pq.write_table(clusters.set_column(3, "keep", pa.array(keep)), run / "dedup" / "clusters.parquet")
    assert run_fingerprint(RunFolder(run)) not in (first, second)


def test_shards_come_out_even_and_rows_are_shuffled(run_dir, tmp_path):
    manifest = build_mix(run_dir, MixRecipe(name="even", shard_target_bytes=12_000), tmp_path / "even")
    sizes = [pl.read_parquet(tmp_path / "even" / s["path"])["text"].str.len_bytes().sum() for s in manifest["shards"]]
    biggest_doc = pl.read_parquet(run_dir / "docs")["text"].str.len_bytes().max()
    share = sum(sizes) / len(sizes)
    assert len(sizes) >= 4
    assert all(abs(s - share) <= biggest_doc for s in sizes)
    ids = read_mix(tmp_path / "even")["id"].to_list()
    assert ids != sorted(ids)
    plan = plan_mix(run_dir, MixRecipe(name="even", shard_target_bytes=12_000))
    assert id_hash64(ids).tolist() == plan["id_hash"].to_list()  # output order = the plan's, across shards


def test_shards_cut_by_tokens_and_token_budget(run_dir, tmp_path):
    recipe = MixRecipe(name="tok", shard_target_tokens=2_000, token_budget=9_000)
    manifest = build_mix(run_dir, recipe, tmp_path / "tok")
    assert 9_000 - 300 < manifest["totals"]["tokens_est"] <= 9_000  # cut at the last whole document
    tokens = [s["tokens_est"] for s in manifest["shards"]]
    assert len(tokens) == round(manifest["totals"]["tokens_est"] / 2_000)
    assert max(tokens) - min(tokens) <= 2 * 280  # within a document or so of each other


def test_selection_filters_and_domain_source_weights(run_dir, tmp_path):
    recipe = MixRecipe(
        name="sel",
        weights={"pt_PT": 1.0, "pt_BR": 1.0, "unknown": 1.0},
        domain_weights={"sapo.pt": 3.0},
        source_weights={"AWP-2001-*": 0.0},
        select={
            "langs": ["pt"],
            "varieties": ["pt_PT", "unknown"],
            "domains_include": ["publico.pt", "sapo.pt"],
            "domains_exclude": ["www.publico.pt"],
            "crawl_years": [2002, 2007],
            "min_words": 50,
        },
    )
    build_mix(run_dir, recipe, tmp_path / "sel")
    mix = read_mix(tmp_path / "sel")
    docs = docs_frame(run_dir).filter(
        pl.col("quality_flags").list.len() == 0,
        pl.col("keep"),
        pl.col("lang") == "pt",
        pl.col("variety").is_in(["pt_PT", "unknown"]),
        pl.col("domain").is_in(["publico.pt", "sapo.pt"]),
        pl.col("crawl_date").dt.year().is_between(2002, 2007),
        pl.col("n_words") >= 50,
        ~pl.col("source_file").str.starts_with("AWP-2001-"),
    )
    expected = {i: (3 if d == "sapo.pt" else 1) for i, d in zip(docs["id"], docs["domain"])}
    assert docs.height > 5
    assert Counter(mix["id"]) == expected


def test_rebuild_with_fewer_shards_removes_stale_ones(run_dir, tmp_path):
    build_mix(run_dir, MixRecipe(name="x", shard_target_bytes=5_000), tmp_path / "x")
    manifest = build_mix(run_dir, MixRecipe(name="x"), tmp_path / "x")
    assert [s["path"] for s in manifest["shards"]] == ["shard-00000.parquet"]
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["manifest.json", "shard-00000.parquet"]


def test_bad_inputs_and_recipes(run_dir, tmp_path):
    bare = tmp_path / "bare"
    (bare / "docs").mkdir(parents=True)
    for f in (run_dir / "docs").iterdir():
        (bare / "docs" / f.name).write_bytes(f.read_bytes())
    with pytest.raises(MixInputError, match="clusters.parquet"):
        build_mix(bare, MixRecipe(name="d"), tmp_path / "d")
    # without dedup requirements a run with no dedup pass still mixes
    build_mix(bare, MixRecipe(name="d", select={"dedup_keep_only": False}), tmp_path / "d")
    with pytest.raises(MixInputError, match="no documents"):
        build_mix(tmp_path / "nowhere", MixRecipe(name="d"), tmp_path / "e")
    # an empty selection is a data outcome: an empty mix (no shards) with a warning
    empty = build_mix(run_dir, MixRecipe(name="d", select={"min_words": 10**9}), tmp_path / "f")
    assert empty["shards"] == [] and empty["totals"]["rows"] == 0 and "selects no documents" in empty["warnings"][0]
    assert (tmp_path / "f" / "manifest.json").is_file() and not list((tmp_path / "f").glob("shard-*"))
    for bad in (
        {"name": "../up"},
        {"name": "a", "shard_target_bytes": 1, "shard_target_tokens": 1},
        {"name": "a", "weights": {"pt_PT": -1}},
        {"name": "a", "select": {"min_wrds": 3}},
    ):
        with pytest.raises(ValidationError):
            MixRecipe(**bad)


def test_repeats_for_is_floor_plus_bernoulli():
    h = id_hash64([f"d{i}" for i in range(20_000)])
    n = repeats_for(h, np.full(20_000, 2.25), seed=3)
    assert set(np.unique(n)) == {2, 3}
    assert abs((n == 3).mean() - 0.25) < 0.02
    assert (repeats_for(h, np.full(20_000, 2.25), seed=3) == n).all()
    assert (repeats_for(h, np.full(20_000, 2.25), seed=4) != n).any()
