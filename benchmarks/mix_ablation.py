"""Does the mix deliver European Portuguese? A data ablation through the real pipeline.

One corpus (the labelled news, documentation and Tatoeba lines of ../shared/data/variety, packed into WARC
pages, every line that is or overlaps an evaluation line left out) goes through `lusomix run` (extract ->
variety -> dedup -> mixes). The mixes differ only in their variety weights; each is trained with the same
tokenizer (trained once, on the balanced mix), model, steps, tokens and seeds by `lusomix pretrain`, then
scored by `lusomix eval` on every line of the shipped sets. Printed: a table per arm and seed, and each
figure's difference between arms against its seed-to-seed spread.

    python benchmarks/mix_ablation.py                      # CPU, tiny models (the README's table)
    python benchmarks/mix_ablation.py --use-gpu --hidden 768 --layers 12 --steps 3000 --micro-batch 32

Needs ../shared/data; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lusomix.pretrain.eval_sets import LeakCheck, shipped_leak_check  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
LUSOMIX = [sys.executable, "-m", "lusomix.pipeline.cli"]
ARMS = {  # differ only in their variety weights (a weight is the expected number of copies of a document)
    "ptpt-first": {"pt_PT": 1.0, "pt_BR": 0.1, "unknown": 0.0},
    "balanced": {"pt_PT": 1.0, "pt_BR": 1.0, "unknown": 0.0},
}
PAGE_CHARS = 2000


def source_lines(shared: Path) -> dict[tuple[str, str], list[str]]:
    """(source file, variety) -> its lines in file order. FRMT is left out whole (its pairs are eval sets)."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted((shared / "variety/news").glob("*.tsv")) + [shared / "variety/general/tatoeba.tsv"]:
        for line in path.read_text(encoding="utf-8").splitlines():
            text, _, label = line.rpartition("\t")
            if label in ("pt_PT", "pt_BR") and text.strip():
                found.setdefault((path.name, label), []).append(text.strip())
    for path in sorted((shared / "variety/docs").glob("*.txt")):
        label = path.stem.rsplit(".", 1)[1]
        found[(path.name, label)] = [t.strip() for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    return found


def build_pages(shared: Path, chars_per_variety: int, leaks: LeakCheck) -> tuple[list[dict], int]:
    """Pages of ~2,000 characters of consecutive lines of one source and variety, taken from the sources in
    turn until each variety has its budget; lines that leak evaluation text are dropped. (pages, dropped)."""
    pages, dropped = [], 0
    for variety in ("pt_PT", "pt_BR"):
        streams = []
        for (source, label), lines in source_lines(shared).items():
            if label == variety:
                kept = [line for line in lines if not leaks.leaks(line)]
                dropped += len(lines) - len(kept)
                chunks, chunk = [], []
                for line in kept:
                    chunk.append(line)
                    if sum(map(len, chunk)) >= PAGE_CHARS:
                        chunks.append(chunk)
                        chunk = []
                streams.append((source, chunks))
        total, round_ = 0, 0
        while total < chars_per_variety and any(round_ < len(c) for _, c in streams):
            for source, chunks in streams:
                if round_ < len(chunks) and total < chars_per_variety:
                    pages.append({"source": source, "variety": variety, "n": round_, "lines": chunks[round_]})
                    total += sum(map(len, chunks[round_]))
            round_ += 1
    return pages, dropped


def write_warcs(pages: list[dict], out: Path, files: int = 4) -> None:
    """Pages as HTTP 200 text/html captures (no declared language, a neutral host: the variety comes from the
    text), spread over `files` gzip WARCs."""
    from html import escape

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out.mkdir(parents=True, exist_ok=True)
    handles = [(out / f"corpus-{i:02d}.warc.gz").open("wb") for i in range(files)]
    writers = [WARCWriter(h, gzip=True) for h in handles]
    for i, page in enumerate(pages):
        title = escape(" ".join(page["lines"][0].split()[:8]))
        body = "".join(f"<p>{escape(line)}</p>\n" for line in page["lines"])
        html = (
            f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>\n{body}</article></body></html>"
        )
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        url = f"http://textos.example.org/{page['source']}/{page['variety']}/{page['n']}.html"
        record = writers[i % files].create_warc_record(
            url, "response", payload=io.BytesIO(html.encode("utf-8")), http_headers=headers
        )
        writers[i % files].write_record(record)
    for handle in handles:
        handle.close()


def run_config(warcs: Path, out: Path) -> str:
    mixes = "".join(
        f"  - name: {name}\n    weights: {json.dumps(weights)}\n    shard_target_bytes: 4000000\n    seed: 1\n"
        for name, weights in ARMS.items()
    )
    return (
        f"input: [{warcs}]\noutput: {out}\nexecutor: {{kind: local, workers: 2}}\n"
        f"ingest: {{engine: resiliparse, min_words: 20}}\nmixes:\n{mixes}"
    )


def pretrain_config(args, seed: int, tokenizer: Path) -> str:
    return f"""seed: {seed}
model: {{hidden_size: {args.hidden}, num_layers: {args.layers}, num_heads: 4, num_kv_heads: 2,
  intermediate_size: {3 * args.hidden}, rope_theta: 10000.0, tie_embeddings: true}}
tokenizer: {{path: {tokenizer}}}
data: {{context_length: {args.context}, val_docs_per_variety: 8}}
optim: {{lr: 2.0e-3, min_lr_ratio: 0.1, warmup_steps: {max(1, args.steps // 10)}, weight_decay: 0.1}}
train: {{max_steps: {args.steps}, micro_batch_size: {args.micro_batch}, grad_accum_steps: 1,
  eval_every: {args.steps}, checkpoint_every: {args.steps}, keep_checkpoints: 1, report_every: 50}}
distributed: {{workers: 1, use_gpu: {str(args.use_gpu).lower()}, cpus_per_worker: 1}}
eval: {{enabled: false}}
"""


def mix_texts(mix: Path) -> list[str]:
    import polars as pl

    return pl.read_parquet(sorted(mix.glob("shard-*.parquet")), columns=["text"])["text"].to_list()


def headline(result: dict) -> dict[str, float]:
    return {
        "bpb pt_PT": result["text"]["heldout"]["pt_PT"]["bpb"],
        "bpb pt_BR": result["text"]["heldout"]["pt_BR"]["bpb"],
        "frmt prefers_pt_PT": result["pairs"]["frmt"]["prefers_pt_PT"],
        "docs prefers_pt_PT": result["pairs"]["docs"]["prefers_pt_PT"],
        "frmt delta_bpb": result["pairs"]["frmt"]["delta_bpb"],
        "cloze accuracy": result["cloze"]["calamept"]["accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/mix_ablation"))
    parser.add_argument("--chars-per-variety", type=int, default=3_000_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--micro-batch", type=int, default=16)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--use-gpu", action="store_true")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS), help="train these arms only")
    args = parser.parse_args()
    if not (SHARED / "variety").is_dir():
        sys.exit(f"needs {SHARED} (../shared/data beside the repo)")
    # RAY_ADDRESS=local: a Ray of our own, never another job's cluster that happens to run on this machine
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "RAY_ADDRESS": "local"}
    out = args.out
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    if not (out / "run/mixes").is_dir():  # the corpus and its mixes are made once per --out
        pipeline(out, args, env)
    print(f"pipeline: {time.perf_counter() - t0:.0f} s", flush=True)
    leaks = shipped_leak_check()
    for arm in ARMS:
        texts = mix_texts(out / "run/mixes" / arm)
        leaked = sum(leaks.leaks(line) for text in texts for line in text.split("\n"))
        manifest = json.loads((out / "run/mixes" / arm / "manifest.json").read_text())
        print(
            f"mix {arm}: {len(texts)} documents, {sum(map(len, texts))} characters, by variety "
            f"{ {v: d['rows'] for v, d in manifest['by_variety'].items()} }, lines leaking eval text: {leaked}"
        )

    from lusomix.pretrain.data import train_tokenizer

    tokenizer = out / "tokenizer"
    if not tokenizer.is_dir():
        train_tokenizer(mix_texts(out / "run/mixes/balanced"), args.vocab, tokenizer)
    rows = []
    for arm in ARMS:
        for seed in args.seeds:
            name = f"{arm}-seed{seed}"
            cached = out / f"{name}.row.json"  # a finished arm and seed is not trained again
            if not cached.is_file() and arm in args.arms:
                cached.write_text(json.dumps(train_and_score(out, args, arm, seed, tokenizer, env)))
            if cached.is_file():
                rows.append(json.loads(cached.read_text()))
                print(json.dumps(rows[-1]), flush=True)
    report(rows, args)


