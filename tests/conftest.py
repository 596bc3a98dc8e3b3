"""Shared fixtures: the sample archives, their expected answers, one extract run per test session."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data_samples"
ARCHIVES = SAMPLES / "archives"
SHARED_DATA = REPO.parent / "shared" / "data"
_EXIT_STATUS = pytest.StashKey[int]()


def shared_data_or_skip() -> Path:
    if not (SHARED_DATA / "variety").is_dir():
        pytest.skip(f"needs the labelled data in {SHARED_DATA} (../shared beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def expected() -> pl.DataFrame:
    rows = [json.loads(line) for line in (SAMPLES / "expected.jsonl").read_text().splitlines() if line.strip()]
    return pl.DataFrame(rows, infer_schema_length=None)


@pytest.fixture(scope="session")
def expected_damage() -> dict:
    return json.loads((SAMPLES / "expected_damage.json").read_text())


def run_cli(*argv: str) -> int:
    from lusomix.pipeline.cli import main

    return main(list(argv))


def run_cli_process(*argv: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``lusomix ARGV`` in a process of its own, as a user runs it; its stdout and stderr captured.

    The runs with ``--executor ray`` go this way: their Ray lives and ends with the process. A Ray kept in
    the test process for the whole session was, in a full CI run, found dead under a later test (its GCS
    gone: the next actor's export waited for ever), and Ray state outlives ray.shutdown() in a process."""
    return subprocess.run(
        [sys.executable, "-m", "lusomix.pipeline.cli", *argv], capture_output=True, text=True, timeout=timeout
    )


def assert_a_stop_signal_during_the_fork_stops(signum: int, forks: str, setup: str = "") -> None:
    """Python code ``forks`` (after ``setup``), run in a process of its own with the CLI's SIGTERM handler,
    must raise the stop when ``signum`` arrives while the process forks. The signal is sent from a before-fork
    hook: Python runs a handler at its next bytecode, there inside the fork's callbacks (logging's after-fork
    one), whose exceptions it prints and drops, and the code went on as if never asked to stop
    (lusomix/stop_signals.py)."""
    body = "".join(f"    {line}\n" for line in forks.splitlines())
    script = (
        "import os, signal\n"
        "import logging\n"  # registers an after-fork callback
        "from lusomix.pipeline.cli import _terminated\n"
        "signal.signal(signal.SIGTERM, _terminated)\n"
        f"{setup}\n"
        f"os.register_at_fork(before=lambda: os.kill(os.getpid(), {int(signum)}))\n"
        f"try:\n{body}    print('went on', flush=True)\n"
        "except KeyboardInterrupt as stop:\n"
        "    print('stopped', type(stop).__name__, flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    expected = "Terminated" if signum == signal.SIGTERM else "KeyboardInterrupt"
    assert done.stdout.split() == ["stopped", expected], done.stdout + done.stderr
    assert "Exception ignored" not in done.stderr


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Path:
    """The demo config's passes on the sample archives, local executor, 2 workers."""
    out = tmp_path_factory.mktemp("sample_run")
    assert run_cli("run", str(SAMPLES / "demo.yaml"), "--output", str(out), "--workers", "2") == 0
    return out


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 HTTP API on 127.0.0.1 for the whole session (moto's server in a subprocess, started by
    data_samples/s3_server.py), with the AWS_* variables that reach it set in os.environ until the session
    ends: s3fs, boto3, child processes and Ray workers started after it all use it, and nothing else (the
    developer's ~/.aws files and profile are hidden). Yields the S3Server: ``endpoint``, ``access_key``,
    ``secret_key`` (unique to the session), ``env``, ``requests(reset=False)``.

    A Ray started before this fixture has workers without these variables: a Ray that needs them starts
    after it."""
    pytest.importorskip("moto.server", reason="needs moto[server] (the dev extra)")
    s3fs = pytest.importorskip("s3fs", reason="needs s3fs (the s3 extra)")
    import sys

    if str(SAMPLES) not in sys.path:
        sys.path.insert(0, str(SAMPLES))
    import s3_server as helper  # data_samples/s3_server.py

    nowhere = tmp_path_factory.mktemp("aws") / "none"
    with helper.s3_server() as server, pytest.MonkeyPatch.context() as env:
        for name, value in server.env.items():
            env.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            env.delenv(name, raising=False)
        env.setenv("AWS_CONFIG_FILE", str(nowhere))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))
        s3fs.S3FileSystem.clear_instance_cache()  # an instance made before would keep its old endpoint
        yield server
        s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh, empty bucket on the session's S3 server, as a URL (``s3://lusomix-<hex>``); removed with
    what it holds after the test."""
    import secrets

    import s3fs

    fs = s3fs.S3FileSystem()
    url = f"s3://lusomix-{secrets.token_hex(6)}"
    fs.mkdir(url)
    yield url
    fs.rm(url, recursive=True)


def assert_same_training(pretrain, local: Path) -> None:
    """A pretraining folder on a store (a RunFolder) trained as the local one did: the same losses, step by
    step, and the same final weights."""
    import torch
    from safetensors.torch import load

    def losses(text: str) -> list[tuple[int, float]]:
        return [(r["step"], r["loss"]) for r in map(json.loads, text.splitlines())]

    assert losses(pretrain.read_text("metrics.jsonl")) == losses((local / "metrics.jsonl").read_text())
    with pretrain.open("model/model.safetensors") as f:
        made = load(f.read())
    reference = load((local / "model" / "model.safetensors").read_bytes())
    assert made.keys() == reference.keys() and all(torch.equal(made[k], reference[k]) for k in made)


def read_table(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted(folder.glob("part-*.parquet")))


def pytest_sessionfinish(session, exitstatus):
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the test process here, with pytest's exit status, skipping interpreter finalization.

    The suite loads native runtimes that keep threads of their own (Ray's core worker and gRPC, torch,
    gloo, fastText): once, after every test had passed and the summary was printed, CI's process died
    with a segmentation fault while the interpreter tore these down. Nothing is left to do at this point
    (reports and pytest's cache are written, the runs' Ray instances are shut down), so the
    process exits directly. LUSOMIX_TEST_FINALIZE=1 keeps the normal interpreter exit.
    """
    import os
    import sys

    if os.environ.get("LUSOMIX_TEST_FINALIZE") == "1" or _EXIT_STATUS not in config.stash:
        return
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        capture.stop_global_capturing()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(config.stash[_EXIT_STATUS])
