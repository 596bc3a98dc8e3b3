"""Parquet schemas: the contract between passes, and what analysts open.

``docs/`` holds every Portuguese document of the extract pass, fully annotated; ``rejected/`` holds every
capture that was not kept, with its ``reason``. Later passes only read these columns, so a change here is
a change of contract: keep DESIGN.md in step.
"""

from __future__ import annotations

import pyarrow as pa

from lusomix.filters.quality import SIGNAL_TYPES

TIMESTAMP = pa.timestamp("ms", tz="UTC")  # Parquet has no seconds unit: "s" would come back as "ms"

DOC_ID = pa.field("id", pa.string(), nullable=False)

DOCS_SCHEMA = pa.schema(
    [
        DOC_ID,
        pa.field("url", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("tld", pa.string()),
        pa.field("crawl_date", TIMESTAMP),
        pa.field("source_file", pa.string()),
        pa.field("source_offset", pa.int64()),
        pa.field("charset", pa.string()),
        pa.field("title", pa.string()),
        pa.field("extractor", pa.string()),  # the main-text engine: trafilatura | resiliparse
        pa.field("text", pa.string()),
        pa.field("n_words", pa.int32()),
        pa.field("lang", pa.string()),
        pa.field("lang_score", pa.float32()),
        # pt_PT | pt_BR | unknown; p_pt_PT combines text and page evidence, p_pt_PT_text is the text alone
        pa.field("variety", pa.string()),
        pa.field("p_pt_PT", pa.float32()),
        pa.field("p_pt_PT_text", pa.float32()),
        # evidence used: "text", URL kinds ("tld=+", "url_tag=-", "url_dir=+"), declared languages read
        # ("html_lang=pt-PT", "og_locale=pt_BR", "content_language=pt", "hreflang=pt-PT")
        pa.field("variety_evidence", pa.list_(pa.string())),
        *[pa.field(name, dtype) for name, dtype in SIGNAL_TYPES.items()],
        # rules the document fails under the run's thresholds; empty list = passes
        pa.field("quality_flags", pa.list_(pa.string())),
        # one MinHash value per LSH band (bands x rows chosen in the dedup config)
        pa.field("minhash_bands", pa.list_(pa.uint64())),
        # blake2b-64 of the normalised text (filters.text.normalise_for_hash): exact duplicates
        pa.field("text_hash", pa.uint64()),
    ]
)

REJECTED_SCHEMA = pa.schema(
    [
        DOC_ID,
        pa.field("url", pa.string()),
        pa.field("crawl_date", TIMESTAMP),
        pa.field("source_file", pa.string()),
        pa.field("source_offset", pa.int64()),
        pa.field("record_type", pa.string()),
        pa.field("http_status", pa.int32()),
        pa.field("content_type", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        # filled when the reason comes after extraction (e.g. not_portuguese)
        pa.field("lang", pa.string()),
        pa.field("lang_score", pa.float32()),
        pa.field("n_words", pa.int32()),
        pa.field("text", pa.string()),
    ]
)

CLUSTERS_SCHEMA = pa.schema(
    [
        DOC_ID,
        pa.field("cluster_id", pa.string(), nullable=False),
        pa.field("cluster_size", pa.int32(), nullable=False),
        pa.field("keep", pa.bool_(), nullable=False),
    ]
)

MIX_SCHEMA = pa.schema(
    [
        DOC_ID,
        pa.field("text", pa.string()),
        pa.field("variety", pa.string()),
        pa.field("url", pa.string()),
        pa.field("domain", pa.string()),
        pa.field("crawl_date", TIMESTAMP),
        pa.field("n_words", pa.int32()),
        pa.field("lang", pa.string()),
    ]
)
