"""The pretraining stage: (continued) pretraining of a Llama-family causal LM on a mix, with Ray Train.

`run_pretrain` is the driver: it checks the inputs, holds out the validation slice, prepares the tokenizer,
and launches `train_worker` on N Ray Train workers (DDP, or FSDP2 for models that do not fit one device).
`train_worker` is the whole training loop, top to bottom. Checkpoints are our own (OUT/checkpoints/):
Ray only receives metrics, and a Ray run restarted after a worker failure resumes from them like a rerun.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator

from lusomix.errors import PassFailed, PassSkipped, UsageError
from lusomix.stages import pretrain_checkpoint as ckpt
from lusomix.stages.config_base import StageConfig, read_yaml_mapping, validate
from lusomix.stages.output_dir import prepare_output_dir
from lusomix.stages.pretrain_summary import summarise
from lusomix.stages.ray_address import check_reachable
from lusomix.stages.pretrain_data import (IGNORE_INDEX, VARIETIES, PackedStream, Prefetcher, assign_units,
                                          load_tokenizer, mix_texts, read_mix, select_validation, train_tokenizer,
                                          usable_workers, validation_batch)


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
        from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

        if value is not None:
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


class PretrainConfig(StageConfig):
    seed: int = 1234
    model: ModelConfig = ModelConfig()
    tokenizer: TokenizerConfig = TokenizerConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    distributed: DistributedConfig = DistributedConfig()


def load_pretrain_config(path: Path | str) -> PretrainConfig:
    """Read a YAML pretraining config; any mistake is a one-line UsageError naming the key."""
    return validate(PretrainConfig, read_yaml_mapping(path), str(path))


# ---------------------------------------------------------------------------------------------- model


def build_model(config: PretrainConfig, tokenizer) -> torch.nn.Module:
    """A local HF checkpoint (context and RoPE overridden by the config), or a Llama built from the config."""
    from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    m, context = config.model, config.data.context_length
    rope = {k: v for k, v in (m.rope_scaling or {}).items() if k != "type"}
    if m.rope_scaling:
        rope["rope_type"] = m.rope_scaling.get("rope_type", m.rope_scaling.get("type"))
    if m.rope_theta:
        rope["rope_theta"] = m.rope_theta
    if m.checkpoint is not None:
        hf_config = AutoConfig.from_pretrained(m.checkpoint, local_files_only=True)
        # context extension: the position budget grows, the RoPE change is the config's
        hf_config.max_position_embeddings = max(context, hf_config.max_position_embeddings)
        if rope:
            hf_config.rope_parameters = {**(getattr(hf_config, "rope_parameters", None) or {}), **rope}
        hf_config.use_cache = False
        model = AutoModelForCausalLM.from_pretrained(m.checkpoint, config=hf_config, local_files_only=True,
                                                     dtype=torch.float32, attn_implementation=m.attn_implementation)
        if len(tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
    else:
        vocab = -(-len(tokenizer) // 64) * 64  # a multiple of 64 keeps the output matmul on fast kernels
        hf_config = LlamaConfig(
            vocab_size=vocab, hidden_size=m.hidden_size, num_hidden_layers=m.num_layers,
            num_attention_heads=m.num_heads, num_key_value_heads=m.num_kv_heads,
            intermediate_size=m.intermediate_size, max_position_embeddings=context,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0, **rope},
            tie_word_embeddings=m.tie_embeddings, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, use_cache=False)
        hf_config._attn_implementation = m.attn_implementation
        model = LlamaForCausalLM(hf_config)
    if m.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model


def wrap_model(model: torch.nn.Module, config: PretrainConfig, device: torch.device, bf16: bool):
    """DDP, or FSDP2 (`fully_shard` per decoder layer, then the whole model) for large models."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    from torch.nn.parallel import DistributedDataParallel

    layers = model.model.layers
    if config.train.compile:
        for layer in layers:
            layer.compile()  # in place: state_dict keys stay the same, so checkpoints do not care
    if config.distributed.strategy == "fsdp":
        # FSDP casts parameters itself (bf16 compute, fp32 master weights and gradient reduction)
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16 if bf16 else None, reduce_dtype=torch.float32)
        for layer in layers:
            fully_shard(layer, mp_policy=policy)
        return fully_shard(model.to(device), mp_policy=policy)
    return DistributedDataParallel(model.to(device), device_ids=[device.index] if device.type == "cuda" else None)


