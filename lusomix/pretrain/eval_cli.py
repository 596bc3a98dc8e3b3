"""`lusomix eval MODEL [--pairs FILE ...] [--text FILE ...] [--cloze FILE ...] [--json]`."""

from __future__ import annotations

import argparse
import json

from lusomix.errors import UsageError
from lusomix.pretrain.eval_sets import SHIPPED, load_sets

DESCRIPTION = """\
Score a trained causal LM by log-likelihood (no generation), batched, on CPU or GPU. MODEL is a pretraining
run's model/ folder (Hugging Face format) or one of its checkpoints/step-N/ folders.

  --pairs FILE   lines 'pt_PT text<TAB>pt_BR text': the share of pairs whose European side costs the model
                 fewer bits per UTF-8 byte (prefers_pt_PT, with a 95% Wilson interval) and delta_bpb, the
                 mean of (pt_BR bpb - pt_PT bpb): positive when the European side is preferred
  --text FILE    one text per line, or 'text<TAB>label': bits per byte per label (unlabelled lines: 'all')
  --cloze FILE   CALAME-PT format, one text per line: the share whose last word is the model's greedy
                 choice, token by token, given the rest of the line

Bits per byte: the sum of the tokens' negative log-likelihoods in nats / ln 2 / the text's UTF-8 bytes, so
models with different tokenizers compare. FILE may also be a shipped set's name (%s); with no set at all,
the shipped sets are scored. Nothing is downloaded.
""".replace("%s", ", ".join(f"{name}: {kind}" for name, (kind, _) in SHIPPED.items()))

EPILOG = """\
examples:
  lusomix eval out/demo/pretrain/ptpt-first/model
  lusomix eval out/demo/pretrain/ptpt-first/checkpoints/step-000060 --pairs frmt my_pairs.tsv --json
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score a trained model: pt-PT/pt-BR pairs, bits per byte, cloze",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="a run's model/ folder or a checkpoints/step-N/ folder")
    parser.add_argument("--pairs", nargs="+", action="extend", default=[], metavar="FILE", help="pair files")
    parser.add_argument("--text", nargs="+", action="extend", default=[], metavar="FILE", help="text files")
    parser.add_argument("--cloze", nargs="+", action="extend", default=[], metavar="FILE", help="cloze files")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--batch-size", type=int, default=16, help="sequences per forward pass (default 16)")
    parser.add_argument("--device", default="auto", help="auto (cuda when there is one), cpu, cuda, cuda:1 ...")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    if args.batch_size <= 0:
        raise UsageError(f"--batch-size must be positive, got {args.batch_size}")
    if not (args.pairs or args.text or args.cloze):
        by_kind: dict[str, list[str]] = {"pairs": [], "text": [], "cloze": []}
        for name, (kind, _) in SHIPPED.items():
            by_kind[kind].append(name)
        args.pairs, args.text, args.cloze = by_kind["pairs"], by_kind["text"], by_kind["cloze"]
    sets = load_sets(args.pairs, args.text, args.cloze)  # bad files fail before torch loads
    from lusomix.pretrain import training_loop

    training_loop()  # the train extra's one-line error when torch or transformers are missing
    import torch

    from lusomix.pretrain.evaluate import evaluate_sets, load_model

    name = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device: unknown device {args.device!r}") from None
    model, tokenizer = load_model(args.model, device)
    autocast = torch.autocast("cuda", torch.bfloat16) if device.type == "cuda" else None
    result = evaluate_sets(model, tokenizer, sets, args.batch_size, device, autocast)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    for name, r in result["pairs"].items():
        low, high = r["ci95"]
        print(
            f"pairs {name}: n={r['n']} prefers_pt_PT {r['prefers_pt_PT']:.3f} [{low:.3f}, {high:.3f}] "
            f"delta_bpb {r['delta_bpb']:+.4f}"
        )
    for name, labels in result["text"].items():
        shown = ", ".join(f"{label} {v['bpb']:.4f} bpb (n={v['n']})" for label, v in labels.items())
        print(f"text {name}: {shown}")
    for name, r in result["cloze"].items():
        print(f"cloze {name}: n={r['n']} accuracy {r['accuracy']:.3f}")
    return 0
