"""Input archives: files, folders and globs, local paths or fsspec URLs → a sorted list of archive files.

The order is the task order: task ``r`` reads file ``r``. Sorting keeps it the same on every run and
executor, which is what makes resume and ids stable.
"""

from __future__ import annotations

import glob as globlib
import os

from fsspec.core import url_to_fs

from lusomix.errors import UsageError

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")


def is_archive(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def _is_url(path: str) -> bool:
    return "://" in path


def expand_inputs(inputs: list[str]) -> list[str]:
    """Absolute paths (or URLs) of every archive named by ``inputs``; a name matching nothing is an error."""
    if not inputs:
        raise UsageError("no input: give --input or set 'input' in the config")
    found: set[str] = set()
    for item in inputs:
        matches = _expand_url(item) if _is_url(item) else _expand_local(item)
        if not matches:
            raise UsageError(f"input not found or holds no .warc/.warc.gz/.arc/.arc.gz file: {item}")
        found.update(matches)
    return sorted(found)


def _expand_local(item: str) -> list[str]:
    item = os.path.expanduser(item)
    paths = globlib.glob(item, recursive=True) if globlib.has_magic(item) else [item] if os.path.exists(item) else []
    out = []
    for path in paths:
        if os.path.isdir(path):
            for root, _dirs, files in os.walk(path):
                out += [os.path.join(root, f) for f in files if is_archive(f)]
        elif os.path.isfile(path):
            out.append(path)  # a file named explicitly is read whatever its suffix
    return [os.path.abspath(p) for p in out]


def _expand_url(item: str) -> list[str]:
    try:
        fs, path = url_to_fs(item)
    except (ImportError, ValueError) as err:  # unknown protocol, or its fsspec backend not installed
        raise UsageError(f"cannot read {item}: {err}") from None
    protocol = item.split("://", 1)[0]
    try:
        paths = fs.glob(path) if globlib.has_magic(path) else [path] if fs.exists(path) else []
        out = []
        for p in paths:
            if fs.isdir(p):
                out += [f for f in fs.find(p) if is_archive(f)]
            else:
                out.append(p)
    except Exception as err:  # the storage backend's own errors (credentials, network, permissions)
        raise UsageError(f"cannot list {item}: {type(err).__name__}: {err}") from None
    return [f"{protocol}://{p}" for p in out]
