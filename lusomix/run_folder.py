"""The run folder: where a run's outputs live and the one way they are read and written (the mix manifest:
``lusomix.manifest``).

```
OUT/docs/part-RRRRR.parquet        every Portuguese document (one part per input file)
OUT/rejected/part-RRRRR.parquet    every other capture, with its reason
OUT/dedup/clusters.parquet         the dedup pass's verdicts
OUT/mixes/NAME/shard-NNNNN.parquet + manifest.json
OUT/stats.json, OUT/report/index.html, OUT/pretrain/MIX/, OUT/logs/PASS/
```

A run folder is a URL over one fsspec filesystem: a local folder (a path is a URL too) or an object store
(``s3://bucket/run``, any protocol fsspec knows, with its package installed). :class:`RunFolder` is the
only way a run's files are read or written. A final file is *published* whole: on a local disk it is
written under a temporary name beside its final one and renamed; on a store it is written on this node's
disk and uploaded as one object (one PUT, or one completed multipart upload), so a reader never meets half
a file and a killed run leaves nothing that looks finished. A folder made of several files (a checkpoint,
a model) is complete when its marker file, published last, is there. Temporary names are hidden and carry
the writer's pid (``.NAME.PID.tmp``); scratch folders follow the same rule, so one cleanup knows them all.
The variety labels are declared here, once: every layer above reads and writes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

# polars, pyarrow and fsspec load on first use: every layer imports this module for the labels, and
# `lusomix variety predict` needs none of them (0.3-0.4 s of its start)
if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

PT_PT, PT_BR, UNKNOWN = "pt_PT", "pt_BR", "unknown"
LABELS = (PT_PT, PT_BR)  # what a text is
VARIETIES = (PT_PT, PT_BR, UNKNOWN)  # what the variety column holds

PART_GLOB = "part-*.parquet"
LOCK_FILE = ".lusomix.lock"
TEMPORARY = re.compile(r"\..+\.(\d+)\.tmp")  # group 1: the writer's pid
# scratch folders of runs whose folder is on a store: on this node's disk
SCRATCH = Path(tempfile.gettempdir()) / "lusomix-scratch"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal sent: only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        pass
    return True


def temporary_name(name: str) -> str:
    """Where ``name`` is written before it is renamed (or a scratch folder's name): hidden, unique to this
    process, and known to :meth:`RunFolder.remove_temporaries`."""
    return f".{name}.{os.getpid()}.tmp"


def is_url(location: str | os.PathLike) -> bool:
    return "://" in str(location) and not str(location).startswith("file://")


class RunFolder:
    """A folder of a run (its root, or one inside it: a mix, a pretraining run) over one fsspec filesystem.

    ``url`` is a local path (made absolute) or a URL; ``storage_options`` go to the filesystem (an S3 endpoint,
    a profile), on top of what the environment gives (``AWS_*``). Paths given to the methods are relative to
    the folder, with ``/``. A RunFolder pickles to the workers of both executors (its options, not its
    connections), and never shows its options: they may hold a secret.
    """

    url: str
    storage_options: dict
    local: bool

    def __init__(self, url: str | os.PathLike | RunFolder, storage_options: dict | None = None):
        if isinstance(url, RunFolder):
            if storage_options is None:
                storage_options = url.storage_options
            url = url.url
        text = str(url)
        self.local = not is_url(text)
        self.url = str(Path(text.removeprefix("file://")).expanduser().absolute()) if self.local else text.rstrip("/")
        self.storage_options = dict(storage_options or {})
        from fsspec.core import url_to_fs

        self.fs, self.path = url_to_fs(self.url, **self.storage_options)
        self.path = self.path.rstrip("/") if self.path != "/" else self.path

    def __reduce__(self):
        return (RunFolder, (self.url, self.storage_options))

    def __repr__(self) -> str:
        return f"RunFolder({self.url!r})"

    def __str__(self) -> str:
        return self.url

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunFolder) and other.url == self.url

    def __hash__(self) -> int:
        return hash(self.url)

    # ---- where -------------------------------------------------------------------------------------

    def join(self, *rel: str) -> str:
        """The filesystem's path of ``rel`` (what ``fs`` methods, pyarrow and torch take with ``fs``)."""
        parts = [p.strip("/") for p in rel if p and p.strip("/")]
        return "/".join([self.path.rstrip("/"), *parts]) if parts else self.path

    def url_of(self, *rel: str) -> str:
        """``rel`` as a URL (a local path stays a path): for messages and for tools that take URLs."""
        parts = [p.strip("/") for p in rel if p and p.strip("/")]
        return "/".join([self.url, *parts]) if parts else self.url

    def child(self, *rel: str) -> RunFolder:
        return RunFolder(self.url_of(*rel), self.storage_options)

    # the run's places
    def mix(self, name: str) -> RunFolder:
        return self.child("mixes", name)

    def pretrain(self, mix: str) -> RunFolder:
        return self.child("pretrain", mix)

    def logs(self, pass_name: str) -> RunFolder:
        return self.child("logs", pass_name)

    DOCS, REJECTED, DEDUP, CLUSTERS = "docs", "rejected", "dedup", "dedup/clusters.parquet"
    MIXES, STATS, REPORT = "mixes", "stats.json", "report"

    # ---- reading -----------------------------------------------------------------------------------

    def _fresh(self, rel: str) -> str:
        """``rel``'s path, with what the filesystem remembers of it forgotten: other processes and nodes write
        here, and s3fs answers from the listings it cached."""
        path = self.join(rel)
        if not self.local:
            self.fs.invalidate_cache(path)
        return path

    def exists(self, rel: str = "") -> bool:
        return bool(self.fs.exists(self._fresh(rel)))

    def isfile(self, rel: str) -> bool:
        return bool(self.fs.isfile(self._fresh(rel)))

    def isdir(self, rel: str = "") -> bool:
        return bool(self.fs.isdir(self._fresh(rel)))

    def size(self, rel: str) -> int:
        return int(self.fs.size(self._fresh(rel)))

    def glob(self, pattern: str) -> list[str]:
        """Relative paths matching ``pattern`` (one LIST per folder level it spans), sorted; temporaries never
        match a pattern that names a prefix (``part-*``), hidden files being ``.``-prefixed."""
        return list(self.glob_sizes(pattern))

    def glob_sizes(self, pattern: str) -> dict[str, int]:
        """:meth:`glob` with each file's size, from the same listing (no request per file on a store)."""
        base = self.path.rstrip("/") + "/"
        if not self.local:
            self.fs.invalidate_cache()  # s3fs forgets a path and its parents only, not the folders under it
        found = self.fs.glob(self.join(pattern), detail=True)
        named = {
            str(p)[len(base) :] if str(p).startswith(base) else str(p): int(i.get("size") or 0)
            for p, i in found.items()
        }
        return dict(sorted(named.items()))

    def open(self, rel: str, mode: str = "rb", **kwargs) -> BinaryIO:
        """A file to read (or, locally, to append to). Writing a final file goes through :meth:`publish`."""
        if any(c in mode for c in "wx"):
            raise ValueError("write a run's file with publish(), whole")
        return self.fs.open(self.join(rel), mode, **kwargs)

    def read_text(self, rel: str) -> str:
        with self.open(rel, "rb") as f:
            return f.read().decode("utf-8")

    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_text(rel))

    def local_path(self, rel: str = "") -> str | None:
        """``rel`` as a path of this machine, when the folder is local (None on a store)."""
        return self.join(rel) if self.local else None

    @contextmanager
    def fetch(self, rel: str = "") -> Iterator[str]:
        """A local path holding ``rel`` (a file or a folder): itself on a local disk, else a copy in a scratch
        folder of this node, removed after the block."""
        if self.local:
            yield self.join(rel)
            return
        with self.scratch("fetch") as tmp:
            target = os.path.join(tmp, Path(rel or self.path).name or "root")
            if self.isdir(rel):
                self.fs.get(self.join(rel).rstrip("/") + "/", target.rstrip("/") + "/", recursive=True)
            else:
                self.fs.get_file(self.join(rel), target)
            yield target

    def sha256(self, rel: str) -> str:
        with self.open(rel, "rb") as f:
            return _sha256(f)

    # ---- writing -----------------------------------------------------------------------------------

    @contextmanager
    def publish(self, rel: str) -> Iterator[str]:
        """A local path to write ``rel``'s content to (a file, or a folder the block creates); when the block
        ends without an error it becomes ``rel``, whole: a rename on a local disk (a folder replaces the old
        one), an upload on a store (a folder's files in name order: write its marker with another publish,
        after). When the block raises, nothing is published and the temporary is removed."""
        if self.local:
            final = Path(self.join(rel))
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(temporary_name(final.name))
            try:
                yield str(tmp)
                if final.is_dir() and tmp.is_dir():
                    shutil.rmtree(final)
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
                raise
            return
        with self.scratch("publish") as folder:
            local = os.path.join(folder, Path(rel).name)
            yield local
            if os.path.isdir(local):
                self.rm(rel, recursive=True)
                self.put_tree(local, rel)
            else:
                self.fs.put_file(local, self.join(rel))

    def write_bytes(self, rel: str, data: bytes) -> None:
        if self.local:
            with self.publish(rel) as tmp:
                Path(tmp).write_bytes(data)
        else:  # one PUT, no local copy
            self.fs.pipe_file(self.join(rel), data)

    def write_text(self, rel: str, text: str) -> None:
        self.write_bytes(rel, text.encode("utf-8"))

    def write_json(self, rel: str, obj: Any, indent: int = 2) -> None:
        self.write_text(rel, json.dumps(obj, indent=indent, ensure_ascii=False, default=str) + "\n")

    def put_tree(self, local: str | os.PathLike, rel: str) -> None:
        """Move the files under the local folder ``local`` to ``rel`` (merged with what is there): each a
        rename on a local disk, an upload on a store."""
        for path in sorted(Path(local).rglob("*")):
            if path.is_file():
                target = self.join(rel, path.relative_to(local).as_posix())
                if self.local:
                    Path(target).parent.mkdir(parents=True, exist_ok=True)
                    os.replace(path, target)
                else:
                    self.fs.put_file(str(path), target)

    def append_text(self, rel: str, text: str) -> None:
        """Add ``text`` at the end of ``rel``: an append on a local disk; on a store (no append) the object is
        written again whole (for small logs such as metrics.jsonl)."""
        if self.local:
            Path(self.join(rel)).parent.mkdir(parents=True, exist_ok=True)
            with open(self.join(rel), "a", encoding="utf-8") as f:
                f.write(text)
        else:
            self.write_text(rel, (self.read_text(rel) if self.exists(rel) else "") + text)

    def makedirs(self, rel: str = "") -> None:
        """A folder (a no-op on a store, where folders are key prefixes)."""
        if self.local:
            Path(self.join(rel)).mkdir(parents=True, exist_ok=True)

    def rm(self, rel: str, recursive: bool = False) -> None:
        """Remove ``rel`` if it is there."""
        path = self.join(rel)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=recursive)

    @contextmanager
    def scratch(self, name: str = "scratch") -> Iterator[str]:
        """A temporary local folder (e.g. a mix's buckets), removed after the block. Inside the folder on a
        local disk; for a store, in this node's temporary folder (``SCRATCH``). Either way its name is a
        temporary name, so :meth:`remove_temporaries` removes what a killed run left."""
        base = Path(self.join()) if self.local else SCRATCH
        base.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{name}-", suffix=f".{os.getpid()}.tmp", dir=base))
        try:
            yield str(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def remove_temporaries(self) -> int:
        """Remove the temporary files and folders under a local folder, or, for a store, the scratch folders
        on this node of processes that are gone; how many. Only for a holder of the run's lock: another
        run's temporaries are its files in progress."""
        removed = 0
        if not self.local:
            for entry in SCRATCH.glob(".*.tmp") if SCRATCH.is_dir() else []:
                match = TEMPORARY.fullmatch(entry.name)
                if match and not _alive(int(match.group(1))):
                    shutil.rmtree(entry, ignore_errors=True)
                    removed += 1
            return removed
        for folder, dirs, files in os.walk(self.join()):
            for name in [d for d in dirs if TEMPORARY.fullmatch(d)]:
                shutil.rmtree(Path(folder) / name, ignore_errors=True)
                dirs.remove(name)
                removed += 1
            for name in files:
                if TEMPORARY.fullmatch(name):
                    (Path(folder) / name).unlink(missing_ok=True)
                    removed += 1
        return removed

    # ---- for the libraries -------------------------------------------------------------------------

    def datafolder(self, rel: str = ""):
        """datatrove's view of ``rel`` (its steps and executors write through it)."""
        from datatrove.io import DataFolder

        return DataFolder(self.join(rel), fs=self.fs)

    def parquet_source(self, rel: str) -> Any:
        """What polars' and pyarrow's readers take for a file: its path when local, else an open file."""
        return self.join(rel) if self.local else self.open(rel, "rb")

    def scan_parquet(
        self, rels: list[str], row_index_name: str | None = None, row_index_offset: int = 0
    ) -> pl.LazyFrame:
        """A polars lazy scan of these Parquet files (in order), local or on the store, reading only the
        columns and row groups the query needs, with a row number column ``row_index_name`` if given."""
        import polars as pl

        if self.local:
            paths = [self.join(r) for r in rels]
            return pl.scan_parquet(paths, row_index_name=row_index_name, row_index_offset=row_index_offset)
        # polars reads the whole of a file it is handed as a Python file object (text column and all: 25 times
        # the bytes the dedup pass needs); pyarrow's dataset asks the store for the footer and the chunks of
        # the columns read, one ranged GET each
        from pyarrow.dataset import dataset
        from pyarrow.fs import PyFileSystem

        from lusomix.ranged_reads import RangedReads

        files = dataset(
            [self.fs._strip_protocol(self.join(r)) for r in rels],
            filesystem=PyFileSystem(RangedReads(self.fs)),
            format="parquet",
        )
        scan = pl.scan_pyarrow_dataset(files)
        return scan.with_row_index(row_index_name, row_index_offset) if row_index_name else scan

    def parquet_file(self, rel: str) -> pq.ParquetFile:
        import pyarrow.parquet as pq

        return pq.ParquetFile(self.parquet_source(rel))

    def parquet_footer(self, rel: str) -> bytes:
        """A Parquet file's footer (its metadata: schema, row groups, each column chunk's offsets and sizes),
        raw: two ranged reads on a store, whatever the file's size."""
        with self.open(rel, "rb") as f:
            f.seek(-8, os.SEEK_END)
            tail = f.read(8)
            if tail[4:] != b"PAR1":
                raise OSError(f"{self.url_of(rel)} is not a Parquet file")
            length = int.from_bytes(tail[:4], "little")
            f.seek(-(8 + length), os.SEEK_END)
            return f.read(length)

    def read_parquet(self, rel: str) -> pa.Table:
        """A whole Parquet file (its metadata with it), in one read: on a store one GET, where opening it for
        the footer and then the columns asks the store three or four times."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self.local:
            return pq.read_table(self.join(rel))
        return pq.read_table(pa.BufferReader(self.fs.cat_file(self.join(rel))))


def _sha256(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def local_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file on this node's disk (e.g. a temporary before it is published)."""
    with open(path, "rb") as f:
        return _sha256(f)


def as_folder(location: str | os.PathLike | RunFolder, storage_options: dict | None = None) -> RunFolder:
    return location if isinstance(location, RunFolder) else RunFolder(location, storage_options)


def part_name(rank: int) -> str:
    """The docs/ and rejected/ part written by extract task ``rank``."""
    return f"part-{rank:05d}.parquet"


def parts(folder: RunFolder, table: str) -> list[str]:
    """The Parquet parts of ``table`` (docs or rejected), relative to ``folder``, in order (temporary files,
    hidden, never match)."""
    return list(part_sizes(folder, table))


def part_sizes(folder: RunFolder, table: str) -> dict[str, int]:
    """:func:`parts` with their sizes in bytes, from one listing."""
    return folder.glob_sizes(f"{table}/{PART_GLOB}")


# ---- files named by a path or URL alone ------------------------------------------------------------------


def folder_of(location: str | os.PathLike) -> tuple[RunFolder, str]:
    """The folder holding the file or folder named by its path or URL alone, and its name there."""
    text = str(location).rstrip("/")
    parent, _, name = text.rpartition("/")
    return RunFolder(parent or "."), name


@contextmanager
def atomic_path(location: str | os.PathLike) -> Iterator[str]:
    """:meth:`RunFolder.publish` for a file or folder named by its path or URL alone."""
    folder, name = folder_of(location)
    with folder.publish(name) as tmp:
        yield tmp
