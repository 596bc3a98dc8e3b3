"""Fault matrix: one Ray worker process killed (kill -9) while it runs a task of the extract pass, the run's
own process untouched. datatrove's Ray executor resubmits a task whose worker died, at most 3 times: once
killed, the task runs again elsewhere and the run's output is the uninterrupted one; killed on every try,
the run fails in one line naming where its logs are, and keeps every other task's output.

datatrove runs each task in a child process of its Ray actor, and a dead child hung the run for ever;
lusomix's executor runs the task in the actor itself (lusomix/pipeline/executors.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLES, read_table

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.ray]

RANK = 4  # one of the 12 sample archives, one that takes a second or so


def _writing(out: Path) -> set[int]:
    """The processes writing task RANK's docs/ part: its temporary name carries the writer's pid."""
    names = (out / "docs").glob(f".part-{RANK:05d}.parquet.*.tmp") if (out / "docs").is_dir() else []
    return {int(name.name.split(".")[-2]) for name in names}


def _run_killing_the_task(out: Path, times: int) -> subprocess.Popen:
    """The extract pass on Ray; the worker running task RANK is killed ``times`` times (each try's worker
    once)."""
    argv = ["run", str(SAMPLES / "demo.yaml"), "--output", str(out), "--executor", "ray", "--workers", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lusomix.pipeline.cli", *argv, "--passes", "extract"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    killed: set[int] = set()
    deadline = time.time() + 300
    try:
        while len(killed) < times and proc.poll() is None and time.time() < deadline:
            for pid in _writing(out) - killed - {proc.pid}:
                with contextlib.suppress(ProcessLookupError):  # its try may have ended as we looked
                    os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            time.sleep(0.01)
        assert len(killed) == times, f"killed {len(killed)} workers of task {RANK}, meant {times}"
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc


def _docs(run: Path) -> pl.DataFrame:
    return read_table(run / "docs").drop("minhash_bands").sort("id")


def test_a_killed_worker_s_task_is_retried_and_the_output_is_the_uninterrupted_one(sample_run, tmp_path):
    out = tmp_path / "out"
    proc = _run_killing_the_task(out, times=1)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert _docs(out).equals(_docs(sample_run))
    assert not list(out.rglob("*.tmp"))  # the killed try's half-written part is not left behind


def test_a_task_whose_worker_dies_on_every_try_fails_the_run_naming_its_log(tmp_path):
    out = tmp_path / "out"
    proc = _run_killing_the_task(out, times=4)  # the first try and datatrove's 3 resubmissions
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 1, err
    last = err.strip().splitlines()[-1]
    log = out / "logs" / "extract" / "logs" / f"task_{RANK:05d}.log"
    # its worker died before writing that log (datatrove's Ray tasks write it at the end): Ray's logs are named
    assert last.startswith("lusomix: failed: extract: 1 of 12 tasks did not complete; see Ray's worker logs in "), err
    assert last.endswith(f"(the task's worker died before writing {log})"), err
    assert "Traceback" not in err
    assert len(list((out / "docs").glob("part-*.parquet"))) == 11  # every other task's output is kept
