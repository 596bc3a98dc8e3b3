"""A run's output folder as a whole: checked before any work, held by one run at a time, and what its
faults (a full disk, a read-only or deleted folder) mean to the user, in one line.

Local folders are locked with ``flock``; a folder on a store with a lease object (:mod:`lusomix.store_lock`).
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fsspec

from lusomix.errors import OutputFault, UsageError
from lusomix.run_folder import LOCK_FILE, RunFolder, as_folder, is_url

# ---- the lock ------------------------------------------------------------------------------------------


@contextmanager
def run_lock(run: RunFolder) -> Iterator[None]:
    """One run at a time in a run folder; what a killed run left is removed once the lock is held.

    Local folders: an ``flock`` on ``.lusomix.lock``, which names the holder (pid@host): the kernel releases it
    when its process ends, however it ends, so a lock left by a killed run is never in the way. On a store:
    :func:`lusomix.store_lock.store_lock`, an object created by a conditional PUT with a renewed lease."""
    if not run.local:
        with _store_lock(run):
            run.remove_temporaries()
            yield
        return
    handle = open(run.join(LOCK_FILE), "a+")  # held open for the whole run: the flock lives as long as it
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown pid"
            raise UsageError(
                f"{run} is in use by another lusomix run ({holder}); wait for it, or use another --output"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        run.remove_temporaries()  # no other run writes here now: what a killed run left is garbage
        yield
    finally:
        handle.close()  # releases the flock


_HELD_IN_MEMORY: set[str] = set()


@contextmanager
def _store_lock(run: RunFolder) -> Iterator[None]:
    protocol = run.url.split("://", 1)[0]
    if protocol in ("s3", "s3a"):
        from lusomix.store_lock import LEASE_S, store_lock

        # how long a killed run's lock keeps the next run waiting; renewed every third of it while a run lives
        lease_s = float(os.environ.get("LUSOMIX_STORE_LEASE_S", LEASE_S))
        with store_lock(run.fs, run.url, lease_s=lease_s):
            yield
    elif protocol == "memory":  # one process's filesystem (tests): a lock within that process
        if run.url in _HELD_IN_MEMORY:
            raise UsageError(f"{run} is in use by another lusomix run in this process")
        _HELD_IN_MEMORY.add(run.url)
        try:
            yield
        finally:
            _HELD_IN_MEMORY.discard(run.url)
    else:
        raise UsageError(f"output {run}: no run lock on {protocol}:// (s3:// or a local folder)")


# ---- the output's checks and faults --------------------------------------------------------------------


def check_output_name(path: str) -> str:
    """The checks that need no filesystem (config validation): not empty, a protocol fsspec knows."""
    if not str(path).strip():
        raise ValueError("the output folder is empty")
    if is_url(path):
        protocol = str(path).split("://", 1)[0]
        if protocol not in fsspec.available_protocols():
            raise ValueError(f"output {path}: unknown storage protocol {protocol!r}")
    return path


def prepare_output_dir(path: str | os.PathLike | RunFolder, storage_options: dict | None = None) -> RunFolder:
    """The output folder, created if needed; a file in the way, an unwritable place or a store that cannot
    be reached is one clear error up front, not a crash halfway through a pass."""
    location = path.url if isinstance(path, RunFolder) else str(path)
    try:
        check_output_name(location)
        run = as_folder(path, storage_options)
    except (ValueError, ImportError) as err:  # ImportError: the protocol's package (s3fs) is missing
        raise UsageError(f"output {location}: {err}") from None
    if not run.local:
        try:
            run.fs.ls(run.path.split("/")[0] if "/" in run.path else run.path)
        except FileNotFoundError:
            raise UsageError(f"output {run}: the bucket does not exist") from None
        except Exception as err:  # the store's own errors: credentials, endpoint, permission
            raise UsageError(f"output {run}: cannot reach the store ({type(err).__name__}: {err})") from None
        return run
    folder = Path(run.path)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"output {folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputFault(f"cannot create the output folder {folder}: {err.strerror or err}") from None
    if not os.access(folder, os.W_OK | os.X_OK):  # access(2) also says EROFS for a read-only mount, even to root
        raise OutputFault(f"cannot write to the output folder {folder}: read-only or not permitted")
    return run


def vanished(run: RunFolder) -> OutputFault | None:
    """An OutputFault when a local run folder was deleted while a run held it (its lock file went with it);
    writers that create their folders would otherwise bring back a part of it and call it done."""
    if not run.local or run.isfile(LOCK_FILE):
        return None
    return OutputFault(f"{run} was deleted during the run; run the same command again to start afresh")


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


def output_fault(err: BaseException, run: RunFolder) -> OutputFault | None:
    """What ``err``, raised while a run wrote into ``run``, means to its user when the cause is the output
    filesystem (full, read-only, the folder deleted); None when it is something else. A failed task's error
    comes as the ``cause`` of its ``PassFailed``."""
    cause = err if isinstance(err, OSError) else getattr(err, "cause", None)
    if (gone := vanished(run)) is not None:
        return gone
    if not isinstance(cause, OSError):
        return None
    if cause.errno in _NO_SPACE:
        return OutputFault(f"no space left on {run}; free some and run the same command again to resume")
    if cause.errno in _NOT_WRITABLE:
        return OutputFault(f"cannot write to {cause.filename or run}: {cause.strerror}")
    return None
