"""Variety step of the extract pass: pt_PT / pt_BR / unknown for every kept Portuguese document.

A thin datatrove adapter over :mod:`lusomix.variety`. Sets ``variety``, ``p_pt_PT`` (text + page
evidence), ``p_pt_PT_text`` (text alone) and ``variety_evidence`` (what was used: ``text``, the URL's
kinds, the declared languages read) in ``doc.metadata``; rejected and non-Portuguese documents pass
through untouched. Each label is also counted (``variety/*`` in the stats).
"""

from __future__ import annotations

import numpy as np
from datatrove.data import Document
from pydantic import Field, field_validator

from lusomix.config_base import StageConfig
from lusomix.stages.annotator import Annotator
from lusomix.variety import model as vm


class VarietyConfig(StageConfig):
    """Decision parameters; the defaults were measured on source-held-out data (VARIETY_MODEL_CARD.md).

    ``unknown_band``: documents whose p_pt_PT falls inside (lo, hi) are ``unknown``. ``min_words``: fewer
    words than this is always ``unknown``. ``evidence_weight`` scales the page evidence (URL and declared
    languages, with the weights fitted with the model): 1 = the fitted rule, 0 = the text alone.
    """

    model_path: str | None = None  # None = the shipped lusomix/variety/models/variety.ftz
    unknown_band: tuple[float, float] = vm.DEFAULT_UNKNOWN_BAND
    min_words: int = Field(vm.DEFAULT_MIN_WORDS, ge=0)
    evidence_weight: float = Field(vm.DEFAULT_EVIDENCE_WEIGHT, ge=0)
    # cost bound, not an accuracy setting: longer documents are scored on evenly spaced segments
    word_budget: int = Field(vm.DEFAULT_WORD_BUDGET, ge=1)
    # documents scored per model call: one fastText call per batch is ~30% cheaper than per document, and
    # 512 rather than 64 pays the model's cache misses after the rest of the pass ran 8x less often (the
    # step ~20% cheaper on the benchmark corpus); results are per document, unchanged
    batch_size: int = Field(512, ge=1)

    @field_validator("unknown_band")
    @classmethod
    def _band(cls, band: tuple[float, float]) -> tuple[float, float]:
        lo, hi = band
        if not 0.0 <= lo <= 0.5 <= hi <= 1.0:
            raise ValueError(f"unknown_band must satisfy 0 <= lo <= 0.5 <= hi <= 1, got {band}")
        return band


class VarietyIdentifier(Annotator):
    name = "🇵🇹 variety"
    type = "🏷 - ANNOTATE"

    def __init__(self, config: VarietyConfig | None = None):
        super().__init__()
        self.config = config or VarietyConfig()
        self.batch_size = self.config.batch_size  # one model call per batch
        self._model: vm.VarietyModel | None = None

    def __getstate__(self):
        # the fastText handle cannot be pickled to executor workers; each worker loads its own
        state = self.__dict__.copy()
        state["_model"] = None
        return state

    @property
    def model(self) -> vm.VarietyModel:
        if self._model is None:
            self._model = vm.VarietyModel.load(self.config.model_path)
        return self._model

    def wants(self, doc: Document) -> bool:
        return super().wants(doc) and doc.metadata.get("lang") == "pt"

    def annotate_batch(self, docs: list[Document]) -> None:
        """The batch's kept Portuguese documents in one model call."""
        c = self.config
        labels, p, p_text, used = self.model.identify_batch(
            [d.text for d in docs],
            [d.metadata.get("url") for d in docs],
            [d.metadata.get("declared_lang") for d in docs],
            unknown_band=c.unknown_band,
            evidence_weight=c.evidence_weight,
            min_words=c.min_words,
            word_budget=c.word_budget,
        )
        for doc, label, prob, prob_text, evidence in zip(docs, labels, p, p_text, used):
            doc.metadata["variety"] = str(label)
            doc.metadata["p_pt_PT"] = float(prob)
            doc.metadata["p_pt_PT_text"] = float(prob_text)
            doc.metadata["variety_evidence"] = evidence
        for label, count in zip(*np.unique(labels.astype(str), return_counts=True)):
            self.stat_update(f"variety/{label}", value=int(count), unit="batch")
