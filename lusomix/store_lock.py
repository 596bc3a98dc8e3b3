"""One run at a time in a run folder on object storage: the lock is an object, ``ROOT/.lusomix.lock``.

A local folder has ``flock`` (run_folder.run_lock), which the kernel releases when its holder dies. A store
has no such thing, so the lock is a lease:

- it is created with a conditional PUT (``If-None-Match: *``): of two runs, the store lets exactly one
  create it; the other is refused at once, in one line naming the holder and when its lease runs out;
- it holds JSON naming the holder (host, pid, a token unique to this run) and its lease (``lease_s``);
  a daemon thread renews it every ``lease_s / 3`` with a conditional overwrite (``If-Match`` on the ETag
  it last wrote), so a lock taken over by another run is noticed at the next renewal, not ignored;
- a holder killed with ``kill -9`` renews no more: once its lease has run out, the next run takes the lock
  over with a conditional overwrite of that very version (``If-Match`` on its ETag). Of several runs
  taking over at once exactly one wins (the others' ETag no longer matches), which a delete followed by
  a create would not guarantee (a slow run could delete the winner's fresh lock);
- on exit the object is deleted, only if it is still ours (``If-Match``).

A lease is measured with the store's clock (the version's Last-Modified against the response's Date), not
the clock of whoever reads it: the nodes of a cluster need not agree on the time. Both have whole seconds,
so a lease counts as expired one second late, never early.

S3 and the stores that speak its API (s3fs) only; S3 has honoured both conditions on PUT since 2024.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from lusomix.errors import OutputFault, UsageError

LOCK_NAME = ".lusomix.lock"
LEASE_S = 60.0  # a killed run's lock blocks the next one this long at most; renewed every LEASE_S / 3
_CLOCK_STEP_S = 1.0  # Last-Modified and Date have whole seconds
_TAKEOVER_TRIES = 5  # each try follows a change by another run (it released, or it won a takeover)


@dataclass(frozen=True)
class LockHolder:
    """What a lock object says, with its version and the store's view of its lease."""

    host: str
    pid: int
    token: str
    lease_s: float
    etag: str
    renewed: datetime  # the version's Last-Modified (store clock)
    expires_in_s: float  # from the store's Date; <= 0 once it may be taken over

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


def _code(err: BaseException) -> str:
    """The S3 error code behind an s3fs error (``PreconditionFailed``, ``NoSuchKey``, ...)."""
    response = getattr(err.__cause__, "response", None) or getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


# The condition failed (412), the object was gone (NoSuchKey, for If-Match), or another conditional write of
# the same key was in flight (409): another run changed the lock between our read and our write.
_RACE_CODES = {"PreconditionFailed", "412", "NoSuchKey", "ConditionalRequestConflict", "409"}


def _lost_race(err: BaseException) -> bool:
    return isinstance(err, FileExistsError) or _code(err) in _RACE_CODES


