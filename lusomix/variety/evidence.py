"""Evidence about a page's variety beyond its text: the URL and the languages the page declares.

Kinds of evidence, each read into a *sign* (+1 European, -1 Brazilian, 0 says nothing):

- ``tld``: the host's country-code TLD. .pt and the European-norm .ao .mz .cv .gw .st .tl .mo are +1
  (Angola, Mozambique, Cape Verde, Guinea-Bissau, São Tomé, East Timor and Macau write the European
  norm); .br is -1. The host is parsed, never substring-tested: ``www.brisa.pt`` is not Brazilian.
- ``url_tag``: a variety tag as a whole token of the path, query or first host label (``/pt-br/``,
  ``index_pt-BR.html``, ``?lang=pt_pt``, ``pt-br.example.com``).
- ``url_dir``: a bare ``/br/`` (-1) or ``/pt/`` (+1) directory: weaker, a site's Portuguese section
  is often Brazilian.
- ``declared``: the languages the page declares with a region: ``<html lang>``, ``og:locale``,
  ``Content-Language`` (HTTP header or ``<meta http-equiv>``), and the ``hreflang`` of the page's own
  ``<link rel=alternate>``. Declarations that disagree cancel out.
- ``declared_bare``: Portuguese declared without a region (``lang="pt"``): +1, its weight may be 0.

The page rule, in log-odds towards pt_PT::

    evidence = clip(Σ weight[kind] * sign[kind], -cap, cap)
    p_pt_PT  = sigmoid(text_log_odds + evidence)

The weights are fitted on held-out pages (``lusomix.variety.calibration.fit_evidence``) and shipped in
variety.json; ``cap`` bounds what metadata can do against the text: a page whose text alone is
confident beyond ``cap`` plus the unknown band keeps the text's verdict whatever its metadata says.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

KINDS = ("tld", "url_tag", "url_dir", "declared", "declared_bare")
CONFIDENT_TEXT = 3.0  # text log-odds (p = 0.95) that page evidence must not bring inside the band
DECLARED_SOURCES = ("html_lang", "og_locale", "content_language", "hreflang")

_CCTLD_SIGN = {"pt": 1, "br": -1, "ao": 1, "mz": 1, "cv": 1, "gw": 1, "st": 1, "tl": 1, "mo": 1}
# A variety tag bounded by non-alphanumerics, so "/sptbrand" or "/breve/" never match
_TAG_BR = re.compile(r"(?<![a-z0-9])pt[-_]?br(?![a-z0-9])")
_TAG_PT = re.compile(r"(?<![a-z0-9])pt[-_]pt(?![a-z0-9])")
_DIR_BR = re.compile(r"(?:^|/)br(?:/|$)")
_DIR_PT = re.compile(r"(?:^|/)pt(?:/|$)")
# Language tags: pt-PT, pt_BR, pt-br, "pt-PT, en"; African and Asian regions write the European norm
_EUROPEAN_REGIONS = frozenset({"pt", "ao", "mz", "cv", "gw", "st", "tl", "mo", "gq", "ch", "lu"})


@dataclass(frozen=True)
class EvidenceWeights:
    """Log-odds per unit of sign, per kind of evidence; ``cap`` bounds their sum."""

    tld: float = 1.0
    url_tag: float = 2.0
    url_dir: float = 1.0
    declared: float = 2.0
    declared_bare: float = 0.0
    cap: float = 3.0

    @classmethod
    def from_dict(cls, d: dict) -> EvidenceWeights:
        return cls(**{k: float(v) for k, v in d.items() if k in cls.__dataclass_fields__})

    def as_dict(self) -> dict:
        return {k: round(v, 4) for k, v in asdict(self).items()}


def language_sign(tag: str | None) -> int | None:
    """+1 for a European-norm Portuguese tag, -1 for pt-BR, 0 for bare "pt", None for none/other."""
    if not tag:
        return None
    first = tag.split(",")[0].strip().lower().replace("_", "-")
    if not first.startswith("pt"):
        return None
    parts = first.split("-")
    if parts[0] != "pt":  # "ptb", "pt.utf8"
        return 0 if parts[0].startswith("pt.") else None
    if len(parts) == 1:
        return 0
    region = parts[1]
    if region == "br":
        return -1
    return 1 if region in _EUROPEAN_REGIONS else 0


def url_signs(url: str | None) -> dict[str, int]:
    """Signs of the URL's kinds of evidence (tld, url_tag, url_dir); kinds that say nothing are left out."""
    if not url:
        return {}
    try:
        parts = urlsplit(url if "//" in url else "//" + url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return {}
    labels = host.split(".") if host else []
    signs: dict[str, int] = {}
    if labels and labels[-1] in _CCTLD_SIGN:
        signs["tld"] = _CCTLD_SIGN[labels[-1]]
    tagged = (parts.path + "?" + parts.query).lower()
    first_label = labels[0] if len(labels) > 2 else ""
    path = parts.path.lower()
    if _TAG_BR.search(tagged) or first_label in ("br", "pt-br", "ptbr"):
        signs["url_tag"] = -1
    elif _TAG_PT.search(tagged) or first_label == "pt-pt":
        signs["url_tag"] = 1
    elif _DIR_BR.search(path):
        signs["url_dir"] = -1
    elif _DIR_PT.search(path):
        signs["url_dir"] = 1
    return signs


def declared_signs(declared: dict[str, str] | None) -> tuple[dict[str, int], list[str]]:
    """Signs of the declared languages (declared, declared_bare) and the declarations that were read."""
    if not declared:
        return {}, []
    regional: list[int] = []
    bare = False
    used: list[str] = []
    for source in DECLARED_SOURCES:
        sign = language_sign(declared.get(source))
        if sign is None:
            continue
        used.append(f"{source}={declared[source].split(',')[0].strip()}")
        if sign == 0:
            bare = True
        else:
            regional.append(sign)
    signs: dict[str, int] = {}
    if regional:
        total = sum(regional)
        if total:
            signs["declared"] = 1 if total > 0 else -1
    elif bare:
        signs["declared_bare"] = 1
    return signs, used


def evidence_log_odds(
    url: str | None, declared: dict[str, str] | None, weights: EvidenceWeights
) -> tuple[float, list[str]]:
    """Page evidence in log-odds towards pt_PT (capped), and the evidence that was used."""
    signs = url_signs(url)
    used = [f"{kind}={'+' if sign > 0 else '-'}" for kind, sign in signs.items()]
    more, read = declared_signs(declared)
    signs.update(more)
    used += read
    total = sum(getattr(weights, kind) * sign for kind, sign in signs.items())
    return max(-weights.cap, min(weights.cap, total)), used
