"""The run config: one YAML file composing every stage's config, validated on load.

Paths inside a config file are relative to the file's folder; paths given on the command line are
relative to the current directory. A wrong key or value is a UsageError naming the key (exit code 2).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lusomix.archive.index import Selection
from lusomix.config_base import KeyValueError, StageConfig, read_yaml_mapping, validate
from lusomix.errors import UsageError
from lusomix.manifest import Manifest
from lusomix.mix.recipe import MixRecipe
from lusomix.pipeline.inputs import expand_indexes
from lusomix.pretrain.config import check_batch_fits, check_local_paths, load_pretrain_config
from lusomix.run_folder import RunFolder
from lusomix.run_output import check_output_name
from lusomix.stages.dedup import DedupConfig, DedupInputError, previous_index
from lusomix.stages.identify import LanguageConfig
from lusomix.stages.ingest import IngestConfig
from lusomix.stages.quality import QualityConfig
from lusomix.stages.variety import VarietyConfig


class ExecutorConfig(StageConfig):
    kind: Literal["local", "ray"] = "local"
    workers: int | None = Field(None, ge=1, description="parallel tasks; default: the machine's cores")
    ray_address: str | None = Field(None, description="join this Ray cluster; default: start a local Ray")
    no_nodes_wait_s: float = Field(
        600.0,
        gt=0,
        description="under Ray: a pass whose cluster has had no node with a CPU for this long (every worker node "
        "gone, no replacement yet) ends with exit 1; the same command resumes it",
    )


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
    index: list[str] = Field(
        default_factory=list,
        description="CDXJ or CDX 11-column index files or globs: read only the captures 'select' keeps, by "
        "byte range; empty: read every record of every input",
    )
    select: Selection = Field(default_factory=Selection, description="the captures of the index that are read")
    executor: ExecutorConfig = ExecutorConfig()
    ingest: IngestConfig = IngestConfig()
    language: LanguageConfig = LanguageConfig()
    variety: VarietyConfig = VarietyConfig()
    quality: QualityConfig = QualityConfig()
    dedup: DedupConfig = DedupConfig()
    mixes: list[MixRecipe] = Field(default_factory=list, description="training mixes built by the mix pass")
    pretrain: PretrainPass | None = None
    storage_options: dict[str, Any] = Field(
        default_factory=dict,
        description="options of the output's filesystem beyond what the environment gives (AWS_*), e.g. "
        "{endpoint_url: ..., profile: ...} for s3://; never written to the run's files",
    )

    def run_folder(self) -> RunFolder:
        """The output folder, local or on a store."""
        return RunFolder(self.output, self.storage_options)

    @field_validator("output")
    @classmethod
    def _local_output(cls, output: str) -> str:
        return check_output_name(output)

    @model_validator(mode="after")
    def _mix_names(self) -> RunConfig:
        names = [recipe.name for recipe in self.mixes]
        if len(set(names)) != len(names):
            raise KeyValueError("mixes", f"mix names must be unique, got {names}")
        if self.pretrain and self.pretrain.mix not in names:
            raise KeyValueError("pretrain.mix", f"{self.pretrain.mix!r} is not one of the mixes {names}")
        return self

    @model_validator(mode="after")
    def _mix_langs_kept(self) -> RunConfig:
        # docs/ holds only the languages the extract keeps: selecting another one selects nothing
        for i, recipe in enumerate(self.mixes):
            never = [lang for lang in recipe.select.langs or [] if lang not in self.language.keep]
            if never:
                raise KeyValueError(
                    f"mixes.{i}.select.langs",
                    f"{', '.join(map(repr, never))} is not kept by language.keep {self.language.keep}",
                )
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
    if isinstance(raw.get("index"), str):
        raw["index"] = [raw["index"]]
    if isinstance(raw.get("index"), list):
        raw["index"] = [_resolve(str(p), base) for p in raw["index"]]
    if isinstance(raw.get("output"), str):
        raw["output"] = _resolve(raw["output"], base)
    for section, key in (
        ("pretrain", "config"),
        ("pretrain", "output"),
        ("variety", "model_path"),
        ("dedup", "previous_index"),
    ):
        if isinstance(raw.get(section), dict) and isinstance(raw[section].get(key), str):
            raw[section][key] = _resolve(raw[section][key], base)
    return validate(RunConfig, raw, path)


def check_before_passes(config: RunConfig, passes: list[str]) -> None:
    """What the chosen passes will read, read before any of them runs rather than hours later: the variety
    model (extract), the previous dedup index (dedup), the pretraining config with its folders (pretrain),
    and, when the pretrain pass trains on a mix this run does not rebuild, that one step of it fits in
    the mix (otherwise the pretrain pass checks that on the mix it finds)."""
    model_path = config.variety.model_path
    if "extract" in passes and config.index:
        expand_indexes(config.index)  # a wrong index path: said now, not after the other checks
    if "extract" in passes and not config.index and config.select != Selection():
        raise UsageError("select: chooses captures of an index; give one ('index:' or --index)")
    if "extract" in passes and model_path is not None and not os.path.isfile(model_path):
        raise UsageError(f"variety.model_path: {model_path} not found")
    if "dedup" in passes:
        try:
            previous_index(config.dedup, config.storage_options)
        except DedupInputError as err:  # its message starts with the key, "previous_index: ..."
            raise UsageError(f"dedup.{err}") from None
    if "pretrain" not in passes or config.pretrain is None:
        return
    source = config.pretrain.config
    if not os.path.isfile(source):
        raise UsageError(f"pretrain.config: {source} not found")
    pretrain = load_pretrain_config(source)
    check_local_paths(pretrain, source)
    mix = config.run_folder().mix(config.pretrain.mix)
    if "mix" not in passes and Manifest.exists(mix):
        check_batch_fits(pretrain, source, mix)


def with_overrides(config: RunConfig, **changes) -> RunConfig:
    """Apply command-line overrides (None = not given), validating them like the file."""
    data = config.model_dump()
    executor = data["executor"]
    for key in ("kind", "workers", "ray_address"):
        if changes.get(key) is not None:
            executor[key] = changes[key]
    for key in ("input", "output", "index"):
        if changes.get(key) is not None:
            data[key] = changes[key]
    return validate(RunConfig, data, "command line")
