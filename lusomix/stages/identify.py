"""Identify: the language of each document's main text (lid.176); non-Portuguese goes to rejected/.

The variety (pt-PT / pt-BR) step lives in stages/variety.py and runs after this one.
"""

from __future__ import annotations

from datatrove.data import Document
from pydantic import Field, field_validator

from lusomix.config_base import StageConfig
from lusomix.filters.langid import LanguageIdentifier
from lusomix.stages.annotator import Annotator

# the labels of the vendored lid.176 model (tests check them against it): a label it never gives keeps nothing
LID176_LABELS = frozenset(
    "af als am an ar arz as ast av az azb ba bar bcl be bg bh bn bo bpy br bs bxr ca cbk ce ceb ckb co cs cv cy da de "
    "diq dsb dty dv el eml en eo es et eu fa fi fr frr fy ga gd gl gn gom gu gv he hi hif hr hsb ht hu hy ia id ie ilo "
    "io is it ja jbo jv ka kk km kn ko krc ku kv kw ky la lb lez li lmo lo lrc lt lv mai mg mhr min mk ml mn mr mrj ms "
    "mt mwl my myv mzn nah nap nds ne new nl nn no oc or os pa pam pfl pl pms pnb ps pt qu rm ro ru rue sa sah sc scn "
    "sco sd sh si sk sl so sq sr su sv sw ta te tg th tk tl tr tt tyv ug uk ur uz vec vep vi vls vo wa war wuu xal "
    "xmf yi yo yue zh".split()
)


class LanguageConfig(StageConfig):
    """Which documents count as Portuguese."""

    keep: list[str] = Field(["pt"], min_length=1, description="lid.176 labels kept")

    @field_validator("keep")
    @classmethod
    def _lid176_labels(cls, keep: list[str]) -> list[str]:
        unknown = [label for label in keep if label not in LID176_LABELS]
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))} is not a lid.176 label (ISO 639 codes such as 'pt', 'gl'; "
                "pt_PT / pt_BR are varieties, chosen in a mix's select.varieties)"
            )
        return keep

    # Measured on 20,000 real Portuguese passages (../shared news sentences of 20+ words, documentation
    # paragraphs joined to 40+ words): lid.176 says 'pt' with p >= 0.5 for 99.4% of them (0.65: 98.4%,
    # 0.8: 95.4% — FineWeb-2's GlotLID cut-off would drop one passage in twenty). See README.
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="minimum lid.176 probability of the label")


class LanguageFilter(Annotator):
    name = "🌍 language"
    type = "🔬 - IDENTIFY"
    # Documents identified 64 at a time, one after the other: between two single documents, extraction
    # evicts lid.176's tables from the CPU caches, and a prediction then costs ~1.5x as much (measured on
    # the benchmark corpus: the step ~30% cheaper, the whole pass ~8%). Results are per document, unchanged.
    batch_size = 64

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
