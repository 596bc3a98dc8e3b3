"""The bundled sample archives, their expected-answers manifest, and the generator that makes both.

Fast checks only (no pipeline): the archives read back with warcio and agree with the manifest record by
record, the planted cases are really there (varieties, spellings, duplicates, charsets, damaged files), and
the generator reproduces the committed files. The slow test re-measures the manifest with trafilatura and
lid.176 (data_samples/check_samples.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
import zlib
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
ARCHIVES = SAMPLES / "archives"
REASONS = {
    "kept",
    "revisit",
    "http_status",
    "not_html",
    "too_large",
    "bad_http_headers",
    "not_a_capture",
    "no_text",
    "too_short",
    "extraction_failed",
    "not_portuguese",
    "damaged_record",
}
KEYS = [
    "file",
    "url",
    "date",
    "record_type",
    "expect",
    "lang",
    "variety",
    "variety_allowed",
    "evidence_expected",
    "evidence_absent",
    "page_kind",
    "quality",
    "junk_kind",
    "dup_group",
    "dup_kind",
    "jaccard_to_original",
    "lookalike_group",
    "spelling",
    "must_contain",
    "must_not_contain",
    "must_not_contain_control",
    "notes",
]
CAPTURE_TYPES = ("response", "revisit", "resource")


def _load(name: str):
    sys.path.insert(0, str(SAMPLES))
    spec = importlib.util.spec_from_file_location(name, SAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MANIFEST = [json.loads(line) for line in (SAMPLES / "expected.jsonl").read_text("utf-8").splitlines()]
FILES = json.loads((SAMPLES / "expected_files.json").read_text("utf-8"))
DAMAGE = json.loads((SAMPLES / "expected_damage.json").read_text("utf-8"))
INTACT = [name for name in FILES["files"] if name not in DAMAGE or name == "damaged-bad-headers.warc"]


def _records(name: str, limit: int | None = None) -> list[dict]:
    """Every record of a file: type, url, date, digest, HTTP status/headers, raw payload (not decoded)."""
    out = []
    with open(ARCHIVES / name, "rb") as f:
        for rec in ArchiveIterator(f, arc2warc=True):
            http = rec.http_headers
            out.append(
                {
                    "type": rec.rec_type,
                    "url": rec.rec_headers.get_header("WARC-Target-URI"),
                    "date": rec.rec_headers.get_header("WARC-Date"),
                    "headers": rec.rec_headers,
                    "status": http.get_statuscode() if http else None,
                    "http": http,
                    "payload": rec.raw_stream.read(limit) if limit else rec.raw_stream.read(),
                }
            )
    return out


def _lines(**where) -> list[dict]:
    return [m for m in MANIFEST if all(m[k] == v for k, v in where.items())]


def _payload(url: str, date: str | None = None) -> tuple[dict, dict]:
    line = next(m for m in MANIFEST if m["url"] == url and (date is None or m["date"] == date))
    rec = next(r for r in _records(line["file"]) if r["url"] == url and r["date"] == line["date"])
    return line, rec


# ------------------------------------------------------------------------------------ manifest vs archives
def test_manifest_uses_the_vocabulary():
    assert MANIFEST
    seen = set()
    for m in MANIFEST:
        assert list(m) == KEYS
        assert m["expect"] in REASONS
        assert m["record_type"] in CAPTURE_TYPES
        assert m["lang"] in {"pt", "es", "gl", "en", "la", None}
        assert m["variety"] in {"pt_PT", "pt_BR", None}
        if m["variety_allowed"] is not None:
            assert m["variety"] in m["variety_allowed"] and set(m["variety_allowed"]) <= {"pt_PT", "pt_BR", "unknown"}
        for key in ("evidence_expected", "evidence_absent"):
            assert m[key] is None or all(isinstance(e, str) and "=" in e or e == "text" for e in m[key])
        assert m["quality"] in {"clean", "junk", None}
        assert m["dup_kind"] in {"exact", "near", None}
        assert m["spelling"] in {"ao90", "pre-ao90", None}
        if m["quality"] == "clean":
            assert (m["spelling"] is not None) == (m["variety"] == "pt_PT")
        assert (m["junk_kind"] is not None) == (m["quality"] == "junk")
        assert m["date"].endswith("Z") and len(m["date"]) == 20
        key = (m["file"], m["url"], m["date"])
        assert key not in seen
        seen.add(key)
        if m["expect"] == "kept":
            assert m["lang"] == "pt" and m["variety"]


@pytest.mark.parametrize("name", INTACT)
def test_every_capture_of_a_readable_file_is_in_the_manifest(name):
    records = _records(name)
    captures = [(r["url"], r["date"]) for r in records if r["type"] in CAPTURE_TYPES]
    assert captures == [(m["url"], m["date"]) for m in _lines(file=name)]
    counts = Counter(r["type"] for r in records)
    assert {t: counts.get(t, 0) for t in FILES["files"][name]["records"]} == FILES["files"][name]["records"]


def test_committed_archives_are_the_recorded_ones():
    for name, info in FILES["files"].items():
        data = (ARCHIVES / name).read_bytes()
        assert len(data) == info["bytes"] and hashlib.sha256(data).hexdigest() == info["sha256"], name
    assert sum(info["bytes"] for info in FILES["files"].values()) < 2_000_000


def test_generator_reproduces_the_committed_files(tmp_path):
    _load("make_samples").generate(tmp_path)
    for name in ("expected.jsonl", "expected_damage.json"):
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name
    again = json.loads((tmp_path / "expected_files.json").read_text("utf-8"))
    for name, info in FILES["files"].items():
        assert again["files"][name]["records"] == info["records"], name
    if zlib.ZLIB_RUNTIME_VERSION != FILES["zlib_runtime_version"]:
        pytest.skip(
            f"archives were compressed with zlib {FILES['zlib_runtime_version']}, this is "
            f"{zlib.ZLIB_RUNTIME_VERSION}: byte comparison needs the same zlib"
        )
    assert again == FILES
    for name in FILES["files"]:
        assert (tmp_path / "archives" / name).read_bytes() == (ARCHIVES / name).read_bytes(), name


# ------------------------------------------------------------------------------------ what is planted
def test_enough_european_and_brazilian_pages():
    kept = [m for m in MANIFEST if m["expect"] == "kept" and m["quality"] == "clean"]
    pt_pt = {m["url"] for m in kept if m["variety"] == "pt_PT"}
    pt_br = {m["url"] for m in kept if m["variety"] == "pt_BR"}
    assert len(pt_pt) >= 30 and len(pt_br) >= 30
    assert len({m["url"] for m in kept if m["spelling"] == "ao90"}) >= 10
    assert len({m["url"] for m in kept if m["spelling"] == "pre-ao90"}) >= 5
    african = {m["url"] for m in kept if ".ao/" in m["url"] or ".mz/" in m["url"]}
    assert len(african) == 3 and african <= pt_pt
    assert any("www.brisa.pt" in u for u in pt_pt)
    assert any("/pt-br/" in u and ".com/" in u for u in pt_br)
    assert {m["page_kind"] for m in kept} >= {
        "news",
        "blog",
        "institutional",
        "shop",
        "forum",
        "recipe",
        "sports",
        "tech_help",
        "tourism",
    }


def test_other_languages_and_junk():
    rejected = Counter(m["lang"] for m in _lines(expect="not_portuguese") if m["quality"] == "clean")
    assert rejected == {"es": 4, "gl": 4, "en": 3}
    junk = Counter(m["junk_kind"] for m in _lines(quality="junk", expect="kept"))
    for kind in ("keyword_stuffing", "link_list", "repeated_line", "number_table", "cookie_wall"):
        assert junk[kind] >= 2, kind
    assert {m["expect"] for m in _lines(junk_kind="lorem_ipsum")} == {"not_portuguese"}
    assert {m["expect"] for m in _lines(junk_kind="boilerplate_only")} <= {"no_text", "too_short"}


def test_arc_files():
    records = _records("arquivo-1999.arc.gz")
    assert records[0]["type"] == "warcinfo"
    assert all(r["date"].startswith("1999-") for r in records)
    pages = _lines(file="arquivo-1999.arc.gz", expect="kept")
    assert len(pages) >= 6 and {m["spelling"] for m in pages} == {"pre-ao90"}
    assert (ARCHIVES / "arquivo-1999.arc.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (ARCHIVES / "arquivo-2000.arc").read_bytes().startswith(b"filedesc://")
    assert len(_lines(file="arquivo-2000.arc")) == 2


def test_duplicate_groups():
    groups = defaultdict(list)
    for m in MANIFEST:
        if m["dup_group"]:
            groups[m["dup_group"]].append(m)
    exact = [g for g, ms in groups.items() if {m["dup_kind"] for m in ms} == {None, "exact"}]
    near = [g for g, ms in groups.items() if "near" in {m["dup_kind"] for m in ms}]
    assert len(exact) >= 5 and len(near) >= 4
    for g in groups.values():
        assert sum(m["dup_kind"] is None for m in g) == 1  # one original per group
    for m in MANIFEST:
        assert (m["jaccard_to_original"] is not None) == (m["dup_kind"] == "near")
        if m["dup_kind"] == "near":
            assert m["jaccard_to_original"] >= 0.8
    lookalikes = Counter(m["lookalike_group"] for m in MANIFEST if m["lookalike_group"])
    assert len(lookalikes) == 2 and set(lookalikes.values()) == {2}
    assert all(m["dup_group"] is None for m in MANIFEST if m["lookalike_group"])


def test_byte_identical_recaptures_and_revisits():
    digests = defaultdict(set)
    for name in INTACT:
        for r in _records(name):
            if r["type"] == "response" and r["status"] == "200":
                digests[(r["url"], hashlib.sha1(r["payload"]).hexdigest())].add(r["date"])
    repeats = sum(len(dates) - 1 for dates in digests.values())
    assert repeats >= 6
    revisits = [r for name in INTACT for r in _records(name) if r["type"] == "revisit"]
    profiles = {r["headers"].get_header("WARC-Profile").rsplit("/", 1)[-1] for r in revisits}
    assert profiles == {"identical-payload-digest", "server-not-modified"}
    for r in revisits:
        refers = r["headers"].get_header("WARC-Refers-To-Date")
        assert refers < r["date"] and any(r["url"] == url and refers in dates for (url, _), dates in digests.items())


def test_non_document_records():
    statuses = Counter(m["page_kind"] for m in MANIFEST if m["expect"] == "http_status")
    assert statuses["error_page"] >= 2 and statuses["redirect"] >= 3
    types = set()
    for name in INTACT:
        for r in _records(name, limit=64):
            if r["http"] is not None and r["type"] == "response":
                types.add((r["http"].get_header("Content-Type") or "").split(";")[0])
    assert {"image/jpeg", "image/gif", "application/pdf", "text/plain", "application/xhtml+xml"} <= types
    counts = Counter()
    for info in FILES["files"].values():
        counts.update(info["records"])
    assert all(counts[t] > 0 for t in ("warcinfo", "request", "metadata", "resource", "revisit"))
    assert _lines(expect="not_a_capture", record_type="resource")


def test_transfer_and_content_encodings():
    encodings = Counter()
    for m in _lines(expect="kept"):
        _, rec = _payload(m["url"], m["date"])
        encodings[rec["http"].get_header("Content-Encoding") or rec["http"].get_header("Transfer-Encoding")] += 1
    assert encodings["gzip"] >= 3 and encodings["deflate"] == 1 and encodings["chunked"] == 1


def test_decompression_bomb_inflates_far_beyond_its_size():
    (line,) = _lines(expect="too_large")
    _, rec = _payload(line["url"])
    body = rec["payload"]
    assert len(body) < 500_000
    inflater, inflated, data = zlib.decompressobj(zlib.MAX_WBITS + 16), 0, body
    while data and inflated < 50 * 2**20:
        inflated += len(inflater.decompress(data, 2**20))
        data = inflater.unconsumed_tail
    assert inflated >= 50 * 2**20


def test_charset_pages_are_built_as_described():
    iso = next(m for m in MANIFEST if m["notes"].startswith("Declared ISO-8859-1"))
    _, rec = _payload(iso["url"])
    body = rec["payload"]
    assert "ISO-8859-1" in rec["http"].get_header("Content-Type")
    assert "informação" in body.decode("utf-8") and "Ã§" in body.decode("latin-1")
    assert set(iso["must_not_contain"]) >= {"Ã§", "Ã£"}
    latin = next(m for m in MANIFEST if m["notes"].startswith("ISO-8859-1 bytes"))
    _, rec = _payload(latin["url"])
    body = rec["payload"]
    assert b"charset" not in body and "charset" not in rec["http"].get_header("Content-Type")
    assert all(p in body.decode("latin-1") for p in latin["must_contain"])
    cp = next(m for m in MANIFEST if m["notes"].startswith("windows-1252 bytes"))
    _, rec = _payload(cp["url"])
    body = rec["payload"]
    assert b"windows-1252" in body and "charset" not in rec["http"].get_header("Content-Type")
    assert all(p in body.decode("cp1252") for p in cp["must_contain"])
    liar = next(m for m in MANIFEST if m["notes"].startswith("Declared UTF-8"))
    _, rec = _payload(liar["url"])
    body = rec["payload"]
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert all(p in body.decode("cp1252") for p in liar["must_contain"])


def test_control_bytes_and_escaped_title():
    (ctrl,) = [m for m in MANIFEST if m["must_not_contain_control"]]
    _, rec = _payload(ctrl["url"])
    assert all(c in rec["payload"] for c in (b"\x00", b"\x07", b"\x1b", b"\x0c"))
    xss = next(m for m in MANIFEST if "<script>alert(1)</script>" in m["notes"])
    _, rec = _payload(xss["url"])
    assert b"<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>" in rec["payload"]


# ------------------------------------------------------------------------------------ damaged files
def test_truncated_file_keeps_its_first_three_captures():
    info = DAMAGE["damaged-truncated.warc.gz"]
    records = _records("damaged-truncated.warc.gz")
    listed = _lines(file="damaged-truncated.warc.gz")
    assert info["readable_captures_before_damage"] == len(listed) - 1 == 3
    assert [(r["url"], r["date"]) for r in records[:4]] == [(m["url"], m["date"]) for m in listed]
    assert [m["expect"] for m in listed] == ["kept", "kept", "kept", "damaged_record"]
    for r in records[:3]:
        assert len(r["payload"]) == int(r["http"].get_header("Content-Length"))
    # warcio hands out the cut record without an error: only its short body shows the damage
    cut = records[3:]
    assert len(cut) <= 1
    for r in cut:
        assert (r["url"], r["date"]) == (info["cut_record"]["url"], info["cut_record"]["date"])
        assert len(r["payload"]) < int(r["http"].get_header("Content-Length"))


def test_garbage_and_empty_files():
    with pytest.raises(ArchiveLoadFailed):
        _records("damaged-garbage.warc.gz")
    assert _records("damaged-empty.warc") == []
    assert (ARCHIVES / "damaged-empty.warc").stat().st_size == 0


def test_broken_http_headers_do_not_hide_the_records_after_them():
    records = [r for r in _records("damaged-bad-headers.warc") if r["type"] == "response"]
    lines = _lines(file="damaged-bad-headers.warc")
    assert [m["expect"] for m in lines] == ["kept", "bad_http_headers", "kept", "kept"]
    broken = records[1]
    assert not broken["status"].isdigit()
    assert all(r["status"] == "200" for i, r in enumerate(records) if i != 1)


@pytest.mark.slow
def test_manifest_agrees_with_trafilatura_and_lid():
    pytest.importorskip("trafilatura")
    pytest.importorskip("fasttext")
    check = _load("check_samples")
    assert check.run(_load("make_samples").build()) == 0
