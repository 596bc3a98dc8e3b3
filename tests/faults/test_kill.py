"""Fault matrix: kill -9 of the whole run in the middle of each pass, with the local and the Ray executor.
The same command then resumes, and the output is the uninterrupted run's (``sample_run``): the same
documents, the same clusters, the same mix shards (sha256), the same training steps and weights.

The extract pass's local cell is tests/test_extract.py::test_resume_after_kill_gives_the_uninterrupted_output.
The mix pass runs in the run's own process whatever the executor, and the pretrain pass always on Ray Train
(a local Ray unless executor.ray_address is given), so each has one cell."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl
import pytest
import torch
from conftest import SAMPLES, read_table
from safetensors.torch import load_file

from lusomix.run_folder import TEMPORARY

pytestmark = [pytest.mark.faults, pytest.mark.slow]

KILL_AT = Path(__file__).with_name("kill_at.py")
DEMO = str(SAMPLES / "demo.yaml")


def _lusomix(*argv: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lusomix.pipeline.cli", *argv], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr


def _killed_at(limit: int, part: str, *argv: str) -> None:
    """Run the command line and kill -9 it right after the ``limit``th file published under ``part``."""
    with tempfile.TemporaryFile("w+") as err:  # a file, not a pipe: nothing can block on it
        done = subprocess.run(
            [sys.executable, str(KILL_AT), str(limit), part, *argv],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            timeout=600,
        )
        err.seek(0)
        assert done.returncode == -signal.SIGKILL, f"the run was not killed (exit {done.returncode}): {err.read()}"


def _killed_when(ready, *argv: str) -> None:
    """Run the command line in its own process group; kill -9 the whole group (Ray's processes included)
    as soon as ``ready()`` holds."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lusomix.pipeline.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None and not ready():
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be killed"
    finally:
        with _gone():
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class _gone:
    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        return kind is ProcessLookupError


def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


def _docs(run: Path) -> pl.DataFrame:
    return read_table(run / "docs").drop("minhash_bands").sort("id")


def _clusters(run: Path) -> pl.DataFrame:
    return pl.read_parquet(run / "dedup" / "clusters.parquet").sort("id")


def _shards(run: Path, mix: str) -> list[tuple[str, str]]:
    manifest = json.loads((run / "mixes" / mix / "manifest.json").read_text())
    return [(shard["path"], shard["sha256"]) for shard in manifest["shards"]]


def _temporaries(out: Path) -> list[str]:
    """What a killed writer leaves and a resumed run must have removed: temporary files and scratch
    folders (``.NAME.PID.tmp``), and checkpoint folders without their marker."""
    left = [str(p) for p in out.rglob("*") if TEMPORARY.fullmatch(p.name)]
    return left + [str(p) for p in out.rglob("checkpoints/step-*") if not (p / "trainer_state.json").is_file()]


def _with_docs(sample_run: Path, out: Path, *folders: str) -> None:
    for folder in ("docs", *folders):
        shutil.copytree(sample_run / folder, out / folder)


def test_kill_9_in_the_dedup_pass_local(sample_run, tmp_path):
    out = tmp_path / "out"
    _with_docs(sample_run, out)
    argv = ["run", DEMO, "--output", str(out), "--workers", "1", "--passes", "dedup"]
    _killed_at(8, "/dedup/", *argv)  # 8 of its 26 band units written
    assert not (out / "dedup" / "clusters.parquet").exists()
    _lusomix(*argv)
    assert _clusters(out).equals(_clusters(sample_run))
    assert _temporaries(out) == []


def test_kill_9_in_the_mix_pass(sample_run, tmp_path):
    out = tmp_path / "out"
    _with_docs(sample_run, out, "dedup")
    argv = ["run", DEMO, "--output", str(out), "--passes", "mix"]
    _killed_at(2, "/mixes/", *argv)  # two shards of the first mix published, its manifest not yet
    assert (
        _files(out / "mixes" / "ptpt-first", "*.parquet")
        and not (out / "mixes" / "ptpt-first" / "manifest.json").exists()
    )
    assert _temporaries(out)  # the killed run's bucket folder (up to the whole mix's data)
    _lusomix(*argv)
    for mix in ("ptpt-first", "balanced"):
        assert _shards(out, mix) == _shards(sample_run, mix)
    assert _temporaries(out) == []


def _model(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "pretrain" / "ptpt-first" / "model" / "model.safetensors")


def _losses(run: Path) -> list[tuple[int, float]]:
    lines = (run / "pretrain" / "ptpt-first" / "metrics.jsonl").read_text().splitlines()
    return [(record["step"], record["loss"]) for record in map(json.loads, lines)]


@pytest.mark.ray
def test_kill_9_in_the_pretrain_pass(sample_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(sample_run / "mixes" / "ptpt-first", out / "mixes" / "ptpt-first")
    argv = ["run", DEMO, "--output", str(out), "--passes", "pretrain"]
    checkpoints = out / "pretrain" / "ptpt-first" / "checkpoints"
    _killed_when(lambda: (checkpoints / "step-000020" / "trainer_state.json").is_file(), *argv)  # of 40 steps
    assert not (checkpoints / "step-000040" / "trainer_state.json").exists()
    _lusomix(*argv)
    assert _losses(out) == _losses(sample_run)  # steps 21-40 again, from the step-20 checkpoint, as before
    assert _temporaries(out) == []
    made, reference = _model(out), _model(sample_run)
    assert made.keys() == reference.keys() and all(torch.equal(made[k], reference[k]) for k in made)


@pytest.mark.ray
def test_kill_9_in_the_extract_pass_then_in_the_dedup_pass_ray(sample_run, tmp_path):
    out = tmp_path / "out"
    argv = ["run", DEMO, "--output", str(out), "--executor", "ray", "--workers", "2", "--passes", "extract,dedup"]
    completions = out / "logs" / "extract" / "completions"
    _killed_when(lambda: len(_files(completions, "*")) >= 2, *argv)
    assert len(_files(completions, "*")) < 12
    _killed_when(lambda: len(_files(out / "dedup" / "edges", "*.parquet")) >= 4, *argv)  # resumed, then killed
    assert len(_files(completions, "*")) == 12 and not (out / "dedup" / "clusters.parquet").exists()
    _lusomix(*argv)
    assert _docs(out).equals(_docs(sample_run))
    assert _clusters(out).equals(_clusters(sample_run))
    assert _temporaries(out) == []
