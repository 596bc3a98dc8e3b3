"""pyarrow's view of an fsspec store that reads exactly the byte ranges asked (used by
``RunFolder.scan_parquet`` on a store; a module of its own so that pyarrow loads only when it is used)."""

from __future__ import annotations

from typing import Any

from pyarrow import PythonFile
from pyarrow.fs import FSSpecHandler


class RangedReads(FSSpecHandler):
    """No read-ahead: s3fs reads ahead up to 50 MiB past each range by default, which for a column chunk
    means the rest of the file."""

    def open_input_file(self, path: str) -> Any:
        return PythonFile(self.fs.open(path, mode="rb", cache_type="none"), mode="r")
