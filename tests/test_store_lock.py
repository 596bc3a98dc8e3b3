"""The run lock on object storage (lusomix/store_lock.py), against a real S3 HTTP server (moto's, started by
the ``s3_server`` fixture): one holder at a time, refused in one line, a lease renewed while the run lives,
an expired or killed holder taken over, by exactly one of several runs at once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from lusomix.errors import OutputFault, UsageError
from lusomix.store_lock import LOCK_NAME, StoreLock, store_lock

s3fs = pytest.importorskip("s3fs", reason="needs s3fs (the s3 extra)")

LEASE_S = 3.0  # seconds: a lease runs out within LEASE_S + 1 of its last renewal (store clock, whole seconds)


@pytest.fixture
def fs(s3_server):
    return s3fs.S3FileSystem()  # the session's cached instance: a new one loads botocore's S3 model again


@pytest.fixture
def run_url(s3_bucket):
    return f"{s3_bucket}/runs/demo"


def _lock_json(fs, run_url) -> dict:
    return json.loads(fs.cat_file(f"{run_url}/{LOCK_NAME}"))


def _stale_lock(fs, run_url) -> StoreLock:
    """A lock whose holder stopped renewing (a stalled or killed run): taken, never renewed, expired."""
    stale = StoreLock(fs, run_url, lease_s=1.0)
    stale.acquire()
    _wait_for(lambda: (holder := stale.read()) is not None and holder.expires_in_s <= 0, "the lease to run out")
    return stale


def _wait_for(condition, what: str, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.2)


def test_every_aws_tool_reaches_the_server_from_the_environment_alone(s3_server, s3_bucket):
    """s3fs and boto3 in a child process find the endpoint and keys in AWS_* (no storage_options); the
    server counts their requests by kind."""
    s3_server.requests(reset=True)
    code = (
        "import sys, boto3, s3fs\n"
        "fs = s3fs.S3FileSystem()\n"
        "fs.pipe_file(sys.argv[1] + '/a.txt', b'ol\\xc3\\xa1')\n"
        "bucket = sys.argv[1].removeprefix('s3://')\n"
        "print(boto3.client('s3').get_object(Bucket=bucket, Key='a.txt')['Body'].read().decode())\n"
        "print(fs.ls(sys.argv[1]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, s3_bucket], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["olá", f"['{s3_bucket.removeprefix('s3://')}/a.txt']"]
    counts = s3_server.requests()
    assert counts["PUT"] == 1 and counts["PUT bytes in"] == 4 and counts["GET"] >= 1 and counts["LIST"] >= 1


def test_the_lock_names_its_holder_while_held_and_is_gone_after(fs, run_url):
    with store_lock(fs, run_url, lease_s=LEASE_S) as lock:
        held = _lock_json(fs, run_url)
        assert held["host"] == socket.gethostname() and held["pid"] == os.getpid()
        assert held["token"] == lock.token and held["lease_s"] == LEASE_S and "expires" in held
        assert lock.taken_over is None
    assert not fs.exists(f"{run_url}/{LOCK_NAME}")
    with store_lock(fs, run_url, lease_s=LEASE_S):  # and the next run takes it at once
        pass


def test_a_second_run_is_refused_at_once_in_one_line(fs, run_url):
    with store_lock(fs, run_url, lease_s=LEASE_S) as first:
        with pytest.raises(UsageError) as refused, store_lock(fs, run_url, lease_s=LEASE_S):
            pytest.fail("a second holder got the lock")
        message = str(refused.value)
        assert len(message.splitlines()) == 1
        assert message.startswith(f"{run_url} is in use by another lusomix run (pid {os.getpid()} on ")
        wait_s = float(message.split("taken over in ")[1].split(" s;")[0])
        assert 0 < wait_s <= LEASE_S + 1
        assert _lock_json(fs, run_url)["token"] == first.token  # the refused run changed nothing


@pytest.mark.slow
def test_the_lease_is_renewed_while_the_run_lives(fs, run_url):
    """Longer after it was taken than any lease lasts unrenewed, a live holder's lock is refused to others."""
    with store_lock(fs, run_url, lease_s=LEASE_S) as lock:
        first = lock.read()
        time.sleep(LEASE_S + 2)
        renewed = lock.read()
        assert first is not None and renewed is not None and renewed.renewed > first.renewed
        with pytest.raises(UsageError, match="is in use by another lusomix run"):
            StoreLock(fs, run_url, lease_s=LEASE_S).acquire()
        lock.check()  # still ours


