"""Pretraining data: a mix's manifest → per-worker streams of fixed-length token sequences.

Each worker reads only its own read units (whole shards, or its own row range of every shard when the mix
has fewer shards than workers), tokenizes documents in batches with the Rust tokenizer, appends EOS after
each document and cuts the stream into sequences of ``context_length`` tokens. The mix already carries its
weights (a document weighted ×2 appears twice), so the stream reads every row as it comes.

The validation slice is a fixed set of documents per variety, taken from the start of the mix (its rows are
globally shuffled, so the start is a fair sample) and excluded from training by id — every copy of it.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from lusomix.errors import UsageError
from lusomix.manifest import Manifest
from lusomix.run_folder import LABELS, RunFolder, as_folder, atomic_path

IGNORE_INDEX = -100  # label of padding positions: cross-entropy skips them
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"


@dataclass(frozen=True)
class MixShard:
    path: str  # relative to the mix folder
    rows: int


@dataclass(frozen=True)
class Mix:
    dir: RunFolder  # local or on a store: every worker reads its shards from there
    name: str
    shards: tuple[MixShard, ...]
    fingerprint: str  # over the shard list: a resumed run must read the same mix


@dataclass(frozen=True)
class ReadUnit:
    """Rows [row_start, row_stop) of one shard: the granule a worker reads."""

    path: str
    row_start: int
    row_stop: int
    folder: RunFolder  # the mix folder ``path`` is in


def read_mix(mix_dir: RunFolder | str | Path) -> Mix:
    """Read and check a mix's manifest.json (see the mix contract); every listed shard must exist."""
    folder = as_folder(mix_dir)
    manifest = Manifest.read(folder)
    entries = manifest.shards
    shards = tuple(MixShard(e["path"], e["rows"]) for e in entries)
    present = set(folder.glob("*.parquet"))  # one listing, not one request per shard
    missing = [folder.url_of(s.path) for s in shards if s.path not in present]
    if missing:
        raise UsageError(f"{folder.url_of(Manifest.FILE)}: shard file missing: {missing[0]}")
    # a mix without rows is read as such: an empty selection is a data outcome (run_pretrain skips it)
    listing = json.dumps([[e["path"], e["rows"], e.get("sha256")] for e in entries], sort_keys=True)
    fingerprint = hashlib.sha256(listing.encode()).hexdigest()[:16]
    return Mix(folder, manifest.name, shards, fingerprint)


def assign_units(mix: Mix, rank: int, world_size: int) -> list[ReadUnit]:
    """The read units of one worker; units of different workers never overlap and together cover the mix.

    Whole shards round-robin when there are at least as many shards as workers (each file is opened by one
    worker only); otherwise every worker takes its own contiguous row range of every shard.
    """
    if len(mix.shards) >= world_size:
        return [ReadUnit(s.path, 0, s.rows, mix.dir) for s in mix.shards[rank::world_size]]
    units = []
    for s in mix.shards:
        bounds = np.linspace(0, s.rows, world_size + 1).round().astype(int)
        if bounds[rank + 1] > bounds[rank]:
            units.append(ReadUnit(s.path, int(bounds[rank]), int(bounds[rank + 1]), mix.dir))
    return units


def read_rows(unit: ReadUnit, start: int, batch_rows: int, columns: list[str]) -> Iterator[tuple[int, pa.Table]]:
    """Yield (row index after the batch, table) for rows [start, unit.row_stop) of the unit's shard."""
    pf = unit.folder.parquet_file(unit.path)
    sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
    offsets = np.cumsum([0, *sizes])
    # row groups wholly outside [start, row_stop) are never read: a resumed stream does not rescan its shard
    groups = [i for i in range(len(sizes)) if offsets[i + 1] > start and offsets[i] < unit.row_stop]
    if not groups:
        return
    row = int(offsets[groups[0]])
    for batch in pf.iter_batches(batch_size=batch_rows, row_groups=groups, columns=columns):
        lo, hi = max(start - row, 0), min(unit.row_stop - row, batch.num_rows)
        if hi > lo:
            yield row + hi, pa.Table.from_batches([batch.slice(lo, hi - lo)])
        row += batch.num_rows
        if row >= unit.row_stop:
            return


