"""What progress reporting costs the extract pass (goal: under 1%).

Two measurements on the same input:
  pass   the whole extract pass (local executor), progress off (``-q``) and on (a plain line every
         ``--every`` seconds, the tasks' counts sent once a second), runs alternated, ``--rounds`` of each;
         prints each run's wall time, the medians and their ratio. On a shared machine the run-to-run
         noise of a whole pass is larger than 1%: read it beside the figure below.
  step   the tasks' side alone, in-process: the counting step over ``--docs`` documents with a live
         tally (a multiprocess manager, as the local executor uses) against a bare pass-through
         generator; its cost per document, as a share of the pass's cost per capture (pass wall time x
         workers / captures, from the runs above, progress off).

    python benchmarks/progress_cost.py [--copies 10] [--files 4] [--workers 2] [--rounds 3] [--every 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from extract_throughput import build_corpus  # noqa: E402


def run_extract(corpus: Path, out: Path, workers: int, every: float) -> float:
    """One whole extract pass; ``every`` 0: progress off."""
    from lusomix.pipeline.config import load_config, with_overrides
    from lusomix.pipeline.plan import run_passes

    os.environ["LUSOMIX_PROGRESS_EVERY"] = str(every)
    config = with_overrides(
        load_config(str(REPO / "data_samples" / "demo.yaml")), input=[str(corpus)], output=str(out), workers=workers
    )
    started = time.perf_counter()
    run_passes(config, ["extract"])
    return time.perf_counter() - started


def step_cost(docs: int) -> tuple[float, float]:
    """Seconds per document: the counting step with a live local tally, and a bare pass-through."""
    from datatrove.data import Document

    from lusomix.pipeline.progress import PassProgress, TaskCounter

    documents = [Document(text="", id=str(i), metadata={"source_offset": i * 1000}) for i in range(docs)]

    def bare(data, rank=0, world_size=1):
        yield from data

    os.environ["LUSOMIX_PROGRESS_EVERY"] = "3600"  # the tally lives; no line is printed while timing
    counter = TaskCounter()
    with PassProgress("bench", 1, "local", counter):
        best_counted = best_bare = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in counter(iter(documents), rank=0):
                pass
            best_counted = min(best_counted, time.perf_counter() - started)
            started = time.perf_counter()
            for _ in bare(iter(documents)):
                pass
            best_bare = min(best_bare, time.perf_counter() - started)
    return best_counted / docs, best_bare / docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=10, help="copies of the sample captures (default: 10)")
    parser.add_argument("--files", type=int, default=4, help="WARC files (tasks) they are written to (default: 4)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each kind, alternated (default: 3)")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between progress lines (default: 1)")
    parser.add_argument("--docs", type=int, default=200_000, help="documents for the step measurement")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="progress-cost-") as tmp:
        root = Path(tmp)
        captures = build_corpus(root / "corpus", args.copies, distinct=True, files=args.files)
        print(f"corpus: {captures} captures in {args.files} files; {args.workers} workers", flush=True)
        # the first pass of a process starts datatrove's forkserver (its imports preloaded): not timed
        build_corpus(root / "warm-up", 1, distinct=True, files=1)
        run_extract(root / "warm-up", root / "out-warm-up", args.workers, 0.0)
        walls: dict[str, list[float]] = {"off": [], "on": []}
        kinds = [("off", 0.0), ("on", args.every)]
        for round_ in range(args.rounds):
            for kind, every in kinds if round_ % 2 == 0 else kinds[::-1]:  # alternated: neither always first
                wall = run_extract(root / "corpus", root / f"out-{kind}-{round_}", args.workers, every)
                walls[kind].append(wall)
                print(f"round {round_ + 1}: progress {kind:3s} {wall:7.2f} s", file=sys.stderr, flush=True)
        off, on = statistics.median(walls["off"]), statistics.median(walls["on"])
        print(f"pass, median of {args.rounds}: off {off:.2f} s, on {on:.2f} s, on/off {on / off:.4f}")
        best_off, best_on = min(walls["off"]), min(walls["on"])
        print(f"pass, best: off {best_off:.2f} s, on {best_on:.2f} s, on/off {best_on / best_off:.4f}")
        counted, bare = step_cost(args.docs)
        per_capture = off * args.workers / captures
        added = counted - bare
        print(
            f"step: {counted * 1e9:.0f} ns a document counted, {bare * 1e9:.0f} ns passed through bare: "
            f"+{added * 1e9:.0f} ns; the pass costs {per_capture * 1e3:.2f} ms a capture (worker time): "
            f"{added / per_capture:.4%} of it"
        )


if __name__ == "__main__":
    main()
