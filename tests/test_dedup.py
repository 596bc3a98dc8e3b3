"""Dedup: exact and near-duplicate clusters, the keep policy, and the MinHash band hashes they rest on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasketch import MinHash
from datatrove.data import Document
from pydantic import ValidationError

from lusomix.filters.minhash import MinHasher, lsh_params, shingle_hash32, shingles
from lusomix.filters.text import text_hash
from lusomix.run_folder import RunFolder
from lusomix.stages.dedup import (
    BandGrouper,
    ClusterBuilder,
    DedupConfig,
    DedupInputError,
    grouping_tasks,
    run_dedup_local,
    units,
)
from lusomix.stages.minhash_signer import MinHashSigner
from lusomix.stages.schema import CLUSTERS_SCHEMA, DOCS_SCHEMA

PARAGRAPHS = [
    "A câmara municipal aprovou ontem o novo plano de mobilidade para o centro histórico, que prevê mais "
    "carreiras de autocarro, parques de estacionamento dissuasores à entrada da cidade e a reabilitação "
    "de vários passeios degradados. O vereador responsável explicou que as obras começam na primavera e "
    "deverão durar cerca de dois anos, com cortes de trânsito faseados para não prejudicar o comércio local.",
    "Os comerciantes da baixa mostraram-se divididos: alguns acreditam que a redução do trânsito trará "
    "mais clientes a pé, outros receiam perder quem vem de carro dos concelhos vizinhos. A associação "
    "comercial pediu reuniões regulares com a autarquia durante as obras e um plano de sinalização que "
    "indique claramente os percursos alternativos e os horários das cargas e descargas.",
    "No mesmo dia, a assembleia municipal discutiu o orçamento para o próximo ano. A oposição criticou o "
    "aumento da despesa corrente e a falta de investimento nas freguesias rurais, enquanto a maioria "
    "defendeu que as contas estão equilibradas e que a dívida diminuiu pelo quinto ano consecutivo. A "
    "votação final ficou marcada para o fim do mês, depois de ouvidas as juntas de freguesia.",
    "A escola secundária da vila recebeu um prémio nacional pelo projeto de ciência cidadã em que os "
    "alunos medem a qualidade da água do rio ao longo do ano. Os professores contaram que o trabalho "
    "começou como uma atividade de clube e cresceu até envolver três turmas, a universidade da região e "
    "uma associação ambiental que ajuda a analisar as amostras recolhidas todas as semanas.",
    "O festival de verão regressa ao parque da cidade com quatro dias de concertos, teatro de rua e "
    "oficinas para crianças. A organização espera mais de trinta mil visitantes e reforçou os transportes "
    "públicos nas noites de maior afluência. Os bilhetes diários já estão à venda nas bilheteiras "
    "habituais e há descontos para estudantes, reformados e famílias numerosas com filhos menores.",
    "Um estudo publicado esta semana mostra que a área ardida nos últimos dez anos se concentrou em "
    "concelhos do interior com população envelhecida e muitos terrenos abandonados. Os autores defendem "
    "incentivos à gestão agrupada da floresta, o regresso do pastoreio e uma rede de faixas de gestão de "
    "combustível mantida pelas autarquias com apoio financeiro do Estado e dos fundos europeus.",
    "A biblioteca municipal alargou o horário de abertura aos sábados e passou a emprestar leitores de "
    "livros eletrónicos, jogos de tabuleiro e instrumentos musicais. A diretora explicou que a procura "
    "aumentou depois da pandemia e que muitos leitores novos chegam através das sessões de conto para "
    "bebés e dos clubes de leitura para adolescentes que se reúnem todas as quintas-feiras à tarde.",
    "As obras de requalificação do mercado municipal terminaram com dois meses de atraso, mas os "
    "vendedores elogiam as novas bancas, a cobertura que protege da chuva e as câmaras frigoríficas "
    "partilhadas. O presidente da junta prometeu agora uma campanha para atrair clientes jovens, com "
    "mercados ao fim da tarde, música ao vivo e provas de produtos da região ao sábado de manhã.",
]
P = PARAGRAPHS


def _edit(text: str, positions: list[int], word: str = "entretanto") -> str:
    """Replace the words at ``positions`` (word edits that lower the 5-gram Jaccard a little)."""
    words = text.split(" ")
    for pos in positions:
        words[pos] = word
    return " ".join(words)


def _date(year: int) -> datetime:
    return datetime(year, 6, 1, tzinfo=UTC)


# id -> (text, variety, quality_flags, crawl year)
BASE_B = "\n\n".join([P[2], P[3], P[4]])
BASE_C = "\n\n".join([P[5], P[6]])
DOCS = {
    # exact duplicates: the same article, once with other case and spacing (same normalised text)
    "a1": ("\n\n".join([P[0], P[1]]), "pt_BR", [], 2010),
    "a2": ("\n\n".join([P[0], P[1]]).upper().replace(" ", "  "), "pt_PT", [], 2005),
    # near duplicates (Jaccard >= 0.9): two word edits
    "b1": (BASE_B, "pt_PT", ["gopher_repetition"], 2012),
    "b2": (_edit(BASE_B, [2, 185]), "pt_PT", [], 2008),
    # near duplicates of each other, same variety and flags: the most recent capture is kept
    "c1": (BASE_C, "pt_PT", [], 2009),
    "c2": (_edit(BASE_C, [70]), "pt_PT", [], 2015),
    "c3": (_edit(BASE_C, [20]), "pt_PT", [], 2011),
    # share one long paragraph, otherwise different: not duplicates
    "d1": ("\n\n".join([P[7], P[0]]), "pt_PT", [], 2010),
    "d2": ("\n\n".join([P[7], P[3], P[6]]), "pt_PT", [], 2010),
    "e1": (P[1], "unknown", [], 2010),
}
EXPECTED_CLUSTERS = {"a1": {"a1", "a2"}, "b1": {"b1", "b2"}, "c1": {"c1", "c2", "c3"}}
CONFIG = DedupConfig()


def _jaccard(a: str, b: str) -> float:
    sa, sb = set(shingles(a)), set(shingles(b))
    return len(sa & sb) / len(sa | sb)


def _row(doc_id: str, text: str, variety: str, flags: list[str], year: int, hasher: MinHasher) -> dict:
    return {
        "id": doc_id,
        "url": f"https://www.exemplo.pt/{doc_id}",
        "domain": "exemplo.pt",
        "tld": "pt",
        "crawl_date": _date(year),
        "source_file": "sample.warc.gz",
        "source_offset": 1000 * int.from_bytes(doc_id.encode(), "little") % 10**9,
        "charset": "utf-8",
        "title": doc_id,
        "text": text,
        "n_words": len(text.split()),
        "lang": "pt",
        "lang_score": 0.99,
        "variety": variety,
        "p_pt_PT": 0.9 if variety == "pt_PT" else 0.1,
        "p_pt_PT_text": 0.9 if variety == "pt_PT" else 0.1,
        "quality_flags": flags,
        "minhash_bands": hasher.bands(text),
        "text_hash": text_hash(text),
    }


def write_docs(docs_dir: Path, docs: dict, config: DedupConfig = CONFIG, files: int = 2) -> None:
    """A docs/-like folder: the documents split over ``files`` part files."""
    docs_dir.mkdir(parents=True, exist_ok=True)
    hasher = config.minhasher()
    rows = [_row(doc_id, *values, hasher) for doc_id, values in docs.items()]
    for part in range(files):
        table = pa.Table.from_pylist(rows[part::files], schema=DOCS_SCHEMA)
        pq.write_table(table, docs_dir / f"part-{part:05d}.parquet", compression="zstd")


@pytest.fixture(scope="module")
def clusters_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dedup")
    write_docs(root / "docs", DOCS)
    return Path(run_dedup_local(RunFolder(root), CONFIG))


@pytest.fixture(scope="module")
def clusters(clusters_path) -> pl.DataFrame:
    return pl.read_parquet(clusters_path)


def _partition(frame: pl.DataFrame) -> dict[str, set[str]]:
    groups = frame.group_by("cluster_id").agg(pl.col("id")).rows()
    return {cluster_id: set(ids) for cluster_id, ids in groups}


def test_fixture_pairs_are_at_the_jaccard_levels_they_claim():
    assert DOCS["a1"][0] != DOCS["a2"][0] and text_hash(DOCS["a1"][0]) == text_hash(DOCS["a2"][0])
    assert 0.9 <= _jaccard(DOCS["b1"][0], DOCS["b2"][0]) < 1.0
    assert 0.9 <= _jaccard(DOCS["c1"][0], DOCS["c2"][0]) < 1.0
    assert _jaccard(DOCS["d1"][0], DOCS["d2"][0]) < 0.5


def test_planted_duplicates_form_exactly_the_expected_clusters(clusters):
    singletons = {doc_id: {doc_id} for doc_id in DOCS if not any(doc_id in c for c in EXPECTED_CLUSTERS.values())}
    assert _partition(clusters) == {**EXPECTED_CLUSTERS, **singletons}
    sizes = dict(zip(clusters["id"], clusters["cluster_size"]))
    assert sizes == {"a1": 2, "a2": 2, "b1": 2, "b2": 2, "c1": 3, "c2": 3, "c3": 3, "d1": 1, "d2": 1, "e1": 1}


def test_one_row_per_document_in_docs_order_with_the_contract_schema(clusters, clusters_path):
    assert pq.read_schema(clusters_path).equals(CLUSTERS_SCHEMA)
    in_docs_order = list(DOCS)[0::2] + list(DOCS)[1::2]  # part-00000 then part-00001
    assert clusters["id"].to_list() == in_docs_order


def test_keep_policy_prefers_pt_PT_then_fewer_flags_then_most_recent(clusters):
    kept = set(clusters.filter("keep")["id"])
    # a2 (pt_PT) over a1 (pt_BR, more recent); b2 (no flags) over b1; c2 is the most recent capture
    assert kept == {"a2", "b2", "c2", "d1", "d2", "e1"}
    per_cluster = clusters.group_by("cluster_id").agg(pl.col("keep").sum())
    assert per_cluster["keep"].to_list() == [1] * len(per_cluster)


def test_keep_policy_order_is_configurable(tmp_path):
    config = DedupConfig(keep=["oldest"])
    write_docs(tmp_path / "docs", DOCS, config)
    frame = pl.read_parquet(run_dedup_local(RunFolder(tmp_path), config))
    assert set(frame.filter("keep")["id"]) == {"a2", "b2", "c1", "d1", "d2", "e1"}


def test_output_is_deterministic_and_a_rerun_skips_finished_units(tmp_path):
    write_docs(tmp_path / "one" / "docs", DOCS)
    write_docs(tmp_path / "two" / "docs", DOCS)
    first = Path(run_dedup_local(RunFolder(tmp_path / "one"), CONFIG)).read_bytes()
    second = Path(run_dedup_local(RunFolder(tmp_path / "two"), CONFIG)).read_bytes()
    assert first == second
    grouper = BandGrouper(RunFolder(tmp_path / "one"), CONFIG)
    list(grouper.run(None, rank=1, world_size=2))
    assert grouper.stats["units_already_done"].total == units(CONFIG) // 2
    assert "units_done" not in grouper.stats.stats


def test_band_tasks_split_across_ranks_give_the_same_clusters(tmp_path, clusters):
    write_docs(tmp_path / "docs", DOCS)
    run = RunFolder(tmp_path)
    for rank in range(3):
        list(BandGrouper(run, CONFIG).run(None, rank=rank, world_size=3))
    list(ClusterBuilder(run, CONFIG).run(None))
    assert pl.read_parquet(tmp_path / "dedup" / "clusters.parquet").equals(clusters)


def test_grouping_tasks_are_one_per_worker_unless_a_tasks_hashes_would_not_fit():
    # a task holds 8 bytes per row for each of its units (TASK_HASH_BYTES, 2 GiB, at most)
    assert units(DedupConfig()) == 26
    assert grouping_tasks(DedupConfig(), 1_000_000, 2) == 2  # every unit in two tasks: one read of docs/ each
    assert grouping_tasks(DedupConfig(), 1_000_000, 64) == 26  # never more tasks than units
    assert grouping_tasks(DedupConfig(), 50_000_000, 2) == 6  # 5 units of 50M rows (2 GB) a task at most
    assert grouping_tasks(DedupConfig(), 400_000_000, 2) == 26  # one unit a task


def test_steps_run_under_datatrove_local_executor(tmp_path, clusters):
    from datatrove.executor import LocalPipelineExecutor

    write_docs(tmp_path / "docs", DOCS)
    run = RunFolder(tmp_path)
    LocalPipelineExecutor(
        [BandGrouper(run, CONFIG)], tasks=units(CONFIG), workers=1, logging_dir=str(tmp_path / "logs1")
    ).run()
    LocalPipelineExecutor([ClusterBuilder(run, CONFIG)], tasks=1, logging_dir=str(tmp_path / "logs2")).run()
    assert pl.read_parquet(tmp_path / "dedup" / "clusters.parquet").equals(clusters)


def test_builder_refuses_edges_of_other_docs(tmp_path):
    write_docs(tmp_path / "docs", DOCS)
    run = RunFolder(tmp_path)
    list(BandGrouper(run, CONFIG).run(None))
    write_docs(tmp_path / "docs", DOCS, files=3)  # a new part file: row numbers changed
    with pytest.raises(DedupInputError, match="stale"):
        list(ClusterBuilder(run, CONFIG).run(None))
    frame = pl.read_parquet(run_dedup_local(run, CONFIG))  # the grouper redoes stale units
    assert _partition(frame)["c1"] == {"c1", "c2", "c3"}


def test_band_count_must_match_the_extract_pass(tmp_path):
    write_docs(tmp_path / "docs", DOCS, DedupConfig(num_perm=112))
    with pytest.raises(DedupInputError, match="14 band hashes per document but the dedup config gives 25"):
        run_dedup_local(RunFolder(tmp_path), CONFIG)


def test_a_new_collection_is_deduplicated_against_previous_runs(tmp_path):
    first = {k: DOCS[k] for k in ("a1", "b1", "c1", "e1")}
    second = {k: DOCS[k] for k in ("a2", "b2", "d1", "d2")}
    third = {k: DOCS[k] for k in ("c2",)} | {"f1": (P[5], "pt_PT", [], 2020)}
    write_docs(tmp_path / "one" / "docs", first)
    run_dedup_local(RunFolder(tmp_path / "one"), CONFIG)
    config = DedupConfig(previous_index=str(tmp_path / "one" / "dedup"))
    write_docs(tmp_path / "two" / "docs", second, config)
    two = pl.read_parquet(run_dedup_local(RunFolder(tmp_path / "two"), config))
    rows = {r["id"]: (r["cluster_id"], r["cluster_size"], r["keep"]) for r in two.iter_rows(named=True)}
    # a2 and b2 duplicate documents of the first run: already in the corpus, not kept again
    assert rows == {"a2": ("a1", 2, False), "b2": ("b1", 2, False), "d1": ("d1", 1, True), "d2": ("d2", 1, True)}
    # the index accumulates: a third run against the second still sees the first run's c1
    config = DedupConfig(previous_index=str(tmp_path / "two" / "dedup"))
    write_docs(tmp_path / "three" / "docs", third, config, files=1)
    three = pl.read_parquet(run_dedup_local(RunFolder(tmp_path / "three"), config))
    assert three.rows() == [("c2", "c1", 2, False), ("f1", "f1", 1, True)]


def test_previous_index_must_use_the_same_minhash_parameters(tmp_path):
    write_docs(tmp_path / "one" / "docs", DOCS)
    run_dedup_local(RunFolder(tmp_path / "one"), CONFIG)
    config = DedupConfig(num_perm=112, previous_index=str(tmp_path / "one" / "dedup"))
    write_docs(tmp_path / "two" / "docs", DOCS, config)
    with pytest.raises(DedupInputError, match="was built with MinHash"):
        run_dedup_local(RunFolder(tmp_path / "two"), config)
    with pytest.raises(DedupInputError, match="no readable index.json"):
        run_dedup_local(RunFolder(tmp_path / "two"), DedupConfig(previous_index=str(tmp_path)))


def test_config_rejects_unknown_keep_criteria_and_bad_thresholds():
    with pytest.raises(ValidationError, match="unknown keep criteria"):
        DedupConfig(keep=["prefer_pt_PT", "shortest"])
    with pytest.raises(ValidationError):
        DedupConfig(threshold=1.5)
    with pytest.raises(ValidationError):
        DedupConfig(bands=20)


def test_lsh_parameters_come_from_datasketch_optimiser():
    assert lsh_params(0.8, 112) == (14, 8)  # FineWeb's choice, reproduced by the recall-weighted optimiser
    assert DedupConfig().bands_rows() == (25, 10)


def test_signer_adds_bands_and_hash_and_passes_rejected_documents_through():
    kept = Document(text=P[0], id="k", metadata={})
    rejected = Document(text=P[1], id="r", metadata={"reject": "not_portuguese"})
    out = list(MinHashSigner(CONFIG).run(iter([kept, rejected])))
    assert [d.id for d in out] == ["k", "r"]
    assert out[0].metadata["minhash_bands"] == CONFIG.minhasher().bands(P[0])
    assert out[0].metadata["text_hash"] == text_hash(P[0])
    assert out[1].metadata == {"reject": "not_portuguese"}


def test_signature_equals_datasketch_minhash_with_the_same_shingle_hash():
    hasher = MinHasher(num_perm=128, bands=16, rows=8, seed=7)
    for text in [BASE_B, "três palavras só", "", "!!!"]:
        reference = MinHash(num_perm=128, seed=7, hashfunc=shingle_hash32)
        reference.update_batch(shingles(text))
        np.testing.assert_array_equal(hasher.signature(text), reference.hashvalues)


def test_bands_are_stable_and_similar_texts_share_bands():
    hasher = CONFIG.minhasher()
    bands = hasher.bands(BASE_B)
    assert len(bands) == 25 and all(0 <= b < 2**64 for b in bands)
    assert bands == CONFIG.minhasher().bands(str(BASE_B))  # identical text, fresh hasher
    # regression guard: changing tokenisation or hashing silently would orphan every stored docs/ band
    assert bands[:2] == [EXPECTED_BAND_0, EXPECTED_BAND_1]
    longer = "\n\n".join([BASE_B, P[0]])
    variant = _edit(longer, [100])
    assert 0.95 <= _jaccard(longer, variant) < 1.0
    assert len(set(hasher.bands(longer)) & set(hasher.bands(variant))) >= 1
    assert not set(bands) & set(hasher.bands(BASE_C))
    # punctuation, case and Unicode composition do not change shingles
    assert hasher.bands("Ação, dizia ele: ação!") == hasher.bands("ac\u0327a\u0303o dizia ele AÇÃO")


EXPECTED_BAND_0 = 6764244177210949490
EXPECTED_BAND_1 = 4476181820622734210
