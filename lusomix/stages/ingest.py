"""Ingest: archive records → HTML documents → main text.

``ArchiveReader`` reads one WARC/ARC file per task (``lusomix.archive.records``) and yields a document
per capture: HTML pages carry their decoded HTML in ``text``; every other capture (revisit, 404, image,
decompression bomb, …) is yielded already rejected with its reason, so ``rejected/`` accounts for every
capture. Records that are not captures (warcinfo, request, metadata) are only counted. ``MainTextExtractor``
turns HTML into main text with the configured engine (trafilatura, or resiliparse), extracting each distinct
payload once per task: archives capture unchanged pages again and again, and extraction is most of the pass's
cost.

A damaged span in a file (a bad gzip member, garbage, a cut, a record whose length runs into the next) costs
only the records it touches: the reader resumes at the next whole record. A capture whose header was read
but whose bytes are damaged is rejected as ``damaged_record``. Each damaged span (bytes, records, why) goes
into a per-task source report, which the run summary collects.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from collections import Counter, OrderedDict
from functools import partial
from typing import Any, Literal

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from pydantic import Field
from warcio.statusandheaders import StatusAndHeadersParser, StatusAndHeadersParserException

from lusomix.archive.records import DamagedSpan, Record, parse_date, read_archive
from lusomix.config_base import StageConfig
from lusomix.filters import payload
from lusomix.filters import url as urls
from lusomix.filters.extraction import Extracted, extract_main_text
from lusomix.filters.extraction_resiliparse import ExtractionTooDeep, extract_main_text_resiliparse
from lusomix.filters.text import count_words
from lusomix.run_folder import RunFolder
from lusomix.stages.annotator import Annotator, reject
from lusomix.stages.extract_sandbox import ExtractionCrashed, ExtractionSandbox, ExtractionTimeout

CAPTURE_TYPES = frozenset({"response", "revisit", "resource"})
_HTTP = StatusAndHeadersParser(["HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/2.0", "HTTP/0.9"], verify=True)


class IngestConfig(StageConfig):
    """Reading archives and extracting main text."""

    engine: Literal["trafilatura", "resiliparse"] = Field(
        "trafilatura",
        description="main-text engine: trafilatura, or resiliparse (DCLM's; ~5x faster per page, F1 within 0.01 "
        "on the gold set, keeps the navigation cell of 1990s table layouts; see README)",
    )
    max_body_bytes: int = Field(5_000_000, gt=0, description="cap on a decoded HTTP body; larger → too_large")
    max_html_chars: int = Field(2_000_000, gt=0, description="HTML beyond this is not given to the engine")
    extraction_timeout_s: float = Field(
        10.0,
        ge=0,
        description="per-page bound on extraction, either engine: pages are extracted in a child process that is "
        "killed past it (the page → extraction_timeout); 0 = no bound, extraction in the task's process",
    )
    favour_precision: bool = Field(False, description="trafilatura favor_precision (AMÁLIA used True)")
    include_tables: bool = Field(
        False, description="trafilatura: extract tables too (off: old layout-table pages come out as one '| … |' line)"
    )
    min_words: int = Field(20, ge=0, description="fewer extracted words → too_short")
    reuse_identical_payloads: bool = Field(True, description="extract each distinct payload once per task")


def document_id(source_name: str, offset: int) -> str:
    """Stable id: the archive's file name and the record's byte offset (ARC records have no record id, and
    warcio's arc2warc invents a random one). The same input gives the same ids on every executor."""
    return hashlib.blake2b(f"{source_name}:{offset}".encode(), digest_size=8).hexdigest()


def capture_document(url: str, date: str | None, source_name: str, path: str, offset: int, rec_type) -> Document:
    """A capture's document before its payload is read: where it comes from, and its id."""
    meta = {
        "url": url,
        "domain": urls.host(url),
        "tld": urls.tld(url),
        "crawl_date": parse_date(date),
        "source_file": path,
        "source_offset": offset,
        "record_type": rec_type,
    }
    return Document(text="", id=document_id(source_name, offset), metadata=meta)


class ArchiveReader(PipelineStep):
    """Task ``rank`` reads ``paths[rank]`` and yields one document per capture."""

    name = "📦 archive reader"
    type = "🔧 - INGEST"

    def __init__(self, paths: list[str], reports: RunFolder, config: IngestConfig):
        super().__init__()
        self.paths = paths
        self.reports = reports  # the pass's logging folder's reports/: one JSON per task
        self.config = config

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        path = self.paths[rank]
        source_name = path.rstrip("/").rsplit("/", 1)[-1]
        report: dict[str, Any] = {
            "file": path,
            "bytes": 0,
            "records_by_type": Counter(),
            "captures": 0,
            "damage": None,
            "damaged_spans": [],
        }
        self._broken_headers: list[int] = []
        started = time.time()
        folder = RunFolder(path.rsplit("/", 1)[0])  # the archive's folder, local or remote
        try:
            report["bytes"] = folder.size(source_name)
            with folder.open(source_name, "rb") as stream:
                gzip = stream.read(2) == b"\x1f\x8b" or source_name.endswith(".gz")
                for item in read_archive(stream, report["bytes"], gzip=gzip, max_block_bytes=self.max_block):
                    if isinstance(item, DamagedSpan):
                        report["damaged_spans"].append(dataclasses.asdict(item))
                        self.stat_update("damaged_spans")
                        continue
                    report["records_by_type"][item.rec_type] += 1
                    self.stat_update(f"records/{item.rec_type}")
                    if item.rec_type not in CAPTURE_TYPES:
                        continue
                    report["captures"] += 1
                    with self.track_time():
                        doc = self._capture(item, source_name, path)
                    yield doc
        except OSError as err:
            report["damage"] = f"cannot open: {err}"
        spans = report["damaged_spans"]
        if spans:
            first = spans[0]
            report["damage"] = (
                f"{len(spans)} damaged span(s), first at bytes {first['start']}-{first['end']}: {first['why']}"
            )
        if report["damage"] is None and sum(report["records_by_type"].values()) == 0:
            report["damage"] = "empty: no WARC/ARC record"
        self._end_report(rank, report, started)

    def _end_report(self, rank: int, report: dict[str, Any], started: float) -> None:
        """Name records with broken HTTP headers in the file's damage, count, and write the source report."""
        if self._broken_headers:  # the file reads on, but a record in it is damaged: name the file too
            first = self._broken_headers[0]
            broken = f"{len(self._broken_headers)} record(s) with broken HTTP headers (first at byte {first})"
            report["damage"] = f"{report['damage']}; {broken}" if report["damage"] else broken
        if report["damage"]:
            self.stat_update("damaged_files")
        self.stat_update("input_bytes", value=report["bytes"])
        report["seconds"] = round(time.time() - started, 3)
        self._write_report(rank, report)

    @property
    def max_block(self) -> int:
        """The bytes of a record's block read: the HTTP headers and body of a capture, with room for headers
        beyond the body cap."""
        return self.config.max_body_bytes + (1 << 16)

    def _capture(self, record: Record, source_name: str, path: str) -> Document:
        headers, offset = record.headers, record.offset
        url = headers.get_header("WARC-Target-URI") or ""
        doc = capture_document(url, headers.get_header("WARC-Date"), source_name, path, offset, record.rec_type)
        meta = doc.metadata
        if record.damage:  # its header was read, its bytes are damaged
            return self._reject(doc, record.damage)
        if record.rec_type == "revisit":
            return self._reject(doc, "revisit")
        if record.rec_type == "resource":  # crawler logs, screenshots: not a server's answer
            return self._reject(doc, "not_a_capture")
        if not url.lower().startswith(("http:", "https:")):  # dns: lookups and the like
            return self._reject(doc, "not_html")

        stream = io.BytesIO(record.block)
        try:
            http = _HTTP.parse(stream)
            code = http.get_statuscode()
            # three digits (RFC 9110); int() alone takes "99999999999", "-200", "2_00" from damaged bytes
            if not (len(code) == 3 and code.isascii() and code.isdigit()):
                raise ValueError(f"not an HTTP status code: {code!r}")
            status = int(code)
        except (StatusAndHeadersParserException, ValueError, TypeError, EOFError, UnicodeError):
            self._broken_headers.append(offset)
            return self._reject(doc, "bad_http_headers")
        content_type = http.get_header("Content-Type") or ""
        meta["http_status"] = status
        if http.get_header("Content-Language"):  # evidence for the variety step
            meta["content_language"] = http.get_header("Content-Language")[:64]
        meta["content_type"] = payload.media_type(content_type) or None
        if status != 200:
            return self._reject(doc, "http_status")

        body = stream.read(self.config.max_body_bytes + 1)
        if record.oversize or len(body) > self.config.max_body_bytes:
            return self._reject(doc, "too_large")
        if "chunked" in (http.get_header("Transfer-Encoding") or "").lower():
            body = payload.dechunk(body)
        try:
            body = payload.decompress(body, http.get_header("Content-Encoding") or "", self.config.max_body_bytes)
        except payload.BodyTooLarge:
            return self._reject(doc, "too_large")

        declared = meta["content_type"] or (headers.get_header("WARC-Identified-Payload-Type") or "").lower()
        if declared not in payload.HTML_TYPES and not (not declared and _looks_like_html(body)):
            return self._reject(doc, "not_html")
        if not body.strip():
            return self._reject(doc, "no_text")
        doc.text, meta["charset"] = payload.decode_html(body, content_type)
        meta["payload_digest"] = hashlib.blake2b(body, digest_size=16).hexdigest()
        self.stat_update("captures/html", "html_bytes")
        return doc

    def _reject(self, doc: Document, reason: str) -> Document:
        return reject(self, doc, reason)

    def _write_report(self, rank: int, report: dict) -> None:
        self.reports.write_text(f"{rank:05d}.json", json.dumps(report, sort_keys=True))


def _same_page(href: str, url: str) -> bool:
    """An alternate's href names this page (scheme, "www." and a trailing slash aside)."""

    def key(u: str) -> str:
        u = u.split("#", 1)[0].split("://", 1)[-1].lower().rstrip("/")
        return u[4:] if u.startswith("www.") else u

    return bool(href) and key(href) == key(url)


def page_languages(result, meta: dict) -> dict[str, str]:
    """The page's declared languages for the variety step: <html lang>, og:locale, Content-Language
    (the HTTP header before <meta http-equiv>), and the hreflang of the alternate that is this page."""
    declared = dict(result.languages)
    if meta.get("content_language"):
        declared["content_language"] = meta.pop("content_language")
    url = meta.get("url") or ""
    for hreflang, href in result.hreflang:
        # x-default names the fallback page, not a language
        if hreflang.lower() != "x-default" and _same_page(href, url):
            declared["hreflang"] = hreflang
            break
    return declared


_WARM_UP = "<html><body><article><p>" + "Uma frase de aquecimento. " * 10 + "</p></article></body></html>"


def extract_page(html: str, config: IngestConfig) -> tuple[Extracted | None, str, bool]:
    """(main text or None, the engine that gave it, whether resiliparse handed the page on as too deep) with
    the configured engine; run in the extraction child process when the time bound is on."""
    if config.engine == "resiliparse":
        try:
            extracted = extract_main_text_resiliparse(
                html, min_words=config.min_words, max_html_chars=config.max_html_chars
            )
            return extracted, "resiliparse", False
        except ExtractionTooDeep:  # slow there (elements x depth); trafilatura's parser stops at that depth
            too_deep = True
    else:
        too_deep = False
    extracted = extract_main_text(
        html,
        favour_precision=config.favour_precision,
        include_tables=config.include_tables,
        min_words=config.min_words,
        max_html_chars=config.max_html_chars,
    )
    return extracted, "trafilatura", too_deep


def _looks_like_html(body: bytes) -> bool:
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head


class MainTextExtractor(Annotator):
    """HTML → title + main text (``ingest.engine``), once per distinct payload in a task; ``extractor`` records
    the engine that gave each document's text."""

    name = "📰 main text"
    type = "🔧 - INGEST"

    def __init__(self, config: IngestConfig, cache_size: int = 20_000):
        super().__init__()
        self.config = config
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._sandbox: ExtractionSandbox | None = None

    def begin_task(self) -> None:
        self._cache = OrderedDict()  # payloads repeat within an archive file, rarely across files
        if self.config.extraction_timeout_s > 0:
            # one page extracted here first: the engine's first-call set-up (imports, compiled expressions) is
            # then inherited by every child, so a fresh child's first page is not charged with it
            extract_page(_WARM_UP, self.config)
            # forked now, before the task's later steps start threads (pyarrow's, when the writer writes)
            bound = self.config.extraction_timeout_s
            self._sandbox = ExtractionSandbox(partial(extract_page, config=self.config), bound)
            self._sandbox.start()

    def end_task(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def extract(self, html: str) -> tuple[Extracted, str] | None:
        """(main text, the engine that gave it), or None when there is no text; within the time bound."""
        run = self._sandbox if self._sandbox is not None else partial(extract_page, config=self.config)
        result, engine, too_deep = run(html)
        if too_deep:
            self.stat_update("extract/too_deep")
        return (result, engine) if result is not None else None

    def annotate(self, doc: Document) -> None:
        cache = self._cache
        digest = doc.metadata.pop("payload_digest", None)
        if self.config.reuse_identical_payloads and digest in cache:
            cache.move_to_end(digest)
            result = cache[digest]
            self.stat_update("extract/reused_payload")
        else:
            try:
                result = self.extract(doc.text)
            except ExtractionTimeout:
                result = "extraction_timeout"
            except ExtractionCrashed:
                result = "extraction_failed"
                self.stat_update("extract/crashed")
            except Exception:  # the engine on malformed markup: count it, never stop the task
                result = "extraction_failed"
            self.stat_update("extract/extracted")
            if self.config.reuse_identical_payloads and digest:
                cache[digest] = result
                if len(cache) > self.cache_size:
                    cache.popitem(last=False)
        if isinstance(result, str):
            doc.text = ""
            self.reject(doc, result)
            return
        if result is None:
            doc.text = ""
            self.reject(doc, "no_text")
            return
        extracted, doc.metadata["extractor"] = result
        doc.text = extracted.text
        doc.metadata["title"] = extracted.title
        doc.metadata["declared_lang"] = page_languages(extracted, doc.metadata)
        doc.metadata["n_words"] = count_words(extracted.text)
        if doc.metadata["n_words"] < self.config.min_words:
            self.reject(doc, "too_short")
