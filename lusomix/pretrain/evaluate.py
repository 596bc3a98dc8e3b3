"""Scoring a causal LM on evaluation sets by log-likelihood: bits per UTF-8 byte, pair preference, cloze.

Bits per byte (the sum of the tokens' negative log-likelihoods in nats, / ln 2, / the text's UTF-8 bytes)
does not depend on the tokenizer, so models with different vocabularies compare. Every text is scored as a
document of its own, after the EOS token that separates documents in training (data.tokenize); a text
longer than the model's context is scored in consecutive windows, each token predicted exactly once.
A cloze item is right when every token of its last word is the model's first choice given what precedes
it (the greedy criterion of lm-eval-harness's LAMBADA): one forward pass, no generation.

Scoring is batched (rows sorted by length, right-padded: a causal model never looks at the padding) and can
be shared across the ranks of a training job: each rank scores every world-th row, the sums are all-reduced.
"""

from __future__ import annotations

import math
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lusomix.errors import UsageError
from lusomix.pretrain.eval_sets import EvalSet

LN2 = math.log(2)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (sound at small n and near 0 or 1, unlike the normal one)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _rows(tokenizer, items: list[tuple[str, str]], max_len: int):
    """Token rows of (prefix, target) items: (ids, first scored position, item index) per row.

    A row is EOS + the item's tokens (or a window of them); the scored positions are the target's tokens.
    """
    eos = tokenizer.eos_token_id
    encodings = tokenizer.backend_tokenizer.encode_batch([p + t for p, t in items], add_special_tokens=False)
    rows = []
    for index, ((prefix, _), enc) in enumerate(zip(items, encodings)):
        # the first token that reaches into the target (byte-level BPE glues the space to the word after it)
        start = next((i for i, (_, end) in enumerate(enc.offsets) if end > len(prefix)), len(enc.ids))
        seq = np.array([eos, *enc.ids], dtype=np.int64)
        first_target = start + 1  # position in seq
        # windows of max_len overlapping by one token: position p (>= 1) is predicted in exactly one window
        for lo in range(0, max(1, len(seq) - 1), max_len - 1):
            window = seq[lo : lo + max_len]
            if lo + len(window) - 1 < first_target:
                continue  # nothing to score in this window (a long cloze context)
            rows.append((window, max(1, first_target - lo), index))
    return rows