def gradient_sync(model, enabled: bool):
    """Skip the gradient all-reduce on all but the last micro-batch of an accumulation."""
    if hasattr(model, "no_sync"):
        return nullcontext() if enabled else model.no_sync()
    model.set_requires_gradient_sync(enabled)  # FSDP2
    return nullcontext()


def lr_factor(step: int, warmup: int, decay: int, min_ratio: float) -> float:
    """Linear warmup, then cosine down to min_ratio at `decay`, then flat."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = min(1.0, (step - warmup) / max(1, decay - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def rank_share(inputs: np.ndarray, labels: np.ndarray, rank: int, world: int):
    """This rank's validation rows. Every rank gets the same count (FSDP needs equal forward calls):
    short ranks are topped up with fully masked rows, which add nothing to the loss."""
    per = -(-len(inputs) // world)
    idx = np.arange(rank * per, (rank + 1) * per)
    take = np.where(idx < len(inputs), idx, 0)
    labels = np.where((idx < len(inputs))[:, None], labels[take] if len(inputs) else labels, IGNORE_INDEX)
    return torch.from_numpy(inputs[take] if len(inputs) else inputs), torch.from_numpy(labels)


@torch.no_grad()
def evaluate(model, validation: dict, batch_size: int, device, autocast) -> dict:
    """Mean next-token loss on each variety's held-out documents, over all ranks."""
    model.eval()
    losses = {}
    for variety, (inputs, labels) in validation.items():
        total = torch.zeros(2, dtype=torch.float64, device=device)  # loss sum, token count
        for i in range(0, len(inputs), batch_size):
            x, y = inputs[i : i + batch_size].to(device), labels[i : i + batch_size].to(device)
            with autocast:
                logits = model(input_ids=x).logits
            total[0] += F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), y[:, 1:].flatten(),
                                        ignore_index=IGNORE_INDEX, reduction="sum")
            total[1] += (y[:, 1:] != IGNORE_INDEX).sum()
        dist.all_reduce(total)
        losses[f"val_loss_{variety}"] = round((total[0] / total[1]).item(), 5) if total[1] > 0 else None
    model.train()
    return losses


# ---------------------------------------------------------------------------------------------- worker