def training_texts(table: pa.Table, held_out: pa.Array) -> list[str]:
    """The texts of a batch, without held-out (validation) documents and empty rows."""
    keep = pc.invert(pc.is_in(table["id"], value_set=held_out))
    texts = table.filter(keep)["text"].drop_null()
    return [t for t in texts.to_pylist() if t]


def has_training_text(units: list[ReadUnit], held_out: pa.Array) -> bool:
    """Whether these units hold at least one training text (read until the first one)."""
    for unit in units:
        for _, table in read_rows(unit, unit.row_start, 512, ["id", "text"]):
            if training_texts(table, held_out):
                return True
    return False


def usable_workers(mix: Mix, held_out_ids: Iterable[str], wanted: int) -> int:
    """The most workers, up to ``wanted``, of which every one's share of the mix holds training text;
    0 when the mix has none (empty, or every document held out for validation)."""
    held_out = pa.array(list(held_out_ids), pa.string())
    for workers in range(min(wanted, sum(s.rows for s in mix.shards)), 0, -1):  # a worker needs a row at least
        shares = [assign_units(mix, rank, workers) for rank in range(workers)]
        if all(shares) and all(has_training_text(units, held_out) for units in shares):
            return workers
    return 0


@dataclass(frozen=True)
class ValidationSlice:
    ids: tuple[str, ...]  # every held-out document id, all varieties
    texts: dict[str, list[str]]  # variety -> documents


def select_validation(mix: Mix, docs_per_variety: int) -> ValidationSlice:
    """The first `docs_per_variety` distinct documents of each variety in mix order."""
    if not mix.shards:
        return ValidationSlice((), {v: [] for v in LABELS})
    seen: pl.DataFrame | None = None
    for shard in mix.shards:
        rows = pl.read_parquet(mix.dir.parquet_source(shard.path), columns=["id", "text", "variety"]).filter(
            pl.col("variety").is_in(LABELS) & (pl.col("text").str.len_bytes() > 0)
        )
        seen = rows if seen is None else pl.concat([seen, rows])
        chosen = (
            seen.unique("id", keep="first", maintain_order=True)
            .group_by("variety", maintain_order=True)
            .head(docs_per_variety)
        )
        counts = chosen["variety"].value_counts()
        if len(counts) == len(LABELS) and counts["count"].to_numpy().min() >= docs_per_variety:
            break  # the rest of the mix is not read
    texts = {v: chosen.filter(pl.col("variety") == v)["text"].to_list() for v in LABELS}
    return ValidationSlice(tuple(chosen["id"].to_list()), texts)


def tokenize(tokenizer, texts: list[str], eos_id: int) -> np.ndarray:
    """Token ids of `texts` laid end to end, EOS after every document (the separator)."""
    # encode_batch_fast (tokenizers >= 0.21) skips the character offsets we never use
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    encodings = encode(texts, add_special_tokens=False)
    ids = [e.ids for e in encodings]
    total = sum(map(len, ids)) + len(ids)
    return np.fromiter(chain.from_iterable(i + [eos_id] for i in ids), dtype=np.int32, count=total)


