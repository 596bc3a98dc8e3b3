"""Ingest by index: only the selected records of an archive file, each read by its byte range.

``IndexedReader`` is ``ArchiveReader`` (same documents, ids, rejections and per-task source report) for a
run with an index: task ``rank`` reads ``paths[rank]``, but only the captures listed in its selection file
(``SELECTIONS/RRRRR.jsonl`` of the logging folder, written by the plan from the index and ``select:``),
each by seeking to its offset (or one range request, remote) and inflating that one gzip member. An entry
whose bytes are not the record it names (a stale index: the archive rewritten, a wrong offset or length) is
rejected as
``stale_index_entry`` with the capture's URL, file and offset, and listed in the source report; the task
reads on.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from typing import Any

from datatrove.data import Document, DocumentsPipeline

from lusomix.archive.index import IndexEntry, digest_key
from lusomix.archive.ranges import ByteRanges, StaleEntry, record_at
from lusomix.archive.records import Record
from lusomix.run_folder import RunFolder
from lusomix.stages.ingest import CAPTURE_TYPES, ArchiveReader, IngestConfig, capture_document

STALE = "stale_index_entry"
_BATCH = 32  # ranges requested together (concurrently, when remote)
SELECTIONS = "selections"  # the folder of the per-task selection files, in the pass's logging folder


def write_selection(folder: RunFolder, rank: int, entries: list[IndexEntry]) -> None:
    """The entries task ``rank`` reads, one JSON object a line."""
    folder.write_text(f"{rank:05d}.jsonl", "".join(json.dumps(dataclasses.asdict(e)) + "\n" for e in entries))


def read_selection(folder: RunFolder, rank: int) -> list[IndexEntry]:
    lines = folder.read_text(f"{rank:05d}.jsonl").splitlines()
    return [IndexEntry(**json.loads(line)) for line in lines if line.strip()]


class IndexedReader(ArchiveReader):
    """Task ``rank`` reads the selected records of ``paths[rank]`` by byte range."""

    name = "📇 indexed archive reader"

    def __init__(self, paths: list[str], selections: RunFolder, reports: RunFolder, config: IngestConfig):
        super().__init__(paths, reports, config)
        self.selections = selections

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        path = self.paths[rank]
        source_name = path.rstrip("/").rsplit("/", 1)[-1]
        entries = read_selection(self.selections, rank)
        report: dict[str, Any] = {
            "file": path,
            "bytes": 0,  # the bytes read: the selected records' ranges, not the file
            "records_by_type": Counter(),
            "captures": 0,
            "damage": None,
            "damaged_spans": [],
            "index_entries": len(entries),
        }
        self._broken_headers: list[int] = []
        started = time.time()
        ranges = None
        try:
            ranges = ByteRanges(path)
            for start in range(0, len(entries), _BATCH):
                batch = entries[start : start + _BATCH]
                with self.track_time():
                    datas = ranges.read_many([(entry.offset, entry.length) for entry in batch])
                for entry, data in zip(batch, datas, strict=True):
                    yield self._entry_document(entry, data, report, source_name, path)
        except OSError as err:
            report["damage"] = f"cannot open: {err}"
        finally:
            if ranges is not None:
                ranges.close()
                report["bytes"] = ranges.bytes_read
                report["range_requests"] = ranges.requests
        stale = report["damaged_spans"]
        if stale and report["damage"] is None:
            first = stale[0]
            report["damage"] = (
                f"{len(stale)} stale index entr{'y' if len(stale) == 1 else 'ies'}, first at bytes "
                f"{first['start']}-{first['end']}: {first['why']}"
            )
        self._end_report(rank, report, started)

    def _entry_document(self, entry: IndexEntry, data: bytes, report: dict, source_name: str, path: str) -> Document:
        report["captures"] += 1
        with self.track_time():
            record, doc = self._read_entry(entry, data, source_name, path)
        if record is None:  # stale: a span names the capture in the summary, the rejection carries it
            why = doc.metadata.pop("stale_why")
            report["damaged_spans"].append(
                {"start": entry.offset, "end": entry.offset + entry.length, "records": 0, "why": why}
            )
            self.stat_update("stale_index_entries")
        else:
            report["records_by_type"][record.rec_type] += 1
            self.stat_update(f"records/{record.rec_type}")
        return doc

    def _read_entry(
        self, entry: IndexEntry, data: bytes, source_name: str, path: str
    ) -> tuple[Record | None, Document]:
        """(the record, its document), or (None, a ``stale_index_entry`` rejection naming the capture)."""
        gzip = source_name.endswith(".gz") or data[:2] == b"\x1f\x8b"
        try:
            if data and len(data) < entry.length:
                raise StaleEntry(f"the file ends {entry.length - len(data)} bytes before the entry's range does")
            record = record_at(data, entry.offset, gzip=gzip, max_block_bytes=self.max_block)
            _check_same_capture(record, entry)
        except StaleEntry as err:
            return None, self._stale(entry, source_name, path, f"stale index entry for {entry.url}: {err}")
        if record.rec_type not in CAPTURE_TYPES:
            why = f"stale index entry for {entry.url}: a {record.rec_type} record at offset {entry.offset}"
            return None, self._stale(entry, source_name, path, why)
        return record, self._capture(record, source_name, path)

    def _stale(self, entry: IndexEntry, source_name: str, path: str, why: str) -> Document:
        doc = capture_document(entry.url, entry.timestamp, source_name, path, entry.offset, None)
        doc.metadata["stale_why"] = why
        return self._reject(doc, STALE)


def _check_same_capture(record: Record, entry: IndexEntry) -> None:
    """The record is the capture the entry names: its URL, and its payload digest when both have one."""
    url = (record.headers.get_header("WARC-Target-URI") or "").strip()
    if url != entry.url:
        raise StaleEntry(f"the record at offset {entry.offset} is {url or 'a record without URL'}")
    digest = record.headers.get_header("WARC-Payload-Digest") or ""
    if digest and entry.digest and digest_key(digest) != digest_key(entry.digest):
        raise StaleEntry(f"the record at offset {entry.offset} has payload digest {digest}, not {entry.digest}")
