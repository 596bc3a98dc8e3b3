"""A page that keeps an engine busy for seconds to minutes ends as a rejection at the time bound, either engine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import assert_a_stop_signal_during_the_fork_stops
from datatrove.data import Document

from lusomix.stages.extract_sandbox import ExtractionCrashed, ExtractionSandbox, ExtractionTimeout
from lusomix.stages.ingest import IngestConfig, MainTextExtractor

ARTICLE = (
    "O autocarro da linha sete passou a circular de meia em meia hora a partir de segunda-feira, anunciou a "
    "câmara municipal, que pretende reduzir o tempo de espera dos utentes nas paragens do centro da cidade."
)
# Boxes nested 250 deep (below the depth at which resiliparse hands a page to trafilatura), 6,000 times (17 MB),
# all of it given to the engine (max_html_chars would otherwise cut it at 2 MB, ~700 boxes). Measured on one
# machine: 200 boxes (560 kB) took resiliparse 1.3 s and trafilatura 41 s. On a faster one, 700 took resiliparse
# 0.63-0.85 s, under the bound, and the page was extracted; 6,000 took it 5.5 s there.
_BOX = "<div>" * 250 + "<p>Mais um parágrafo dentro de caixas.</p>" + "</div>" * 250
SLOW_PAGE = "<html><body>" + _BOX * 6000 + "</body></html>"
BOUND_S = 1.0


def _run_in_thread(step: MainTextExtractor, docs: list[Document]) -> dict[str, Document]:
    """The step over ``docs`` in a thread that is not the main one (where SIGALRM could never fire)."""
    out: dict[str, Document] = {}

    def work() -> None:
        out.update({doc.id: doc for doc in step.run(iter(docs))})

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(timeout=120)  # a hang guard, not a speed test: unbounded, the page takes minutes
    assert not worker.is_alive(), "the extraction was not stopped at the bound"
    return out


@pytest.mark.parametrize("engine", ["trafilatura", "resiliparse"])
def test_a_page_that_keeps_the_engine_busy_is_rejected_at_the_bound(engine):
    config = IngestConfig(engine=engine, extraction_timeout_s=BOUND_S, max_html_chars=len(SLOW_PAGE))
    step = MainTextExtractor(config)
    docs = [
        Document(text=SLOW_PAGE, id="slow", metadata={"url": "http://a.pt/caixas"}),
        Document(text=f"<html><body><article><p>{ARTICLE}</p></article></body></html>", id="next", metadata={}),
    ]
    out = _run_in_thread(step, docs)
    assert out["slow"].metadata["reject"] == "extraction_timeout" and out["slow"].text == ""
    # the task goes on: the next page is extracted by a fresh child process
    assert "reject" not in out["next"].metadata
    assert out["next"].text.startswith("O autocarro") and out["next"].metadata["extractor"] == engine
    assert step.stats["rejected/extraction_timeout"].total == 1


def _upper(html: str) -> str:
    if html == "crash":
        import os

        os._exit(9)  # dies as an out-of-memory kill would
    if html == "error":
        raise ValueError("malformed markup")
    return html.upper()


def test_the_sandbox_tells_a_timeout_a_crash_and_an_engine_error_apart():
    sandbox = ExtractionSandbox(_upper, timeout_s=5.0)
    try:
        assert sandbox("olá") == "OLÁ"
        with pytest.raises(ExtractionCrashed):
            sandbox("crash")
        assert sandbox("de novo") == "DE NOVO"  # a fresh child
        with pytest.raises(RuntimeError, match="ValueError: malformed markup"):
            sandbox("error")
        assert sandbox("e ainda") == "E AINDA"  # the same child: an engine's error does not kill it
        slow = ExtractionSandbox(lambda html: threading.Event().wait(60), timeout_s=0.2)
        with pytest.raises(ExtractionTimeout):
            slow("qualquer")
        slow.close()
    finally:
        sandbox.close()


def test_a_killed_task_leaves_no_extraction_process_behind(tmp_path):
    # a task process hands its child a page that takes a minute, then is killed -9: the child must not live on
    script = (
        "import os, signal, time\n"
        "from lusomix.stages.extract_sandbox import ExtractionSandbox\n"
        "sandbox = ExtractionSandbox(lambda html: time.sleep(60), timeout_s=90.0)\n"
        "sandbox.start()\n"
        "sandbox._conn.send('<html>a page that takes a minute</html>')\n"
        "time.sleep(0.5)\n"
        "print(sandbox._child.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL
    child = int(done.stdout.split()[0])
    for _ in range(100):  # the kernel delivers the child's SIGKILL as its parent dies; reaping follows
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        status = Path(f"/proc/{child}/status")
        if status.exists() and "State:\tZ" in status.read_text():
            break  # a zombie: dead, waiting for init to reap it
        time.sleep(0.1)
    else:
        raise AssertionError(f"extraction process {child} outlived its killed parent")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_that_arrives_while_the_task_forks_is_not_lost(signum):
    # the extraction process is forked at each task's start: a Ctrl-C'd run finished with exit 0
    setup = "from lusomix.stages.extract_sandbox import ExtractionSandbox\nsandbox = ExtractionSandbox(str.upper, 5.0)"
    assert_a_stop_signal_during_the_fork_stops(signum, "sandbox.start()", setup)
