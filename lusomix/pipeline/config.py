"""The run config: one YAML file composing every stage's config, validated on load.

Paths inside a config file are relative to the file's folder; paths given on the command line are
relative to the current directory. A wrong key or value is a UsageError naming the key (exit code 2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lusomix.config_base import StageConfig, read_yaml_mapping, validate
from lusomix.mix.recipe import MixRecipe
from lusomix.run_folder import check_output_name
from lusomix.stages.dedup import DedupConfig
from lusomix.stages.identify import LanguageConfig
from lusomix.stages.ingest import IngestConfig
from lusomix.stages.quality import QualityConfig
from lusomix.stages.variety import VarietyConfig


class ExecutorConfig(StageConfig):
    kind: Literal["local", "ray"] = "local"
    workers: int | None = Field(None, ge=1, description="parallel tasks; default: the machine's cores")
    ray_address: str | None = Field(None, description="join this Ray cluster; default: start a local Ray")


class PretrainPass(StageConfig):
    """The pretraining pass of a run: a pretraining config trained on one of the run's mixes."""

    config: str = Field(description="pretraining YAML (see data_samples/pretrain-tiny.yaml)")
    mix: str = Field(description="name of one of the run's mixes")
    output: str | None = Field(None, description="default: OUT/pretrain/MIX")
    max_steps: int | None = Field(None, ge=1, description="default: the pretraining config's train.max_steps")

    @field_validator("output")
    @classmethod
    def _local_output(cls, output: str | None) -> str | None:
        return output if output is None else check_output_name(output)


class RunConfig(StageConfig):
    input: list[str] = Field(default_factory=list, description="archive files, folders or globs")
    output: str = "out"
    executor: ExecutorConfig = ExecutorConfig()
    ingest: IngestConfig = IngestConfig()
    language: LanguageConfig = LanguageConfig()
    variety: VarietyConfig = VarietyConfig()
    quality: QualityConfig = QualityConfig()
    dedup: DedupConfig = DedupConfig()
    mixes: list[MixRecipe] = Field(default_factory=list, description="training mixes built by the mix pass")
    pretrain: PretrainPass | None = None

    @field_validator("output")
    @classmethod
    def _local_output(cls, output: str) -> str:
        return check_output_name(output)

    @model_validator(mode="after")
    def _mix_names(self) -> RunConfig:
        names = [recipe.name for recipe in self.mixes]
        if len(set(names)) != len(names):
            raise ValueError(f"mix names must be unique, got {names}")
        if self.pretrain and self.pretrain.mix not in names:
            raise ValueError(f"pretrain.mix {self.pretrain.mix!r} is not one of the mixes {names}")
        return self


def _resolve(path: str, base: Path) -> str:
    if not path.strip():
        return path  # left for validation to refuse
    if "://" in path or os.path.isabs(os.path.expanduser(path)):
        return os.path.expanduser(path)
    return str(base / path)


def load_config(path: str | None) -> RunConfig:
    """Load and validate a run config (None → all defaults)."""
    if path is None:
        return RunConfig()
    raw = read_yaml_mapping(path)
    base = Path(path).resolve().parent
    if isinstance(raw.get("input"), str):
        raw["input"] = [raw["input"]]
    if isinstance(raw.get("input"), list):
        raw["input"] = [_resolve(str(p), base) for p in raw["input"]]
    if isinstance(raw.get("output"), str):
        raw["output"] = _resolve(raw["output"], base)
    pretrain = raw.get("pretrain")
    if isinstance(pretrain, dict):
        for key in ("config", "output"):
            if isinstance(pretrain.get(key), str):
                pretrain[key] = _resolve(pretrain[key], base)
    return validate(RunConfig, raw, path)


def with_overrides(config: RunConfig, **changes) -> RunConfig:
    """Apply command-line overrides (None = not given), validating them like the file."""
    data = config.model_dump()
    executor = data["executor"]
    for key in ("kind", "workers", "ray_address"):
        if changes.get(key) is not None:
            executor[key] = changes[key]
    for key in ("input", "output"):
        if changes.get(key) is not None:
            data[key] = changes[key]
    return validate(RunConfig, data, "command line")
