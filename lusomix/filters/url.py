"""URL parts used as document columns: host (``domain``) and top-level domain (``tld``)."""

from __future__ import annotations

from urllib.parse import urlsplit


def host(url: str | None) -> str:
    """Lower-case host without port or 'www.'; '' when the URL has none."""
    if not url:
        return ""
    try:
        name = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    name = name.rstrip(".")
    return name[4:] if name.startswith("www.") else name


def tld(url_or_host: str | None) -> str:
    """Last label of the host: 'pt' for www.publico.pt, 'br' for g1.globo.com.br, '' for IPs and none."""
    name = host(url_or_host) if url_or_host and "/" in url_or_host else (url_or_host or "")
    label = name.rsplit(".", 1)[-1]
    return "" if not label or label.isdigit() else label
