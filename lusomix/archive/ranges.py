"""One record read by its byte range: what an index entry's (file, offset, length) names.

``ByteRanges`` reads ranges of one archive file: a seek for a local file, one HTTP range request (or an
object store's ranged GET, through fsspec) for a remote one, so only the selected records cross the
network. ``record_at`` parses the bytes of one range with the framing of ``read_archive`` (one gzip member
inflated on its own, its CRC checked; an uncompressed record's length checked), and says why when they are
not the record the index promised (``StaleEntry``).
"""

from __future__ import annotations

import io
from typing import BinaryIO

from lusomix.archive.records import DamagedSpan, Record, read_archive


class StaleEntry(Exception):
    """The bytes an index entry names are not a whole record, or not the capture it names."""


def is_remote(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


class ByteRanges:
    """Byte ranges of one archive file, local or remote; counts the requests and bytes read."""

    def __init__(self, path: str):
        self.path = path
        self.requests = 0
        self.bytes_read = 0
        self._local: BinaryIO | None = None
        self._fs = None
        if is_remote(path):
            from fsspec.core import url_to_fs

            self._fs, self._remote_path = url_to_fs(path)
        else:
            self._local = open(path.removeprefix("file://"), "rb")  # noqa: SIM115 (closed by close())

    def read(self, offset: int, length: int) -> bytes:
        return self.read_many([(offset, length)])[0]

    def read_many(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        """The bytes of each (offset, length); remote ranges are requested concurrently, one request each.
        A range that cannot be read (past the end of the file, refused) comes back empty."""
        self.requests += len(ranges)
        if self._local is not None:
            out = []
            for offset, length in ranges:
                self._local.seek(offset)
                out.append(self._local.read(length))
        else:
            assert self._fs is not None
            paths = [self._remote_path] * len(ranges)
            starts = [offset for offset, _ in ranges]
            ends = [offset + length for offset, length in ranges]
            got = self._fs.cat_ranges(paths, starts, ends, on_error="return")
            out = [data if isinstance(data, bytes) else b"" for data in got]
            # a server that ignores Range sends the whole file
            out = [d[o : o + n] if len(d) > n else d for d, (o, n) in zip(out, ranges, strict=True)]
        self.bytes_read += sum(len(data) for data in out)
        return out

    def close(self) -> None:
        if self._local is not None:
            self._local.close()

    def __enter__(self) -> ByteRanges:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def record_at(data: bytes, offset: int, *, gzip: bool, max_block_bytes: int) -> Record:
    """The record whose bytes are ``data`` (read at ``offset`` in its file), placed at ``offset``. Raises
    ``StaleEntry`` when they do not start with a whole record."""
    if not data:
        raise StaleEntry(f"nothing could be read at offset {offset} (past the end of the file?)")
    items = read_archive(io.BytesIO(data), len(data), gzip=gzip, max_block_bytes=max_block_bytes)
    first = next(items, None)
    if isinstance(first, DamagedSpan) or first is None:
        why = first.why if isinstance(first, DamagedSpan) else "no record"
        raise StaleEntry(f"no record at offset {offset}: {why.replace('at byte 0', 'there')}")
    if first.offset != 0 or first.damage:
        raise StaleEntry(f"no whole record at offset {offset} (the range ends inside it, or it is damaged)")
    first.offset = offset
    return first
