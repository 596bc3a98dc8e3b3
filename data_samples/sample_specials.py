"""The captures that are not pages: errors, redirects, images, a PDF, revisits, a DNS lookup, robots.txt,
a decompression bomb and a crawler log. Each one exercises a reason the extract pass must skip a record for.
"""

from __future__ import annotations

import base64
import zlib

from sample_records import (
    ARC_SERVER,
    FILES,
    WARC_STYLE,
    Capture,
    expectation,
    http_date,
    http_message,
    payload_of,
    record_id,
    sha1_digest,
)

# a 16x12 JPEG and a 1x1 GIF, made once with Pillow and frozen here so the bytes never change
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAA0JCgsKCA0LCgsODg0PEyAVExISEyccHhcgLikxMC4pLSwzOko+MzZGNywtQFdBRkxOUlNSMj5a"
    "YVpQYEpRUk//2wBDAQ4ODhMREyYVFSZPNS01T09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT09PT0//wAAR"
    "CAAMABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEG"
    "E1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWG"
    "h4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEB"
    "AQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYk"
    "NOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0"
    "tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwCjBbdOK0oLbpxToEX0rSgReOK6KtVnLl9d"
    "6H//2Q=="
)
GIF = base64.b64decode("R0lGODdhAQABAIAAAAAAAAAAACwAAAAAAQABAAAIBAABBAQAOw==")
BOMB_BYTES = 60 * 1024 * 1024
PROFILES = {
    "1.0": "http://netpreserve.org/warc/1.0/revisit/",
    "1.1": "http://netpreserve.org/warc/1.1/revisit/",
}


def tiny_pdf(title: str) -> bytes:
    """A valid one-page PDF (correct xref offsets) showing one line of text."""
    stream = f"BT /F1 18 Tf 72 760 Td ({title}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out, offsets = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", []
    for number, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    return out + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)


def _bomb_body() -> bytes:
    """60 MiB of one repeated HTML line, gzip-compressed to well under 100 KB."""
    c = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    chunk = b"<p>desconto desconto desconto</p>\n" * (1024 * 1024 // 34)
    out, written = [c.compress(b"<html><body>\n")], 0
    while written + len(chunk) <= BOMB_BYTES:
        out.append(c.compress(chunk))
        written += len(chunk)
    out.append(c.compress(b"</body></html>\n"))
    return b"".join(out) + c.flush()


def _response(file: str, date: str, status: str, ctype: str | None, body: bytes, *extra) -> bytes:
    server = WARC_STYLE[file]["server"] if file in WARC_STYLE else ARC_SERVER
    headers = [("Date", http_date(date)), ("Server", server)]
    headers += list(extra)
    if ctype:
        headers.append(("Content-Type", ctype))
    headers += [("Content-Length", str(len(body))), ("Connection", "close")]
    return http_message(("HTTP/1.0 " if file.startswith("arc") else "HTTP/1.1 ") + status, headers, body)


def _error_page(title: str, message: str) -> bytes:
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8" /><title>{title}</title></head>\n'
        f"<body><h1>{title}</h1>\n<p>{message}</p>\n</body></html>\n"
    ).encode()


