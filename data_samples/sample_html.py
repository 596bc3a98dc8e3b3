"""HTML for the sample pages: the main text wrapped in the boilerplate real sites put around it.

Three looks: a modern site (cookie banner, header + navigation, article, "most read" box, footer), a
second layout of the same site (what a redesign or a mirror looks like: other boilerplate, same article),
and a 1999-style page (uppercase tags, <FONT>, layout tables). The chrome words come from
pages/chrome.yaml. A page with `declare` (pages/evidence.yaml) sets the languages its <head> declares
instead of the locale's <html lang>. Everything here is a pure function of its arguments, so the archives
are reproducible.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from html import escape
from urllib.parse import urlsplit


def pick(items: list[str], key: str, n: int) -> list[str]:
    """n items of a list, rotated by a hash of key: varied across pages, identical across runs."""
    start = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % len(items)
    rotated = items[start:] + items[:start]
    return rotated[:n]


def paragraphs(text: str) -> list[str]:
    # only spaces and newlines are folded: planted control bytes (form feed included) must survive
    return [re.sub(r"[ \n]+", " ", p).strip(" ") for p in text.strip().split("\n\n") if p.strip()]


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    keep = "".join(c if c.isalnum() else "-" for c in ascii_text)
    return "-".join(part for part in keep.split("-") if part)[:60]


def _main_content(page: dict, key: str) -> str:
    """The article body: what the extractor should find (except for the junk renders)."""
    render = page.get("render", "paragraphs")
    text = page.get("text", "")
    if render == "paragraphs":
        return "\n".join(f"<p>{escape(p, quote=False)}</p>" for p in paragraphs(text))
    if render == "links":
        items = [line.strip() for line in text.strip().splitlines() if line.strip()]
        lis = "\n".join(f'<li><a href="/{slug(i)}">{escape(i, quote=False)}</a></li>' for i in items)
        return f'<ul class="directory">\n{lis}\n</ul>'
    if render == "lines":
        line = escape(text.strip(), quote=False)
        # one block of <br>-separated lines: extractors drop repeated *paragraphs* but keep this
        return "<p>" + "<br />\n".join(line for _ in range(page["repeat"])) + "</p>"
    if render == "table":
        rows = [[c.strip() for c in line.split("|")] for line in text.strip().splitlines()]
        head = "".join(f"<th>{escape(c, quote=False)}</th>" for c in rows[0])
        body = "\n".join(
            "<tr>" + "".join(f"<td>{escape(c, quote=False)}</td>" for c in row) + "</tr>" for row in rows[1:]
        )
        intro = f"<p>{escape(page['intro'], quote=False)}</p>\n" if page.get("intro") else ""
        return f"{intro}<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"
    if render == "none":
        return ""
    raise ValueError(f"{page['id']}: unknown render {render!r}")


def _nav(ch: dict, kind: str) -> list[str]:
    navs = ch["nav"]
    return navs.get(kind) or navs.get("default") or navs["news"]


def declared_head(declare: dict) -> str:
    """The <head> lines a page declares its language with: og:locale, Content-Language and hreflang
    alternates (<html lang> is the opening tag's business)."""
    lines = []
    if declare.get("og_locale"):
        lines.append(f'<meta property="og:locale" content="{escape(declare["og_locale"])}" />')
    if declare.get("meta_content_language"):
        lines.append(f'<meta http-equiv="Content-Language" content="{escape(declare["meta_content_language"])}" />')
    for hreflang, href in declare.get("alternates", []):
        lines.append(f'<link rel="alternate" hreflang="{escape(hreflang)}" href="{escape(href)}" />')
    return "".join(line + "\n" for line in lines)


def modern(page: dict, capture: dict, ch: dict, meta_charset: str, xhtml: bool = False) -> str:
    site = capture.get("site") or page["site"]
    layout = capture.get("layout", 1)
    key = f"{page['id']}|{site}|{layout}"
    # the footer year of layout 1 is the publication year, so unchanged re-captures stay byte-identical
    year = (capture["date"] if layout == 2 else page["published"])[:4]
    nav = _nav(ch, page["kind"])
    if layout == 2:
        nav = nav[1:] + nav[:1] + ["Newsletter", "Podcasts"]
    nav_html = "\n".join(f'<li><a href="/{slug(item)}/">{escape(item)}</a></li>' for item in nav)
    heads = pick(ch["headlines"], key, 4)
    aside = "\n".join(f'<li><a href="/{slug(h)}">{escape(h)}</a></li>' for h in heads)
    links = " ".join(f'<li><a href="/{slug(item)}">{escape(item)}</a></li>' for item in ch["footer_links"])
    footer = escape(ch["footer"].format(year=year, site=site))
    title = page["title"] if page.get("bare_title") else f"{page['title']} | {site}"
    heading = page.get("heading") or page["title"]
    d = page["published"]
    published = f"{ch['published']} {d[8:10]}/{d[5:7]}/{d[:4]}"
    cookie = ""
    if page.get("cookie") or layout == 2:
        cookie = (
            f'<div id="cookie-consent" class="cookie-banner" role="dialog">\n'
            f"<p>{escape(' '.join(ch['cookie'].split()))}</p>\n"
            f'<button type="button">{escape(ch["cookie_button"])}</button>\n</div>\n'
        )
    article = ""
    content = _main_content(page, key)
    if content:
        article = (
            f'<article class="post">\n<h1>{escape(heading, quote=False)}</h1>\n'
            f'<div class="meta"><time datetime="{d[:10]}">{published}</time></div>\n{content}\n</article>\n'
        )
        if layout == 2:
            article += f'<div class="newsletter"><p>{escape(ch["newsletter"])}</p></div>\n'
    if xhtml:
        lang = ch["html_lang"]
        opening = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
            '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
            f'<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="{lang}" lang="{lang}">'
        )
    else:
        # pages with `declare` say only what it holds: no lang attribute unless html_lang is given
        declare = page.get("declare")
        lang = ch["html_lang"] if declare is None else declare.get("html_lang")
        opening = f'<!DOCTYPE html>\n<html lang="{escape(lang)}">' if lang else "<!DOCTYPE html>\n<html>"
    head_extra = declared_head(page["declare"]) if page.get("declare") else ""
    header_class = "site-header" if layout == 1 else "topbar sticky"
    return f"""{opening}
<head>
{meta_charset}<title>{escape(title, quote=False)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1" />
{head_extra}<link rel="stylesheet" href="/assets/css/site-v{layout}.css" />
</head>
<body class="{page["kind"]}">
{cookie}<header class="{header_class}">
<a class="logo" href="/">{escape(site)}</a>
<nav class="main-nav"><ul>
{nav_html}
</ul></nav>
</header>
<main id="content">
{article}<aside class="sidebar">
<h2>{escape(ch["aside_title"])}</h2>
<ul>
{aside}
</ul>
</aside>
</main>
<footer class="site-footer">
<ul class="footer-links">{links}</ul>
<p>{footer}</p>
</footer>
<script src="/assets/js/app-v{layout}.js"></script>
</body>
</html>
"""


