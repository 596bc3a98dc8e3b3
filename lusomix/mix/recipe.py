"""A mix recipe: which documents of a run enter a training mix, and with what weight.

``MixRecipe`` is the config (one per named mix); ``selection`` and ``weight`` turn it into polars
expressions over docs/ joined with dedup/clusters.parquet, which ``lusomix.mix.build`` evaluates lazily.
"""

from __future__ import annotations

import re

import polars as pl
from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveInt, field_validator, model_validator

from lusomix.config_base import KeyValueError, StageConfig
from lusomix.errors import UsageError
from lusomix.filters.quality import RULE_SIGNALS
from lusomix.run_folder import PT_BR, PT_PT, UNKNOWN, VARIETIES


class MixInputError(UsageError, ValueError):
    """The run folder cannot give this mix (no docs/, no clusters when the recipe needs them). The CLI
    reports it as a usage error (one line, exit 2). An empty selection is not one: it is an empty mix."""


class MixSelect(StageConfig):
    """Which documents of docs/ enter the mix (all conditions must hold)."""

    require_no_flags: bool = True  # quality_flags empty...
    allow_flags: list[str] = []  # ...except for these rules, which are tolerated
    dedup_keep_only: bool = True  # only the document dedup keeps of each cluster
    # an empty list would select nothing: leave the key out for "any"
    langs: list[str] | None = Field(None, min_length=1)  # None = any (of the run's language.keep)
    varieties: list[str] | None = Field(None, min_length=1)
    domains_include: list[str] | None = Field(None, min_length=1)  # a domain matches itself and its subdomains
    domains_exclude: list[str] = []
    crawl_years: tuple[int, int] | None = None  # inclusive
    min_words: NonNegativeInt = 0

    @field_validator("allow_flags")
    @classmethod
    def _known_rules(cls, rules: list[str]) -> list[str]:
        unknown = [rule for rule in rules if rule not in RULE_SIGNALS]
        if unknown:
            raise ValueError(f"unknown quality rule {', '.join(map(repr, unknown))}; known: {', '.join(RULE_SIGNALS)}")
        return rules

    @field_validator("varieties")
    @classmethod
    def _known_varieties(cls, varieties: list[str] | None) -> list[str] | None:
        unknown = [v for v in varieties or [] if v not in VARIETIES]
        if unknown:
            raise ValueError(f"unknown variety {', '.join(map(repr, unknown))}; known: {', '.join(VARIETIES)}")
        return varieties

    @field_validator("crawl_years")
    @classmethod
    def _years_in_order(cls, years: tuple[int, int] | None) -> tuple[int, int] | None:
        if years is not None and years[0] > years[1]:
            raise ValueError(f"crawl_years is [first, last], got {list(years)}: it would select nothing")
        return years


class MixRecipe(StageConfig):
    """One named training mix. Weights multiply: variety × domain × source × rehydration."""

    name: str
    select: MixSelect = MixSelect()
    weights: dict[str, NonNegativeFloat] = {PT_PT: 2.0, PT_BR: 0.25, UNKNOWN: 0.5}  # absent → 1
    domain_weights: dict[str, NonNegativeFloat] = {}  # exact docs/domain value → weight
    source_weights: dict[str, NonNegativeFloat] = {}  # glob on source_file (first match wins) → weight
    rehydrate: bool = False  # FineWeb-2 weights by cluster_size, on each cluster's kept document
    token_budget: PositiveInt | None = None  # cut the shuffled mix at this many tokens_est
    shard_target_bytes: PositiveInt | None = None  # of text; DEFAULT_SHARD_BYTES when neither is set
    shard_target_tokens: PositiveInt | None = None
    seed: int = 0

    @field_validator("weights")
    @classmethod
    def _variety_keys(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(VARIETIES))
        if unknown:
            raise ValueError(f"weights are per variety ({', '.join(VARIETIES)}), got {', '.join(unknown)}")
        return weights

    @field_validator("name")
    @classmethod
    def _folder_name(cls, name: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise ValueError(f"mix name {name!r} must be a folder name: letters, digits, '.', '_', '-'")
        return name

    @model_validator(mode="after")
    def _one_shard_target(self) -> MixRecipe:
        if self.shard_target_bytes is not None and self.shard_target_tokens is not None:
            raise ValueError("set shard_target_bytes or shard_target_tokens, not both")
        return self

    @model_validator(mode="after")
    def _some_weight(self) -> MixRecipe:
        # weight 0 drops a variety (absent = 1): with every selected variety at 0, the mix is always empty
        selected = self.select.varieties or VARIETIES
        if all(self.weights.get(v, 1.0) == 0 for v in selected):
            raise KeyValueError(
                "weights", f"every selected variety ({', '.join(selected)}) has weight 0: the mix would be empty"
            )
        return self


# ---- selection and weights as polars expressions ---------------------------------------------------------


def rehydration_weight(cluster_size: pl.Expr) -> pl.Expr:
    """FineWeb-2: 1→1, 2–3→N, 4→3, 5–99→5, 100–999→8, ≥1000→1 (huge clusters are boilerplate)."""
    n = cluster_size.cast(pl.Float64)
    return (
        pl.when(n >= 1000)
        .then(1.0)
        .when(n >= 100)
        .then(8.0)
        .when(n >= 5)
        .then(5.0)
        .when(n == 4)
        .then(3.0)
        .when(n >= 2)
        .then(n)
        .otherwise(1.0)
    )


def _domain_match(domains: list[str]) -> pl.Expr:
    dom = pl.col("domain")
    hit = dom.is_in(domains)
    for d in domains:
        hit = hit | dom.str.ends_with("." + d)
    return hit.fill_null(False)


def _glob_regex(pattern: str) -> str:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return "^" + "".join(parts) + "$"


def selection(sel: MixSelect) -> pl.Expr:
    cond = pl.lit(True)
    if sel.require_no_flags:
        flags = pl.col("quality_flags")
        failing = flags.list.eval(pl.element().is_in(sel.allow_flags).not_()).list.sum()
        cond &= failing.fill_null(0) == 0
    if sel.langs is not None:
        cond &= pl.col("lang").is_in(sel.langs).fill_null(False)
    if sel.varieties is not None:
        cond &= pl.col("variety").is_in(sel.varieties)
    if sel.domains_include is not None:
        cond &= _domain_match(sel.domains_include)
    if sel.domains_exclude:
        cond &= ~_domain_match(sel.domains_exclude)
    if sel.crawl_years is not None:
        cond &= pl.col("crawl_date").dt.year().is_between(*sel.crawl_years).fill_null(False)
    if sel.min_words:
        cond &= pl.col("n_words").fill_null(0) >= sel.min_words
    return cond


def weight(recipe: MixRecipe) -> pl.Expr:
    w = pl.col("variety").replace_strict(recipe.weights, default=1.0, return_dtype=pl.Float64)
    if recipe.domain_weights:
        w = w * pl.col("domain").replace_strict(recipe.domain_weights, default=1.0, return_dtype=pl.Float64)
    if recipe.source_weights:
        src = pl.lit(1.0)
        for pattern, value in reversed(recipe.source_weights.items()):  # reversed: first match wins
            src = pl.when(pl.col("source_file").str.contains(_glob_regex(pattern))).then(value).otherwise(src)
        w = w * src
    if recipe.rehydrate:
        w = w * pl.when(pl.col("keep")).then(rehydration_weight(pl.col("cluster_size"))).otherwise(1.0)
    return w
