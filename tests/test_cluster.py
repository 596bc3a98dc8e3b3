"""A real multi-node Ray cluster on this machine (Ray's own ``ray.cluster_utils.Cluster``): a head with no CPUs,
so every task and every Ray Train worker runs on a worker node, and the run folder on the S3 server of the
tests, the one thing the nodes share. The run is a separate process that joins the cluster by its address."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import polars as pl
import pytest
import torch
from conftest import SAMPLES, read_table
from safetensors.torch import load

from lusomix.manifest import Manifest
from lusomix.run_folder import RunFolder, parts

pytestmark = [pytest.mark.slow, pytest.mark.ray]
DEMO = str(SAMPLES / "demo.yaml")
DEMO_TEXT = (SAMPLES / "demo.yaml").read_text()


class _Cluster:
    """data_samples/ray_cluster.py in its own process (the test process keeps no Ray state of it)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SAMPLES / "ray_cluster.py"), "--worker-nodes", "2"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("address "), f"the cluster did not start: {line!r}"
        self.address = line.split()[1]

    def replace_a_node(self) -> None:
        """The oldest worker node gone at once (its raylet killed), a new one added."""
        self.proc.stdin.write("replace\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        assert self.proc.stdout.readline().strip() == "ok"  # type: ignore[union-attr]

    def send(self, command: str) -> None:
        """``lose-all`` (every worker node gone at once), ``add`` (one worker node)."""
        self.proc.stdin.write(command + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        assert self.proc.stdout.readline().strip() == "ok"  # type: ignore[union-attr]

    def stop(self) -> None:
        self.proc.communicate("quit\n", timeout=120)


@pytest.fixture(scope="module")
def cluster(s3_server, sample_run):
    """Head (0 CPUs) and two worker nodes of one CPU each, started after the S3 server so that every
    node's processes get its AWS_* variables (and after the local reference run: while this cluster lives,
    a Ray started without an address would join it); the run's process joins with --ray-address."""
    cluster = _Cluster()
    yield cluster
    cluster.stop()


def _docs(run: RunFolder) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(run.open(p)) for p in parts(run, "docs")])


def _differ(ours: pl.DataFrame, theirs: pl.DataFrame) -> list[str]:
    """The columns whose values differ (for the assertion's message)."""
    if ours.columns != theirs.columns or ours.height != theirs.height:
        return [f"shape {ours.shape} vs {theirs.shape}"]
    return [c for c in ours.columns if not ours[c].equals(theirs[c])]


def _losses(text: str) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in map(json.loads, text.splitlines())]


def _run(address: str, output: str, *extra: str, config: str = DEMO) -> subprocess.Popen:
    """The run, its output in files (a pipe nobody reads while it runs could fill and block it)."""
    argv = [sys.executable, "-m", "lusomix.pipeline.cli", "run", config, "--output", output]
    argv += ["--executor", "ray", "--ray-address", address, "--workers", "2", *extra]
    out, err = (tempfile.TemporaryFile("w+") for _ in range(2))
    proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True, env=dict(os.environ))
    proc.logs = (out, err)  # type: ignore[attr-defined]
    return proc


def _finish(proc: subprocess.Popen, timeout: int = 1500) -> str:
    """Wait for the run; its stderr."""
    proc.wait(timeout=timeout)
    err = proc.logs[1]  # type: ignore[attr-defined]
    err.seek(0)
    return err.read()


@pytest.fixture(scope="module")
def cluster_run(cluster, s3_server):
    """Every pass of the demo config on the cluster, to s3://…/run."""
    import s3fs

    s3fs.S3FileSystem().mkdir("s3://lusomix-cluster-run")
    run = RunFolder("s3://lusomix-cluster-run/run")
    proc = _run(cluster.address, run.url)
    err = _finish(proc)
    assert proc.returncode == 0, err
    return run


@pytest.mark.timeout(2400)  # the cluster's start and the whole run (up to 1500 s) are this test's setup
def test_every_pass_on_worker_nodes_that_share_only_the_store(cluster_run, sample_run):
    """extract and dedup tasks, the driver's clusters, mixes and report, and pretraining with 2 Ray Train
    workers (one per node: each node has one CPU) give what a local run gives."""
    run = cluster_run
    assert _docs(run).equals(read_table(sample_run / "docs"))
    with run.open("dedup/clusters.parquet") as f:
        assert pl.read_parquet(f).equals(pl.read_parquet(sample_run / "dedup" / "clusters.parquet"))
    for name in ("ptpt-first", "balanced"):
        local = json.loads((sample_run / "mixes" / name / "manifest.json").read_text())["shards"]
        assert [s["sha256"] for s in Manifest.read(run.mix(name)).shards] == [s["sha256"] for s in local]
    pretrain, local = run.pretrain("ptpt-first"), sample_run / "pretrain" / "ptpt-first"
    assert _losses(pretrain.read_text("metrics.jsonl")) == _losses((local / "metrics.jsonl").read_text())
    with pretrain.open("model/model.safetensors") as f:
        made = load(f.read())
    reference = load((local / "model" / "model.safetensors").read_bytes())
    assert all(torch.equal(made[k], reference[k]) for k in reference)
    assert "lusomix run report" in run.read_text("report/index.html")


