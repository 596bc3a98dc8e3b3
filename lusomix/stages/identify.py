"""Identify: the language of each document's main text (lid.176); non-Portuguese goes to rejected/.

The variety (pt-PT / pt-BR) step lives in stages/variety.py and runs after this one.
"""

from __future__ import annotations

from datatrove.data import Document
from pydantic import Field

from lusomix.config_base import StageConfig
from lusomix.filters.langid import LanguageIdentifier
from lusomix.stages.annotator import Annotator


class LanguageConfig(StageConfig):
    """Which documents count as Portuguese."""

    keep: list[str] = Field(["pt"], min_length=1, description="lid.176 labels kept")
    # Measured on 20,000 real Portuguese passages (../shared news sentences of 20+ words, documentation
    # paragraphs joined to 40+ words): lid.176 says 'pt' with p >= 0.5 for 99.4% of them (0.65: 98.4%,
    # 0.8: 95.4% — FineWeb-2's GlotLID cut-off would drop one passage in twenty). See README.
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="minimum lid.176 probability of the label")


class LanguageFilter(Annotator):
    name = "🌍 language"
    type = "🔬 - IDENTIFY"

    def __init__(self, config: LanguageConfig):
        super().__init__()
        self.config = config
        self.keep = set(config.keep)
        self._identifier: LanguageIdentifier | None = None

    def annotate(self, doc: Document) -> None:
        if self._identifier is None:  # loaded in the worker, not pickled with the step
            self._identifier = LanguageIdentifier()
        guess = self._identifier.identify(doc.text)
        doc.metadata["lang"] = guess.lang
        doc.metadata["lang_score"] = guess.score
        self.stat_update(f"lang/{guess.lang or 'none'}")
        if guess.lang not in self.keep or guess.score < self.config.threshold:
            self.reject(doc, "not_portuguese")
