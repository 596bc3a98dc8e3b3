"""Writes the extract pass's output: kept documents to docs/, everything else to rejected/.

One Parquet file per task and table (``part-RRRRR.parquet``), explicit schemas, zstd. Rows are written in
row groups as they arrive (bounded memory) into a temporary that the run folder publishes when the file is
complete: a reader never sees half a file, and a rerun of a killed task simply writes it again.
"""

from __future__ import annotations

from contextlib import ExitStack

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.typeshelper import StatHints

from lusomix.run_folder import RunFolder, part_name
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
    """One Parquet part, written in row groups to the temporary its run folder publishes when it is closed."""

    def __init__(self, stack: ExitStack, run: RunFolder, rel: str, schema: pa.Schema):
        self.schema = schema
        self.writer = pq.ParquetWriter(stack.enter_context(run.publish(rel)), schema, compression="zstd")
        stack.callback(self.writer.close)  # closed before it is published, or before an abort removes it
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


class ExtractWriter(PipelineStep):
    name = "💾 docs + rejected"
    type = "💽 - WRITER"

    def __init__(self, run: RunFolder):
        super().__init__()
        self.run_folder = run

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        name = part_name(rank)
        # both parts are published when the task's documents are all written, and neither when it fails
        with ExitStack() as stack:
            docs = _PartWriter(stack, self.run_folder, f"{RunFolder.DOCS}/{name}", DOCS_SCHEMA)
            rejected = _PartWriter(stack, self.run_folder, f"{RunFolder.REJECTED}/{name}", REJECTED_SCHEMA)
            for doc in data:
                with self.track_time():
                    if "reject" in doc.metadata:
                        rejected.add(_row(doc, REJECTED_SCHEMA))
                    else:
                        docs.add(_row(doc, DOCS_SCHEMA))
                # documents written; the split between docs/ and rejected/ is read from them (run summary)
                self.stat_update(StatHints.total)
            docs.flush()
            rejected.flush()
        return
        yield  # a generator step: datatrove drains it
