"""Throughput of the variety model on one core: sentences/s for `variety predict`, pages/s for identify.

Reference run in the same script: lid.176 (the language-ID step the extract pass already runs) on the
same sentences, so the ratio says what variety identification adds next to it.

    .venv/bin/python benchmarks/variety_throughput.py [--sentences N] [--pages N] [--model PATH]
        [--end-to-end N] [--lines N] [--reference-checkout DIR]

``--model`` scores with another model file (e.g. the previous round's, to compare two models on the same
machine minutes apart); default the shipped one.

``--end-to-end N`` also times the whole command, as its users run it: ``lusomix variety predict --input
FILE`` on ``--lines`` sentences (default 200,000), one process per run, pinned to one core, start-up
included, N runs. With ``--reference-checkout DIR`` (e.g. ``git worktree add DIR HEAD~1``), the same
command from that checkout's code runs alternately with this one (same model file, same input), and the
outputs are compared byte for byte.

Sentences come from ../shared/data/variety/news when present (else built from a few written lines).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lusomix.variety.cli import _parse, _write_chunk
from lusomix.variety.model import VarietyModel

MODELS_DIR = Path(__file__).resolve().parents[1] / "lusomix" / "filters" / "models"  # lid.176.ftz

NEWS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "variety" / "news"
FALLBACK = [
    "Estou a pensar ir de comboio até ao Porto no fim de semana, mas os bilhetes já estão quase esgotados.",
    "Você pode salvar o arquivo direto no celular sem precisar instalar nada.",
    "A direção do clube está a preparar um projeto para renovar o relvado antes do início da época.",
    "Os torcedores comemoraram muito depois que o Flamengo fez dois gols no segundo tempo.",
]


def load_sentences(n: int) -> list[str]:
    lines: list[str] = []
    if NEWS.is_dir():
        for path in sorted(NEWS.glob("*.tsv")):
            lines += [line.rsplit("\t", 1)[0] for line in path.read_text(encoding="utf-8").splitlines() if line]
    lines = lines or FALLBACK
    random.Random(0).shuffle(lines)
    return (lines * (n // len(lines) + 1))[:n]


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=50_000)
    parser.add_argument("--pages", type=int, default=2_000)
    parser.add_argument("--chunk", type=int, default=1000)
    parser.add_argument("--model", default=None, help="variety model file (default: the shipped one)")
    parser.add_argument("--end-to-end", type=int, default=0, metavar="N", help="whole-command runs (default: none)")
    parser.add_argument("--lines", type=int, default=200_000, help="input lines of each whole-command run")
    parser.add_argument("--reference-checkout", default=None, metavar="DIR", help="another checkout, run alternately")
    args = parser.parse_args()
    if args.end_to_end:
        end_to_end(args)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    model = VarietyModel.load(args.model)
    size = Path(args.model).stat().st_size if args.model else None
    print(f"model {args.model or 'shipped'}" + (f" ({size / 2**20:.2f} MiB)" if size else ""))
    sentences = load_sentences(args.sentences)
    chunks = [sentences[i : i + args.chunk] for i in range(0, len(sentences), args.chunk)]
    words = sum(len(s.split()) for s in sentences) / len(sentences)
    print(f"{len(sentences)} sentences, {words:.1f} words on average, chunks of {args.chunk}, one core")

    t_sent = best_of(3, lambda: [model.predict_sentences(c) for c in chunks])
    print(f"predict_sentences          {len(sentences) / t_sent:>10,.0f} sentences/s")

    lines = [s + "\n" for s in sentences]

    def cli_path():
        sink = io.StringIO()
        for i in range(0, len(lines), args.chunk):
            _write_chunk(model, [line.rstrip("\n") for line in lines[i : i + args.chunk]], sink)

    t_cli = best_of(3, cli_path)
    print(f"variety predict (CLI path) {len(sentences) / t_cli:>10,.0f} sentences/s   goal >= 20,000")
    assert _parse('{"text": "x"}') == ("x", None, None)

    import fasttext

    lid = fasttext.load_model(str(MODELS_DIR / "lid.176.ftz"))
    flat = [s.replace("\n", " ") for s in sentences]
    t_lid = best_of(3, lambda: [lid.predict(flat[i : i + args.chunk], k=1) for i in range(0, len(flat), args.chunk)])
    print(
        f"reference: lid.176 predict {len(sentences) / t_lid:>10,.0f} sentences/s   "
        f"variety/lid time ratio {t_cli / t_lid:.2f}"
    )

    rng = random.Random(1)
    pages = []
    for _ in range(args.pages):
        paragraph, page = [], []
        while sum(len(p.split()) for p in page) < 300:
            paragraph.append(rng.choice(sentences))
            if len(paragraph) == 3:
                page.append(" ".join(paragraph))
                paragraph = []
        pages.append("\n\n".join(page))
    page_words = sum(len(p.split()) for p in pages) / len(pages)
    page_chunks = [pages[i : i + 100] for i in range(0, len(pages), 100)]
    t_pages = best_of(3, lambda: [model.identify_batch(c) for c in page_chunks])
    t_single = best_of(1, lambda: [model.identify(p) for p in pages])
    print(
        f"identify, ~{page_words:.0f}-word pages: {len(pages) / t_pages:,.0f} pages/s batched, "
        f"{len(pages) / t_single:,.0f} pages/s one at a time ({t_single / len(pages) * 1e6:.0f} µs/page)"
    )


def end_to_end(args: argparse.Namespace) -> None:
    """Whole `lusomix variety predict` processes on one core; this checkout and the reference alternately."""
    core = sorted(os.sched_getaffinity(0))[0] if hasattr(os, "sched_getaffinity") else None
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp) / "lines.txt"
        lines.write_text("".join(s.replace("\n", " ") + "\n" for s in load_sentences(args.lines)), encoding="utf-8")
        model = ["--model", str(Path(args.model).resolve())] if args.model else []
        setups = {"this checkout": None}
        if args.reference_checkout:
            setups["reference"] = str(Path(args.reference_checkout).resolve())
        times: dict[str, list[float]] = {name: [] for name in setups}
        outputs: dict[str, bytes] = {}
        for _ in range(args.end_to_end):
            for name, checkout in setups.items():
                env = dict(os.environ)
                if checkout:
                    env["PYTHONPATH"] = checkout  # ahead of the editable install: that checkout's code
                command = [sys.executable, "-m", "lusomix.pipeline.cli", "variety", "predict", "--input", str(lines)]
                pin = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
                start = time.perf_counter()
                done = subprocess.run(command + model, env=env, capture_output=True, check=True, preexec_fn=pin)
                times[name].append(time.perf_counter() - start)
                outputs[name] = done.stdout
        for name, runs in times.items():
            rates = sorted(args.lines / t for t in runs)
            print(
                f"variety predict end to end, {name}: median {args.lines / statistics.median(runs):,.0f} "
                f"sentences/s ({rates[0]:,.0f}-{rates[-1]:,.0f} over {len(runs)} runs, one core, start-up "
                "included)   goal >= 20,000"
            )
        if args.reference_checkout:
            ratio = statistics.median(times["reference"]) / statistics.median(times["this checkout"])
            same = outputs["reference"] == outputs["this checkout"]
            print(f"reference time / this checkout's time: {ratio:.3f}; outputs byte-identical: {same}")


if __name__ == "__main__":
    main()
