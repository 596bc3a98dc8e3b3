"""Output folders: local only, created up front, so a bad ``--output`` is one clear error, not a crash
halfway through a pass.

Inputs may be fsspec URLs; outputs may not (yet): passes write with local file operations (write-then-
rename, Parquet parts, checkpoints). Write locally and copy the finished folder to object storage.
"""

from __future__ import annotations

import os
from pathlib import Path

from lusomix.errors import UsageError


def check_output_name(path: str) -> str:
    """The checks that need no filesystem (config validation): not empty, not a URL."""
    if not str(path).strip():
        raise ValueError("the output folder is empty")
    if "://" in str(path):
        raise ValueError(f"output must be a local folder, not a URL ({path}): write locally, then copy")
    return path


def prepare_output_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` (and parents) if needed; a file in the way or an unwritable place is a UsageError."""
    try:
        check_output_name(str(path))
    except ValueError as err:
        raise UsageError(str(err)) from None
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"output {folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create the output folder {folder}: {err.strerror or err}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"output folder {folder} is not writable")
    return folder
