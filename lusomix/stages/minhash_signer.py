"""Extract pass: the MinHash band hashes and the exact-duplicate hash of every kept document, which the
dedup pass (:mod:`lusomix.stages.dedup`) groups."""

from __future__ import annotations

from datatrove.data import Document

from lusomix.filters.text import text_hash
from lusomix.stages.annotator import Annotator
from lusomix.stages.dedup import DedupConfig


class MinHashSigner(Annotator):
    """Extract pass: band hashes and exact-duplicate hash of every kept document."""

    name = "🔏 minhash"
    type = "🫂 - DEDUP"

    def __init__(self, config: DedupConfig):
        super().__init__()
        self.config = config
        # Built here, in the driver, and pickled to the workers with the step (two arrays of bands*rows
        # uint32): the LSH parameters come from an integration (~0.1 s) and datasketch imports scipy.integrate
        # (~0.3 s), which every worker process would pay again.
        self._hasher = config.minhasher()

    def annotate(self, doc: Document) -> None:
        doc.metadata["minhash_bands"] = self._hasher.bands(doc.text)
        doc.metadata["text_hash"] = text_hash(doc.text)
