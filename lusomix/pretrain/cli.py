"""`lusomix pretrain CONFIG --mix DIR`: the pretraining stage from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from lusomix.errors import PassSkipped, UsageError
from lusomix.pretrain import training_loop

DESCRIPTION = """\
Train a Llama-family causal language model on a mix (OUT/mixes/NAME/ with manifest.json), with Ray Train:
continued pretraining from a local Hugging Face checkpoint (model.checkpoint), or from scratch with a
model and a tokenizer built from the config and the mix. Writes OUTPUT/metrics.jsonl (one line per step,
validation loss per variety and the eval: block's sets (pt-PT/pt-BR pairs, bits per byte, cloze) every
train.eval_every steps), OUTPUT/loss.png, OUTPUT/eval.png, OUTPUT/checkpoints/step-N/ and OUTPUT/model/
(Hugging Face format; `lusomix eval` scores it or a checkpoint on any set). Running again with the same
OUTPUT resumes from its last checkpoint; a higher --max-steps trains further. Nothing is downloaded.
"""

EPILOG = """\
examples:
  lusomix pretrain data_samples/pretrain-tiny.yaml --mix out/demo/mixes/ptpt-first --output out/pretrain-tiny
  lusomix pretrain data_samples/pretrain-tiny.yaml --mix out/demo/mixes/ptpt-first --output out/pretrain-tiny \\
      --max-steps 200
  lusomix pretrain data_samples/pretrain-gpu.yaml --mix /data/mixes/ptpt-first --ray-address auto
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="train a causal LM on a mix with Ray Train (resumable)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", type=Path, help="pretraining YAML config (see data_samples/pretrain-*.yaml)")
    parser.add_argument(
        "--mix", required=True, help="the mix folder (holds manifest.json): a local folder or a URL (s3://...)"
    )
    parser.add_argument(
        "--output",
        default=None,
        help="output folder, local or a URL (default: ./pretrain-<mix name>); reuse it to resume",
    )
    parser.add_argument("--max-steps", type=int, default=None, help="stop at this step (default: train.max_steps)")
    parser.add_argument(
        "--ray-address",
        default=None,
        help="join this Ray cluster (e.g. auto, ray://head:10001); default: start a local Ray",
    )
    parser.add_argument("--workers", type=int, default=None, help="Ray Train workers (default: distributed.workers)")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    # here, not at the top: every `lusomix` command imports this module to register its options
    from lusomix.pretrain.config import load_pretrain_config

    loop = training_loop()  # torch loads only when used
    config = load_pretrain_config(args.config)
    if args.workers is not None:
        if args.workers <= 0:
            raise UsageError(f"--workers must be positive, got {args.workers}")
        config = config.model_copy(
            update={"distributed": config.distributed.model_copy(update={"workers": args.workers})}
        )
    mix_name = (str(Path(args.mix).resolve()) if "://" not in args.mix else args.mix).rstrip("/").rsplit("/", 1)[-1]
    output = args.output or f"pretrain-{mix_name}"
    try:  # a failure is a PassFailed: the CLI prints its one line (cause, logs) and exits 1, as for `run`
        summary = loop.run_pretrain(config, args.mix, output, max_steps=args.max_steps, ray_address=args.ray_address)
    except PassSkipped as why:
        print(f"pretrain: skipped: {why}")
        return 0
    val = ", ".join(
        f"{k.removeprefix('val_loss_')} {v:.3f}"
        for k, v in summary.items()
        if k.startswith("val_loss_") and v is not None
    )
    tps = f"{summary['tokens_per_s']:.0f}" if summary["tokens_per_s"] else "n/a"
    if summary.get("note"):
        print(f"pretrain: {summary['note']}")
    print(
        f"pretrain: step {summary['steps']} (from {summary['resumed_from_step']}), loss "
        f"{summary['first_loss']:.3f} -> {summary['last_loss']:.3f}, validation {val or 'n/a'}, "
        f"{tps} tokens/s; checkpoint {summary['checkpoint']}"
    )
    return 0
