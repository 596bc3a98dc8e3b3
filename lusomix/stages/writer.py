"""Writes the extract pass's output: kept documents to docs/, everything else to rejected/.

One Parquet file per task and table (``part-RRRRR.parquet``), explicit schemas, zstd. Rows are written in
row groups as they arrive (bounded memory) into a temporary name that is renamed when the file is
complete: a reader never sees half a file, and a rerun of a killed task simply writes it again.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep

from lusomix.run_folder import RunFolder, part_name, temporary_name
from lusomix.stages.schema import DOCS_SCHEMA, REJECTED_SCHEMA

ROW_GROUP = 1000


def _row(doc: Document, schema: pa.Schema) -> dict:
    meta = doc.metadata
    row = {name: meta.get(name) for name in schema.names}
    row["id"] = doc.id
    row["text"] = doc.text
    if "reason" in row:
        row["reason"] = meta["reject"]
    return row


class _PartWriter:
    def __init__(self, folder, name: str, schema: pa.Schema):
        self.folder, self.name, self.schema = folder, name, schema
        self.tmp = temporary_name(name)
        self.handle = folder.open(self.tmp, "wb")
        self.writer = pq.ParquetWriter(self.handle, schema, compression="zstd")
        self.rows: list[dict] = []
        self.count = 0

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.count += len(self.rows)
            self.rows = []

    def close(self) -> None:
        self.flush()
        self.writer.close()
        self.handle.close()
        self.folder.mv(self.tmp, self.name)

    def abort(self) -> None:
        self.writer.close()
        self.handle.close()
        self.folder.rm(self.tmp)


class ExtractWriter(PipelineStep):
    name = "💾 docs + rejected"
    type = "💽 - WRITER"

    def __init__(self, output_dir: str):
        super().__init__()
        self.output_dir = output_dir

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        run, name = RunFolder(Path(self.output_dir)), part_name(rank)
        docs = _PartWriter(get_datafolder(str(run.docs)), name, DOCS_SCHEMA)
        rejected = _PartWriter(get_datafolder(str(run.rejected)), name, REJECTED_SCHEMA)
        try:
            for doc in data:
                with self.track_time():
                    if "reject" in doc.metadata:
                        rejected.add(_row(doc, REJECTED_SCHEMA))
                    else:
                        docs.add(_row(doc, DOCS_SCHEMA))
                        self.stat_update("kept")
        except BaseException:
            docs.abort()
            rejected.abort()
            raise
        docs.close()
        rejected.close()
        return
        yield  # a generator step: datatrove drains it
