"""Fault matrix: the output filesystem fails under a run. A full disk (a small tmpfs as the output), a
read-only output (from the start, and remounted read-only between two passes) and an output folder deleted
while the run writes into it. Each ends with one line naming the path, exit 1, no traceback; nothing
half-written is visible; after the fault is gone the same command finishes with the uninterrupted output.
tmpfs and remounts need root (CI has it); without root those cells skip and say why."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from conftest import SAMPLES, read_table, run_cli

import lusomix.pipeline.plan as plan
from lusomix.run_folder import LOCK_FILE

pytestmark = [pytest.mark.faults, pytest.mark.slow]


@contextlib.contextmanager
def tmpfs(where: Path, size: int):
    """A tmpfs of ``size`` bytes mounted at ``where`` for the block (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root (CI runs as root)")
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(where)], check=True)


def lusomix(*argv: str) -> subprocess.CompletedProcess:
    """The command line in its own process, as a user runs it (its workers' output included)."""
    return subprocess.run([sys.executable, "-m", "lusomix.pipeline.cli", *argv], capture_output=True, text=True)


def _docs(run: Path) -> pl.DataFrame:
    return read_table(run / "docs").drop("minhash_bands").sort("id")


def _last_line(err: str) -> str:
    """The run's one error line: stderr holds nothing else but progress lines ("extract: 3/12 tasks, ...")."""
    assert "Traceback" not in err and "Logging error" not in err, err
    lines = [line for line in err.strip().splitlines() if not re.fullmatch(r"\s*\w+: \d+/\d+ tasks\b.*", line)]
    assert len(lines) == 1, err
    return lines[0]


def _nothing_half_written(out: Path) -> None:
    """No temporary file is left and every visible Parquet file is whole (its footer reads)."""
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".tmp-")]
    for part in out.rglob("*.parquet"):
        pq.read_metadata(part)


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_a_full_disk_stops_the_run_in_one_line_and_the_same_command_resumes(sample_run, tmp_path):
    """The extract pass fills the disk: one line, exit 1, only whole Parquet parts visible; with space
    again the same command completes to the uninterrupted documents. Then the mix pass meets a full disk."""
    written = _size(sample_run / "docs") + _size(sample_run / "rejected")
    with tmpfs(tmp_path / "mnt", written // 2) as mnt:
        out = mnt / "out"
        argv = ["run", str(SAMPLES / "demo.yaml"), "--output", str(out), "--workers", "2"]
        failed = lusomix(*argv, "--passes", "extract")
        assert failed.returncode == 1, failed.stderr
        assert _last_line(failed.stderr) == (
            f"lusomix: failed: no space left on {out}; free some and run the same command again to resume"
        )
        _nothing_half_written(out)
        assert len(list((out / "docs").glob("*.parquet"))) < len(list((sample_run / "docs").glob("*.parquet")))

        remount(mnt, "size=64m")
        assert lusomix(*argv, "--passes", "extract,dedup").returncode == 0
        assert _docs(out).equals(_docs(sample_run))

        # the mix pass (in the run's own process) on a disk with a few KiB left
        free = shutil.disk_usage(mnt).free
        filler = mnt / "filler"
        filler.write_bytes(b"\0" * (free - 16 * 1024))
        failed = lusomix(*argv, "--passes", "mix")
        assert failed.returncode == 1 and "no space left on" in _last_line(failed.stderr), failed.stderr
        _nothing_half_written(out)
        assert not list((out / "mixes").rglob("manifest.json"))
        filler.unlink()
        assert lusomix(*argv, "--passes", "mix").returncode == 0
        for mix in ("ptpt-first", "balanced"):
            made, reference = (run / "mixes" / mix / "manifest.json" for run in (out, sample_run))
            assert [(s["path"], s["sha256"]) for s in _manifest(made)] == [
                (s["path"], s["sha256"]) for s in _manifest(reference)
            ]


def _manifest(path: Path) -> list[dict]:
    import json

    return json.loads(path.read_text())["shards"]


def test_a_read_only_output_is_one_line_naming_it(tmp_path, capsys):
    archive = SAMPLES / "archives" / "crawl-2021-2024.warc"
    with tmpfs(tmp_path / "mnt", 1 << 20) as mnt:
        remount(mnt, "ro")
        assert run_cli("run", str(SAMPLES / "demo.yaml"), "--input", str(archive), "--output", str(mnt)) == 1
        assert _last_line(capsys.readouterr().err) == (
            f"lusomix: failed: cannot write to the output folder {mnt}: read-only or not permitted"
        )


def test_an_output_made_read_only_between_passes_is_one_line_naming_the_file(tmp_path, monkeypatch, capsys):
    if os.geteuid() != 0:
        pytest.skip("making a folder read-only under a running process needs a bind mount, hence root")
    archive = SAMPLES / "archives" / "crawl-2021-2024.warc"
    out = tmp_path / "out"
    real = plan.run_dedup

    def read_only_then_dedup(config):
        # the extract pass is written; from now on the folder is read-only (a read-only bind mount over it:
        # a plain remount is refused while the run holds its lock file open for writing)
        subprocess.run(["mount", "--bind", str(out), str(out)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(out)], check=True)
        return real(config)

    monkeypatch.setattr(plan, "run_dedup", read_only_then_dedup)
    argv = ["run", str(SAMPLES / "demo.yaml"), "--input", str(archive), "--output", str(out), "--workers", "1"]
    try:
        assert run_cli(*argv, "--passes", "extract,dedup") == 1
    finally:
        subprocess.run(["umount", "-l", str(out)], check=False)
    line = _last_line(capsys.readouterr().err)
    assert line.startswith(f"lusomix: failed: cannot write to {out}/") and line.endswith(": Read-only file system")
    assert read_table(out / "docs").height > 0  # the extract pass before the fault is kept


def test_an_output_deleted_during_the_run_is_one_line_and_a_rerun_starts_afresh(sample_run, tmp_path):
    out = tmp_path / "out"
    argv = ["run", str(SAMPLES / "demo.yaml"), "--output", str(out), "--workers", "1", "--passes", "extract"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lusomix.pipeline.cli", *argv], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    completions = out / "logs" / "extract" / "completions"
    deadline = time.time() + 120
    while time.time() < deadline and not (completions.is_dir() and len(list(completions.iterdir())) >= 2):
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before its output could be deleted"
    while (out / LOCK_FILE).exists():  # the run keeps writing: remove until its lock file is gone
        shutil.rmtree(out, ignore_errors=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert _last_line(err.decode()) == (
        f"lusomix: failed: {out} was deleted during the run; run the same command again to start afresh"
    )
    assert run_cli(*argv) == 0
    assert _docs(out).equals(_docs(sample_run))