class StoreLock:
    """The lock of one run on ``root_url``; ``store_lock`` takes and releases it."""

    def __init__(self, fs: Any, root_url: str, lease_s: float = LEASE_S) -> None:
        if not hasattr(fs, "_call_s3"):
            protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
            raise UsageError(f"a run folder on {protocol}:// cannot be locked: use s3:// or a local folder")
        self.fs, self.lease_s = fs, float(lease_s)
        self.url = root_url.rstrip("/") + "/" + LOCK_NAME
        self.bucket, self.key, _ = fs.split_path(self.url)
        self.host, self.pid, self.token = socket.gethostname(), os.getpid(), secrets.token_hex(16)
        self.etag = ""
        self.taken_over: LockHolder | None = None  # the expired holder this run replaced, if any
        self.lost: str | None = None  # why the lock is no longer ours (set by the renewing thread)
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew_while_held, name="store-lock-renewal", daemon=True)

    # the requests
    def _body(self) -> bytes:
        expires = datetime.now(UTC) + timedelta(seconds=self.lease_s)
        holder = {"host": self.host, "pid": self.pid, "token": self.token, "lease_s": self.lease_s}
        return json.dumps({**holder, "expires": expires.isoformat(timespec="milliseconds")}).encode()

    def _put(self, **condition: str) -> str:
        response = self.fs.call_s3("put_object", Bucket=self.bucket, Key=self.key, Body=self._body(), **condition)
        return response["ETag"]

    def read(self) -> LockHolder | None:
        """The lock as the store has it now; None when there is none."""
        from fsspec.asyn import sync

        async def get() -> tuple[bytes, dict]:
            response = await self.fs._call_s3("get_object", Bucket=self.bucket, Key=self.key)
            return await response["Body"].read(), response

        try:
            body, response = sync(self.fs.loop, get)
        except FileNotFoundError:
            return None
        try:
            data = json.loads(body)
            host, pid, token, lease_s = str(data["host"]), int(data["pid"]), str(data["token"]), float(data["lease_s"])
        except (ValueError, KeyError, TypeError):  # not written by lusomix: it still keeps other runs out
            host, pid, token, lease_s = "unknown host", 0, "", self.lease_s
        renewed = response["LastModified"]
        date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        now = parsedate_to_datetime(date) if date else datetime.now(UTC)
        now = now if now.tzinfo else now.replace(tzinfo=UTC)  # "-0000" parses without a zone
        expires_in = (renewed - now).total_seconds() + lease_s + _CLOCK_STEP_S
        return LockHolder(host, pid, token, lease_s, response["ETag"], renewed, expires_in)

    # taking, keeping, giving back
    def acquire(self) -> None:
        """Take the lock, or raise a one-line UsageError naming the run that holds it."""
        for _ in range(_TAKEOVER_TRIES):
            try:
                self.etag = self._put(IfNoneMatch="*")
                return
            except OSError as err:
                if not _lost_race(err):
                    raise self._fault("create", err) from None
            try:
                holder = self.read()
            except OSError as err:
                raise self._fault("read", err) from None
            if holder is None:
                continue  # released since
            if holder.token == self.token:  # our own create, answered late and retried by the client
                self.etag = holder.etag
                return
            if holder.expires_in_s > 0:
                wait = f"if that run is gone, its lock can be taken over in {holder.expires_in_s:.0f} s"
                in_use = f"{self.url.removesuffix('/' + LOCK_NAME)} is in use by another lusomix run ({holder})"
                raise UsageError(f"{in_use}; {wait}; wait for it, or use another --output")
            try:
                self.etag = self._put(IfMatch=holder.etag)  # this version, expired: only one run replaces it
                self.taken_over = holder
                return
            except OSError as err:
                if not _lost_race(err):
                    raise self._fault("take over", err) from None
        raise UsageError(f"{self.url} keeps changing hands: another lusomix run is starting there; try again")

    def _renew_while_held(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.etag = self._put(IfMatch=self.etag)
            except OSError as err:
                if not _lost_race(err):
                    continue  # the store did not answer: the next beat tries again, before the lease runs out
                try:
                    holder = self.read()
                except OSError:
                    continue  # as above: the next beat
                if holder is not None and holder.token == self.token:  # our renewal, answered late and retried
                    self.etag = holder.etag
                    continue
                taker = f"by {holder}" if holder else "deleted"
                self.lost = f"the run lock {self.url} was {taker} while this run held it (its lease ran out)"
                return

    def check(self) -> None:
        """Raise an OutputFault once the lock is no longer ours: another run may be writing here."""
        if self.lost:
            raise OutputFault(f"{self.lost}; another run may be writing there: check it, then run again")

    def release(self) -> None:
        self._stop.set()
        if self._renewer.is_alive():
            self._renewer.join()
        if self.lost:
            return
        try:
            self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self.key, IfMatch=self.etag)
        except OSError as err:
            if _lost_race(err):
                self.lost = f"the run lock {self.url} was taken over before this run ended"
                return
            # a store without conditional deletes: the lease has two thirds of its length left at least (it
            # was renewed every third), so nobody can take the lock over between this read and the delete
            try:
                holder = self.read()
                if holder is not None and holder.token == self.token:
                    self.fs.call_s3("delete_object", Bucket=self.bucket, Key=self.key)
            except OSError:
                raise self._fault("delete", err) from None

    def _fault(self, action: str, err: OSError) -> Exception:
        if isinstance(err, FileNotFoundError) or _code(err) == "NoSuchBucket":
            return UsageError(f"cannot {action} the run lock {self.url}: bucket not found")
        return OutputFault(f"cannot {action} the run lock {self.url}: {err}")


@contextmanager
def store_lock(fs: Any, root_url: str, lease_s: float = LEASE_S) -> Iterator[StoreLock]:
    """Hold the run lock of the run folder ``root_url`` (``s3://bucket/run``) on the store ``fs`` (an s3fs
    filesystem) for the block, renewing its lease every ``lease_s / 3``. A second run is refused with a
    UsageError; a holder whose lease ran out is replaced (``lock.taken_over`` names it). If the lock is
    taken over while held (this run stalled for longer than its lease), ``lock.check()`` raises an
    OutputFault, and so does the end of the block."""
    lock = StoreLock(fs, root_url, lease_s)
    lock.acquire()
    lock._renewer.start()
    try:
        yield lock
    finally:
        lock.release()
    lock.check()
