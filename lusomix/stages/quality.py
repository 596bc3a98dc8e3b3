"""Quality: PII masking, then quality signals and flags, for every document not rejected.

Nothing is dropped here. Each document keeps its signal values (one metadata key per docs/ signal column)
and ``quality_flags``, the rules it fails under the run's thresholds; the mix pass selects on them, and
``--passes dedup,mix`` can recompute the flags from the stored signals (filters.quality.flags_expr).
"""

from __future__ import annotations

from typing import Literal, cast

from datatrove.data import Document
from pydantic import Field, field_validator, model_validator

from lusomix.config_base import KeyValueError, StageConfig
from lusomix.filters.pii import DEFAULT_REPLACEMENTS, mask_pii
from lusomix.filters.quality import (
    DEFAULT_PRESET,
    RULE_SIGNALS,
    Preset,
    Rule,
    compute_signals,
    flags_for,
    thresholds,
)
from lusomix.filters.text import count_words
from lusomix.stages.annotator import Annotator

PIIKind = Literal["email", "phone", "ip"]
# signals that are shares of the text (0..1): a threshold above 1 is a mistake (null switches a rule off)
SHARE_SIGNALS = frozenset(
    [name for name, _ in RULE_SIGNALS.values() if name.endswith("_frac")]
    + ["fw_line_punct_ratio", "fw_short_line_ratio", "fw_char_dup_ratio", "lx_stop_word_ratio"]
)


class PIIConfig(StageConfig):
    """What the PII step masks, and with which tokens."""

    enabled: bool = True
    kinds: list[PIIKind] = Field(["email", "phone", "ip"], description="kinds of PII masked")
    replacements: dict[PIIKind, str] = Field(
        default_factory=lambda: cast("dict[PIIKind, str]", dict(DEFAULT_REPLACEMENTS)),
        description="token written in place of each kind (kinds left out keep the default token)",
    )
    public_ips_only: bool = Field(True, description="leave private, loopback and documentation addresses")


class QualityConfig(StageConfig):
    """Thresholds of the quality rules: a preset, changed rule by rule with ``overrides``."""

    preset: Preset = DEFAULT_PRESET
    overrides: dict[str, float | None] = Field(
        {}, description="rule name -> threshold (null switches the rule off); see filters.quality.RULE_SIGNALS"
    )
    pii: PIIConfig = PIIConfig()

    @field_validator("overrides")
    @classmethod
    def _known_rules(cls, overrides: dict[str, float | None]) -> dict[str, float | None]:
        unknown = sorted(set(overrides) - set(RULE_SIGNALS))
        if unknown:
            raise ValueError(f"unknown quality rule {', '.join(map(repr, unknown))}; known: {', '.join(RULE_SIGNALS)}")
        for rule, value in overrides.items():
            if value is None:
                continue
            if value < 0:  # no signal is negative: a "max" rule would flag every document, a "min" rule none
                raise KeyValueError(rule, f"a threshold is >= 0 (null switches the rule off), got {value}")
            if RULE_SIGNALS[rule][0] in SHARE_SIGNALS and value > 1:
                raise KeyValueError(rule, f"{RULE_SIGNALS[rule][0]} is a share, 0..1 (null switches the rule off)")
        return overrides

    @model_validator(mode="after")
    def _bounds_in_order(self) -> QualityConfig:
        # a signal's "min" rule above its "max" rule (gopher_short_doc > gopher_long_doc) flags every document
        rules = self.thresholds()
        for low in (r for r in rules if r.bound == "min"):
            for high in (r for r in rules if r.bound == "max" and r.signal == low.signal):
                if low.threshold > high.threshold:
                    raise KeyValueError(
                        "overrides",
                        f"{low.name} ({low.threshold:g}) is above {high.name} ({high.threshold:g}): "
                        "every document would fail one of them",
                    )
        return self

    def thresholds(self) -> tuple[Rule, ...]:
        """The effective rules: the preset's, with the overrides applied."""
        return thresholds(self.preset, self.overrides)


class PIIMasker(Annotator):
    """Masks e-mail addresses, phone numbers and IP addresses in the text; counts them as pii/<kind>."""

    name = "🔏 PII"
    type = "✂️ - FORMAT"

    def __init__(self, config: QualityConfig):
        super().__init__()
        self.config = config.pii

    def wants(self, doc: Document) -> bool:
        return self.config.enabled and super().wants(doc)

    def annotate(self, doc: Document) -> None:
        pii = self.config
        replacements = {str(kind): token for kind, token in pii.replacements.items()}
        text, counts = mask_pii(doc.text, pii.kinds, replacements, pii.public_ips_only)
        if any(counts.values()):  # n_words describes the text that is stored
            doc.metadata["n_words"] = count_words(text)
        doc.text = text
        for kind, n in counts.items():
            if n:
                self.stat_update(f"pii/{kind}", value=n)


class QualityAnnotator(Annotator):
    """Stores each signal in doc.metadata and the failed rules in quality_flags; counts flag/<rule>
    (quality/passed for a document that fails none)."""

    name = "🥇 quality signals"
    type = "🔻 - FILTER"

    def __init__(self, config: QualityConfig):
        super().__init__()
        self.rules = config.thresholds()

    def annotate(self, doc: Document) -> None:
        # n_words as the ingest step counted it (and PIIMasker recounted it after masking)
        signals = compute_signals(doc.text, doc.metadata.get("n_words"))
        doc.metadata.update(signals)
        flags = flags_for(signals, self.rules)
        doc.metadata["quality_flags"] = flags
        self.stat_update(*[f"flag/{rule}" for rule in flags] or ["quality/passed"])
