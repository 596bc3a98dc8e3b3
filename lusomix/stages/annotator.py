"""The base of the per-document annotating steps, as datatrove's ``BaseFilter`` is for filters.

The loop lives here, once: documents pass through in order; the ones a step ``wants`` (by default every
document not yet rejected) are annotated in batches of ``batch_size`` and timed; a step writes its results
into ``doc.metadata`` (a rejection is ``metadata["reject"] = reason``). A step says what it does to one
document (``annotate``) or, when a batch is cheaper than its documents one by one (one model call), to a
batch (``annotate_batch``).

The loop also counts, for every step the same way, as ``BaseFilter.run`` counts ``total`` and
``dropped_{reason}``: ``total`` (documents seen), ``annotated`` (documents the step wanted) and
``rejected/<reason>`` (documents it rejected). A step counts only what is its own (``lang/pt``,
``flag/<rule>``, ``variety/pt_PT``, ...).
"""

from __future__ import annotations

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.typeshelper import StatHints

SEEN, ANNOTATED, REJECTED = StatHints.total, "annotated", "rejected/"
# what the base classes count for every step: summed over steps, they would mean nothing
COUNTED_PER_STEP = (SEEN, ANNOTATED, REJECTED)


def reject(step: PipelineStep, doc: Document, reason: str) -> Document:
    """Mark ``doc`` rejected (it goes to rejected/ with ``reason``) and count it as ``rejected/<reason>``:
    for the steps that are not annotators (the archive readers); an annotator's loop counts its own."""
    doc.metadata["reject"] = reason
    step.stat_update(REJECTED + reason)
    return doc


class Annotator(PipelineStep):
    batch_size: int = 1

    def wants(self, doc: Document) -> bool:
        return "reject" not in doc.metadata

    def begin_task(self) -> None:
        """Called before a task's first document (per-task state, e.g. a cache)."""

    def end_task(self) -> None:
        """Called after a task's last document, or when the task stops early (per-task resources)."""

    def annotate(self, doc: Document) -> None:
        raise NotImplementedError

    def annotate_batch(self, docs: list[Document]) -> None:
        for doc in docs:
            self.annotate(doc)

    def reject(self, doc: Document, reason: str) -> None:
        doc.metadata["reject"] = reason  # counted by the loop

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        self.begin_task()
        try:
            batch: list[Document] = []
            for doc in data:
                batch.append(doc)
                if len(batch) >= self.batch_size:
                    yield from self._annotated(batch)
                    batch = []
            yield from self._annotated(batch)
        finally:
            self.end_task()

    def _annotated(self, batch: list[Document]) -> list[Document]:
        unit = "batch" if self.batch_size > 1 else None
        todo = [doc for doc in batch if self.wants(doc)]
        if batch:
            self.stat_update(SEEN, value=len(batch), unit=unit)
        if todo:
            self.stat_update(ANNOTATED, value=len(todo), unit=unit)
            already = [doc.metadata.get("reject") for doc in todo]
            with self.track_time(unit=unit):
                self.annotate_batch(todo)
            for doc, before in zip(todo, already):
                if (reason := doc.metadata.get("reject")) is not None and before is None:
                    self.stat_update(REJECTED + reason)
        return batch