def train_worker(job: dict) -> None:
    """One Ray Train worker: the training loop."""
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")  # workers of a remote cluster too
    # the Rust tokenizer's thread pool otherwise takes every core of the node, for each worker
    os.environ.setdefault("RAYON_NUM_THREADS", str(job["config"]["distributed"]["cpus_per_worker"]))
    import ray.train
    import ray.train.torch

    config = PretrainConfig.model_validate(job["config"])
    out_dir, max_steps = Path(job["out_dir"]), job["max_steps"]
    tc, oc = config.train, config.optim
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    bf16 = tc.precision == "bf16" or (tc.precision == "auto" and device.type == "cuda")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    random.seed(config.seed), np.random.seed(config.seed), torch.manual_seed(config.seed)  # same init everywhere

    tokenizer = load_tokenizer(job["tokenizer_dir"])
    model = wrap_model(build_model(config, tokenizer), config, device, bf16)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in params if p.ndim >= 2], "weight_decay": oc.weight_decay},  # not norms
         {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}],
        lr=oc.lr, betas=oc.betas, eps=oc.eps, fused=device.type == "cuda")
    decay = oc.decay_steps or max_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, oc.warmup_steps, decay, oc.min_lr_ratio))
    # FSDP casts by its own policy; DDP computes under autocast with fp32 master weights
    autocast = torch.autocast(device.type, torch.bfloat16, enabled=bf16 and config.distributed.strategy == "ddp")

    ctx_len, mbs, accum = config.data.context_length, tc.micro_batch_size, tc.grad_accum_steps
    mix = read_mix(Path(job["mix_dir"]))
    stream = PackedStream(assign_units(mix, rank, world), tokenizer.backend_tokenizer, tokenizer.eos_token_id,
                          ctx_len, job["held_out_ids"], config.data.read_batch_docs)
    validation = {v: rank_share(*validation_batch(tokenizer.backend_tokenizer, job["validation"][v],
                                                  tokenizer.eos_token_id, ctx_len), rank, world)
                  for v in VARIETIES}

    step, tokens_seen = 0, 0
    latest = ckpt.latest(out_dir / "checkpoints")
    if latest is not None:
        step, tokens_seen, data_state = ckpt.load(latest, model, optimizer, scheduler, rank)
        stream.load_state_dict(data_state)
    loader = Prefetcher(stream, mbs, depth=2 * accum)
    metrics_path = out_dir / "metrics.jsonl"
    if rank == 0:
        ckpt.trim_metrics(metrics_path, step)  # lines past the checkpoint belong to a run that was lost
        print(f"[pretrain] {world} workers on {device.type}, start at step {step}, stop at {max_steps}", flush=True)
    tokens_per_step = world * accum * mbs * ctx_len

    model.train()
    while step < max_steps:
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        for micro in range(accum):
            batch = torch.from_numpy(loader.next_batch()).to(device, non_blocking=True)
            with gradient_sync(model, micro == accum - 1), autocast:
                loss = model(input_ids=batch, labels=batch).loss / accum
            loss.backward()
            loss_sum += loss.detach()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), oc.grad_clip)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        dist.all_reduce(loss_sum)  # gloo has no AVG: sum, then divide
        step, tokens_seen = step + 1, tokens_seen + tokens_per_step
        loss_value = loss_sum.item() / world  # .item() waits for the GPU: the step time below is real
        elapsed = time.perf_counter() - t0
        if hasattr(grad_norm, "full_tensor"):
            grad_norm = grad_norm.full_tensor()  # FSDP2 returns a DTensor
        record = {"step": step, "loss": round(loss_value, 5), "lr": lr, "grad_norm": round(grad_norm.item(), 4),
                  "tokens_per_s": round(tokens_per_step / elapsed, 1), "tokens_seen": tokens_seen}
        if step % tc.eval_every == 0 or step == max_steps:
            record.update(evaluate(model, validation, mbs, device, autocast))
        if rank == 0:
            with metrics_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            print("[pretrain] " + " ".join(f"{k}={v}" for k, v in record.items()), flush=True)
        if step % tc.report_every == 0 or step == max_steps or "val_loss_pt_PT" in record:
            ray.train.report(record)  # metrics only: the checkpoints are ours
        if step % tc.checkpoint_every == 0 or step == max_steps:
            ckpt.save(out_dir / "checkpoints", step, tokens_seen, model, optimizer, scheduler,
                      loader.state_dict(), rank, tc.keep_checkpoints, {"world_size": world, "mix": mix.fingerprint})
    loader.close()
    if tc.export_model:
        ckpt.export_hf(model, tokenizer, out_dir / "model", rank)


# ---------------------------------------------------------------------------------------------- driver


def prepare_tokenizer(config: PretrainConfig, mix, held_out_ids, out_dir: Path) -> Path:
    """The tokenizer's folder: the configured one, the checkpoint's own, or one trained on the mix."""
    path = config.tokenizer.path or config.model.checkpoint
    if path is None:
        path = out_dir / "tokenizer"
        if not path.is_dir():  # a resumed run must keep the vocabulary it started with
            texts = mix_texts(mix, held_out_ids, config.tokenizer.train_docs)
            train_tokenizer(texts, config.tokenizer.vocab_size, path)
    load_tokenizer(path)  # fails here, in one line, rather than inside every worker
    return Path(path).resolve()


