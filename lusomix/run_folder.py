"""The run folder: where a run's outputs live, how they are written, and the mix manifest.

```
OUT/docs/part-RRRRR.parquet        every Portuguese document (one part per input file)
OUT/rejected/part-RRRRR.parquet    every other capture, with its reason
OUT/dedup/clusters.parquet         the dedup pass's verdicts
OUT/mixes/NAME/shard-NNNNN.parquet + manifest.json
OUT/stats.json, OUT/report/index.html, OUT/pretrain/MIX/, OUT/logs/PASS/
```

Every file is written under a temporary name beside its final one and renamed when complete, so a reader
never sees half a file and a crash leaves only temporary names (hidden, with the writer's pid: two writers
never share one). Outputs are local folders: inputs may be fsspec URLs, outputs may not (yet); write
locally and copy the finished folder to object storage. The variety labels are declared here, once: every
layer above reads and writes them.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lusomix.errors import OutputFault, UsageError

PT_PT, PT_BR, UNKNOWN = "pt_PT", "pt_BR", "unknown"
LABELS = (PT_PT, PT_BR)  # what a text is
VARIETIES = (PT_PT, PT_BR, UNKNOWN)  # what the variety column holds

PART_GLOB = "part-*.parquet"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run's outputs."""

    root: Path

    @property
    def docs(self) -> Path:
        return self.root / "docs"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"

    @property
    def dedup(self) -> Path:
        return self.root / "dedup"

    @property
    def clusters(self) -> Path:
        return self.dedup / "clusters.parquet"

    @property
    def mixes(self) -> Path:
        return self.root / "mixes"

    @property
    def stats(self) -> Path:
        return self.root / "stats.json"

    @property
    def report(self) -> Path:
        return self.root / "report"

    def mix(self, name: str) -> Path:
        return self.mixes / name

    def pretrain(self, mix: str) -> Path:
        return self.root / "pretrain" / mix

    def logs(self, pass_name: str) -> Path:
        return self.root / "logs" / pass_name


LOCK_FILE = ".lusomix.lock"


@contextmanager
def run_lock(root: Path) -> Iterator[None]:
    """One run at a time in a run folder. The lock is an ``flock`` on ``root/.lusomix.lock``, which names the
    holder (pid@host): the kernel releases it when its process ends, however it ends, so a lock left by a
    killed run is never in the way (the next run takes it over). Local filesystems only (NFS may not honour
    flock)."""
    path = Path(root) / LOCK_FILE
    handle = open(path, "a+")  # held open for the whole run: the flock lives as long as it
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown pid"
            in_use = f"{root} is in use by another lusomix run ({holder})"
            raise UsageError(f"{in_use}; wait for it, or use another --output") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        remove_temporaries(Path(root))  # no other run writes here now: what a killed run left is garbage
        yield
    finally:
        handle.close()  # releases the flock


_TEMPORARY = re.compile(r"\..+\.\d+\.tmp")


def remove_temporaries(root: Path) -> int:
    """Remove the temporary files and folders (``temporary_name``) under ``root``; how many. Only for a
    holder of ``run_lock``: another run's temporaries are its files in progress."""
    removed = 0
    for folder, dirs, files in os.walk(root):
        for name in [d for d in dirs if _TEMPORARY.fullmatch(d)]:
            shutil.rmtree(Path(folder) / name, ignore_errors=True)
            dirs.remove(name)
            removed += 1
        for name in files:
            if _TEMPORARY.fullmatch(name):
                (Path(folder) / name).unlink(missing_ok=True)
                removed += 1
    return removed


def part_name(rank: int) -> str:
    """The docs/ and rejected/ part written by extract task ``rank``."""
    return f"part-{rank:05d}.parquet"


def parts(folder: str | os.PathLike) -> list[Path]:
    """The Parquet parts of docs/ or rejected/, in order (temporary files never match)."""
    return sorted(Path(folder).glob(PART_GLOB))