def pack(tokens: np.ndarray, context_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut a token stream into (n, context_length) sequences and the remainder (< context_length)."""
    n = len(tokens) // context_length
    return tokens[: n * context_length].reshape(n, context_length), tokens[n * context_length :]


def validation_batch(tokenizer, texts: list[str], eos_id: int, context_length: int) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, labels) of a variety's held-out documents; the last sequence is padded, labels -100."""
    tokens = tokenize(tokenizer, texts, eos_id) if texts else np.zeros(0, np.int32)
    full, rest = pack(tokens, context_length)
    labels = full.astype(np.int64)
    if len(rest):
        padded = np.full(context_length, eos_id, np.int32)
        padded[: len(rest)] = rest
        label_row = np.full(context_length, IGNORE_INDEX, np.int64)
        label_row[: len(rest)] = rest
        full, labels = np.vstack([full, padded]), np.vstack([labels, label_row])
    return full.astype(np.int64), labels


class PackedStream:
    """An endless stream of packed sequences over a worker's read units (epoch after epoch).

    `state_dict()` is exact: the unit and row to read next plus the tokens already read but not yet emitted,
    so a resumed run emits the very sequences an uninterrupted run would have.
    """

    def __init__(
        self,
        units: list[ReadUnit],
        tokenizer,
        eos_id: int,
        context_length: int,
        held_out_ids: Iterable[str],
        read_batch_docs: int = 512,
    ):
        if not units:
            raise UsageError("a worker got no rows of the mix: use fewer workers than the mix has rows")
        self.units, self.tokenizer, self.eos_id = units, tokenizer, eos_id
        self.context_length, self.read_batch_docs = context_length, read_batch_docs
        self.held_out = pa.array(list(held_out_ids), pa.string())
        self.epoch, self.unit, self.row = 0, 0, units[0].row_start
        self.buffer = np.zeros(0, np.int32)
        self._reader: Iterator[tuple[int, pa.Table]] | None = None
        self._empty_units = 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "unit": self.unit, "row": self.row, "buffer": self.buffer.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.unit, self.row = state["epoch"], state["unit"], state["row"]
        self.buffer = np.asarray(state["buffer"], np.int32)
        self._reader = None

    def _refill(self) -> None:
        unit = self.units[self.unit]
        if self._reader is None:
            self._reader = read_rows(unit, self.row, self.read_batch_docs, ["id", "text"])
        for row_after, table in self._reader:
            self.row = row_after
            texts = training_texts(table, self.held_out)
            if texts:
                self._empty_units = 0
                self.buffer = np.concatenate([self.buffer, tokenize(self.tokenizer, texts, self.eos_id)])
                return
        self._empty_units += 1  # the unit is exhausted: next unit, next epoch after the last
        if self._empty_units > 2 * len(self.units):
            raise UsageError("a worker's share of the mix has no training text (all held out or empty)")
        self.unit = (self.unit + 1) % len(self.units)
        self.epoch += self.unit == 0
        self.row, self._reader = self.units[self.unit].row_start, None

    def next_batch(self, n: int) -> np.ndarray:
        """(n, context_length) int64 token ids."""
        need = n * self.context_length
        while len(self.buffer) < need:
            self._refill()
        out, self.buffer = self.buffer[:need], self.buffer[need:]
        return out.reshape(n, self.context_length).astype(np.int64)


class Prefetcher:
    """Packs the next batches on a background thread, so the accelerator does not wait for tokenization
    (the Rust tokenizer and Arrow release the GIL). Each batch travels with the stream state right after it:
    a checkpoint records the state of the batches consumed, not of those still queued."""

    def __init__(self, stream: PackedStream, batch_size: int, depth: int = 4):
        self.stream, self.batch_size = stream, batch_size
        self._state = stream.state_dict()
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="packed-batches", daemon=True)
        self._thread.start()

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                item = (self.stream.next_batch(self.batch_size), self.stream.state_dict())
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # handed to the training loop, which raises it
            self._queue.put((exc, None))

    def next_batch(self) -> np.ndarray:
        batch, state = self._queue.get()
        if isinstance(batch, BaseException):
            raise batch
        self._state = state
        return batch

    def state_dict(self) -> dict:
        return self._state

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: Path | str):
    """Byte-level BPE trained on the mix (from-scratch runs), saved as a Hugging Face tokenizer in out_dir."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token=EOS_TOKEN, bos_token=EOS_TOKEN, pad_token=PAD_TOKEN
    )
    with atomic_path(out_dir) as tmp:  # a half-written tokenizer must never be picked up by a resumed run
        wrapped.save_pretrained(tmp)
    return wrapped


def mix_texts(mix: Mix, held_out_ids: Iterable[str], max_docs: int) -> Iterator[str]:
    """Up to max_docs training texts from the start of the mix (tokenizer training input)."""
    held_out, count = pa.array(list(held_out_ids), pa.string()), 0
    for shard in mix.shards:
        for _, table in read_rows(ReadUnit(shard.path, 0, shard.rows, mix.dir), 0, 1024, ["id", "text"]):
            for text in training_texts(table, held_out)[: max_docs - count]:
                count += 1
                yield text
            if count >= max_docs:
                return


def load_tokenizer(path: Path | str):
    """A local Hugging Face tokenizer (never downloaded); it must be a fast one with an EOS token."""
    from transformers import AutoTokenizer

    if not Path(path).is_dir():
        raise UsageError(f"tokenizer not found: {path} is not a local directory")
    try:
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot load the tokenizer at {path}: {str(exc).splitlines()[0]}") from None
    if not getattr(tok, "is_fast", False) or tok.eos_token_id is None:
        raise UsageError(f"tokenizer at {path} must be a fast tokenizer with an EOS token")
    return tok
