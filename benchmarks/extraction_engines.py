"""Main-text extraction engines on a gold set: quality (the gold set's own scorer) and time per page.

Gold set: ../shared/data/extraction/article-extraction-benchmark (Scrapinghub's article extraction benchmark:
181 real pages, mostly English news, with the article body a person marked). Engines:
  trafilatura          ``extract_main_text`` as the extract pass calls it (IngestConfig's defaults)
  resiliparse_default  resiliparse ``extract_plain_text(main_content=True)``, every other option at its default,
                       then the same repair and whitespace tidying
  resiliparse_tuned    ``extract_main_text_resiliparse`` (lusomix.filters.extraction_resiliparse's options)

The pages are split by the first hex digit of their hash: even (0 2 4 6 8 a c e, 92 pages) is the tuning half,
on which resiliparse's options were chosen; odd (1 3 5 7 9 b d f, 89 pages) is the held-out half, which
tuned nothing. Quality is scored by the gold set's ``evaluate.py``, run as its README says from a temporary
copy (token-4-gram precision / recall / F1 per page, averaged; ± is its bootstrap deviation), for the
held-out half, the tuning half and all pages. Time is each engine's whole-function time per page,
in-process, best of ``--rounds`` passes (engines interleaved), as median and total over the pages.

    .venv/bin/python benchmarks/extraction_engines.py [--rounds 3] [--n-bootstrap 1000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GOLD = REPO.parent / "shared" / "data" / "extraction" / "article-extraction-benchmark"


def held_out(page_hash: str) -> bool:
    return int(page_hash[0], 16) % 2 == 1


def load_gold() -> tuple[dict[str, dict], dict[str, str]]:
    truth = json.loads((GOLD / "ground-truth.json").read_text(encoding="utf-8"))
    pages = {h: gzip.decompress((GOLD / "html" / f"{h}.html.gz").read_bytes()).decode("utf-8") for h in sorted(truth)}
    return truth, pages


def engines() -> dict[str, tuple[str, object]]:
    """name -> (version, function html -> text)."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    from lusomix.filters.text import repair, tidy_whitespace
    from lusomix.stages.ingest import IngestConfig, MainTextExtractor

    config = IngestConfig()

    def as_lusomix_runs_it(engine: str):
        step = MainTextExtractor(IngestConfig(engine=engine))  # the extract pass's own call, options and fallback

        def extract(html: str) -> str:
            result = step.extract(html)
            return result[0].text if result else ""

        return extract

    def resiliparse_default(html: str) -> str:
        tree = HTMLTree.parse(html[: config.max_html_chars])
        return tidy_whitespace(repair(extract_plain_text(tree, main_content=True)))

    return {
        "trafilatura": (version("trafilatura"), as_lusomix_runs_it("trafilatura")),
        "resiliparse_default": (version("resiliparse"), resiliparse_default),
        "resiliparse_tuned": (version("resiliparse"), as_lusomix_runs_it("resiliparse")),
    }


def run_engines(
    found: dict[str, tuple[str, object]], pages: dict[str, str], rounds: int
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, float]]]:
    """Texts (from the first pass) and per-page best time, by engine. A page that raises gives ''."""
    texts: dict[str, dict[str, str]] = {name: {} for name in found}
    best: dict[str, dict[str, float]] = {name: {} for name in found}
    failures = {name: 0 for name in found}
    for r in range(rounds):
        for name, (_, extract) in found.items():
            for key, html in pages.items():
                started = time.perf_counter()
                try:
                    text = extract(html)
                except Exception:  # noqa: BLE001 - as ingest: a page that raises is counted, never stops the run
                    text = ""
                    failures[name] += r == 0
                elapsed = time.perf_counter() - started
                best[name][key] = min(elapsed, best[name].get(key, elapsed))
                if r == 0:
                    texts[name][key] = text
    for name, n in failures.items():
        if n:
            print(f"{name}: {n} pages raised (scored as empty)")
    return texts, best


def score(
    truth: dict[str, dict],
    texts: dict[str, dict[str, str]],
    versions: dict[str, str],
    keys: list[str],
    n_bootstrap: int,
) -> str:
    """The gold set's evaluate.py on ``keys``, from a temporary copy; its printed table."""
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(GOLD / "evaluate.py", tmp)
        (Path(tmp) / "ground-truth.json").write_text(json.dumps({k: truth[k] for k in keys}), encoding="utf-8")
        (Path(tmp) / "output").mkdir()
        for name, by_key in texts.items():
            wrapped = {"version": versions[name], "output": {k: {"articleBody": by_key[k]} for k in keys}}
            (Path(tmp) / "output" / f"{name}.json").write_text(json.dumps(wrapped), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "evaluate.py", "--n-bootstrap", str(n_bootstrap)],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
        )
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="timed passes over the pages; each page's best counts")
    parser.add_argument("--n-bootstrap", type=int, default=1000, help="evaluate.py's bootstrap samples (for ±)")
    args = parser.parse_args()
    if not GOLD.is_dir():
        print(f"skipped: {GOLD} not found (../shared beside the repo)")
        return
    try:
        import resiliparse  # noqa: F401
    except ImportError:
        print("skipped: resiliparse is not installed (pip install resiliparse)")
        return

    truth, pages = load_gold()
    keys = sorted(truth)
    held = [k for k in keys if held_out(k)]
    tuning = [k for k in keys if not held_out(k)]
    found = engines()
    versions = {name: v for name, (v, _) in found.items()}
    texts, best = run_engines(found, pages, args.rounds)

    for label, subset in (
        (f"held-out half (first hex digit odd, {len(held)} pages; tuned nothing)", held),
        (f"tuning half (first hex digit even, {len(tuning)} pages; resiliparse_tuned's options chosen here)", tuning),
        (f"all pages ({len(keys)})", keys),
    ):
        print(f"\n{label}")
        print(score(truth, texts, versions, subset, args.n_bootstrap), end="")

    print(f"\ntime per page, in-process, best of {args.rounds} ({len(keys)} pages)")
    print(f"{'':<20} {'median ms':>10} {'total s':>9} {'vs trafilatura (median, total)':>32}")
    reference = best["trafilatura"]
    for name, times in best.items():
        median, total = statistics.median(times.values()), sum(times.values())
        ratio = f"x{statistics.median(reference.values()) / median:.1f}, x{sum(reference.values()) / total:.1f} faster"
        print(f"{name:<20} {median * 1000:>10.2f} {total:>9.2f} {ratio:>32}")


if __name__ == "__main__":
    main()
