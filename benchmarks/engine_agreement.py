"""Do the two main-text engines agree on Portuguese pages? The whole extract pass, run once per engine.

Corpora:
  samples  the sample archives of data_samples/demo.yaml (generated Portuguese pages, both varieties, with
           the hostile and damaged captures they hold);
  real     181 real crawled page shells with Portuguese article text (real_pages.py, ``--copies`` versions of
           each; needs ../shared).
For each corpus: documents kept (docs/) by each engine and by both, as a share of those kept by either;
word-level F1 between the two texts of each document kept by both (multisets of lower-cased ``\\w+`` words,
trafilatura's text as the reference: precision = shared words / resiliparse's words); and the share of those
documents whose variety label (pt_PT / pt_BR / unknown) is the same, with the pairs that differ counted.

    python benchmarks/engine_agreement.py [--corpora samples,real] [--copies 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from real_pages import available as real_pages_available  # noqa: E402
from real_pages import build_real_corpus  # noqa: E402

from lusomix.pipeline.config import load_config, with_overrides  # noqa: E402
from lusomix.pipeline.plan import run_passes  # noqa: E402

ENGINES = ("trafilatura", "resiliparse")
_WORD = re.compile(r"\w+")


def extract(inputs: list[str], out: Path, engine: str, workers: int) -> pl.DataFrame:
    config = with_overrides(
        load_config(str(REPO / "data_samples" / "demo.yaml")), input=inputs, output=str(out), workers=workers
    )
    config = config.model_copy(update={"ingest": config.ingest.model_copy(update={"engine": engine})})
    run_passes(config, ["extract"])
    return pl.read_parquet(f"{out}/docs/*.parquet", columns=["id", "url", "text", "variety"])


def word_f1(reference: str, other: str) -> float:
    a, b = Counter(_WORD.findall(reference.lower())), Counter(_WORD.findall(other.lower()))
    shared = sum((a & b).values())
    if not shared:
        return 0.0
    precision, recall = shared / sum(b.values()), shared / sum(a.values())
    return 2 * precision * recall / (precision + recall)


def compare(docs: dict[str, pl.DataFrame]) -> dict:
    first, second = (docs[e] for e in ENGINES)
    both = first.join(second, on="id", suffix="_2")
    either = len(set(first["id"]) | set(second["id"]))
    f1 = [word_f1(a, b) for a, b in zip(both["text"], both["text_2"])]
    differ = Counter(f"{a}->{b}" for a, b in zip(both["variety"], both["variety_2"]) if a != b)
    return {
        "either": either,
        "kept": {e: docs[e].height for e in ENGINES},
        "both": both.height,
        "f1_mean": sum(f1) / len(f1) if f1 else float("nan"),
        "f1_median": statistics.median(f1) if f1 else float("nan"),
        "f1_below_0.8": sum(v < 0.8 for v in f1),
        "variety_same": sum(both["variety"] == both["variety_2"]) / both.height if both.height else float("nan"),
        "variety_differ": dict(differ),
        "only": {e: sorted(set(docs[e]["url"]) - set(both["url"])) for e in ENGINES},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpora", default="samples,real")
    parser.add_argument("--copies", type=int, default=2, help="Portuguese versions of each real page")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    work = Path(tempfile.mkdtemp(prefix="lusomix-agreement-"))
    try:
        for name in args.corpora.split(","):
            if name == "samples":
                inputs = load_config(str(REPO / "data_samples" / "demo.yaml")).input
            elif not real_pages_available():
                print("real: skipped, ../shared/data (extraction gold set, variety news) is not beside the repo")
                continue
            else:
                build_real_corpus(work / "real-in", args.copies, 2)
                inputs = [str(work / "real-in")]
            docs = {engine: extract(inputs, work / f"{name}-{engine}", engine, args.workers) for engine in ENGINES}
            r = compare(docs)
            print(
                f"{name}: kept by either {r['either']}, trafilatura {r['kept']['trafilatura']}, resiliparse "
                f"{r['kept']['resiliparse']}, both {r['both']} ({r['both'] / r['either']:.1%} of either)"
            )
            print(
                f"  word-level F1 of the two texts (kept by both): mean {r['f1_mean']:.3f}, median "
                f"{r['f1_median']:.3f}, below 0.8: {r['f1_below_0.8']}"
            )
            for engine, urls in r["only"].items():
                if urls:
                    print(f"  kept by {engine} only: {', '.join(urls[:5])}{' ...' if len(urls) > 5 else ''}")
            differ = r["variety_differ"]
            print(f"  same variety label: {r['variety_same']:.1%}; differing (trafilatura->resiliparse): {differ}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