def run_pretrain(config: PretrainConfig, mix_dir: Path, out_dir: Path, max_steps: int | None = None,
                 ray_address: str | None = None) -> dict:
    """Train on the mix in mix_dir, writing to out_dir (resuming from its last checkpoint); return a summary."""
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")  # nothing is ever downloaded
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig, TrainingFailedError
    from ray.train.torch import TorchConfig, TorchTrainer

    mix_dir, out_dir = Path(mix_dir).resolve(), Path(out_dir).resolve()
    max_steps = max_steps if max_steps is not None else config.train.max_steps
    if max_steps <= 0:
        raise UsageError(f"--max-steps must be positive, got {max_steps}")
    if config.model.checkpoint is not None and not config.model.checkpoint.is_dir():
        raise UsageError(f"model.checkpoint not found: {config.model.checkpoint} is not a local directory")
    dc = config.distributed
    mix = read_mix(mix_dir)
    validation = select_validation(mix, config.data.val_docs_per_variety)
    # a small mix is a normal outcome of a small input: fewer workers, or nothing to train (not an error)
    workers = usable_workers(mix, validation.ids, dc.workers)
    rows = sum(s.rows for s in mix.shards)
    if workers == 0:
        raise PassSkipped(f"the mix {mix.name!r} has no training text ({rows} rows, {len(validation.ids)} "
                          "of them held out for validation)")
    note = (f"{dc.workers} workers asked, {workers} used: the mix ({rows} rows, {len(validation.ids)} held out "
            f"for validation) has training text for {workers} only") if workers < dc.workers else None
    out_dir = prepare_output_dir(out_dir)
    latest = ckpt.latest(out_dir / "checkpoints")
    if latest is not None:
        ckpt.check_compatible(latest, {"world_size": workers, "mix": mix.fingerprint})
    tokenizer_dir = prepare_tokenizer(config, mix, validation.ids, out_dir)
    start_step = ckpt.step_of(latest) if latest is not None else 0
    job = {"config": config.model_dump(mode="json"), "mix_dir": str(mix_dir), "out_dir": str(out_dir),
           "tokenizer_dir": str(tokenizer_dir), "max_steps": max_steps, "held_out_ids": list(validation.ids),
           "validation": validation.texts}

    started_ray = not ray.is_initialized()
    if started_ray:
        # workers' own log lines reach the terminal only with -v (LUSOMIX_LOG_LEVEL=INFO); metrics.jsonl has them all
        quiet = os.environ.get("LUSOMIX_LOG_LEVEL", "WARNING") != "INFO"
        # Ray's own start-up lines ("Started a local Ray instance", its auth-token notice) likewise
        ray_logging = {"log_to_driver": not quiet, "logging_level": "ERROR" if quiet else "INFO"}
        if ray_address:
            check_reachable(ray_address)
            ray.init(address=ray_address, **ray_logging)
        else:
            ray.init(num_cpus=dc.num_cpus or workers * dc.cpus_per_worker, include_dashboard=False, **ray_logging)
    try:
        if start_step < max_steps:
            trainer = TorchTrainer(
                train_worker, train_loop_config=job,
                scaling_config=ScalingConfig(num_workers=workers, use_gpu=dc.use_gpu,
                                             resources_per_worker={"CPU": dc.cpus_per_worker,
                                                                   **({"GPU": 1} if dc.use_gpu else {})}),
                torch_config=TorchConfig(backend="nccl" if dc.use_gpu else "gloo"),
                # a fresh Ray run name each time: Ray never restores its own state, ours does
                run_config=RunConfig(name=f"pretrain-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}",
                                     storage_path=str(out_dir / "ray"),
                                     failure_config=FailureConfig(max_failures=dc.max_failures)))
            trainer.fit()
    except TrainingFailedError as exc:
        lines = str(exc).strip().splitlines()
        cause = next((line for line in reversed(lines) if "Error" in line), lines[-1] if lines else "")
        raise PassFailed(f"pretraining failed: {cause.strip()} (logs: {out_dir / 'ray'}; checkpoints are kept, "
                         "rerun to resume)") from exc
    finally:
        if started_ray:
            ray.shutdown()
    summary = summarise(out_dir, start_step)
    summary["workers"] = workers
    if note:
        summary["note"] = note
    return summary
