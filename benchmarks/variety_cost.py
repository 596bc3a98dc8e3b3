"""What the variety step adds to the extract pass (issue goal: at most 5%).

The same corpus goes through the extract pass twice per round: once whole, once with the
variety step replaced by a stand-in that sets the same columns to constants (reference). Rounds alternate
the order; the best time of each side is kept.
Also printed: the variety step's own time from the run's datatrove stats (model load included), as a
share of the whole pass's task time, and the same without the model loads (one per worker process,
timed here separately): on a real crawl a worker scores thousands of pages per load, so the share
without loads is what a large run sees.

Corpus (``--corpus``, as in `extract_throughput.py`): ``real``, real crawled page shells with Portuguese
article text (real_pages.py; needs ../shared), or ``samples``, the generated sample archives' captures with
every HTML payload made distinct (small, tidy pages: extraction is cheap there, so every later step
weighs more than on real archives).

    python benchmarks/variety_cost.py [--corpus real] [--copies 12] [--files 4] [--workers 2] [--rounds 2]
        [--engine trafilatura]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from datatrove.pipeline.base import PipelineStep  # noqa: E402
from extract_throughput import build_corpus  # noqa: E402
from real_pages import available as real_pages_available  # noqa: E402
from real_pages import build_real_corpus  # noqa: E402

from lusomix.pipeline import plan  # noqa: E402
from lusomix.pipeline.config import load_config, with_overrides  # noqa: E402
from lusomix.stages.variety import VarietyIdentifier  # noqa: E402
from lusomix.variety.model import DEFAULT_MODEL, _load_fasttext_version  # noqa: E402


class NoVariety(PipelineStep):
    """The reference's stand-in: the same columns, constant values, no model (later steps and the
    writer see the metadata they always see)."""

    name = "no variety"

    def run(self, data, rank: int = 0, world_size: int = 1):
        for doc in data:
            if "reject" not in doc.metadata and doc.metadata.get("lang") == "pt":
                doc.metadata.update(variety="unknown", p_pt_PT=0.5, p_pt_PT_text=0.5, variety_evidence=[])
            yield doc


def run_extract(corpus: Path, out: Path, workers: int, with_variety: bool, engine: str) -> tuple[float, dict]:
    config = with_overrides(
        load_config(str(REPO / "data_samples" / "demo.yaml")), input=[str(corpus)], output=str(out), workers=workers
    )
    config = config.model_copy(update={"ingest": config.ingest.model_copy(update={"engine": engine})})
    whole = plan.extract_steps
    if not with_variety:
        plan.extract_steps = lambda *a, **k: [
            NoVariety() if isinstance(s, VarietyIdentifier) else s for s in whole(*a, **k)
        ]
    try:
        # with one worker datatrove runs the tasks in this process, where the model stays loaded from the
        # previous run: forget it, so that every run pays one load per worker process (subtracted below)
        _load_fasttext_version.cache_clear()
        started = time.perf_counter()
        plan.run_passes(config, ["extract"])
        elapsed = time.perf_counter() - started
    finally:
        plan.extract_steps = whole
    return elapsed, json.loads((out / "logs" / "extract" / "stats.json").read_text())


def step_seconds(stats: list) -> dict[str, float]:
    """Total seconds per pipeline step across tasks, from datatrove's merged stats."""
    return {s["name"]: s.get("time_stats", {}).get("total", 0.0) for s in stats if "name" in s}


def model_load_seconds(rounds: int = 3) -> float:
    """Seconds to load the shipped variety model (best of ``rounds``, bypassing the per-process cache)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        _load_fasttext_version.__wrapped__(str(DEFAULT_MODEL), 0, 0)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=("real", "samples"), default="real")
    parser.add_argument("--copies", type=int, default=12, help="versions of each page (real) or sample capture")
    parser.add_argument("--engine", choices=("trafilatura", "resiliparse"), default="trafilatura")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    work = Path(tempfile.mkdtemp(prefix="lusomix-variety-cost-"))
    try:
        corpus = work / "in"
        if args.corpus == "real":
            if not real_pages_available():
                parser.error("--corpus real needs ../shared/data beside the repo (or use --corpus samples)")
            captures = build_real_corpus(corpus, args.copies, args.files)
        else:
            captures = build_corpus(corpus, args.copies, True, args.files)
        best = {True: float("inf"), False: float("inf")}
        shares: list[tuple[float, float]] = []  # (variety s, all steps s) of each run with the step
        for r in range(args.rounds):
            for with_variety in (True, False) if r % 2 == 0 else (False, True):
                out = work / f"out-{r}-{int(with_variety)}"
                elapsed, run_stats = run_extract(corpus, out, args.workers, with_variety, args.engine)
                best[with_variety] = min(best[with_variety], elapsed)
                if with_variety:
                    steps = step_seconds(run_stats)
                    shares.append((sum(v for k, v in steps.items() if "variety" in k), sum(steps.values())))
                shutil.rmtree(out)
        print(
            f"{args.corpus} corpus, {captures} captures, {args.files} files, {args.workers} workers, "
            f"engine {args.engine}, best of {args.rounds}"
        )
        print(f"extract pass without variety step: {best[False]:.2f} s ({captures / best[False]:.1f} captures/s)")
        print(f"extract pass with variety step:    {best[True]:.2f} s ({captures / best[True]:.1f} captures/s)")
        print(f"wall-time added by the variety step: {100 * (best[True] / best[False] - 1):+.1f}%")
        # the step's share of the pass's step time run by run (a shared machine's noise moves the rest of
        # the pass more than the step): the median and the range over the rounds
        processes, load_s = min(args.workers, args.files), model_load_seconds()  # one load per worker process
        loads = processes * load_s
        with_load = sorted(100 * v / total for v, total in shares)
        without = sorted(100 * (v - loads) / (total - loads) for v, total in shares)
        print(
            f"variety step's own time (stats, model load included): median {statistics.median(with_load):.1f}% "
            f"of the pass's step time ({with_load[0]:.1f}-{with_load[-1]:.1f}% over {len(shares)} runs)"
        )
        print(
            f"without the model loads ({processes} x {load_s:.2f} s): median {statistics.median(without):.1f}% "
            f"({without[0]:.1f}-{without[-1]:.1f}%)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
