"""The pretraining stage's config: model, tokenizer, data, optimiser, training and distribution, as
dataclass-like pydantic models (litgpt style); every mistake in a YAML file is one line naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from lusomix.config_base import KeyValueError, StageConfig, read_yaml_mapping, validate
from lusomix.errors import PassSkipped, UsageError
from lusomix.manifest import Manifest
from lusomix.run_folder import RunFolder, as_folder


class ModelConfig(StageConfig):
    checkpoint: Path | None = None  # local HF checkpoint: continued pretraining; None: built from the values below
    hidden_size: int = Field(256, gt=0)
    num_layers: int = Field(4, gt=0)
    num_heads: int = Field(4, gt=0)
    num_kv_heads: int = Field(4, gt=0)
    intermediate_size: int = Field(688, gt=0)
    rope_theta: float | None = Field(None, gt=0)  # None: 10000 from scratch, the checkpoint's own otherwise
    rope_scaling: dict[str, Any] | None = None  # HF rope parameters, e.g. {rope_type: linear, factor: 2.0}
    tie_embeddings: bool = False
    gradient_checkpointing: bool = False
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"

    @field_validator("rope_scaling")
    @classmethod
    def _known_rope_type(cls, value):
        if value is None:
            return value
        factor = value.get("factor")
        if factor is not None and not (isinstance(factor, int | float) and factor > 0):
            raise KeyValueError("factor", f"the RoPE scaling factor is a number > 0, got {factor!r}")
        try:
            from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
        except ImportError:  # a plain install (no train extra): the pretrain pass says what is missing
            return value
        kind = value.get("rope_type", value.get("type"))
        if kind not in {"default", *ROPE_INIT_FUNCTIONS}:
            raise ValueError(f"rope_type must be one of default, {', '.join(ROPE_INIT_FUNCTIONS)}; got {kind}")
        return value

    @model_validator(mode="after")
    def _heads_divide(self):
        if self.checkpoint is None and (self.hidden_size % self.num_heads or self.num_heads % self.num_kv_heads):
            raise ValueError("num_heads must divide hidden_size and num_kv_heads must divide num_heads")
        return self


class TokenizerConfig(StageConfig):
    path: Path | None = None  # None: the checkpoint's own, or one trained on the mix (saved in OUT/tokenizer/)
    vocab_size: int = Field(4096, ge=300)
    train_docs: int = Field(20000, gt=0)  # documents from the start of the mix used to train it


class DataConfig(StageConfig):
    context_length: int = Field(128, ge=8)
    val_docs_per_variety: int = Field(32, gt=0)
    read_batch_docs: int = Field(512, gt=0)  # documents tokenized per call: the Rust tokenizer batches them


class OptimConfig(StageConfig):
    lr: float = Field(3e-4, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1)
    warmup_steps: int = Field(100, ge=0)
    decay_steps: int | None = Field(None, gt=0)  # cosine horizon; None: the run's max_steps
    weight_decay: float = Field(0.1, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = Field(1e-8, gt=0)
    grad_clip: float = Field(1.0, gt=0)

    @field_validator("betas")
    @classmethod
    def _adam_betas(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= beta < 1 for beta in betas):  # AdamW refuses them, but only inside every worker
            raise ValueError(f"Adam's betas are each in [0, 1), got {list(betas)}")
        return betas

    @model_validator(mode="after")
    def _decay_after_warmup(self):
        if self.decay_steps is not None and self.decay_steps <= self.warmup_steps:
            raise KeyValueError(
                "decay_steps",
                f"the cosine decay ends at step {self.decay_steps}, before warmup_steps ({self.warmup_steps}) end",
            )
        return self


class TrainConfig(StageConfig):
    max_steps: int = Field(1000, gt=0)
    micro_batch_size: int = Field(8, gt=0)
    grad_accum_steps: int = Field(1, gt=0)
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on GPU, fp32 on CPU
    compile: bool = False  # torch.compile each decoder layer (GPU runs)
    eval_every: int = Field(100, gt=0)
    checkpoint_every: int = Field(500, gt=0)
    keep_checkpoints: int = Field(2, gt=0)
    report_every: int = Field(10, gt=0)  # ray.train.report is a barrier across workers: not every step
    export_model: bool = True  # the final model in Hugging Face format, OUT/model/


class DistributedConfig(StageConfig):
    workers: int = Field(2, gt=0)
    use_gpu: bool = False
    cpus_per_worker: int = Field(1, gt=0)
    strategy: Literal["ddp", "fsdp"] = "ddp"
    num_cpus: int | None = Field(None, gt=0)  # CPUs of a local Ray; None: workers * cpus_per_worker
    max_failures: int = Field(0, ge=0)  # Ray restarts of the worker group; each resumes from our checkpoint

    @model_validator(mode="after")
    def _cpus_hold_the_workers(self):
        # a local Ray with fewer CPUs than the workers ask for never schedules them: the run would wait for ever
        if self.num_cpus is not None and self.num_cpus < self.workers * self.cpus_per_worker:
            raise KeyValueError(
                "num_cpus",
                f"{self.num_cpus} CPUs cannot hold {self.workers} workers x {self.cpus_per_worker} cpus_per_worker",
            )
        return self


class EvalConfig(StageConfig):
    """Evaluation sets scored at every train.eval_every and at the end (pretrain.evaluate): a shipped set's
    name (frmt, docs: pairs; heldout: text; calamept: cloze) or a file path, relative to the config file."""

    enabled: bool = True
    pairs: list[str] = ["frmt", "docs"]
    text: list[str] = ["heldout"]
    cloze: list[str] = ["calamept"]
    max_items: int | None = Field(400, gt=0)  # per set, evenly spaced through the file; None: every item
    batch_size: int = Field(16, gt=0)


class PretrainConfig(StageConfig):
    seed: int = 1234
    model: ModelConfig = ModelConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    distributed: DistributedConfig = DistributedConfig()
    eval: EvalConfig = EvalConfig()


def load_pretrain_config(path: Path | str) -> PretrainConfig:
    """Read a YAML pretraining config; any mistake is a one-line UsageError naming the key."""
    config = validate(PretrainConfig, read_yaml_mapping(path), str(path))
    return config.model_copy(update={"eval": resolve_eval_paths(config.eval, Path(path).parent)})


def resolve_eval_paths(ec: EvalConfig, base: Path) -> EvalConfig:
    """Eval set files named relative to the config file, as its other paths are; shipped names stay names."""
    from lusomix.pretrain.eval_sets import SHIPPED

    def place(values: list[str]) -> list[str]:
        return [v if v in SHIPPED or Path(v).is_absolute() else str(base / v) for v in values]

    return ec.model_copy(update={"pairs": place(ec.pairs), "text": place(ec.text), "cloze": place(ec.cloze)})


def check_local_paths(config: PretrainConfig, source: str) -> None:
    """The folders the config names exist (the pretraining driver reads both before training)."""
    for key, path in (("model.checkpoint", config.model.checkpoint), ("tokenizer.path", config.tokenizer.path)):
        if path is not None and not path.is_dir():
            raise UsageError(f"{source}: {key}: {path} is not a local directory")


def step_tokens(config: PretrainConfig, workers: int) -> int:
    """Tokens one optimizer step trains on: every worker packs grad_accum_steps micro-batches of
    micro_batch_size sequences of context_length tokens (pretrain.loop.train_worker)."""
    tc = config.train
    return workers * tc.grad_accum_steps * tc.micro_batch_size * config.data.context_length


def _mix_size(mix_dir: RunFolder | str | Path) -> tuple[str, int, int]:
    """The mix's name, rows and tokens_est (1.4 tokens a word: the exact count needs the tokenizer, which a
    from-scratch run trains on the mix itself)."""
    manifest = Manifest.read(as_folder(mix_dir))
    rows = sum(int(shard.get("rows", 0)) for shard in manifest.shards)
    tokens = sum(int(shard.get("tokens_est", 0)) for shard in manifest.shards)
    return manifest.name, rows, tokens


def _step(config: PretrainConfig, workers: int) -> str:
    tc = config.train
    return (
        f"{workers} worker{'s' if workers != 1 else ''} x {tc.grad_accum_steps} grad_accum_steps x "
        f"{tc.micro_batch_size} sequences x {config.data.context_length} tokens = {step_tokens(config, workers)} tokens"
    )


def check_batch_fits(config: PretrainConfig, source: str, mix_dir: RunFolder | str | Path) -> None:
    """Refuse a global batch larger than the mix: one step would hold the same documents several times.

    The training stream loops over the mix epoch after epoch, so a small mix is fine for many steps; what
    makes no sense is a single step that needs more tokens than the whole mix has. For a mix that exists
    and a config the user wrote for it (see fit_batch for a mix the same run builds). An empty mix is left
    to the pass, which skips it ("no training text").
    """
    name, rows, tokens = _mix_size(mix_dir)
    if rows == 0 or tokens == 0:
        return
    workers = min(config.distributed.workers, rows)  # the pass uses fewer workers on a mix of few rows
    if step_tokens(config, workers) > tokens:
        raise UsageError(
            f"{source}: train.micro_batch_size: one step takes {_step(config, workers)}, more than the whole "
            f"mix {name!r} holds (~{tokens} tokens); lower train.micro_batch_size, train.grad_accum_steps, "
            "distributed.workers or data.context_length"
        )


def fit_batch(config: PretrainConfig, mix_dir: RunFolder | str | Path) -> tuple[PretrainConfig, str | None]:
    """The config with one step no larger than the mix, and a line saying what changed (None: nothing).

    For a mix built in the same run, whose size nobody could know when writing the config: a small input
    gives a small mix, and that is data, not a mistake. The step shrinks in the order that changes training
    least: fewer workers (the same per-worker batch), then less accumulation, then a smaller micro-batch,
    down to what one step of the mix can fill. A mix shorter than one sequence is skipped (PassSkipped).
    """
    name, rows, tokens = _mix_size(mix_dir)
    if rows == 0 or tokens == 0:
        return config, None  # the pass skips it: "no training text"
    dc, tc = config.distributed, config.train
    workers = min(dc.workers, rows)
    if step_tokens(config, workers) <= tokens:
        return config, None
    sequences = tokens // config.data.context_length  # the most sequences one step of the mix can fill
    if sequences == 0:
        raise PassSkipped(
            f"the mix {name!r} holds ~{tokens} tokens, fewer than one sequence of data.context_length "
            f"{config.data.context_length}"
        )
    fewer_workers = max(1, min(workers, sequences // (tc.grad_accum_steps * tc.micro_batch_size)))
    accum = max(1, min(tc.grad_accum_steps, sequences // (fewer_workers * tc.micro_batch_size)))
    micro_batch = max(1, min(tc.micro_batch_size, sequences // (fewer_workers * accum)))
    fitted = config.model_copy(
        update={
            "distributed": dc.model_copy(update={"workers": fewer_workers}),
            "train": tc.model_copy(update={"grad_accum_steps": accum, "micro_batch_size": micro_batch}),
        }
    )
    note = (
        f"one step of {_step(config, workers)} is more than the mix {name!r} holds (~{tokens} tokens): "
        f"trained with {_step(fitted, fewer_workers)}"
    )
    return fitted, note
