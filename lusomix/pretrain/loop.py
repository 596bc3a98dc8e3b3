"""The training loop and its driver: (continued) pretraining of a Llama-family causal LM on a mix, with Ray Train.

`run_pretrain` is the driver: it checks the inputs, holds out the validation slice, prepares the tokenizer,
and launches `train_worker` on N Ray Train workers (DDP, or FSDP2 for models that do not fit one device).
`train_worker` is the whole training loop, top to bottom. Checkpoints are our own (OUT/checkpoints/):
Ray only receives metrics, and a Ray run restarted after a worker failure resumes from them like a rerun.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from lusomix.errors import PassFailed, PassSkipped, UsageError
from lusomix.pretrain import checkpoint as ckpt
from lusomix.pretrain.config import PretrainConfig
from lusomix.pretrain.data import (
    IGNORE_INDEX,
    PackedStream,
    Prefetcher,
    assign_units,
    load_tokenizer,
    mix_texts,
    read_mix,
    select_validation,
    train_tokenizer,
    usable_workers,
    validation_batch,
)
from lusomix.pretrain.eval_sets import configured_sets
from lusomix.pretrain.evaluate import evaluate_sets
from lusomix.pretrain.model import build_model, gradient_sync, wrap_model
from lusomix.pretrain.summary import METRICS, summarise
from lusomix.ray_address import check_reachable
from lusomix.run_folder import LABELS, RunFolder, as_folder
from lusomix.run_output import prepare_output_dir


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
            total[0] += F.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(), y[:, 1:].flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
            )
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
    out, max_steps = job["out"], job["max_steps"]  # the run's folder: local, or a store every node reads
    tc, oc = config.train, config.optim
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    bf16 = tc.precision == "bf16" or (tc.precision == "auto" and device.type == "cuda")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    random.seed(config.seed), np.random.seed(config.seed), torch.manual_seed(config.seed)  # same init everywhere

    tokenizer_folder, tokenizer_rel = job["tokenizer"]
    with tokenizer_folder.fetch(tokenizer_rel) as local:  # loaded whole: the copy can go
        tokenizer = load_tokenizer(local)
    model = wrap_model(build_model(config, tokenizer), config, device, bf16)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": oc.weight_decay},  # not norms
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ],
        lr=oc.lr,
        betas=oc.betas,
        eps=oc.eps,
        fused=device.type == "cuda",
    )
    decay = oc.decay_steps or max_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, oc.warmup_steps, decay, oc.min_lr_ratio)
    )
    # FSDP casts by its own policy; DDP computes under autocast with fp32 master weights
    autocast = torch.autocast(device.type, torch.bfloat16, enabled=bf16 and config.distributed.strategy == "ddp")

    ctx_len, mbs, accum = config.data.context_length, tc.micro_batch_size, tc.grad_accum_steps
    mix = read_mix(job["mix"])
    stream = PackedStream(
        assign_units(mix, rank, world),
        tokenizer.backend_tokenizer,
        tokenizer.eos_token_id,
        ctx_len,
        job["held_out_ids"],
        config.data.read_batch_docs,
    )
    validation = {
        v: rank_share(
            *validation_batch(tokenizer.backend_tokenizer, job["validation"][v], tokenizer.eos_token_id, ctx_len),
            rank,
            world,
        )
        for v in LABELS
    }

    step, tokens_seen = 0, 0
    latest = ckpt.latest(out)
    if latest is not None:
        step, tokens_seen, data_state = ckpt.load(out, latest, model, optimizer, scheduler, rank)
        stream.load_state_dict(data_state)
    loader = Prefetcher(stream, mbs, depth=2 * accum)
    if rank == 0:
        ckpt.trim_metrics(out, METRICS, step)  # lines past the checkpoint belong to a run that was lost
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
        record = {
            "step": step,
            "loss": round(loss_value, 5),
            "lr": lr,
            "grad_norm": round(grad_norm.item(), 4),
            "tokens_per_s": round(tokens_per_step / elapsed, 1),
            "tokens_seen": tokens_seen,
        }
        if step % tc.eval_every == 0 or step == max_steps:
            record.update(evaluate(model, validation, mbs, device, autocast))
            if job["eval_sets"]:  # pt-PT/pt-BR pairs, bits per byte, cloze: shared across the ranks
                bs = config.eval.batch_size
                record["eval"] = evaluate_sets(model, tokenizer, job["eval_sets"], bs, device, autocast, rank, world)
        if rank == 0:
            out.append_text(METRICS, json.dumps(record) + "\n")
            print("[pretrain] " + " ".join(f"{k}={v}" for k, v in record.items() if k != "eval"), flush=True)
        if step % tc.report_every == 0 or step == max_steps or "val_loss_pt_PT" in record:
            ray.train.report(record)  # metrics only: the checkpoints are ours
        if step % tc.checkpoint_every == 0 or step == max_steps:
            ckpt.save(
                out,
                step,
                tokens_seen,
                model,
                optimizer,
                scheduler,
                loader.state_dict(),
                rank,
                tc.keep_checkpoints,
                {"world_size": world, "mix": mix.fingerprint},
            )
    loader.close()
    if tc.export_model:
        ckpt.export_hf(model, tokenizer, out, "model", rank)


# ---------------------------------------------------------------------------------------------- driver


def _ray_storage(out: RunFolder) -> dict:
    """Ray Train's own files (results, its logs) in OUT/ray: on a store through the run folder's filesystem,
    so that no node relies on another's disk."""
    if out.local:
        return {"storage_path": out.join("ray")}
    import pyarrow.fs as pafs

    return {"storage_path": out.join("ray"), "storage_filesystem": pafs.PyFileSystem(pafs.FSSpecHandler(out.fs))}


