"""GPU throughput of the pretraining stage: a short bf16 run of a ~0.6B Llama built from config, through the
real stage (run_pretrain: local Ray, Ray Train, one worker per GPU, DDP over NCCL, torch.compile per layer),
printing tokens/s and model FLOPs utilisation.

    python benchmarks/pretrain_gpu.py                  # one GPU, 60 steps, ~3 minutes with startup
    python benchmarks/pretrain_gpu.py --gpus 8 --strategy fsdp --steps 40

MFU = 6·N·(tokens/s) / (GPUs × peak bf16 dense FLOP/s), N = parameters without the input embedding (a
lookup, not a matmul). Also printed with the causal-attention term (PaLM, appendix B: + 6·L·d·T per token,
halved for the causal mask). Peak: 989 TFLOP/s for H100 SXM and H200, 756 for H100 PCIe; else --peak-tflops.
The mix is generated text from a Zipfian pseudo-Portuguese lexicon, so that the BPE reaches a realistic
32k vocabulary (the output layer is a real share of the FLOPs); the loss falls, the text means nothing.
Needs a CUDA build of torch with ray[train], transformers and tokenizers; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pretrain_loader import write_mix  # noqa: E402

ONSETS = ["", "b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "br", "cr", "pr", "tr", "ch", "lh", "nh"]
NUCLEI = ["a", "e", "i", "o", "u", "ão", "ei", "ou", "á", "é", "ó", "ç", "ê"]
CODAS = ["", "", "", "s", "r", "l", "m", "ção", "mente", "dade", "ista"]


def zipf_documents(n_docs: int, seed: int = 0, lexicon_size: int = 60000) -> list[dict]:
    rng = random.Random(seed)
    lexicon = sorted(
        {
            "".join(rng.choice(ONSETS) + rng.choice(NUCLEI) for _ in range(rng.randint(1, 4))) + rng.choice(CODAS)
            for _ in range(lexicon_size)
        }
    )
    rng.shuffle(lexicon)
    weights = 1.0 / np.arange(1, len(lexicon) + 1)  # Zipf: a few words everywhere, a long tail
    lengths = [rng.randint(80, 600) for _ in range(n_docs)]
    words = np.random.default_rng(seed).choice(len(lexicon), size=sum(lengths), p=weights / weights.sum())
    rows, start = [], 0
    for i, n in enumerate(lengths):
        doc = [lexicon[w] for w in words[start : start + n]]
        start += n
        sentences = [" ".join(doc[k : k + 25]).capitalize() + "." for k in range(0, n, 25)]
        rows.append({"id": f"doc-{i:07d}", "variety": "pt_PT" if i % 3 else "pt_BR", "text": " ".join(sentences)})
    return rows


def peak_flops(name: str, override: float | None) -> float:
    if override:
        return override * 1e12
    if "H100" in name and "PCIe" in name:
        return 756e12
    if "H100" in name or "H200" in name:
        return 989e12
    raise SystemExit(f"unknown peak bf16 FLOP/s for {name}: pass --peak-tflops")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--gpus", type=int, default=1)
    ap.add_argument("--strategy", choices=["ddp", "fsdp"], default="ddp")
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--context", type=int, default=2048)
    ap.add_argument("--hidden", type=int, default=1536)
    ap.add_argument("--layers", type=int, default=20)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--docs", type=int, default=12000)
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--out", type=Path, default=None, help="keep the run here (default: a temporary folder)")
    ap.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="check the script's plumbing on CPU (tiny model, fp32, gloo); its MFU means nothing",
    )
    args = ap.parse_args()
    if args.cpu_smoke:
        args.hidden, args.layers, args.context, args.micro_batch, args.no_compile = 128, 2, 128, 2, True
        args.docs = min(args.docs, 1500)
        device_name, peak = "CPU (smoke run)", 1e12
    elif not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this benchmark is for a GPU machine (or use --cpu-smoke)")
    else:
        device_name = torch.cuda.get_device_name(0)
        peak = peak_flops(device_name, args.peak_tflops)

    from lusomix.pretrain.config import PretrainConfig
    from lusomix.pretrain.data import load_tokenizer
    from lusomix.pretrain.loop import run_pretrain
    from lusomix.pretrain.model import build_model

    cpus = max(1, ((os.cpu_count() or 2) - 2) // args.gpus)
    config = PretrainConfig.model_validate(
        {
            "model": {
                "hidden_size": args.hidden,
                "num_layers": args.layers,
                "num_heads": max(2, args.hidden // 128),
                "num_kv_heads": max(1, args.hidden // 512),
                "rope_theta": 500000.0,
                "intermediate_size": max(256, args.hidden * 8 // 3 // 256 * 256),
            },
            "tokenizer": {"vocab_size": 32000, "train_docs": 4000},
            "data": {"context_length": args.context, "val_docs_per_variety": 16, "read_batch_docs": 256},
            "optim": {"lr": 3e-4, "warmup_steps": 10},
            "train": {
                "max_steps": args.steps,
                "micro_batch_size": args.micro_batch,
                "precision": "fp32" if args.cpu_smoke else "bf16",
                "compile": not args.no_compile,
                "eval_every": 10_000,
                "checkpoint_every": 10_000,
                "keep_checkpoints": 1,
                "report_every": 20,
                "export_model": False,
            },
            "distributed": {
                "workers": args.gpus,
                "use_gpu": not args.cpu_smoke,
                "cpus_per_worker": cpus,
                "strategy": args.strategy,
                "num_cpus": cpus * args.gpus,
            },
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "run"
        t0 = time.perf_counter()
        mix = write_mix(Path(tmp) / "mix", zipf_documents(args.docs), n_shards=max(4, args.gpus))
        print(f"mix: {args.docs} generated documents in {time.perf_counter() - t0:.0f}s", flush=True)
        t0 = time.perf_counter()
        summary = run_pretrain(config, mix, out)
        wall = time.perf_counter() - t0
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        tokenizer = load_tokenizer(out / "tokenizer")
        with torch.device("meta"):
            model = build_model(config, tokenizer)
        n_all = sum(p.numel() for p in model.parameters())
        n = n_all - model.get_input_embeddings().weight.numel()
        ckpt_bytes = sum(f.stat().st_size for f in Path(summary["checkpoint"]).rglob("*") if f.is_file())

    steady = [r["tokens_per_s"] for r in records[len(records) // 3 :]]  # past compilation and warmup
    tps = float(np.median(steady))
    attn = 6 * args.layers * args.hidden * args.context  # per token, causal half of 12·L·d·T
    print(f"device: {args.gpus} x {device_name}, strategy {args.strategy}, compile {not args.no_compile}")
    print(
        f"model: {n_all / 1e6:.0f}M parameters ({n / 1e6:.0f}M without the input embedding), vocab "
        f"{model.config.vocab_size}, {args.layers} layers, hidden {args.hidden}, context {args.context}"
    )
    print(
        f"steps: {summary['steps']}, {records[0]['tokens_seen']} tokens/step, loss {summary['first_loss']:.2f} -> "
        f"{summary['last_loss']:.2f}; whole run {wall:.0f}s incl. Ray start, compile and a "
        f"{ckpt_bytes / 1e9:.1f} GB checkpoint"
    )
    print(
        f"tokens/s: {tps:,.0f} ({tps / args.gpus:,.0f} per GPU; median of steps {records[len(records) // 3]['step']}"
        f"-{records[-1]['step']})"
    )
    print(
        f"MFU (6N): {6 * n * tps / (args.gpus * peak):.1%}   MFU (6N + attention): "
        f"{(6 * n + attn) * tps / (args.gpus * peak):.1%}   peak {peak / 1e12:.0f} TFLOP/s per GPU"
    )


if __name__ == "__main__":
    main()
