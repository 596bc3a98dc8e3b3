"""Shared fixtures: the sample archives, their expected answers, one extract run per test session."""

from __future__ import annotations

import json
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


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Path:
    """The demo config's passes on the sample archives, local executor, 2 workers."""
    out = tmp_path_factory.mktemp("sample_run")
    assert run_cli("run", str(SAMPLES / "demo.yaml"), "--output", str(out), "--workers", "2") == 0
    return out


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray (2 CPUs) for the whole test session.

    ray.shutdown() has been seen to block for ever here (in its GCS subscriber's close, after Ray Train
    runs), which would hang the suite after every test passed: it gets a bounded wait instead, and Ray's
    own exit hook, which would block the same way, is removed. The wait is short: in full runs the
    shutdown blocked every time (the 60 s this wait used to be were spent in full), and the process
    ends right after the session (pytest_unconfigure).
    """
    import atexit
    import threading

    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    atexit.unregister(ray._private.worker.shutdown)
    stopper = threading.Thread(target=ray.shutdown, daemon=True)
    stopper.start()
    stopper.join(timeout=10)


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
    (reports and pytest's cache are written, the session's Ray is shut down by its fixture), so the
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
