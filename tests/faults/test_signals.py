"""Fault matrix: Ctrl-C (SIGINT to the process group) and SIGTERM (to the run's process) in the middle of
the extract pass. The run stops within seconds, says in one line how to resume, and the same command then
finishes with the output of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import polars as pl
import pytest
from conftest import SAMPLES, read_table, run_cli

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def _docs(run) -> pl.DataFrame:
    return read_table(run / "docs").drop("minhash_bands").sort("id")


@pytest.mark.parametrize(
    ("signum", "group", "code", "says"),
    [
        (signal.SIGINT, True, 130, "interrupted"),
        (signal.SIGTERM, False, 128 + signal.SIGTERM, "terminated (SIGTERM)"),
    ],
)
def test_a_signal_stops_the_run_and_the_same_command_resumes(sample_run, tmp_path, signum, group, code, says):
    out = tmp_path / "run"
    argv = ["run", str(SAMPLES / "demo.yaml"), "--output", str(out), "--workers", "1", "--passes", "extract"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lusomix.pipeline.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    completions = out / "logs" / "extract" / "completions"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if completions.is_dir() and len(list(completions.iterdir())) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    if group:
        os.killpg(proc.pid, signum)  # what a terminal's Ctrl-C does
    else:
        os.kill(proc.pid, signum)  # what a scheduler does
    sent = time.time()
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert time.time() - sent < 30
    assert proc.returncode == code, err
    last = err.strip().splitlines()[-1]
    assert says in last and "run the same command again to resume" in last, err
    assert run_cli(*argv) == 0
    assert _docs(out).equals(_docs(sample_run))
