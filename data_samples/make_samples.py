#!/usr/bin/env python3
"""Generate lusomix's sample archives and their expected-answers manifest.

    python data_samples/make_samples.py [--out DIR] [--check]

Writes DIR/archives/* (WARC and ARC files, some deliberately damaged), DIR/expected.jsonl (what the extract
pass must do with every capture), DIR/expected_files.json (records per file) and DIR/expected_damage.json.
DIR defaults to data_samples/. The page texts live in data_samples/pages/*.yaml; this script wraps them in
site boilerplate, HTTP and WARC/ARC records; the pages of pages/evidence.yaml also declare their language
(<html lang>, og:locale, Content-Language, hreflang), agreeing with their text or not. Output is
byte-for-byte reproducible: record ids are UUID5s of the record's identity, dates come from the page files,
and gzip members carry no timestamp.
--check also runs trafilatura and lid.176 over every page and compares with the manifest
(check_samples.py).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import zlib
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from warcio.warcwriter import WARCWriter

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import sample_html  # noqa: E402
import sample_specials  # noqa: E402
from sample_records import (  # noqa: E402
    ARC_SERVER,
    EMPTY,
    FILES,
    GARBAGE,
    WARC_STYLE,
    Capture,
    chunked,
    expectation,
    gzip_bytes,
    http_date,
    http_message,
    ip_for,
    jaccard,
    record_id,
    sha1_digest,
)

from lusomix.filters.text import count_words  # noqa: E402

# mode -> (codec of the bytes, charset in the HTTP header, charset declaration in <head>)
CHARSETS = {
    "utf-8": ("utf-8", "utf-8", '<meta charset="utf-8" />\n'),
    "latin1-undeclared": ("iso-8859-1", None, ""),
    "iso-declared-utf8": (
        "utf-8",
        "ISO-8859-1",
        '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1" />\n',
    ),
    "cp1252-meta": ("cp1252", None, '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252" />\n'),
    "utf8-declared-cp1252": ("cp1252", "UTF-8", ""),
}
CONTROLS = ["\x00", "\x07", "\x1b\x00", "\x0c"]


def key_phrase(text: str) -> str | None:
    """Four words in a row, letters only, one of them accented: must survive extraction verbatim."""
    paras = sample_html.paragraphs(text)
    for para in paras[1:] + paras[:1]:
        words = para.split()
        for i in range(len(words) - 3):
            window = words[i : i + 4]
            if all(w.isalpha() for w in window) and any(not w.isascii() for w in window):
                return " ".join(window)
    return None


# ------------------------------------------------------------------------------------------ pages
def load_pages() -> tuple[list[dict], dict]:
    pages: list[dict] = []
    for name in ("pt_pt", "pt_br", "other", "junk", "evidence"):
        doc = yaml.safe_load((HERE / "pages" / f"{name}.yaml").read_text("utf-8"))
        shared = doc.get("shared", {})
        by_id: dict[str, dict] = {}
        for raw in doc["pages"]:
            page = dict(raw)
            if "near_of" in page:
                base = by_id[page["near_of"]]
                inherited = {k: v for k, v in base.items() if k not in ("id", "captures", "notes", "must_contain")}
                page = {**inherited, **page}
                text = base["text"]
                for old, new in page.get("edits", []):
                    assert text.count(old) == 1, (page["id"], old)
                    text = text.replace(old, new)
                if page.get("prepend"):
                    text = page["prepend"] + "\n\n" + text
                page["text"] = text
            else:
                page.setdefault("variety", doc.get("variety"))
                text = page.get("text", "")
                for key, para in shared.items():
                    text = text.replace("{" + key + "}", " ".join(para.split()))
                page["text"] = text
                page["published"] = min(c["date"] for c in page["captures"])
            page["source"] = name
            by_id[page["id"]] = page
            pages.append(page)
    chrome = yaml.safe_load((HERE / "pages" / "chrome.yaml").read_text("utf-8"))
    return pages, chrome


def _with_controls(text: str) -> str:
    """Control bytes after the 5th word of the first paragraphs, as old captures sometimes carry."""
    paras = sample_html.paragraphs(text)
    for i, ctrl in enumerate(CONTROLS[: len(paras)]):
        words = paras[i].split(" ")
        words[4] += ctrl
        paras[i] = " ".join(words)
    return "\n\n".join(paras)


def page_response(page: dict, capture: dict, chrome: dict) -> tuple[bytes, str]:
    """The HTTP response of one capture of a page, and the HTML as its author wrote it."""
    serve = page.get("serve", {})
    locale = page.get("chrome") or page.get("variety") or page["lang"]
    ch = chrome[locale]
    shown = dict(page, text=_with_controls(page["text"])) if serve.get("control_bytes") else page
    arc = capture["file"].startswith("arc")
    if page.get("style") == "old":
        html, codec, ctype = sample_html.old(shown, ch), "iso-8859-1", "text/html"
    elif serve.get("content_type") == "xhtml":
        meta = '<meta http-equiv="Content-Type" content="application/xhtml+xml; charset=utf-8" />\n'
        html = sample_html.modern(shown, capture, ch, meta, xhtml=True)
        codec, ctype = "utf-8", "application/xhtml+xml; charset=utf-8"
    else:
        codec, header_charset, meta = CHARSETS[serve.get("charset", "utf-8")]
        html = sample_html.modern(shown, capture, ch, meta)
        ctype = f"text/html; charset={header_charset}" if header_charset else "text/html"
    body = html.encode(codec)
    server = ARC_SERVER if arc else WARC_STYLE[capture["file"]]["server"]
    headers = [("Date", http_date(capture["date"])), ("Server", server)]
    if capture.get("layout", 1) == 1:
        headers.append(("Last-Modified", http_date(page["published"])))
    headers.append(("Content-Type", ctype))
    if page.get("declare", {}).get("http_content_language"):
        headers.append(("Content-Language", page["declare"]["http_content_language"]))
    encoding = serve.get("encoding")
    if encoding in ("gzip", "deflate"):
        body = gzip_bytes(body) if encoding == "gzip" else zlib.compress(body, 9)
        headers += [("Content-Encoding", encoding), ("Vary", "Accept-Encoding")]
    if encoding == "chunked":
        body = chunked(body)
        headers.append(("Transfer-Encoding", "chunked"))
    else:
        headers.append(("Content-Length", str(len(body))))
    headers.append(("Connection", "close"))
    block = http_message("HTTP/1.0 200 OK" if arc else "HTTP/1.1 200 OK", headers, body)
    if page.get("broken_headers"):
        broken = b"HTTP/1.1 TWO HUNDRED OK\r\n\x00\x13\xfe\xffX-Garbage\x01 no colon\r\n"
        block = block.replace(b"HTTP/1.1 200 OK\r\n", broken, 1)
    return block, html


def page_captures(pages: list[dict], chrome: dict) -> list[Capture]:
    by_id = {p["id"]: p for p in pages}
    near_of = {p["near_of"] for p in pages if "near_of" in p}
    out = []
    for page in pages:
        # a group is one article: its captures, its mirrors and its edited versions
        repeated = len(page["captures"]) > 1 or page["id"] in near_of
        group = page.get("near_of") or (page["id"] if repeated else None)
        pt = page["source"] in ("pt_pt", "pt_br", "evidence") or (page["source"] == "junk" and page.get("variety"))
        clean = page["source"] != "junk"
        words = count_words(page["text"])
        if page.get("variety_allowed"):
            # a short text that says little about the variety (its metadata is meant to tip it), but long
            # enough for the quality rules (gopher_short_doc: 50 words extracted, heading included)
            assert 50 <= words <= 80, (page["id"], words)
        elif clean and not (page.get("broken_headers") or page.get("truncated")):
            assert 120 <= words <= 400, (page["id"], words)
        for i, cap in enumerate(sorted(page["captures"], key=lambda c: c["date"])):
            capture = {"url": page["url"], **cap}
            block, html = page_response(page, capture, chrome)
            exp = {
                "expect": page.get("expect", "not_portuguese" if page["source"] == "other" else "kept"),
                "lang": page.get("lang", "pt" if pt else None),
                "variety": page.get("variety"),
                "variety_allowed": page.get("variety_allowed"),
                "evidence_expected": page.get("evidence_expected"),
                "evidence_absent": page.get("evidence_absent"),
                "page_kind": page["kind"],
                "quality": "clean" if clean else "junk",
                "junk_kind": page.get("junk_kind"),
                "spelling": page.get("spelling") if page.get("variety") == "pt_PT" else None,
                "must_contain": list(page.get("must_contain", [])),
                "must_not_contain": list(page.get("must_not_contain", [])),
                "must_not_contain_control": bool(page.get("serve", {}).get("control_bytes")),
                "notes": page.get("notes", ""),
            }
            if exp["expect"] == "not_portuguese":
                exp["variety"] = exp["spelling"] = None
            if exp["expect"] in ("no_text", "too_short"):
                exp["lang"] = exp["variety"] = exp["spelling"] = None
            if page.get("broken_headers"):
                exp.update(expect="bad_http_headers", lang=None, variety=None, spelling=None, quality=None)
            if page.get("truncated"):  # the file ends inside this record: rejected, never kept
                exp.update(
                    expect="damaged_record", lang=None, variety=None, spelling=None, quality=None, must_contain=[]
                )
            if exp["expect"] == "kept" and clean:
                phrase = key_phrase(page["text"])
                if phrase and phrase not in exp["must_contain"]:
                    exp["must_contain"].append(phrase)
            if group and exp["expect"] == "kept":
                exp["dup_group"] = group
                if "near_of" in page:
                    exp["dup_kind"] = "near"
                    exp["jaccard_to_original"] = round(jaccard(by_id[group]["text"], page["text"]), 3)
                elif i > 0:
                    exp["dup_kind"] = "exact"
            if page.get("lookalike"):
                exp["lookalike_group"] = page["lookalike"]
            out.append(
                Capture(
                    cap["file"],
                    capture["url"],
                    cap["date"],
                    "response",
                    block,
                    expectation(**exp),
                    html=html,
                    text=page["text"],
                    broken=bool(page.get("broken_headers")),
                    truncated=bool(page.get("truncated")),
                )
            )
    return out


def annotate_lookalikes(captures: list[Capture]) -> None:
    groups: dict[str, list[Capture]] = {}
    for c in captures:
        if c.expect["lookalike_group"]:
            groups.setdefault(c.expect["lookalike_group"], []).append(c)
    for members in groups.values():
        a, b = members
        j = round(jaccard(a.text, b.text), 3)
        assert j < 0.5, j
        for this, other in ((a, b), (b, a)):
            this.expect["notes"] += f" Not a duplicate of {other.url}: word-5-gram Jaccard {j}."
            this.expect["notes"] = this.expect["notes"].strip()


# ------------------------------------------------------------------------------------------ writing
def _warc_record(writer: WARCWriter, cap: Capture, rid: str, info_id: str, style: dict):
    headers = {"WARC-Type": cap.record_type, "WARC-Record-ID": rid, "WARC-Date": cap.date, "WARC-Target-URI": cap.url}
    if not style.get("no_warcinfo"):
        headers["WARC-Warcinfo-ID"] = info_id
    if cap.record_type == "response" and cap.url.startswith("http"):
        headers["WARC-IP-Address"] = ip_for(cap.url)
    headers.update(cap.warc_headers)
    if style.get("identify") and cap.record_type == "response" and cap.url.startswith("http"):
        ctype = re.search(rb"\r\nContent-Type: ([^;\r]+)", cap.block)
        if ctype:
            headers["WARC-Identified-Payload-Type"] = ctype.group(1).decode()
    return writer.create_warc_record(
        cap.url,
        cap.record_type,
        payload=io.BytesIO(cap.block),
        length=len(cap.block),
        warc_headers_dict=headers,
        warc_content_type=cap.content_type or "",
    )


def _raw_warc_record(cap: Capture, rid: str, version: str) -> bytes:
    """A response record written byte for byte, so its broken HTTP headers stay broken."""
    head = (
        f"WARC/{version}\r\nWARC-Type: response\r\nWARC-Record-ID: {rid}\r\nWARC-Date: {cap.date}\r\n"
        f"WARC-Target-URI: {cap.url}\r\nWARC-IP-Address: {ip_for(cap.url)}\r\n"
        f"WARC-Block-Digest: {sha1_digest(cap.block)}\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(cap.block)}\r\n\r\n"
    )
    return head.encode() + cap.block + b"\r\n\r\n"


def write_warc(key: str, captures: list[Capture]) -> tuple[bytes, Counter, list[int]]:
    """The file's bytes, its record counts by type, and the offset where each capture's records end."""
    name, style = FILES[key], WARC_STYLE[key]
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=name.endswith(".gz"), warc_version=style["version"])
    counts: Counter = Counter()
    info_id = record_id(name, "warcinfo")
    info = (
        f"software: lusomix data_samples/make_samples.py\r\nformat: WARC File Format {style['version']}\r\n"
        f"isPartOf: lusomix-sample-{key}\r\ndescription: synthetic sample crawl, original texts\r\n"
        f"robots: obey\r\nhttp-header-user-agent: Mozilla/5.0 (compatible; lusomix-sample-crawler/1.0)\r\n"
    )
    if not style.get("no_warcinfo"):
        writer.write_record(
            writer.create_warc_record(
                "",
                "warcinfo",
                payload=io.BytesIO(info.encode()),
                length=len(info.encode()),
                warc_content_type="application/warc-fields",
                warc_headers_dict={
                    "WARC-Type": "warcinfo",
                    "WARC-Record-ID": info_id,
                    "WARC-Date": captures[0].date,
                    "WARC-Filename": name,
                },
            )
        )
        counts["warcinfo"] += 1
    ends = []
    for cap in captures:
        rid = record_id(name, cap.record_type, cap.url, cap.date)
        if cap.broken:
            buf.write(_raw_warc_record(cap, rid, style["version"]))
        else:
            writer.write_record(_warc_record(writer, cap, rid, info_id, style))
        counts[cap.record_type] += 1
        http = cap.url.startswith("http") and cap.record_type in ("response", "revisit")
        if style.get("requests") and http:
            parts = urlsplit(cap.url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            req = (
                f"GET {path or '/'} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
                "User-Agent: Mozilla/5.0 (compatible; lusomix-sample-crawler/1.0)\r\n"
                "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\nAccept-Encoding: gzip, deflate\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            writer.write_record(
                writer.create_warc_record(
                    cap.url,
                    "request",
                    payload=io.BytesIO(req),
                    length=len(req),
                    warc_headers_dict={
                        "WARC-Type": "request",
                        "WARC-Record-ID": record_id(name, "request", cap.url, cap.date),
                        "WARC-Date": cap.date,
                        "WARC-Concurrent-To": rid,
                        "WARC-Warcinfo-ID": info_id,
                    },
                )
            )
            counts["request"] += 1
        if style.get("metadata") and http and cap.html:
            host = urlsplit(cap.url).hostname
            meta = (
                f"via: https://{host}/\r\nhopsFromSeed: L\r\nfetchTimeMs: {len(cap.block) % 900 + 40}\r\n"
                f"outlink: https://{host}/assets/css/site-v1.css E link/@href\r\n"
            ).encode()
            writer.write_record(
                writer.create_warc_record(
                    cap.url,
                    "metadata",
                    payload=io.BytesIO(meta),
                    length=len(meta),
                    warc_content_type="application/warc-fields",
                    warc_headers_dict={
                        "WARC-Type": "metadata",
                        "WARC-Record-ID": record_id(name, "metadata", cap.url, cap.date),
                        "WARC-Date": cap.date,
                        "WARC-Concurrent-To": rid,
                        "WARC-Warcinfo-ID": info_id,
                    },
                )
            )
            counts["metadata"] += 1
        ends.append(buf.tell())
    return buf.getvalue(), counts, ends


def write_arc(key: str, captures: list[Capture]) -> tuple[bytes, Counter]:
    """ARC v1: a filedesc:// header record, then `URL IP DATE TYPE LENGTH` + HTTP response + newline."""
    name = FILES[key]
    d14 = re.sub(r"\D", "", captures[0].date)
    version = b"1 0 lusomix-sample-crawl\nURL IP-address Archive-date Content-type Archive-length\n"
    filedesc = f"filedesc://{name.removesuffix('.gz')} 0.0.0.0 {d14} text/plain {len(version)}\n"
    records = [filedesc.encode() + version + b"\n"]
    for cap in captures:
        ctype = re.search(rb"\r\nContent-type: ([^;\r]+)", cap.block, re.I).group(1).decode()
        line = f"{cap.url} {ip_for(cap.url)} {re.sub(r'[^0-9]', '', cap.date)} {ctype} {len(cap.block)}\n"
        records.append(line.encode() + cap.block + b"\n")
    data = b"".join(gzip_bytes(r) for r in records) if name.endswith(".gz") else b"".join(records)
    return data, Counter(warcinfo=1, response=len(captures))


