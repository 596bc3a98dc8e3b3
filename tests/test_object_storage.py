"""Every pass with the run folder on object storage: a real S3 HTTP server on 127.0.0.1 (tests/conftest.py's
``s3_server``), the run a separate process that finds it the way every AWS tool does (``AWS_*``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLES, assert_same_training, read_table
from test_secrets import assert_no_secret

from lusomix.manifest import Manifest
from lusomix.run_folder import TEMPORARY, RunFolder, parts

DEMO = str(SAMPLES / "demo.yaml")


def _lusomix(*argv: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lusomix.pipeline.cli", *argv], capture_output=True, text=True, timeout=timeout
    )


def _docs(run: RunFolder) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(run.open(p)) for p in parts(run, "docs")])


@pytest.fixture(scope="module")
def s3_run(s3_server, tmp_path_factory):
    """The demo config's every pass (pretrain on Ray Train included) with ``--output s3://…``."""
    import s3fs

    bucket = "lusomix-storage-run"
    s3fs.S3FileSystem().mkdir(f"s3://{bucket}")
    done = _lusomix("run", DEMO, "--output", f"s3://{bucket}/run", "--workers", "2")
    assert done.returncode == 0, done.stderr
    return RunFolder(f"s3://{bucket}/run"), done


@pytest.mark.slow
@pytest.mark.ray
def test_every_pass_on_s3_gives_what_a_local_run_gives(s3_run, sample_run):
    run, _ = s3_run
    assert _docs(run).equals(read_table(sample_run / "docs"))
    with run.open("dedup/clusters.parquet") as f:
        assert pl.read_parquet(f).equals(pl.read_parquet(sample_run / "dedup" / "clusters.parquet"))
    for name in ("ptpt-first", "balanced"):
        ours = [(s["path"], s["sha256"]) for s in Manifest.read(run.mix(name)).shards]
        local = json.loads((sample_run / "mixes" / name / "manifest.json").read_text())["shards"]
        assert ours == [(s["path"], s["sha256"]) for s in local]
        assert all(run.mix(name).sha256(path) == sha for path, sha in ours)
    pretrain = run.pretrain("ptpt-first")
    assert_same_training(pretrain, sample_run / "pretrain" / "ptpt-first")
    assert pretrain.exists("checkpoints/step-000040/trainer_state.json")
    assert "lusomix run report" in run.read_text("report/index.html")
    assert not [p for p in run.fs.find(run.path) if TEMPORARY.fullmatch(p.rsplit("/", 1)[-1])]


@pytest.mark.slow
@pytest.mark.ray
def test_inspect_and_report_read_a_run_on_s3_and_no_secret_is_written(s3_run, s3_server, capsys):
    run, done = s3_run
    inspected = _lusomix("inspect", run.url, "--json")
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["rows"] == run.read_json("stats.json")["kept"]
    reported = _lusomix("report", run.url)
    assert reported.returncode == 0, reported.stderr
    seen = assert_no_secret(run.url, s3_server.secret_key, done.stdout, done.stderr, inspected.stdout, reported.stdout)
    assert any(p.endswith("run.json") for p in seen) and any("checkpoints" in p for p in seen)


def test_a_second_run_on_a_store_folder_in_use_is_refused_in_one_line(s3_bucket):
    from lusomix.store_lock import store_lock

    run = RunFolder(f"{s3_bucket}/run")
    with store_lock(run.fs, run.url, lease_s=30):
        done = _lusomix("run", DEMO, "--output", run.url, "--passes", "extract", timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "is in use by another lusomix run" in lines[0] and "can be taken over in" in lines[0]


def test_an_output_on_a_missing_bucket_or_unknown_protocol_is_one_line(s3_server):
    for output, says in (("s3://no-such-bucket-here/run", "bucket does not exist"), ("nope://x/run", "protocol")):
        done = _lusomix("run", DEMO, "--output", output, "--passes", "extract", timeout=120)
        assert done.returncode == 2 and says in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_storage_options_are_never_written(tmp_path):
    """A config's storage_options (they may hold keys) stay out of run.json."""
    from lusomix.pipeline.config import load_config

    config = tmp_path / "c.yaml"
    config.write_text(
        Path(DEMO).read_text(encoding="utf-8") + "\nstorage_options: {secret: s3cr3t-value}\n", encoding="utf-8"
    )
    loaded = load_config(str(config))
    assert loaded.storage_options == {"secret": "s3cr3t-value"}
    assert "s3cr3t" not in repr(loaded.run_folder())