def old(page: dict, ch: dict) -> str:
    """A late-1990s page: layout table, <FONT>, uppercase tags, no charset declared anywhere."""
    host = urlsplit(page["url"]).hostname or ""
    nav = "<BR>\n".join(f'<A HREF="/{slug(item)}.html">{escape(item)}</A>' for item in _nav(ch, page["kind"]))
    body = "\n".join(f"<P>{escape(p, quote=False)}" for p in paragraphs(page["text"]))
    year = page["published"][:4]
    return f"""<HTML>
<HEAD>
<TITLE>{escape(page["title"], quote=False)}</TITLE>
<META NAME="keywords" CONTENT="{escape(host)}">
</HEAD>
<BODY BGCOLOR="#FFFFFF" TEXT="#000000" LINK="#003399" VLINK="#663399">
<CENTER><IMG SRC="/imagens/logo.gif" WIDTH="468" HEIGHT="60" ALT="{escape(host.upper())}"></CENTER>
<TABLE WIDTH="100%" BORDER="0" CELLPADDING="4" CELLSPACING="0">
<TR>
<TD WIDTH="150" VALIGN="TOP" BGCOLOR="#EEEEEE"><FONT FACE="Arial, Helvetica" SIZE="2">
{nav}
</FONT></TD>
<TD VALIGN="TOP"><FONT FACE="Verdana, Arial, Helvetica" SIZE="2">
<H2>{escape(page["title"], quote=False)}</H2>
{body}
</FONT></TD>
</TR>
</TABLE>
<HR>
<CENTER><FONT SIZE="1">&copy; {year} {escape(host)} - Melhor visualizado com Netscape 4 em 800x600<BR>
<A HREF="mailto:webmaster@{escape(host)}">webmaster@{escape(host)}</A></FONT></CENTER>
</BODY>
</HTML>
"""