@torch.no_grad()
def score_items(
    model,
    tokenizer,
    items: list[tuple[str, str]],
    batch_size: int,
    device,
    autocast=None,
    rank: int = 0,
    world: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Per item: the target's negative log-likelihood (nats) and whether every target token is the argmax.

    Collective when world > 1 (every rank calls it with the same items; FSDP needs equal forward calls).
    """
    hf_model = getattr(model, "module", model)
    max_len = int(getattr(hf_model.config, "max_position_embeddings", 1024))
    rows = _rows(tokenizer, items, max_len)
    rows.sort(key=lambda row: -len(row[0]))
    mine = rows[rank::world]
    batches = -(-len(rows) // (world * batch_size)) if rows else 0  # the same count on every rank
    nll = torch.zeros(len(items), dtype=torch.float64, device=device)
    misses = torch.zeros(len(items), dtype=torch.float64, device=device)  # target tokens not the argmax
    was_training = model.training
    model.eval()
    for b in range(batches):
        chunk = mine[b * batch_size : (b + 1) * batch_size]
        width = max((len(ids) for ids, _, _ in chunk), default=1)
        inputs = torch.full((max(1, len(chunk)), width), tokenizer.eos_token_id, dtype=torch.long)
        scored = torch.zeros_like(inputs, dtype=torch.bool)
        for r, (ids, first, _) in enumerate(chunk):
            inputs[r, : len(ids)] = torch.from_numpy(ids)
            scored[r, first : len(ids)] = True
        inputs, scored = inputs.to(device), scored.to(device)
        with autocast or nullcontext():
            logits = model(input_ids=inputs).logits
        logits, targets, mask = logits[:, :-1].float(), inputs[:, 1:], scored[:, 1:]
        token_nll = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        wrong = logits.argmax(-1) != targets
        if chunk:
            index = torch.tensor([i for _, _, i in chunk], device=device)
            nll.index_add_(0, index, (token_nll * mask).sum(1).double())
            misses.index_add_(0, index, (wrong & mask).sum(1).double())
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(nll)
        dist.all_reduce(misses)
    model.train(was_training)
    return nll.cpu().numpy(), misses.cpu().numpy() == 0


def _bpb(nll: np.ndarray, texts: list[str]) -> np.ndarray:
    return nll / LN2 / np.array([max(1, len(t.encode("utf-8"))) for t in texts], dtype=np.float64)


def evaluate_sets(model, tokenizer, sets: list[EvalSet], batch_size: int, device, autocast=None, rank=0, world=1):
    """Every set scored in one pass over all their texts; the result has the shape `lusomix eval --json` prints:
    {"pairs": {NAME: {n, prefers_pt_PT, ci95, delta_bpb}}, "text": {NAME: {LABEL: {n, bpb}}},
    "cloze": {NAME: {n, accuracy}}}. delta_bpb is the mean of (pt_BR bpb - pt_PT bpb) over the pairs:
    positive when the European side costs the model fewer bits."""
    items: list[tuple[str, str]] = []
    spans = []
    for s in sets:
        start = len(items)
        if s.kind == "pairs":
            items += [("", pt) for pt, _ in s.items] + [("", br) for _, br in s.items]
        elif s.kind == "text":
            items += [("", text) for text, _ in s.items]
        else:
            items += [(context, " " + word) for context, word in s.items]
        spans.append((start, len(items)))
    nll, greedy = score_items(model, tokenizer, items, batch_size, device, autocast, rank, world)
    result: dict[str, dict] = {"pairs": {}, "text": {}, "cloze": {}}
    for s, (lo, hi) in zip(sets, spans):
        n = len(s.items)
        if s.kind == "pairs":
            pt = _bpb(nll[lo : lo + n], [p for p, _ in s.items])
            br = _bpb(nll[lo + n : hi], [b for _, b in s.items])
            wins = int((pt < br).sum())
            low, high = wilson(wins, n)
            result["pairs"][s.name] = {
                "n": n,
                "prefers_pt_PT": round(wins / n, 5),
                "ci95": [round(low, 5), round(high, 5)],
                "delta_bpb": round(float((br - pt).mean()), 5),
            }
        elif s.kind == "text":
            labels = np.array([label for _, label in s.items])
            nbytes = np.array([len(text.encode("utf-8")) for text, _ in s.items], dtype=np.float64)
            result["text"][s.name] = {
                str(label): {
                    "n": int((labels == label).sum()),
                    "bpb": round(float(nll[lo:hi][labels == label].sum() / LN2 / nbytes[labels == label].sum()), 5),
                }
                for label in sorted(set(labels.tolist()))
            }
        else:
            result["cloze"][s.name] = {"n": n, "accuracy": round(float(greedy[lo:hi].mean()), 5)}
    return result


# ---------------------------------------------------------------------------------------------- loading


def _is_checkpoint(path: Path) -> bool:
    return (path / "trainer_state.json").is_file() and (path / "state").is_dir()


def load_model(path: Path | str, device):
    """(model, tokenizer) from a Hugging Face model folder (a run's model/) or a training checkpoint folder
    (checkpoints/step-N/: its weights, with the architecture and tokenizer saved beside them, or else those
    of the run's model/ and tokenizer/). Local files only; a folder that is neither is a UsageError."""
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from lusomix.pretrain.data import load_tokenizer

    hf_logging.disable_progress_bar()  # "Loading weights" bars on stderr say nothing a user needs

    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"model not found: {path} is not a folder")
    if _is_checkpoint(path):
        run = path.parent.parent
        config_dir = next((d for d in (path, run / "model") if (d / "config.json").is_file()), None)
        tok_dir = next((d for d in (path, run / "tokenizer", run / "model") if (d / "tokenizer.json").is_file()), None)
        if config_dir is None or tok_dir is None:
            raise UsageError(f"{path}: a checkpoint without its model config or tokenizer (nor the run's model/)")
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(config_dir, local_files_only=True))
        _load_checkpoint_weights(model, path)
        tokenizer = load_tokenizer(tok_dir)
    elif (path / "config.json").is_file():
        try:
            model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot load the model at {path}: {str(exc).splitlines()[0]}") from None
        tokenizer = load_tokenizer(path)
    else:
        raise UsageError(f"{path}: neither a model folder (config.json) nor a checkpoint folder (trainer_state.json)")
    return model.to(device).eval(), tokenizer


def _load_checkpoint_weights(model, path: Path) -> None:
    """The model's part of a torch.distributed.checkpoint (no process group needed for one reader)."""
    import torch.distributed.checkpoint as dcp

    state = {"model": model.state_dict()}
    if model.config.tie_word_embeddings:
        state["model"].pop("lm_head.weight", None)  # tied: the checkpoint may hold it once, as the embedding
    with warnings.catch_warnings():  # "assuming the intent is to load in a single process": it is
        warnings.filterwarnings("ignore", message=".*single process", category=UserWarning)
        dcp.load(state, checkpoint_id=path / "state")
    model.load_state_dict(state["model"], strict=not model.config.tie_word_embeddings)
    if model.config.tie_word_embeddings:
        model.tie_weights()
