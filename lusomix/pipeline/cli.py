"""The ``lusomix`` command.

Exit codes: 0 done, 1 the run failed (a task crashed: its log is named), 2 bad usage (bad flag, bad
config, missing input) — always one line on stderr, never a traceback for a user's mistake.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from loguru import logger

from lusomix import __version__
from lusomix.errors import PassFailed, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _passes(value: str) -> list[str]:
    from lusomix.pipeline.plan import PASSES

    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in PASSES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown pass {unknown[0] if unknown else '(none)'}; choose from {','.join(PASSES)}"
        )
    return names


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"a number of seconds > 0, got {value!r}")
    return seconds


def _cmd_run(args) -> int:
    from lusomix.pipeline.config import load_config, with_overrides
    from lusomix.pipeline.plan import run_passes
    from lusomix.pipeline.summary import format_summary

    # read by each pass's progress display (lusomix.pipeline.progress); set on every run, tests call main() often
    os.environ["LUSOMIX_PROGRESS_EVERY"] = "0" if args.quiet else str(args.progress_every)
    config = with_overrides(
        load_config(args.config),
        input=args.input,
        output=args.output,
        index=args.index,
        kind=args.executor,
        workers=args.workers,
        ray_address=args.ray_address,
    )
    out = config.output

    def show(name: str, result) -> None:
        if name == "extract":
            print(f"extract: {out}/docs, {out}/rejected")
            print(format_summary(result))
        elif name == "dedup":
            print(
                f"dedup: {out}/dedup/clusters.parquet — {result['documents']} documents, {result['clusters']} "
                f"clusters, {result['in_duplicate_clusters']} in duplicate clusters, {result['kept']} kept"
            )
        elif name == "mix":
            for mix_name, mix in result.items():
                shares = ", ".join(f"{v} {s['share_tokens']:.0%}" for v, s in sorted(mix["by_variety"].items()))
                print(
                    f"mix {mix_name}: {out}/mixes/{mix_name} — {mix['totals']['rows']} rows in {mix['shards']} "
                    f"shards, ~{mix['totals']['tokens_est']} tokens ({shares})"
                )
                for warning in mix.get("warnings", []):
                    print(f"mix {mix_name}: warning: {warning}")
        elif name == "report":
            print(f"report: {result}")
        elif name == "pretrain" and "skipped" in result:
            print(f"pretrain: skipped: {result['skipped']}")
        elif name == "pretrain":
            fewer = f" ({result['note']})" if result.get("note") else ""
            print(
                f"pretrain: step {result['steps']}, loss {result['first_loss']:.3f} → {result['last_loss']:.3f}, "
                f"checkpoint {result['checkpoint']}{fewer}"
            )
        sys.stdout.flush()

    run_passes(config, args.passes, on_pass=show)
    print(f"summary: {out}/stats.json")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lusomix",
        description="European-Portuguese-first pretraining corpora from web archives (WARC/ARC).",
    )
    parser.add_argument("--version", action="version", version=f"lusomix {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show datatrove's progress logs")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser(
        "run",
        help="run the pipeline's passes on archives",
        description="Run the passes (extract, dedup, mix, ...) of a config. Finished tasks of an earlier run "
        "into the same output are skipped, so rerunning after a crash resumes.",
    )
    run.add_argument("config", help="YAML run config (e.g. data_samples/demo.yaml)")
    run.add_argument("--input", nargs="+", metavar="PATH", help="archive files, folders or globs (override the config)")
    run.add_argument(
        "--output", metavar="DIR", help="output folder, local or a URL such as s3://bucket/run (overrides the config)"
    )
    run.add_argument(
        "--index",
        nargs="+",
        metavar="PATH",
        help="CDXJ or CDX index files or globs (override the config's 'index'): read only the captures the "
        "config's 'select' keeps, by byte range",
    )
    run.add_argument("--executor", choices=["local", "ray"], help="where tasks run (default: the config's, local)")
    run.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="join this Ray cluster (overrides the config's executor.ray_address; neither: start a local Ray)",
    )
    run.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="parallel tasks (overrides the config's executor.workers; neither: the machine's cores)",
    )
    # --stages: the earlier name, kept working ("stage" also named the pretraining stage: one word, one thing)
    run.add_argument(
        "--passes",
        "--stages",
        dest="passes",
        type=_passes,
        metavar="LIST",
        help="comma-separated passes to run, in the order extract,dedup,mix,pretrain,report (default: "
        "extract, dedup, report, plus mix when the config has mixes and pretrain when it has a "
        "pretrain section); --stages is the same option's earlier name",
    )
    run.add_argument(
        "--progress-every",
        type=_seconds,
        default=10.0,
        metavar="N",
        help="when stderr is not a terminal, a plain progress line every N seconds per pass: tasks, captures "
        "and documents done, MB read, rate, time left (default: 10; on a terminal, a live bar)",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress display, only each pass's summary")
    run.set_defaults(func=_cmd_run)

    for module in _COMMAND_MODULES:
        module.register(commands)
    return parser


def _command_modules() -> list:
    import importlib

    names = [
        "lusomix.variety.cli",
        "lusomix.pipeline.cli_analysis",
        "lusomix.pretrain.cli",
        "lusomix.pretrain.eval_cli",
        "lusomix.pipeline.cli_index",
    ]
    found = []
    for name in names:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
    return found


_COMMAND_MODULES = _command_modules()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    os.environ["LUSOMIX_LOG_LEVEL"] = "INFO" if args.verbose else "WARNING"  # read by task workers too
    logger.remove()
    logger.add(sys.stderr, level=os.environ["LUSOMIX_LOG_LEVEL"])
    previous = signal.signal(signal.SIGTERM, _terminated)  # a scheduler's stop: ended as Ctrl-C is
    try:
        return args.func(args)
    except UsageError as err:
        print(f"lusomix: error: {err}", file=sys.stderr)
        return 2
    except PassFailed as err:  # a task crashed, training failed, the output filesystem failed
        print(f"lusomix: failed: {err}", file=sys.stderr)
        return 1
    except Terminated:
        print("lusomix: terminated (SIGTERM); run the same command again to resume", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("lusomix: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is, so the run unwinds (worker pools closed, the run lock
    released) instead of dying mid-write; what finished is kept and a rerun resumes."""


def _terminated(signum, frame) -> None:
    raise Terminated()


if __name__ == "__main__":
    sys.exit(main())