def prepare_tokenizer(config: PretrainConfig, mix, held_out_ids, out: RunFolder) -> tuple[RunFolder, str]:
    """The tokenizer's folder: the configured one, the checkpoint's own, or one trained on the mix and kept
    in the run's folder (as a folder and the path in it, which every worker fetches)."""
    path = config.tokenizer.path or config.model.checkpoint
    if path is not None:
        folder, rel = RunFolder(Path(path).resolve()), ""
    else:
        folder, rel = out, "tokenizer"
        if not out.isdir(rel):  # a resumed run must keep the vocabulary it started with
            texts = mix_texts(mix, held_out_ids, config.tokenizer.train_docs)
            train_tokenizer(texts, config.tokenizer.vocab_size, out.url_of(rel))
    with folder.fetch(rel) as local:
        load_tokenizer(local)  # fails here, in one line, rather than inside every worker
    return folder, rel


def run_pretrain(
    config: PretrainConfig,
    mix_dir: RunFolder | Path | str,
    out_dir: RunFolder | Path | str,
    max_steps: int | None = None,
    ray_address: str | None = None,
) -> dict:
    """Train on the mix in mix_dir, writing to out_dir (resuming from its last checkpoint); return a summary.
    Either may be local or on a store (then every Ray Train worker reads and writes there)."""
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")  # nothing is ever downloaded
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig, TrainingFailedError
    from ray.train.torch import TorchConfig, TorchTrainer

    max_steps = max_steps if max_steps is not None else config.train.max_steps
    if max_steps <= 0:
        raise UsageError(f"--max-steps must be positive, got {max_steps}")
    if config.model.checkpoint is not None and not config.model.checkpoint.is_dir():
        raise UsageError(f"model.checkpoint not found: {config.model.checkpoint} is not a local directory")
    dc = config.distributed
    mix = read_mix(as_folder(mix_dir))
    validation = select_validation(mix, config.data.val_docs_per_variety)
    # a small mix is a normal outcome of a small input: fewer workers, or nothing to train (not an error)
    workers = usable_workers(mix, validation.ids, dc.workers)
    rows = sum(s.rows for s in mix.shards)
    if workers == 0:
        raise PassSkipped(
            f"the mix {mix.name!r} has no training text ({rows} rows, {len(validation.ids)} "
            "of them held out for validation)"
        )
    note = (
        (
            f"{dc.workers} workers asked, {workers} used: the mix ({rows} rows, {len(validation.ids)} held out "
            f"for validation) has training text for {workers} only"
        )
        if workers < dc.workers
        else None
    )
    out = prepare_output_dir(out_dir)
    out.remove_temporaries()  # what a killed run of this folder left (one pretraining run per folder)
    latest = ckpt.latest(out)
    if latest is not None:
        ckpt.check_compatible(out, latest, {"world_size": workers, "mix": mix.fingerprint})
    tokenizer = prepare_tokenizer(config, mix, validation.ids, out)
    start_step = ckpt.step_of(latest) if latest is not None else 0
    job = {
        "config": config.model_dump(mode="json"),
        "mix": mix.dir,
        "out": out,
        "tokenizer": tokenizer,
        "max_steps": max_steps,
        "held_out_ids": list(validation.ids),
        "validation": validation.texts,
        "eval_sets": configured_sets(config.eval),  # read here: a bad file fails before training starts
    }

    if ray_address:  # checked even where this process runs a Ray already: the address the user gave must answer
        check_reachable(ray_address)
    started_ray = not ray.is_initialized()
    if started_ray:
        # workers' own log lines reach the terminal only with -v (LUSOMIX_LOG_LEVEL=INFO); metrics.jsonl has them all
        quiet = os.environ.get("LUSOMIX_LOG_LEVEL", "WARNING") != "INFO"
        # Ray's own start-up lines ("Started a local Ray instance", its auth-token notice) likewise
        level = logging.ERROR if quiet else logging.INFO
        if ray_address:
            ray.init(address=ray_address, log_to_driver=not quiet, logging_level=level)
        else:
            cpus = dc.num_cpus or workers * dc.cpus_per_worker
            # "local": this run's own Ray, even where another cluster runs on the machine (Ray would join it)
            ray.init(
                address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=not quiet, logging_level=level
            )
    try:
        if start_step < max_steps:
            trainer = TorchTrainer(
                train_worker,
                train_loop_config=job,
                scaling_config=ScalingConfig(
                    num_workers=workers,
                    use_gpu=dc.use_gpu,
                    resources_per_worker={"CPU": dc.cpus_per_worker, **({"GPU": 1} if dc.use_gpu else {})},
                ),
                torch_config=TorchConfig(backend="nccl" if dc.use_gpu else "gloo"),
                # a fresh Ray run name each time: Ray never restores its own state, ours does
                run_config=RunConfig(
                    name=f"pretrain-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}",
                    **_ray_storage(out),
                    failure_config=FailureConfig(max_failures=dc.max_failures),
                ),
            )
            trainer.fit()
    except TrainingFailedError as exc:
        lines = str(exc).strip().splitlines()
        cause = next((line for line in reversed(lines) if "Error" in line), lines[-1] if lines else "")
        raise PassFailed(
            f"pretraining failed: {cause.strip()} (logs: {out.url_of('ray')}; checkpoints are kept, rerun to resume)"
        ) from exc
    finally:
        if started_ray:
            ray.shutdown()
    summary = summarise(out, start_step)
    summary["workers"] = workers
    if note:
        summary["note"] = note
    return summary
