"""The analysts' subcommands: ``lusomix inspect`` and ``lusomix report``."""

from __future__ import annotations

import argparse
import json
import sys

_INSPECT_EPILOG = """\
examples:
  lusomix inspect OUT                        # the run's docs/
  lusomix inspect OUT/rejected --json
  lusomix inspect out/demo/mixes/ptpt-first --sample 5
  lusomix inspect OUT/docs --where "variety == 'pt_PT' and n_words > 500"
  lusomix inspect OUT --config run.yaml      # flags under run.yaml's current quality thresholds

--where takes a SQL boolean expression over the table's columns (=, ==, !=, <, >, and, or, not,
IN (...), LIKE '...%', IS NULL); strings in single quotes. crawl_date is a timestamp: compare years
with year(crawl_date) >= 2010 (a bare number would be compared with the epoch value).

Quality flags of docs/ are the ones the extract pass stored, under the thresholds of that time. The dedup
and mix passes recompute them from the stored signals under the config's current thresholds: give that
config with --config to see the flags (and the "(none)" count) the mixes select on."""
_CONFIG_HELP = (
    "a run config: quality flags recomputed from the stored signals under its quality thresholds, as the "
    "dedup and mix passes apply them (default: the flags stored by the extract pass)"
)


def _non_negative(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {n}")
    return n


def register(subparsers) -> None:
    inspect = subparsers.add_parser(
        "inspect",
        help="profile docs/, rejected/, a mix or a Parquet file: rows, varieties, domains, years, flags",
        description="Profile a table of a run: rows, bytes, shares per variety (pt_PT / pt_BR), top domains "
        "and TLDs, documents per crawl year, quality-flag counts, reject reasons, length distribution. "
        "PATH is a run folder (its docs/), docs/, rejected/, a mix folder or one Parquet file.",
        epilog=_INSPECT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inspect.add_argument("path", metavar="PATH", help="run folder, docs/, rejected/, mix folder or .parquet file")
    inspect.add_argument(
        "--sample",
        metavar="N",
        type=_non_negative,
        default=0,
        help="also print N sample documents (id, url, variety, first 300 characters)",
    )
    inspect.add_argument("--where", metavar="EXPR", help="only rows matching this SQL-like boolean expression")
    inspect.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    inspect.add_argument("--config", metavar="CONFIG", help=_CONFIG_HELP)
    inspect.set_defaults(func=run_inspect)

    report = subparsers.add_parser(
        "report",
        help="write the run's HTML report to OUT/report/index.html",
        description="Write OUT/report/index.html: one self-contained page with the funnel from records to "
        "mixes, variety shares (overall, by crawl year, by TLD), reject reasons, quality signal "
        "distributions, dedup cluster sizes, each mix's composition and sample titles/URLs.",
    )
    report.add_argument("out", metavar="OUT", help="the run's output folder (the one holding docs/)")
    report.add_argument("--config", metavar="CONFIG", help=_CONFIG_HELP + "; its thresholds are drawn too")
    report.set_defaults(func=run_report)


def _quality_rules(config_path: str | None):
    """The quality rules of the run config at ``config_path`` (None: no config, the stored flags)."""
    from lusomix.pipeline.config import load_config

    return None if config_path is None else load_config(config_path).quality.thresholds()


def run_inspect(args: argparse.Namespace) -> int:
    from lusomix.pipeline.inspect import format_profile, profile, resolve

    result = profile(resolve(args.path, _quality_rules(args.config)), where=args.where, sample=args.sample)
    print(json.dumps(result, ensure_ascii=False, default=str) if args.json else format_profile(result))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from lusomix.pipeline.report import write_report

    path = write_report(args.out, quality_rules=_quality_rules(args.config))
    print(path, file=sys.stdout)
    return 0
