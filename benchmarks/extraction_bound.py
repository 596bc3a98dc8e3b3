"""What a per-page time bound on extraction costs, for each engine: no bound, SIGALRM, a child process.

Pages: the 181 real pages of ../shared/data/extraction/article-extraction-benchmark, as crawled (real
markup, median ~115 KB). For each engine (trafilatura and resiliparse, as the extract pass calls them) and
each way of bounding it, every page is extracted ``--rounds`` times (the options interleaved page by page,
so load on the machine hits them alike) and its best time kept:

  none      the engine called in-process, unbounded
  sigalrm   the same call inside a SIGALRM timer (setitimer before, cleared after): the bound trafilatura
            had, which fires only in the main thread and cannot stop C code
  sandbox   ``lusomix.stages.extract_sandbox.ExtractionSandbox``: the page sent to a forked child over a
            pipe, the result sent back (the bound the extract pass uses)

Printed per engine and option: median and total ms over the pages, and the median per-page overhead
against ``none`` (ms, and as a share of the median page). Wall time includes the wait for the child to be
scheduled, which on a loaded machine dominates; so the CPU time of each option is measured too (the parent's
and the child's, whole passes over the pages, best pass): what the bound takes from a pass's throughput
when every core is busy. Then the cost of forking a child (once per task, and after each page past the bound).

    .venv/bin/python benchmarks/extraction_bound.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import gzip
import os
import signal
import statistics
import sys
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
GOLD = REPO.parent / "shared" / "data" / "extraction" / "article-extraction-benchmark"

from lusomix.stages.extract_sandbox import ExtractionSandbox  # noqa: E402
from lusomix.stages.ingest import IngestConfig, extract_page  # noqa: E402


class _Late(Exception):
    pass


def _alarm(signum, frame):
    raise _Late


def with_sigalrm(extract, html: str, seconds: float = 10.0):
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return extract(html)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _child_cpu(sandbox: ExtractionSandbox) -> float:
    """CPU seconds the sandbox's child has used (user + system, from /proc)."""
    child = sandbox._child
    if child is None:
        return 0.0
    fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_page(call, pages: list[str], sandbox: ExtractionSandbox | None) -> float:
    """CPU seconds per page of one pass over ``pages``, the child's included."""
    child = _child_cpu(sandbox) if sandbox else 0.0
    started = time.process_time()
    for html in pages:
        call(html)
    used = time.process_time() - started + ((_child_cpu(sandbox) - child) if sandbox else 0.0)
    return used / len(pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not GOLD.is_dir():
        sys.exit(f"needs {GOLD} (../shared beside the repo)")
    pages = [gzip.decompress(p.read_bytes()).decode("utf-8") for p in sorted((GOLD / "html").glob("*.html.gz"))]
    print(f"{len(pages)} pages, median {statistics.median(len(p) for p in pages) / 1000:.0f} kB of HTML")
    for engine in ("trafilatura", "resiliparse"):
        extract = partial(extract_page, config=IngestConfig(engine=engine))
        sandbox = ExtractionSandbox(extract, timeout_s=10.0)
        sandbox.start()
        options = {"none": extract, "sigalrm": partial(with_sigalrm, extract), "sandbox": sandbox}
        best = {name: [float("inf")] * len(pages) for name in options}
        for _ in range(args.rounds):
            for i, html in enumerate(pages):
                for name, call in options.items():
                    started = time.perf_counter()
                    result = call(html)
                    best[name][i] = min(best[name][i], time.perf_counter() - started)
                    if name == "none":
                        reference = result
                    else:
                        assert result == reference, (engine, name, i)  # the bound changes no result
        cpu = {
            name: min(cpu_per_page(call, pages, sandbox if name == "sandbox" else None) for _ in range(args.rounds))
            for name, call in options.items()
        }
        sandbox.close()
        base = statistics.median(best["none"])
        print(f"\n{engine}: ms per page (best of {args.rounds})")
        head = f"  {'option':<9}{'median':>9}{'total':>10}{'overhead median':>18}{'of median page':>16}"
        print(f"{head}{'CPU':>9}{'x none':>8}")
        for name, times in best.items():
            extra = statistics.median(t - n for t, n in zip(times, best["none"]))
            print(
                f"  {name:<9}{statistics.median(times) * 1e3:>9.3f}{sum(times) * 1e3:>10.1f}"
                f"{extra * 1e3:>18.3f}{extra / base:>16.1%}{cpu[name] * 1e3:>9.3f}{cpu[name] / cpu['none']:>8.3f}"
            )
    forks = []
    for _ in range(10):
        sandbox = ExtractionSandbox(partial(extract_page, config=IngestConfig()), timeout_s=10.0)
        started = time.perf_counter()
        sandbox("<html><body><p>um</p></body></html>")
        forks.append(time.perf_counter() - started)
        sandbox.close()
    print(f"\nfork a child and extract a tiny page: median {statistics.median(forks) * 1e3:.1f} ms (10 tries)")


if __name__ == "__main__":
    main()