@pytest.mark.slow
def test_an_expired_lease_is_taken_over_and_its_stalled_holder_notices(fs, run_url):
    stale = _stale_lock(fs, run_url)
    with store_lock(fs, run_url, lease_s=LEASE_S) as successor:
        assert successor.taken_over is not None and successor.taken_over.token == stale.token
        stale._renewer.start()  # the stalled run wakes up: its next renewal finds another run's lock
        _wait_for(lambda: stale.lost is not None, "the stalled holder to notice")
        with pytest.raises(OutputFault, match="was by pid") as fault:
            stale.check()
        assert str(os.getpid()) in str(fault.value) and len(str(fault.value).splitlines()) == 1
        stale.release()  # and it leaves the successor's lock alone
        assert _lock_json(fs, run_url)["token"] == successor.token
        successor.check()
    assert not fs.exists(f"{run_url}/{LOCK_NAME}")


_HOLDER = """
import sys, time, s3fs
from lusomix.store_lock import store_lock
with store_lock(s3fs.S3FileSystem(), sys.argv[1], lease_s=float(sys.argv[2])):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.mark.slow
@pytest.mark.faults
def test_a_holder_killed_with_sigkill_is_taken_over_once_its_lease_runs_out(fs, run_url):
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, run_url, str(LEASE_S)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(UsageError, match=f"another lusomix run \\(pid {holder.pid} on "):
            StoreLock(fs, run_url, lease_s=LEASE_S).acquire()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert fs.exists(f"{run_url}/{LOCK_NAME}")  # kill -9 leaves the lock behind
    successor = StoreLock(fs, run_url, lease_s=LEASE_S)

    def taken() -> bool:
        try:
            successor.acquire()
            return True
        except UsageError as refused:
            assert "can be taken over in" in str(refused)
            return False

    _wait_for(taken, "the killed holder's lease to run out")
    assert successor.taken_over is not None and successor.taken_over.pid == holder.pid
    assert _lock_json(fs, run_url)["token"] == successor.token
    successor.release()
    assert not fs.exists(f"{run_url}/{LOCK_NAME}")


def _take_over_at_once(fs, run_url, contenders: int) -> tuple[list[StoreLock], list[str]]:
    """``contenders`` runs, released together, each try to take the lock: the winners and the refusals."""
    start = threading.Barrier(contenders)
    winners: list[StoreLock] = []
    refusals: list[str] = []

    def contend() -> None:
        lock = StoreLock(fs, run_url, lease_s=LEASE_S)
        start.wait()
        try:
            lock.acquire()
            winners.append(lock)
        except UsageError as refused:
            refusals.append(str(refused))

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return winners, refusals


@pytest.mark.slow
@pytest.mark.parametrize("contenders", [2, 6])
def test_runs_taking_over_an_expired_lock_at_once_have_exactly_one_winner(fs, run_url, contenders):
    for _ in range(2):
        stale = _stale_lock(fs, run_url)
        winners, refusals = _take_over_at_once(fs, run_url, contenders)
        assert len(winners) == 1 and len(refusals) == contenders - 1, refusals
        assert all("is in use by another lusomix run" in refusal for refusal in refusals)
        (winner,) = winners
        assert winner.taken_over is not None and winner.taken_over.token == stale.token
        assert _lock_json(fs, run_url)["token"] == winner.token
        winner.release()
        assert not winner.lost


def test_a_missing_bucket_or_a_store_without_conditional_writes_is_one_line(fs, s3_server):
    import fsspec

    with pytest.raises(UsageError, match="bucket not found"), store_lock(fs, "s3://no-such-bucket-here/run"):
        pass
    with (
        pytest.raises(UsageError, match=r"memory:// cannot be locked"),
        store_lock(fsspec.filesystem("memory"), "memory://run"),
    ):
        pass