def garbage_bytes(n: int = 4096) -> bytes:
    out, seed = b"", b"lusomix garbage"
    while len(out) < n:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return b"\xde\xad" + out[2:n]  # never starts like gzip (1f 8b), bzip2 or WARC


def build() -> list[Capture]:
    pages, chrome = load_pages()
    captures = page_captures(pages, chrome)
    annotate_lookalikes(captures)
    captures += sample_specials.special_captures(captures)
    order = {k: i for i, k in enumerate(FILES)}
    return sorted(captures, key=lambda c: (order[c.file], c.date))


def generate(out: Path) -> list[Capture]:
    captures = build()
    archives = out / "archives"
    archives.mkdir(parents=True, exist_ok=True)
    files_info, manifest, damage = {}, [], {}
    for key, name in FILES.items():
        caps = [c for c in captures if c.file == key]
        if key.startswith("arc"):
            data, counts = write_arc(key, caps)
        else:
            data, counts, ends = write_warc(key, caps)
            if key == "trunc":
                cut = [i for i, c in enumerate(caps) if c.truncated][0]
                data = data[: (ends[cut - 1] + ends[cut]) // 2]
                damage[name] = {
                    "what": f"gzip stream cut in the middle of record {cut + 1} (of {len(caps)}), inside its HTTP body",
                    "readable_captures_before_damage": cut,
                    "readable_captures_total": cut,
                    "cut_record": {
                        "url": caps[cut].url,
                        "date": caps[cut].date,
                        "note": "warcio returns this record without an error but with "
                        "a body shorter than its Content-Length; it must not be "
                        "kept: it is rejected as damaged_record",
                    },
                }
            if key == "badhdr":
                bad = [i for i, c in enumerate(caps) if c.broken][0]
                damage[name] = {
                    "what": f"capture {bad + 1} has the HTTP status line 'HTTP/1.1 TWO HUNDRED OK' "
                    "and a header line of control bytes; the file itself is intact",
                    "readable_captures_before_damage": bad,
                    "readable_captures_total": len(caps),
                }
        (archives / name).write_bytes(data)
        listed = caps
        files_info[name] = {
            "records": {
                t: counts.get(t, 0) for t in ("warcinfo", "request", "response", "revisit", "metadata", "resource")
            },
            "captures_in_manifest": len(listed),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        manifest += [
            {"file": name, "url": c.url, "date": c.date, "record_type": c.record_type, **c.expect} for c in listed
        ]
    for name, data, what in (
        (GARBAGE, garbage_bytes(), "4 KiB of pseudo-random bytes: neither gzip nor WARC"),
        (EMPTY, b"", "empty file (0 bytes)"),
    ):
        (archives / name).write_bytes(data)
        damage[name] = {"what": what, "readable_captures_before_damage": 0, "readable_captures_total": 0}
        files_info[name] = {
            "records": {t: 0 for t in ("warcinfo", "request", "response", "revisit", "metadata", "resource")},
            "captures_in_manifest": 0,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    lines = "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in manifest)
    (out / "expected.jsonl").write_text(lines, "utf-8")
    summary = {"zlib_runtime_version": zlib.ZLIB_RUNTIME_VERSION, "files": files_info}
    (out / "expected_files.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", "utf-8")
    (out / "expected_damage.json").write_text(json.dumps(damage, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return captures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: data_samples/)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="also run trafilatura + lid.176 on every page and compare with the manifest",
    )
    args = parser.parse_args(argv)
    captures = generate(args.out)
    total = sum(f.stat().st_size for f in (args.out / "archives").iterdir())
    print(f"wrote {len(captures)} captures to {args.out / 'archives'} ({total / 1e6:.2f} MB)")
    if args.check:
        import check_samples

        return check_samples.run(captures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
