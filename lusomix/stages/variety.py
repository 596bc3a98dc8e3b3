"""Variety stage of the extract pass: pt_PT / pt_BR / unknown for every kept Portuguese document.

Adapts :mod:`lusomix.filters.variety` to datatrove. Sets ``variety``, ``p_pt_PT`` (text + URL evidence)
and ``p_pt_PT_text`` (text alone) in ``doc.metadata``; rejected and non-Portuguese documents pass
through untouched. Each label is also counted (``variety/*`` in the stats); the run summary's shares are
counted from ``docs/``.
"""

from __future__ import annotations

from pydantic import field_validator, model_validator

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from lusomix.filters import variety as vf
from lusomix.stages.config_base import StageConfig


class VarietyConfig(StageConfig):
    """Decision parameters; the defaults were measured on source-held-out data (VARIETY_MODEL_CARD.md).

    ``unknown_band``: documents whose p_pt_PT falls inside (lo, hi) are ``unknown``. ``min_words``: fewer
    words than this is always ``unknown``. URL evidence, in log-odds towards pt_PT, is
    ``url_weight * (±cctld_log_odds for the ccTLD ± path_log_odds for a pt-BR/pt-PT tag)``;
    .ao .mz .cv .gw .st .tl .mo count as European (their written norm is).
    """

    model_path: str | None = None  # None = the shipped filters/models/variety.ftz
    unknown_band: tuple[float, float] = vf.DEFAULT_UNKNOWN_BAND
    min_words: int = vf.DEFAULT_MIN_WORDS
    url_weight: float = vf.DEFAULT_URL_WEIGHT
    cctld_log_odds: float = vf.DEFAULT_CCTLD_LOG_ODDS
    path_log_odds: float = vf.DEFAULT_PATH_LOG_ODDS
    # cost bound, not an accuracy setting: longer documents are scored on evenly spaced segments
    word_budget: int = vf.DEFAULT_WORD_BUDGET
    # documents scored per model call (one fastText call per batch is ~30% cheaper than per document)
    batch_size: int = 64

    @field_validator("unknown_band")
    @classmethod
    def _band(cls, band: tuple[float, float]) -> tuple[float, float]:
        lo, hi = band
        if not 0.0 <= lo <= 0.5 <= hi <= 1.0:
            raise ValueError(f"unknown_band must satisfy 0 <= lo <= 0.5 <= hi <= 1, got {band}")
        return band

    @model_validator(mode="after")
    def _non_negative(self) -> "VarietyConfig":
        for name in ("min_words", "url_weight", "cctld_log_odds", "path_log_odds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.word_budget < 1 or self.batch_size < 1:
            raise ValueError("word_budget and batch_size must be >= 1")
        return self


class VarietyIdentifier(PipelineStep):
    name = "🇵🇹 variety"
    type = "🏷 - ANNOTATE"

    def __init__(self, config: VarietyConfig | None = None):
        super().__init__()
        self.config = config or VarietyConfig()
        self._model: vf.VarietyModel | None = None

    def __getstate__(self):
        # the fastText handle cannot be pickled to executor workers; each worker loads its own
        state = self.__dict__.copy()
        state["_model"] = None
        return state

    @property
    def model(self) -> vf.VarietyModel:
        if self._model is None:
            self._model = vf.VarietyModel.load(self.config.model_path)
        return self._model

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        batch = []
        for doc in data:
            batch.append(doc)
            if len(batch) >= self.config.batch_size:
                yield from self._annotate(batch)
                batch = []
        yield from self._annotate(batch)

    def _annotate(self, batch: list) -> list:
        """Annotate the batch's kept Portuguese documents in one model call; return all, in order."""
        todo = [d for d in batch if "reject" not in d.metadata and d.metadata.get("lang") == "pt"]
        if todo:
            c = self.config
            with self.track_time(unit="batch"):
                labels, p, p_text = self.model.identify_batch(
                    [d.text for d in todo],
                    [d.metadata.get("url") for d in todo],
                    unknown_band=c.unknown_band,
                    url_weight=c.url_weight,
                    cctld_log_odds=c.cctld_log_odds,
                    path_log_odds=c.path_log_odds,
                    min_words=c.min_words,
                    word_budget=c.word_budget,
                )
            for doc, label, prob, prob_text in zip(todo, labels, p, p_text):
                doc.metadata["variety"] = str(label)
                doc.metadata["p_pt_PT"] = float(prob)
                doc.metadata["p_pt_PT_text"] = float(prob_text)
                self.stat_update(f"variety/{label}")
        return batch