def pipeline(out: Path, args, env: dict) -> None:
    pages, dropped = build_pages(SHARED, args.chars_per_variety, shipped_leak_check())
    write_warcs(pages, out / "warcs")
    chars = {v: sum(len(line) for p in pages if p["variety"] == v for line in p["lines"]) for v in ("pt_PT", "pt_BR")}
    print(f"corpus: {len(pages)} pages, {chars} characters, {dropped} lines dropped as evaluation text", flush=True)
    (out / "run.yaml").write_text(run_config(out / "warcs", out / "run"))
    subprocess.run([*LUSOMIX, "run", str(out / "run.yaml"), "--passes", "extract,dedup,mix"], check=True, env=env)


def train_and_score(out: Path, args, arm: str, seed: int, tokenizer: Path, env: dict) -> dict:
    """`lusomix pretrain` on the arm's mix, then `lusomix eval` on every line of the shipped sets: one row."""
    name = f"{arm}-seed{seed}"
    (out / f"{name}.yaml").write_text(pretrain_config(args, seed, tokenizer))
    mix, run = out / "run/mixes" / arm, out / "pretrain" / name
    start = time.perf_counter()
    command = [*LUSOMIX, "pretrain", str(out / f"{name}.yaml"), "--mix", str(mix), "--output", str(run)]
    subprocess.run(command, check=True, env=env)
    wall = time.perf_counter() - start
    summary = json.loads((run / "summary.json").read_text())
    scored = subprocess.run(
        [*LUSOMIX, "eval", str(run / "model"), "--json"], check=True, env=env, capture_output=True, text=True
    )
    result = json.loads(scored.stdout)
    (out / f"{name}.eval.json").write_text(json.dumps(result, indent=1))
    return {
        "arm": arm,
        "seed": seed,
        "tokens": summary["tokens_seen"],
        "wall_s": round(wall),
        "last_loss": summary["last_loss"],
        **headline(result),
    }


