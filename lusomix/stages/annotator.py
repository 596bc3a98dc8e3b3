"""The base of the per-document annotating steps, as datatrove's ``BaseFilter`` is for filters.

The loop lives here, once: documents pass through in order; the ones a step ``wants`` (by default every
document not yet rejected) are annotated in batches of ``batch_size`` and timed; a step writes its results
into ``doc.metadata`` (a rejection is ``metadata["reject"] = reason``, counted as ``rejected/<reason>``).
A step says what it does to one document (``annotate``) or, when a batch is cheaper than its documents one
by one (one model call), to a batch (``annotate_batch``).
"""

from __future__ import annotations

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep


def reject(step: PipelineStep, doc: Document, reason: str) -> Document:
    """Mark ``doc`` rejected (it goes to rejected/ with ``reason``) and count it as ``rejected/<reason>``."""
    doc.metadata["reject"] = reason
    step.stat_update(f"rejected/{reason}")
    return doc


class Annotator(PipelineStep):
    batch_size: int = 1

    def wants(self, doc: Document) -> bool:
        return "reject" not in doc.metadata

    def begin_task(self) -> None:
        """Called before a task's first document (per-task state, e.g. a cache)."""

    def annotate(self, doc: Document) -> None:
        raise NotImplementedError

    def annotate_batch(self, docs: list[Document]) -> None:
        for doc in docs:
            self.annotate(doc)

    def reject(self, doc: Document, reason: str) -> None:
        reject(self, doc, reason)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.begin_task()
        batch: list[Document] = []
        for doc in data:
            batch.append(doc)
            if len(batch) >= self.batch_size:
                yield from self._annotated(batch)
                batch = []
        yield from self._annotated(batch)

    def _annotated(self, batch: list[Document]) -> list[Document]:
        todo = [doc for doc in batch if self.wants(doc)]
        if todo:
            with self.track_time(unit="batch" if self.batch_size > 1 else None):
                self.annotate_batch(todo)
        return batch
