"""Input archives: files, folders and globs, local paths or fsspec URLs → a sorted list of archive files;
with an index, the archive files that hold selected captures, and those captures.

The order is the task order: task ``r`` reads file ``r``. Sorting keeps it the same on every run and
executor, which is what makes resume and ids stable.
"""

from __future__ import annotations

import glob as globlib
import os

from fsspec.core import url_to_fs

from lusomix.archive.index import IndexEntry, IndexLineError, Selection, read_index_file, select
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
    # fsspec's HTTP paths are whole URLs; the other backends' lose the protocol
    return [p if "://" in p else f"{protocol}://{p}" for p in out]


def expand_indexes(patterns: list[str]) -> list[str]:
    """The index files named by ``patterns`` (files or globs, local or URLs), sorted; one matching
    nothing is an error."""
    found: set[str] = set()
    for item in patterns:
        if _is_url(item):
            matches = _expand_url(item)
        else:
            item = os.path.expanduser(item)
            names = globlib.glob(item, recursive=True) if globlib.has_magic(item) else [item]
            matches = [os.path.abspath(p) for p in names if os.path.isfile(p)]
        if not matches:
            raise UsageError(f"index not found: {item}")
        found.update(matches)
    return sorted(found)


def indexed_inputs(
    index_files: list[str], inputs: list[str], selection: Selection
) -> tuple[list[tuple[str, list[IndexEntry]]], dict]:
    """The archive files to read and, for each, its selected entries (in offset order), from the indexes
    and ``select:``; and counts for the run summary. An entry's file is a URL or absolute path as written;
    a relative one is found among ``inputs`` when they are given (entries of other files are left out),
    else beside its index file."""
    by_file: dict[str, list[IndexEntry]] = {}
    counts = {"index_files": len(index_files), "index_entries": 0, "selected": 0, "outside_inputs": 0}
    archives = expand_inputs(inputs) if inputs else None
    for index_file in index_files:
        try:
            entries = read_index_file(index_file)
        except IndexLineError as err:
            raise UsageError(f"index: {err}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"cannot read index {index_file}: {err}") from None
        counts["index_entries"] += len(entries)
        for entry in select(entries, selection):
            path = _archive_path(entry.filename, index_file, archives)
            if path is None:
                counts["outside_inputs"] += 1
                continue
            by_file.setdefault(path, []).append(entry)
    missing = sorted(p for p in by_file if not _is_url(p) and not os.path.isfile(p))
    if missing:
        raise UsageError(f"archive named by the index not found: {missing[0]} ({len(missing)} file(s) missing)")
    counts["selected"] = sum(len(entries) for entries in by_file.values())
    if not by_file:
        raise UsageError(
            f"the index selects no capture ({counts['index_entries']} entries in {len(index_files)} index file(s)"
            + (f", {counts['outside_inputs']} selected in files not among the inputs)" if archives else ")")
        )
    plan = [(path, sorted(set(by_file[path]), key=lambda e: e.offset)) for path in sorted(by_file)]
    return plan, counts


def _archive_path(filename: str, index_file: str, archives: list[str] | None) -> str | None:
    if _is_url(filename) or os.path.isabs(filename):
        return filename
    if archives is not None:
        tail = "/" + filename.removeprefix("./")
        name = filename.rsplit("/", 1)[-1]
        same = [a for a in archives if a.rsplit("/", 1)[-1] == name]
        exact = [a for a in same if a.endswith(tail)]
        found = exact or same
        return found[0] if found else None
    if _is_url(index_file):
        return f"{index_file.rsplit('/', 1)[0]}/{filename}"
    return os.path.normpath(os.path.join(os.path.dirname(index_file), filename))
