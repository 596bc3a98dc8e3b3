"""Pretraining checkpoints: OUT/checkpoints/step-NNNNNN/, complete when their marker is there, the last K kept.

A checkpoint holds the model and optimizer (torch.distributed.checkpoint: the same code path for DDP and
for FSDP2's sharded parameters, and loadable on another world size), the LR scheduler, trainer_state.json
(step, tokens seen, world size, mix fingerprint) and one worker-RRRRR.pt per rank with that rank's data
stream position and RNG states. Every rank writes its files on its own node's disk and publishes them into
the run folder (local or a store: the workers of a cluster share nothing else); rank 0 writes
trainer_state.json last, when every rank has finished, so a crash mid-write leaves a folder without it,
never resumed from, and the previous checkpoint as the latest.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)

from lusomix.errors import UsageError
from lusomix.run_folder import RunFolder

STEP_DIR = re.compile(r"step-(\d{6,})")
STATE_FILE = "trainer_state.json"


CHECKPOINTS = "checkpoints"


def step_of(path: str) -> int:
    match = STEP_DIR.fullmatch(path.rstrip("/").rsplit("/", 1)[-1])
    if match is None:
        raise ValueError(f"{path} is not a checkpoint folder")
    return int(match.group(1))


def complete(out: RunFolder) -> list[str]:
    """Finished checkpoints (``checkpoints/step-N``), oldest first: a folder without its marker is an
    interrupted write, never resumed from."""
    found = [p.rsplit("/", 1)[0] for p in out.glob(f"{CHECKPOINTS}/step-*/{STATE_FILE}")]
    return sorted((p for p in found if STEP_DIR.fullmatch(p.rsplit("/", 1)[-1])), key=step_of)


def latest(out: RunFolder) -> str | None:
    found = complete(out)
    return found[-1] if found else None


def check_compatible(out: RunFolder, path: str, expected: dict) -> None:
    """A resumed run must use the same number of workers (the data position is per worker) and the same mix."""
    state = out.read_json(f"{path}/{STATE_FILE}")
    if state["world_size"] != expected["world_size"]:
        raise UsageError(
            f"{path} was written by {state['world_size']} workers: resume with "
            f"--workers {state['world_size']}, or use a new --output folder"
        )
    if state["mix"] != expected["mix"]:
        raise UsageError(
            f"{path} was trained on another mix (fingerprint {state['mix']}): use a new --output folder for this mix"
        )


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def save(
    out: RunFolder,
    step: int,
    tokens_seen: int,
    model,
    optimizer,
    scheduler,
    data_state: dict,
    rank: int,
    keep: int,
    identity: dict,
) -> str:
    """Collective: every rank calls it. Returns the checkpoint folder (relative to ``out``)."""
    final = f"{CHECKPOINTS}/step-{step:06d}"
    if rank == 0:
        # the same step saved again (a rerun that lost its later checkpoints), or a killed run's partial write
        out.rm(final, recursive=True)
    dist.barrier()
    model_state, optim_state = get_state_dict(model, optimizer)
    with out.scratch(f"checkpoint-{rank}") as tmp:  # this node's disk
        dcp.save({"model": model_state, "optimizer": optim_state}, checkpoint_id=Path(tmp) / "state")
        torch.save({"data": data_state, "rng": _rng_state()}, Path(tmp) / f"worker-{rank:05d}.pt")
        if rank == 0:
            torch.save(scheduler.state_dict(), Path(tmp) / "scheduler.pt")
        out.put_tree(tmp, final)  # this rank's share: its state files, its worker file
    dist.barrier()
    if rank == 0:
        out.write_text(f"{final}/{STATE_FILE}", json.dumps({"step": step, "tokens_seen": tokens_seen, **identity}))
        finished = complete(out)
        for old in finished[:-keep]:
            out.rm(old, recursive=True)
        for folder in out.glob(f"{CHECKPOINTS}/step-*"):  # writes of killed runs, never completed
            if folder not in finished and folder != final:
                out.rm(folder, recursive=True)
    dist.barrier()
    return final


def load(out: RunFolder, path: str, model, optimizer, scheduler, rank: int) -> tuple[int, int, dict]:
    """Collective: restore model, optimizer, scheduler and RNGs saved at `path` (relative to ``out``; read on
    this node's disk, a copy when the run folder is on a store); returns (step, tokens_seen, this rank's data
    stream state)."""
    model_state, optim_state = get_state_dict(model, optimizer)
    with out.fetch(path) as local:
        folder = Path(local)
        dcp.load({"model": model_state, "optimizer": optim_state}, checkpoint_id=folder / "state")  # in place
        set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optim_state)
        scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=True))
        worker = torch.load(folder / f"worker-{rank:05d}.pt", weights_only=False)  # numpy RNG state: no tensor
        trainer = json.loads((folder / STATE_FILE).read_text())
    # the schedule may have a new horizon (a higher --max-steps): the next LR comes from today's schedule
    for group, base, factor in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
        group["lr"] = base * factor(scheduler.last_epoch)
    _set_rng_state(worker["rng"])
    return trainer["step"], trainer["tokens_seen"], worker["data"]


def trim_metrics(out: RunFolder, rel: str, step: int) -> None:
    """Drop metric lines after `step`: they were logged by a run that died before its next checkpoint."""
    if not out.exists(rel):
        return
    lines = [line for line in out.read_text(rel).splitlines() if line and json.loads(line)["step"] <= step]
    out.write_text(rel, "".join(line + "\n" for line in lines))


def export_hf(model, tokenizer, out: RunFolder, rel: str, rank: int) -> None:
    """Collective: the full model (gathered from FSDP shards if needed) in Hugging Face format, on rank 0."""
    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if rank == 0:
        hf_model = getattr(model, "module", model)  # DDP wraps, FSDP2 does not
        with out.publish(rel) as tmp:
            hf_model.save_pretrained(tmp, state_dict=full)
            tokenizer.save_pretrained(tmp)
    dist.barrier()
