"""Every annotating step counts the same way, in its base class: documents seen, annotated, rejected/<reason>."""

from __future__ import annotations

from datatrove.data import Document

from lusomix.pipeline.config import RunConfig
from lusomix.run_folder import RunFolder
from lusomix.stages.identify import LanguageFilter
from lusomix.stages.ingest import MainTextExtractor
from lusomix.stages.minhash_signer import MinHashSigner
from lusomix.stages.quality import PIIMasker, QualityAnnotator
from lusomix.stages.writer import ExtractWriter

ARTICLE = (
    "O autocarro da linha sete passou a circular de meia em meia hora a partir de segunda-feira, anunciou a "
    "câmara municipal, que pretende reduzir o tempo de espera dos utentes nas paragens do centro da cidade. "
    "A autarquia explicou ainda que os horários serão afixados em todas as paragens durante esta semana."
)


def _page(text: str) -> str:
    return f"<html><head><title>t</title></head><body><article><p>{text}</p></article></body></html>"


def _documents() -> list[Document]:
    pages = [
        Document(text=_page(ARTICLE), id="article", metadata={"url": "http://a.pt/1"}),
        Document(text=_page("Só três palavras."), id="short", metadata={"url": "http://a.pt/2"}),
        Document(text="", id="revisit", metadata={"url": "http://a.pt/3", "reject": "revisit"}),
        Document(text=_page(ARTICLE.replace("autocarro", "comboio")), id="other", metadata={"url": "http://a.pt/4"}),
    ]
    return pages


def _counts(step) -> dict[str, int]:
    return {label: int(metric.total) for label, metric in step.stats.stats.items()}


def test_each_annotator_counts_seen_annotated_and_its_rejections(tmp_path):
    config = RunConfig()
    steps = [
        MainTextExtractor(config.ingest),
        LanguageFilter(config.language),
        PIIMasker(config.quality),
        QualityAnnotator(config.quality),
        MinHashSigner(config.dedup),
    ]
    data = iter(_documents())
    for step in steps:
        data = step.run(data)
    out = {doc.id: doc.metadata.get("reject") for doc in data}
    assert out == {"article": None, "short": "too_short", "revisit": "revisit", "other": None}

    extractor, language, masker, quality, signer = (_counts(s) for s in steps)
    assert extractor["total"] == 4 and extractor["annotated"] == 3 and extractor["rejected/too_short"] == 1
    assert "rejected/revisit" not in extractor  # rejected before this step: counted where it was rejected
    for counts in (language, masker, quality, signer):
        assert counts["total"] == 4 and counts["annotated"] == 2
        assert not [label for label in counts if label.startswith("rejected/")]
    assert language["lang/pt"] == 2
    assert quality["quality/passed"] + sum(n for k, n in quality.items() if k.startswith("flag/")) >= 2
    assert "signed" not in signer  # the per-step name the base class's "annotated" replaces


def test_the_writer_counts_documents_written_not_a_name_of_its_own(tmp_path):
    docs = [Document(text="", id="r", metadata={"reject": "revisit", "url": "http://a.pt/"})]
    writer = ExtractWriter(RunFolder(str(tmp_path)))
    for _ in writer.run(iter(docs)):
        pass
    counts = _counts(writer)
    assert counts == {"total": 1}