def special_captures(pages: list[Capture]) -> list[Capture]:
    by_key = {(c.url, c.date): c for c in pages}
    out: list[Capture] = []

    def add(file, url, date, block, record_type="response", content_type=None, warc_headers=None, **exp):
        exp.setdefault("quality", None)
        out.append(
            Capture(
                file,
                url,
                date,
                record_type,
                block,
                expectation(**exp),
                warc_headers=warc_headers or {},
                content_type=content_type,
            )
        )

    def not_found(file, url, date, title, message, note):
        block = _response(file, date, "404 Not Found", "text/html; charset=utf-8", _error_page(title, message))
        add(file, url, date, block, expect="http_status", page_kind="error_page", notes=note)

    def redirect(file, url, date, status, target, note):
        body = _error_page(status[4:], f'The document has moved <a href="{target}">here</a>.')
        block = _response(file, date, status, "text/html; charset=iso-8859-1", body, ("Location", target))
        add(file, url, date, block, expect="http_status", page_kind="redirect", notes=note)

    def revisit(file, url, date, refers_date, profile):
        original = by_key[(url, refers_date)]
        version = WARC_STYLE[file]["version"]
        headers = {
            "WARC-Profile": PROFILES[version] + profile,
            "WARC-Refers-To-Target-URI": url,
            "WARC-Refers-To-Date": refers_date,
            "WARC-Refers-To": record_id(FILES[original.file], "response", url, refers_date),
        }
        if profile == "identical-payload-digest":
            body = payload_of(original.block)
            headers["WARC-Payload-Digest"] = sha1_digest(body)
            block = _response(file, date, "200 OK", "text/html; charset=utf-8", b"")
            block = block.replace(b"Content-Length: 0", b"Content-Length: %d" % len(body))
        else:
            block = _response(file, date, "304 Not Modified", None, b"")
        add(
            file,
            url,
            date,
            block,
            "revisit",
            warc_headers=headers,
            expect="revisit",
            page_kind="revisit",
            notes=f"{profile} revisit of the capture of {refers_date}",
        )

    add(
        "arc1999",
        "http://www.diario-do-mondego.pt/imagens/logo.gif",
        "1999-03-15T10:11:14Z",
        _response("arc1999", "1999-03-15T10:11:14Z", "200 OK", "image/gif", GIF),
        expect="not_html",
        page_kind="image",
        notes="GIF logo of the 1999 site",
    )
    # 2005-2008
    not_found(
        "w05",
        "http://www.jornal-do-tejo.pt/economia/2006/03/pagina-antiga.html",
        "2006-03-14T08:22:10Z",
        "Página não encontrada",
        "A página que procura não existe ou foi removida.",
        "404 with a Portuguese HTML body",
    )
    add(
        "w05",
        "http://www.jornal-do-tejo.pt/imagens/2006/03/fabrica-textil.jpg",
        "2006-03-14T08:21:45Z",
        _response("w05", "2006-03-14T08:21:45Z", "200 OK", "image/jpeg", JPEG),
        expect="not_html",
        page_kind="image",
        notes="JPEG photo",
    )
    # 2009-2012
    robots = (
        b"User-agent: *\nDisallow: /admin/\nDisallow: /pesquisa\nSitemap: http://www.cm-vilanovadolis.pt/sitemap.xml\n"
    )
    add(
        "w09",
        "http://www.cm-vilanovadolis.pt/robots.txt",
        "2009-02-10T10:59:58Z",
        _response("w09", "2009-02-10T10:59:58Z", "200 OK", "text/plain", robots),
        expect="not_html",
        page_kind="robots",
        notes="robots.txt (text/plain)",
    )
    redirect(
        "w09",
        "http://www.casa-e-poupanca.pt/artigos/",
        "2010-01-18T09:39:58Z",
        "302 Found",
        "http://www.casa-e-poupanca.pt/artigos/orcamento-familiar.html",
        "302 to the article",
    )
    # 2013-2016
    dns = b"20151105120140\nwww.jornal-do-tejo.pt.\t300\tIN\tA\t192.0.2.17\n"
    add(
        "w13",
        "dns:www.jornal-do-tejo.pt",
        "2015-11-05T12:01:40Z",
        dns,
        content_type="text/dns",
        expect="not_html",
        page_kind="dns",
        notes="DNS lookup record (text/dns), no HTTP",
    )
    redirect(
        "w13",
        "http://www.jornal-do-tejo.pt/politica/2015/11/orcamento-metas-defice",
        "2015-11-05T12:01:42Z",
        "301 Moved Permanently",
        "https://www.jornal-do-tejo.pt/politica/2015/11/orcamento-metas-defice",
        "301 from http to https",
    )
    add(
        "w13",
        "https://www.jornal-do-tejo.pt/media/2016/05/linha-do-oeste.jpg",
        "2016-05-18T09:00:05Z",
        _response("w13", "2016-05-18T09:00:05Z", "200 OK", "image/jpeg", JPEG),
        expect="not_html",
        page_kind="image",
        notes="JPEG photo",
    )
    revisit(
        "w13",
        "http://www.receitas-da-vovo-mineira.com.br/salgados/pao-de-queijo",
        "2016-06-01T09:30:00Z",
        "2014-12-01T09:30:00Z",
        "identical-payload-digest",
    )
    # 2017-2020
    pdf = tiny_pdf("Guia de renovação do Cartão de Cidadão")
    add(
        "w17",
        "https://www.servicos-publicos.gov.pt/documentos/guia-renovacao-cartao-de-cidadao.pdf",
        "2019-04-10T14:23:00Z",
        _response("w17", "2019-04-10T14:23:00Z", "200 OK", "application/pdf", pdf),
        expect="not_html",
        page_kind="pdf",
        notes="one-page PDF",
    )
    bomb = _response(
        "w17", "2019-08-08T08:08:08Z", "200 OK", "text/html; charset=utf-8", _bomb_body(), ("Content-Encoding", "gzip")
    )
    add(
        "w17",
        "http://www.descontos-fantasticos.pt/",
        "2019-08-08T08:08:08Z",
        bomb,
        expect="too_large",
        page_kind="bomb",
        notes=f"decompression bomb: gzip body that inflates to ~{BOMB_BYTES >> 20} MiB of HTML",
    )
    not_found(
        "w17",
        "https://www.mega-celulares.com.br/produto-esgotado-4471",
        "2018-10-10T15:01:00Z",
        "Produto não encontrado",
        "Ops! O produto que você procura não está mais disponível.",
        "404 with a Brazilian HTML body",
    )
    redirect(
        "w17",
        "https://www.noticias-do-cerrado.com.br/ultimas",
        "2020-02-11T08:59:00Z",
        "302 Found",
        "https://www.noticias-do-cerrado.com.br/cidades/2020/02/novas-linhas-onibus-rapido",
        "302 to the latest article",
    )
    # 2021-2024
    revisit(
        "w21",
        "http://www.cm-vilanovadolis.pt/servicos/residuos.html",
        "2022-03-15T10:00:00Z",
        "2020-01-30T07:55:19Z",
        "identical-payload-digest",
    )
    revisit(
        "w21",
        "https://www.noticias-do-cerrado.com.br/cidades/2020/02/novas-linhas-onibus-rapido",
        "2022-02-11T09:00:00Z",
        "2021-01-15T10:00:00Z",
        "server-not-modified",
    )
    not_found(
        "w21",
        "https://www.sabores-de-portugal.pt/receitas/bolo-rei-escangalhado",
        "2021-02-07T18:31:00Z",
        "Página não encontrada",
        "Lamentamos, mas esta receita já não está disponível.",
        "404 with a Portuguese HTML body",
    )
    redirect(
        "w21",
        "http://www.mae-no-porto.pt/2023/03/o-primeiro-dia-na-creche",
        "2023-03-14T20:20:18Z",
        "301 Moved Permanently",
        "https://www.mae-no-porto.pt/2023/03/o-primeiro-dia-na-creche",
        "301 from http to https",
    )
    add(
        "w21",
        "metadata://lusomix.example/crawl-2021-2024/logs/crawl.log",
        "2024-12-31T23:59:59Z",
        crawl_log([c for c in pages + out if c.file == "w21"]),
        "resource",
        content_type="text/plain",
        expect="not_a_capture",
        page_kind="crawl_log",
        notes="resource record holding the crawler's log",
    )
    return out


def crawl_log(captures: list[Capture]) -> bytes:
    """Heritrix-like crawl.log lines for the captures of one crawl."""
    lines = []
    for n, c in enumerate(sorted(captures, key=lambda c: c.date)):
        status = c.block.split(b" ", 2)[1].decode() if c.url.startswith("http") else "1"
        mime = "text/dns" if c.url.startswith("dns:") else "text/html"
        digest = sha1_digest(payload_of(c.block)) if b"\r\n\r\n" in c.block else "-"
        lines.append(f"{c.date} {status:>5} {len(c.block):>9} {c.url} L - {mime} #{n % 50:03d} - {digest} - -")
    return ("\n".join(lines) + "\n").encode()
