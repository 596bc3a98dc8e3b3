"""Damaged copies of the sample archives, made from a seed, with the oracle of which records are intact.

Each mutant holds one damaged span of a kind that bad disks and botched transfers leave:

- ``bit_flips``: a burst of 1-64 bytes, one bit flipped in each;
- ``garbage``: 16 B - 4 KiB of random bytes inserted;
- ``duplicate``: a span of 64 B - 8 KiB written twice in a row;
- ``zeros``: a 4 KiB block zeroed, sector-aligned;
- ``cut``: 16 B - 4 KiB removed.

The oracle reads the original file with warcio: a record occupies the bytes from its offset to the next
record's offset (its trailing newlines included), and it is intact when the damage does not touch them
(an insertion touches a record when it falls strictly inside). Records are compared by content: target
URI, date and the SHA-1 of the record block. Used by ``tests/test_archive_damage.py`` and
``benchmarks/damage_recovery.py``.
"""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass, field
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

KINDS = ("bit_flips", "garbage", "duplicate", "zeros", "cut")
# the sample archives whose framing is whole (the damaged-* samples are damaged already, except the one
# whose damage is inside an HTTP header)
SOURCES = (
    "arquivo-1999.arc.gz",
    "arquivo-2000.arc",
    "crawl-2005-2008.warc.gz",
    "crawl-2009-2012.warc",
    "crawl-2013-2016.warc.gz",
    "crawl-2017-2020.warc.gz",
    "crawl-2021-2024.warc",
    "damaged-bad-headers.warc",
    "evidence-2025.warc.gz",
)


@dataclass(frozen=True)
class OriginalRecord:
    start: int
    end: int  # the next record's offset, or the file's size
    rec_type: str
    uri: str
    date: str
    block_sha1: str

    @property
    def key(self) -> tuple[str, str, str]:
        return self.uri, self.date, self.block_sha1


@dataclass
class Mutant:
    source: str
    kind: str
    seed: int
    data: bytes
    damage: tuple[int, int]  # the damaged bytes of the original ((p, p): an insertion at p)
    changed: tuple[int, int]  # the bytes of the mutant that differ from the original ((p, p): a cut at p)
    records: list[OriginalRecord] = field(default_factory=list)  # every record of the original
    intact: list[OriginalRecord] = field(default_factory=list)

    @property
    def gzip(self) -> bool:
        return self.source.endswith(".gz")

    def next_intact(self) -> OriginalRecord | None:
        """The first intact record after the damage: a reader must find it again."""
        return next((r for r in self.intact if r.start >= self.damage[1]), None)


def original_records(data: bytes) -> list[OriginalRecord]:
    records, starts = [], []
    stream = ArchiveIterator(io.BytesIO(data), arc2warc=True, no_record_parse=True)
    for record in stream:
        starts.append(stream.offset)
        headers = record.rec_headers
        records.append(
            (
                record.rec_type,
                headers.get_header("WARC-Target-URI") or "",
                headers.get_header("WARC-Date") or "",
                block_sha1(record.raw_stream.read()),
            )
        )
    ends = starts[1:] + [len(data)]
    return [OriginalRecord(s, e, *rest) for s, e, rest in zip(starts, ends, records)]


def block_sha1(block: bytes) -> str:
    return hashlib.sha1(block).hexdigest()


def touches(record: OriginalRecord, damage: tuple[int, int]) -> bool:
    start, end = damage
    if start == end:  # an insertion
        return record.start < start < record.end
    return start < record.end and record.start < end


def make(source: str, data: bytes, kind: str, seed: int) -> Mutant:
    rng = random.Random(f"{source}/{kind}/{seed}")
    size = len(data)
    if kind == "bit_flips":
        length = rng.randint(1, 64)
        at = rng.randrange(size - length)
        burst = bytes(b ^ (1 << rng.randrange(8)) for b in data[at : at + length])
        out, damage, changed = data[:at] + burst + data[at + length :], (at, at + length), (at, at + length)
    elif kind == "garbage":
        length = rng.randint(16, 4096)
        at = rng.randrange(size)
        junk = rng.randbytes(length)
        out, damage, changed = data[:at] + junk + data[at:], (at, at), (at, at + length)
    elif kind == "duplicate":
        length = rng.randint(64, min(8192, size // 4))
        at = rng.randrange(size - length)
        end = at + length
        out, damage, changed = data[:end] + data[at:end] + data[end:], (end, end), (end, end + length)
    elif kind == "zeros":
        at = rng.randrange(max(size - 4096, 1)) // 512 * 512
        end = min(at + 4096, size)
        out, damage, changed = data[:at] + bytes(end - at) + data[end:], (at, end), (at, end)
    elif kind == "cut":
        length = rng.randint(16, min(4096, size // 4))
        at = rng.randrange(size - length)
        out, damage, changed = data[:at] + data[at + length :], (at, at + length), (at, at)
    else:
        raise ValueError(f"unknown kind of damage: {kind}")
    records = original_records(data)
    intact = [r for r in records if not touches(r, damage)]
    return Mutant(source, kind, seed, out, damage, changed, records, intact)


def mutants(archives: Path, seeds: range = range(2), kinds: tuple[str, ...] = KINDS) -> list[Mutant]:
    """One mutant per sample archive, kind of damage and seed."""
    out = []
    for source in SOURCES:
        data = (archives / source).read_bytes()
        out += [make(source, data, kind, seed) for kind in kinds for seed in seeds]
    return out