@pytest.mark.timeout(1800)
def test_every_worker_node_gone_ends_the_pass_in_one_line_and_the_same_command_resumes(
    cluster, s3_bucket, sample_run, tmp_path
):
    """Both worker nodes removed at once mid-extract, none added: once the cluster has had no node with a CPU
    for executor.no_nodes_wait_s, the run ends with exit 1 and one line; with nodes back, the same command
    resumes to the documents of an uninterrupted run."""
    config = tmp_path / "demo.yaml"
    text = DEMO_TEXT.replace("  - archives/", f"  - {SAMPLES / 'archives'}/")
    text = text.replace("config: pretrain-tiny.yaml", f"config: {SAMPLES / 'pretrain-tiny.yaml'}")
    config.write_text(text.replace("  workers: 2\n", "  workers: 2\n  no_nodes_wait_s: 5\n", 1))
    run = RunFolder(f"{s3_bucket}/run")
    proc = _run(cluster.address, run.url, "--passes", "extract", config=str(config))
    deadline = time.time() + 600
    while len(run.glob("logs/extract/completions/*")) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, _finish(proc)
    cluster.send("lose-all")
    err = _finish(proc, timeout=600)
    assert proc.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert "every worker node is gone" in last and "tasks did not complete" in last, err
    assert "Traceback" not in err
    assert len(run.glob("logs/extract/completions/*")) < 12
    for _ in range(2):
        cluster.send("add")
    proc = _run(cluster.address, run.url, "--passes", "extract", config=str(config))
    err = _finish(proc)
    assert proc.returncode == 0, err
    ours, theirs = _docs(run), read_table(sample_run / "docs")
    assert ours.equals(theirs), _differ(ours, theirs)


@pytest.mark.timeout(1800)
def test_a_worker_node_lost_mid_extract_and_mid_dedup_its_tasks_run_again_elsewhere(cluster, s3_bucket, sample_run):
    """A worker node removed while extract tasks run on it (its raylet gone, as a spot instance goes) and a
    new node added, then the same during the dedup pass: the lost tasks run again and the documents and
    clusters are those of an uninterrupted run."""
    run = RunFolder(f"{s3_bucket}/run")
    proc = _run(cluster.address, run.url, "--passes", "extract,dedup")

    def lose_a_node_once(pattern: str, count: int) -> None:
        deadline = time.time() + 600
        while len(run.glob(pattern)) < count and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, f"the run ended before {count} of {pattern} existed: {_finish(proc)}"
        cluster.replace_a_node()  # a replacement, as an autoscaler would add

    lose_a_node_once("logs/extract/completions/*", 2)  # of 12 extract tasks
    lose_a_node_once("dedup/edges/*.parquet", 4)  # of 26 dedup tasks
    err = _finish(proc)
    assert proc.returncode == 0, err
    ours, theirs = _docs(run), read_table(sample_run / "docs")
    if not ours.equals(theirs):  # which documents, and what the run rejected them for
        rejected = pl.concat([pl.read_parquet(run.open(p)) for p in parts(run, "rejected")])
        missing = theirs.join(ours, on="id", how="anti")["id"]
        why = rejected.filter(pl.col("id").is_in(missing)).select("id", "reason").rows()
        pytest.fail(f"documents differ: {_differ(ours, theirs)}; missing {missing.to_list()}, rejected as {why}")
    with run.open("dedup/clusters.parquet") as f:
        assert pl.read_parquet(f).equals(pl.read_parquet(sample_run / "dedup" / "clusters.parquet"))


@pytest.mark.timeout(1800)
def test_a_worker_node_lost_mid_pretrain_resumes_from_the_checkpoint_on_the_store(cluster, cluster_run, tmp_path):
    """Ray Train restarts its workers on the nodes left (and a replacement) and each resumes from the last
    checkpoint on the store: the losses after it are those of the uninterrupted run."""
    config = tmp_path / "pretrain.yaml"  # the demo's tiny config, with one restart of the workers allowed
    config.write_text(
        (SAMPLES / "pretrain-tiny.yaml").read_text().replace("strategy: ddp", "strategy: ddp\n  max_failures: 1")
    )
    out = cluster_run.child("pretrain-node-lost")
    argv = [sys.executable, "-m", "lusomix.pipeline.cli", "pretrain", str(config), "--mix"]
    argv += [cluster_run.mix("ptpt-first").url, "--output", out.url, "--ray-address", cluster.address]
    argv += ["--max-steps", "40"]  # the demo's pretrain pass trains 40 of the config's 60 (the schedule follows)
    logs = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(argv, stdout=logs, stderr=logs, text=True)
    deadline = time.time() + 900
    while not out.exists("checkpoints/step-000020/trainer_state.json") and time.time() < deadline:
        assert proc.poll() is None, "pretraining ended before a node could be lost"
        time.sleep(0.5)
    cluster.replace_a_node()
    proc.wait(timeout=1200)
    logs.seek(0)
    assert proc.returncode == 0, logs.read()[-3000:]
    reference = _losses(cluster_run.pretrain("ptpt-first").read_text("metrics.jsonl"))
    assert _losses(out.read_text("metrics.jsonl")) == reference
