"""Fault matrix on object storage: kill -9 of the whole run in the middle of each pass, its output on the
S3 server of the tests (tests/conftest.py's ``s3_server``). A killed run leaves no object that looks
finished (each file is one upload, completion markers and manifests last) and its lock's lease runs out;
the same command then resumes, and the output is the uninterrupted local run's (``sample_run``): the same
documents, clusters, mix shards (sha256), training steps and weights."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLES, assert_same_training, read_table
from test_kill import _killed_at, _killed_when, _lusomix

from lusomix.manifest import Manifest
from lusomix.run_folder import TEMPORARY, RunFolder, parts

pytestmark = [pytest.mark.faults, pytest.mark.slow]

DEMO = str(SAMPLES / "demo.yaml")
LEASE_S = 3  # the killed run's lock is taken over once this lease has run out


@pytest.fixture
def store_run(s3_bucket, monkeypatch) -> RunFolder:
    monkeypatch.setenv("LUSOMIX_STORE_LEASE_S", str(LEASE_S))  # the runs below are child processes: they inherit it
    return RunFolder(f"{s3_bucket}/run")


def _seed(run: RunFolder, sample_run: Path, *folders: str) -> None:
    """The store run starts from the local run's earlier passes (uploaded)."""
    for folder in folders:
        run.put_tree(sample_run / folder, folder)


def _resume(*argv: str) -> None:
    time.sleep(LEASE_S + 2)  # the lease runs out (the store's clock has whole seconds)
    _lusomix(*argv)


def _no_temporaries(run: RunFolder) -> None:
    assert not [p for p in run.fs.find(run.path) if TEMPORARY.fullmatch(p.rsplit("/", 1)[-1])]


def test_kill_9_in_the_extract_pass_on_s3(store_run, sample_run):
    run = store_run
    argv = ["run", DEMO, "--output", run.url, "--workers", "1", "--passes", "extract"]
    _killed_when(lambda: len(run.glob("logs/extract/completions/*")) >= 2, *argv)
    finished = len(run.glob("logs/extract/completions/*"))
    assert 2 <= finished < 12 and len(parts(run, "docs")) >= finished
    _resume(*argv)
    docs = pl.concat([pl.read_parquet(run.open(p)) for p in parts(run, "docs")])
    assert docs.equals(read_table(sample_run / "docs"))
    kept = json.loads((sample_run / "stats.json").read_text())["kept"]
    assert json.loads(run.read_text("stats.json"))["kept"] == kept
    _no_temporaries(run)


def _clusters(frame_file) -> pl.DataFrame:
    return pl.read_parquet(frame_file).sort("id")


def test_kill_9_in_the_dedup_pass_on_s3(store_run, sample_run):
    run = store_run
    _seed(run, sample_run, "docs")
    argv = ["run", DEMO, "--output", run.url, "--workers", "1", "--passes", "dedup"]
    _killed_at(8, "/dedup/", *argv)  # 8 of its 26 band units uploaded
    assert not run.exists("dedup/clusters.parquet") and run.glob("dedup/edges/*.parquet")
    _resume(*argv)
    with run.open("dedup/clusters.parquet") as f:
        assert _clusters(f).equals(_clusters(sample_run / "dedup" / "clusters.parquet"))
    _no_temporaries(run)


def test_kill_9_in_the_mix_pass_on_s3(store_run, sample_run):
    run = store_run
    _seed(run, sample_run, "docs", "dedup")
    argv = ["run", DEMO, "--output", run.url, "--passes", "mix"]
    _killed_at(2, "/mixes/", *argv)  # two shards of the first mix uploaded, its manifest not yet
    first = run.mix("ptpt-first")
    assert first.glob("shard-*.parquet") and not first.exists(Manifest.FILE)
    _resume(*argv)
    for name in ("ptpt-first", "balanced"):
        ours = [(s["path"], s["sha256"]) for s in Manifest.read(run.mix(name)).shards]
        local = json.loads((sample_run / "mixes" / name / "manifest.json").read_text())["shards"]
        assert ours == [(s["path"], s["sha256"]) for s in local]
        assert all(run.mix(name).sha256(path) == sha for path, sha in ours)
    _no_temporaries(run)


@pytest.mark.ray
def test_kill_9_in_the_pretrain_pass_on_s3(store_run, sample_run):
    """Ray Train checkpoints to the store; killed after the step-20 checkpoint of 40, the same command
    restores it from the store and trains steps 21-40 as the uninterrupted run did."""
    run = store_run
    _seed(run, sample_run, "mixes/ptpt-first")
    argv = ["run", DEMO, "--output", run.url, "--passes", "pretrain"]
    pretrain = run.pretrain("ptpt-first")
    _killed_when(lambda: pretrain.exists("checkpoints/step-000020/trainer_state.json"), *argv)
    assert not pretrain.exists("checkpoints/step-000040/trainer_state.json")
    _resume(*argv)
    assert_same_training(pretrain, sample_run / "pretrain" / "ptpt-first")
    _no_temporaries(run)
