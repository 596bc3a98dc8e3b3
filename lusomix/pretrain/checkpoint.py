"""Pretraining checkpoints: OUT/checkpoints/step-NNNNNN/, written atomically, the last K kept.

A checkpoint holds the model and optimizer (torch.distributed.checkpoint: the same code path for DDP and
for FSDP2's sharded parameters, and loadable on another world size), the LR scheduler, trainer_state.json
(step, tokens seen, world size, mix fingerprint) and one worker-RRRRR.pt per rank with that rank's data
stream position and RNG states. It is written under a .tmp- name and renamed when every rank has finished,
so a crash mid-write leaves the previous checkpoint as the latest.
"""

from __future__ import annotations

import json
import random
import re
import shutil
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
from lusomix.run_folder import atomic_path, write_text_atomic

STEP_DIR = re.compile(r"step-(\d{6,})")
STATE_FILE = "trainer_state.json"


def step_of(path: Path) -> int:
    match = STEP_DIR.fullmatch(path.name)
    if match is None:
        raise ValueError(f"{path} is not a checkpoint folder")
    return int(match.group(1))


def complete(root: Path) -> list[Path]:
    """Finished checkpoints, oldest first (a .tmp- folder is an interrupted write, never resumed from)."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if STEP_DIR.fullmatch(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=step_of)


def latest(root: Path) -> Path | None:
    found = complete(root)
    return found[-1] if found else None


def check_compatible(path: Path, expected: dict) -> None:
    """A resumed run must use the same number of workers (the data position is per worker) and the same mix."""
    state = json.loads((path / STATE_FILE).read_text())
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
    root: Path,
    step: int,
    tokens_seen: int,
    model,
    optimizer,
    scheduler,
    data_state: dict,
    rank: int,
    keep: int,
    identity: dict,
) -> Path:
    """Collective: every rank calls it. Returns the checkpoint folder."""
    final, tmp = root / f"step-{step:06d}", root / f".tmp-step-{step:06d}"
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    dist.barrier()
    model_state, optim_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optimizer": optim_state}, checkpoint_id=tmp / "state")
    torch.save({"data": data_state, "rng": _rng_state()}, tmp / f"worker-{rank:05d}.pt")
    if rank == 0:
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        (tmp / STATE_FILE).write_text(json.dumps({"step": step, "tokens_seen": tokens_seen, **identity}))
    dist.barrier()
    if rank == 0:
        if final.exists():  # the same step saved again (a rerun that lost its later checkpoints)
            shutil.rmtree(final)
        tmp.rename(final)
        for old in complete(root)[:-keep]:
            shutil.rmtree(old)
    dist.barrier()
    return final


def load(path: Path, model, optimizer, scheduler, rank: int) -> tuple[int, int, dict]:
    """Collective: restore model, optimizer, scheduler and RNGs saved at `path`; returns
    (step, tokens_seen, this rank's data stream state)."""
    model_state, optim_state = get_state_dict(model, optimizer)
    dcp.load({"model": model_state, "optimizer": optim_state}, checkpoint_id=path / "state")  # in place
    set_state_dict(model, optimizer, model_state_dict=model_state, optim_state_dict=optim_state)
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    # the schedule may have a new horizon (a higher --max-steps): the next LR comes from today's schedule
    for group, base, factor in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
        group["lr"] = base * factor(scheduler.last_epoch)
    worker = torch.load(path / f"worker-{rank:05d}.pt", weights_only=False)  # numpy RNG state is not a tensor
    _set_rng_state(worker["rng"])
    trainer = json.loads((path / STATE_FILE).read_text())
    return trainer["step"], trainer["tokens_seen"], worker["data"]


def trim_metrics(path: Path, step: int) -> None:
    """Drop metric lines after `step`: they were logged by a run that died before its next checkpoint."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    write_text_atomic(path, "".join(line + "\n" for line in lines))


def export_hf(model, tokenizer, out_dir: Path, rank: int) -> None:
    """Collective: the full model (gathered from FSDP shards if needed) in Hugging Face format, on rank 0."""
    full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if rank == 0:
        hf_model = getattr(model, "module", model)  # DDP wraps, FSDP2 does not
        with atomic_path(out_dir) as tmp:
            hf_model.save_pretrained(tmp, state_dict=full)
            tokenizer.save_pretrained(tmp)
    dist.barrier()
