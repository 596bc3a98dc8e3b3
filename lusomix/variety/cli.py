"""`lusomix variety train | eval | predict`: the pt_PT / pt_BR model from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lusomix.errors import UsageError, require_file
from lusomix.variety.evidence import DECLARED_SOURCES

CHUNK_LINES = 1000


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "variety",
        help="European vs Brazilian Portuguese: train, evaluate and run the variety model",
        description="Identify pt_PT (European, incl. African-norm) vs pt_BR (Brazilian) Portuguese from text.",
    )
    commands = parser.add_subparsers(dest="variety_command", metavar="{train,eval,predict}", required=True)

    train = commands.add_parser(
        "train",
        help="train the fastText model (source-held-out calibration, then all sources)",
        description="Train on labelled text: *.tsv files of text<TAB>label and SOURCE.LABEL.txt paragraph "
        "files (labels pt_PT / pt_BR). Writes MODEL and its parameters JSON (same name, .json) beside it. "
        "Held-out folds (whole sources out) calibrate the probabilities, fit the page-evidence weights "
        "and give the figures in the JSON.",
    )
    train.add_argument("--data", nargs="+", required=True, metavar="DIR", help="directories of labelled text")
    train.add_argument("--out", required=True, metavar="MODEL", help="model file to write, e.g. variety.ftz")
    train.add_argument("--epochs", type=int, default=None, help="fastText epochs (default: the shipped recipe)")
    train.add_argument("--seed", type=int, default=None, help="random seed (default: the shipped recipe)")
    train.add_argument(
        "--bucket",
        type=int,
        default=None,
        help="hash buckets for word bigrams and character n-grams (default: the shipped recipe's "
        "500000; a few thousand suffice for small data and train much faster)",
    )
    train.add_argument("--no-heldout", action="store_true", help="skip the held-out folds (no calibration, faster)")
    train.set_defaults(func=_train)

    evaluate = commands.add_parser(
        "eval",
        help="accuracy, macro-F1, per-class precision/recall and confusion matrix on a TSV",
        description="Score every line of a text<TAB>label file (one segment per line) and compare.",
    )
    evaluate.add_argument("--data", required=True, metavar="FILE.tsv", help="text<TAB>label lines")
    evaluate.add_argument("--model", default=None, metavar="PATH", help="model file (default: the shipped one)")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.set_defaults(func=_eval)

    predict = commands.add_parser(
        "predict",
        help="label each input line: JSON lines out, in order, streamed",
        description='One text per input line, or JSON lines {"text": ..., "url": ..., "html_lang": ...} '
        "(detected per line; the page evidence keys are url, html_lang, og_locale, content_language, hreflang). "
        'Writes one {"label": "pt_PT"|"pt_BR"|"unknown", "p_pt_PT": float} per line, in input order, '
        f"{CHUNK_LINES} lines at a time.",
    )
    predict.add_argument("--input", required=True, metavar="FILE|-", help="input file, or - for stdin")
    predict.add_argument("--model", default=None, metavar="PATH", help="model file (default: the shipped one)")
    predict.add_argument("--chunk", type=int, default=CHUNK_LINES, help="lines scored per batch")
    predict.set_defaults(func=_predict)


def _load_model(path: str | None):
    from lusomix.variety.model import VarietyModel

    if path is not None:
        require_file(path, "variety model")
    return VarietyModel.load(path)


def _train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from lusomix.variety.training import TrainParams, train_variety_model

    for d in args.data:
        if not Path(d).is_dir():
            raise UsageError(f"variety data directory not found: {d}")
    params = TrainParams()
    if args.epochs is not None:
        if args.epochs < 1:
            raise UsageError("--epochs must be at least 1")
        params = replace(params, epoch=args.epochs)
    if args.seed is not None:
        params = replace(params, seed=args.seed)
    if args.bucket is not None:
        if args.bucket < 1:
            raise UsageError("--bucket must be at least 1")
        params = replace(params, bucket=args.bucket)
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    result = train_variety_model(args.data, args.out, params, heldout=not args.no_heldout, log=log)
    figures = result.get("heldout") or {}
    if figures:
        for name in ("frmt_pairs", "modern_docs_one_product", "unseen_news", "news_1990s", "news_human_labelled"):
            group = figures[name]
            if group.get("n"):
                print(
                    f"held-out {name}: n={group['n']} accuracy {group['accuracy']:.4f} macro-F1 {group['macro_f1']:.4f}"
                )
        pages = figures["pages_all"]
        print(
            f"held-out pages (text alone): n={pages['n']} right {pages['right']:.4f} wrong side "
            f"{pages['wrong_side']:.4f} unknown {pages['unknown']:.4f}"
        )
    return 0


def _eval(args: argparse.Namespace) -> int:
    import numpy as np

    from lusomix.variety import PT_BR, PT_PT
    from lusomix.variety.corpus import read_tsv
    from lusomix.variety.evaluation import classification_report, format_report

    path = Path(args.data)
    require_file(path, "evaluation file")
    model = _load_model(args.model)
    texts, ys = read_tsv(path)
    if not texts:
        raise UsageError(f"no labelled lines in {path}")
    p = np.concatenate([model.predict_sentences(texts[i : i + 10_000]) for i in range(0, len(texts), 10_000)])
    truth = [PT_PT if y else PT_BR for y in ys]
    report = classification_report(truth, np.where(p >= 0.5, PT_PT, PT_BR).tolist())
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0


def _parse(line: str) -> tuple[str, str | None, dict[str, str] | None]:
    """A JSON object with a "text" key (and optionally "url" and the declared languages: html_lang,
    og_locale, content_language, hreflang), or else the line itself is the text."""
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and "text" in obj:
            url = obj.get("url")
            declared = {k: v for k in DECLARED_SOURCES if isinstance(v := obj.get(k), str)}
            return str(obj["text"] or ""), url if isinstance(url, str) else None, declared or None
    return line, None, None


def _predict(args: argparse.Namespace) -> int:
    if args.chunk < 1:
        raise UsageError("--chunk must be at least 1")
    if args.input != "-":
        require_file(args.input, "input file")
    model = _load_model(args.model)
    out = sys.stdout
    source = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8", errors="replace")
    try:
        chunk: list[str] = []
        for line in source:
            chunk.append(line.rstrip("\r\n"))
            if len(chunk) >= args.chunk:
                _write_chunk(model, chunk, out)
                chunk = []
        if chunk:
            _write_chunk(model, chunk, out)
    finally:
        if source is not sys.stdin:
            source.close()
    return 0


def _write_chunk(model, lines: list[str], out) -> None:
    texts, urls, declared = lines, None, None
    if any(line.startswith("{") for line in lines):  # JSON lines (plain text lines skip the parse)
        parsed = [_parse(line) for line in lines]
        texts = [t for t, _, _ in parsed]
        urls = [u for _, u, _ in parsed]
        declared = [d for _, _, d in parsed]
    labels, p, _, _ = model.identify_batch(
        texts, urls if urls and any(urls) else None, declared if declared and any(declared) else None
    )
    out.write("".join(f'{{"label": "{label}", "p_pt_PT": {prob:.6f}}}\n' for label, prob in zip(labels, p.tolist())))
    out.flush()
