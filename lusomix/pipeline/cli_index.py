"""``lusomix index``: a CDXJ index of archives, for users whose archives came without one."""

from __future__ import annotations

import argparse
import io
import os
import sys


def register(subparsers) -> None:
    index = subparsers.add_parser(
        "index",
        help="write a CDXJ index of archive files (for 'index:' / --index)",
        description="Write a CDXJ index (pywb's format, written by cdxj-indexer: one line per capture with "
        "its SURT key, timestamp, URL, MIME type, status, payload digest, offset, length and file) of "
        "the given archive files and folders. File names are written relative to the index's folder, "
        "where a run with this index looks for them.",
    )
    index.add_argument("archives", nargs="+", metavar="ARCHIVE", help="WARC/ARC files or folders holding them")
    index.add_argument("--output", metavar="FILE", help="the index file to write (default: standard output)")
    index.set_defaults(func=run_index)


def run_index(args: argparse.Namespace) -> int:
    from lusomix.pipeline.inputs import expand_inputs
    from lusomix.run_folder import folder_of

    archives = expand_inputs(args.archives)  # a name matching nothing is a usage error
    remote = [a for a in archives if "://" in a]
    if remote:
        from lusomix.errors import UsageError

        raise UsageError(f"lusomix index reads local archives only: {remote[0]}")
    # names relative to where the index is written, so a run finds the archives beside it wherever it moves
    root = os.path.dirname(os.path.abspath(args.output)) if args.output else os.getcwd()
    lines: list[str] = []
    for archive in archives:
        lines += _index_lines(archive, root)
    lines.sort()  # CDXJ is sorted by SURT key and timestamp: pywb and binary searches rely on it
    if args.output:
        folder, name = folder_of(args.output)
        folder.write_text(name, "".join(lines))  # whole or not at all
        print(f"{args.output}: {len(lines)} capture(s) of {len(archives)} archive file(s)", file=sys.stderr)
    else:
        sys.stdout.writelines(lines)
    return 0


def _index_lines(archive: str, root: str) -> list[str]:
    """One archive's CDXJ lines; warcio stops at a file's first damage: the lines before it are kept and
    the file is named on stderr (``lusomix run`` reads such a file whole, past its damage)."""
    from cdxj_indexer.main import write_cdx_index

    buffer = io.StringIO()
    try:
        write_cdx_index(buffer, [archive], {"dir_root": root})
    except Exception as err:  # warcio's errors on damaged data are of many kinds
        kept = buffer.getvalue().count("\n")
        why = "".join(c if c.isprintable() else "?" for c in (str(err) or type(err).__name__).splitlines()[0][:100])
        print(f"lusomix index: warning: {archive}: indexed {kept} capture(s), then stopped: {why}", file=sys.stderr)
    return buffer.getvalue().splitlines(keepends=True)