def temporary_name(name: str) -> str:
    """Where ``name`` is written before it is renamed: hidden, and unique to this process."""
    return f".{name}.{os.getpid()}.tmp"


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path to write ``path``'s content to (a file or a folder); renamed to ``path`` when the
    block ends without an error, removed when it raises."""
    path = Path(path)
    tmp = path.with_name(temporary_name(path.name))
    try:
        yield tmp
        if path.is_dir() and tmp.is_dir():  # a folder is replaced whole
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path | str, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: Path | str, obj: Any, indent: int = 2) -> None:
    write_text_atomic(path, json.dumps(obj, indent=indent, ensure_ascii=False, default=str) + "\n")


def check_output_name(path: str) -> str:
    """The checks that need no filesystem (config validation): not empty, not a URL."""
    if not str(path).strip():
        raise ValueError("the output folder is empty")
    if "://" in str(path):
        raise ValueError(f"output must be a local folder, not a URL ({path}): write locally, then copy")
    return path


def prepare_output_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) if needed; a file in the way or an unwritable place is a UsageError.
    Created up front, so a bad ``--output`` is one clear error, not a crash halfway through a pass."""
    try:
        check_output_name(str(path))
    except ValueError as err:
        raise UsageError(str(err)) from None
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"output {folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputFault(f"cannot create the output folder {folder}: {err.strerror or err}") from None
    if not os.access(folder, os.W_OK | os.X_OK):  # access(2) also says EROFS for a read-only mount, even to root
        raise OutputFault(f"cannot write to the output folder {folder}: read-only or not permitted")
    return folder


def vanished(root: Path) -> OutputFault | None:
    """An OutputFault when the run folder ``root`` was deleted while a run held it (its lock file went with
    it); writers that create their folders would otherwise bring back a part of it and call it done."""
    if (root / LOCK_FILE).is_file():
        return None
    return OutputFault(f"{root} was deleted during the run; run the same command again to start afresh")


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


def output_fault(err: BaseException, root: Path) -> OutputFault | None:
    """What ``err``, raised while a run wrote into ``root``, means to its user when the cause is the output
    filesystem (full, read-only, the folder deleted); None when it is something else. A failed task's error
    comes as the ``cause`` of its ``PassFailed``."""
    cause = err if isinstance(err, OSError) else getattr(err, "cause", None)
    if (gone := vanished(root)) is not None:
        return gone
    if not isinstance(cause, OSError):
        return None
    if cause.errno in _NO_SPACE:
        return OutputFault(f"no space left on {root}; free some and run the same command again to resume")
    if cause.errno in _NOT_WRITABLE:
        return OutputFault(f"cannot write to {cause.filename or root}: {cause.strerror}")
    return None


@dataclass
class Manifest:
    """``OUT/mixes/NAME/manifest.json``, the mix contract read by the pretraining stage: the shards in
    their global order (path, rows, bytes, tokens_est, sha256), how they were made and what they hold. It
    is written last, so a mix folder with a manifest is complete."""

    name: str
    created_by: str = ""
    recipe: dict = field(default_factory=dict)
    quality_rules: list[dict] | None = None
    seed: int = 0
    input: dict = field(default_factory=dict)  # run_dir, fingerprint of its docs/ and clusters
    shards: list[dict] = field(default_factory=list)
    totals: dict = field(default_factory=dict)  # rows, bytes, tokens_est, documents_distinct
    by_variety: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    FILE = "manifest.json"

    @classmethod
    def path(cls, mix_dir: Path | str) -> Path:
        return Path(mix_dir) / cls.FILE

    @classmethod
    def exists(cls, mix_dir: Path | str) -> bool:
        return cls.path(mix_dir).is_file()

    @classmethod
    def read(cls, mix_dir: Path | str) -> Manifest:
        """The manifest of a mix folder; a missing or malformed one is a one-line UsageError."""
        path = cls.path(mix_dir)
        if not path.is_file():
            raise UsageError(f"no mix at {mix_dir}: {cls.FILE} not found")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            manifest = cls(**{"name": Path(mix_dir).name, **known})
            for shard in manifest.shards:
                shard["path"], shard["rows"] = str(shard["path"]), int(shard["rows"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"{path}: not a mix manifest ({type(exc).__name__}: {exc})") from None
        return manifest

    def shard_paths(self, mix_dir: Path | str) -> list[Path]:
        return [Path(mix_dir) / shard["path"] for shard in self.shards]

    def to_dict(self) -> dict:
        return asdict(self)

    def write(self, mix_dir: Path | str) -> None:
        write_json_atomic(self.path(mix_dir), self.to_dict())