def report(rows: list[dict], args) -> None:
    measures = [k for k in rows[0] if k not in ("arm", "seed", "tokens", "wall_s", "last_loss")]
    head = ["arm", "seed", "tokens", "wall s", "train loss", *measures]
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        cells = [r["arm"], r["seed"], f"{r['tokens']:,}", r["wall_s"], r["last_loss"], *(r[m] for m in measures)]
        print("| " + " | ".join(str(c) for c in cells) + " |")
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    if len(arms) < 2:
        return
    print(f"\n| measure | {' | '.join(f'{a} mean' for a in arms)} | {arms[0]} - {arms[1]} | largest seed spread |")
    print("|---|" + "---|" * (len(arms) + 2))
    for m in measures:
        means = {a: statistics.mean(r[m] for r in rows if r["arm"] == a) for a in arms}
        spread = max(max(r[m] for r in rows if r["arm"] == a) - min(r[m] for r in rows if r["arm"] == a) for a in arms)
        diff = means[arms[0]] - means[arms[1]]
        print(f"| {m} | {' | '.join(f'{means[a]:.4f}' for a in arms)} | {diff:+.4f} | {spread:.4f} |")
    print(
        f"\n({args.hidden}-wide {args.layers}-layer Llama, context {args.context}, {args.steps} steps of "
        f"{args.micro_batch} sequences, vocab {args.vocab}; seeds {args.seeds}; every line of the shipped sets scored)"
    )


if __name__ == "__main__":
    main()
