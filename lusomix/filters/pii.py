"""PII masking: e-mail addresses, phone numbers (Portuguese, Brazilian, international) and IP addresses.

Pure and conservative: a number is a phone number only in a shape phones are written in, and shapes that
Portuguese text uses for other things are left alone: years and year ranges (1990-2000), prices
(1.234,56 €), amounts with a space as thousands separator (912 345 678 euros), dates (12/03/2021),
postal codes (1000-001 Lisboa, 01310-100 São Paulo), ISBNs (978-972-0-04513-2), version numbers
(versão 1.2.3.4). A bare Brazilian local number (3456-7890) needs a phone word before it ("tel.",
"telefone", "celular" ...). IP addresses are validated with ``ipaddress``; by default only public ones
are masked, as in datatrove's PIIFormatter (192.168.1.1 in a router manual is nobody's).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping

PII_KINDS = ("email", "phone", "ip")
DEFAULT_REPLACEMENTS = {"email": "<EMAIL>", "phone": "<PHONE>", "ip": "<IP>"}

_EMAIL = re.compile(
    r"(?<![\w.+-])[\w+-]+(?:\.[\w+-]+)*"
    r"\s*(?:@|\[at\]|\(at\)|\[arroba\]|\(arroba\)|\{at\})\s*"  # "joao (arroba) sapo.pt" hides from bots
    r"(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}(?![\w-])"
)

_EMAIL_HINT = re.compile(r"@|[\[({](?:at|arroba)[\])}]", re.IGNORECASE)

_SEP = r"[ \u00a0.-]"  # between digit groups
_PT_GROUPS = (  # nine digits as Portugal writes them: 912345678, 912 345 678, 21 345 6789, 21 345 67 89
    rf"\d{{9}}|\d{{3}}{_SEP}\d{{3}}{_SEP}\d{{3}}|\d{{2}}{_SEP}\d{{3}}{_SEP}\d{{4}}"
    rf"|\d{{2}}{_SEP}\d{{3}}{_SEP}\d{{2}}{_SEP}\d{{2}}|\d{{3}}{_SEP}\d{{2}}{_SEP}\d{{2}}{_SEP}\d{{2}}"
)
_BR_LOCAL = r"(?:9[ .]?\d{4}|[2-5]\d{3})[ .-]?\d{4}"  # 91234-5678 (mobile), 3456-7890 (landline)
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    # Portugal with its country code: +351 21 123 4567, 00351 912345678, (+351) 912 345 678
    rf"(?P<pt_cc>(?:\+|00)351|\(\+?351\)){_SEP}?(?=[2-9])(?:{_PT_GROUPS})"
    # Portugal without it: landlines start with 2, mobiles with 9; dots not allowed (912.345.678 is a number)
    r"|(?P<pt>[29](?:\d{8}|\d{2}[ \u00a0-]\d{3}[ \u00a0-]\d{3}|\d[ \u00a0-]\d{3}[ \u00a0-]\d{4}"
    r"|\d[ \u00a0-]\d{3}[ \u00a0-]\d{2}[ \u00a0-]\d{2}|\d{2}[ \u00a0-]\d{2}[ \u00a0-]\d{2}[ \u00a0-]\d{2}))"
    # Brazil with country code or area code in brackets: +55 11 91234-5678, (11) 91234-5678, (021) 3456-7890
    rf"|(?P<br_cc>(?:\+|00)55[ .-]?(?:\(0?[1-9][1-9]\)|0?[1-9][1-9])[ .-]?{_BR_LOCAL})"
    rf"|(?P<br_ddd>\(0?[1-9][1-9]\)[ ]?{_BR_LOCAL})"
    # area code without brackets only before a hyphenated number: 11 91234-5678, 21 3456-7890
    r"|(?P<br_ddd_bare>[1-9][1-9][ ](?:9\d{4}|[2-5]\d{3})-\d{4})"
    # any other country: +44 20 7946 0958, 0034 912 345 678 (8 to 13 digits after the code)
    r"|(?P<intl>(?:\+|00)[1-9]\d{0,2}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,4}){2,6})"
    r")(?![\w/]|[.,-]\d)"
)
# a bare Brazilian local number counts only right after a phone word
_PHONE_WORD = re.compile(
    r"\b(?:tel|tlf|tlm|telef|telefone|telemóvel|telemovel|fone|fax|cel|celular|whatsapp|contacto|contato|"
    r"ligue|liga)\b\.?:?\s*(?:n\.?º\s*)?(?:\(?[1-9][1-9]\)?\s*)?$",
    re.IGNORECASE,
)
_BR_BARE = re.compile(rf"(?<![\w.,/-]){_BR_LOCAL}(?![\w/]|[.,-]\d)")
# "912 345 678 euros": a large amount written with spaces, not a phone number
_AMOUNT_AFTER = re.compile(
    r"\s*(?:€|\$|%|‰|euros?\b|eur\b|d[óo]lares\b|reais\b|mil\b|milh|bili|habitantes\b|pessoas\b|km|kg|m²|ton)",
    re.IGNORECASE,
)
_AMOUNT_BEFORE = re.compile(r"(?:€|\$|R\$|EUR|US\$)\s*$")
# Cheap tests that most pages fail, so the phone and IPv4 patterns (tried at every position) run only where
# they could mask something. Every phone number masked above has 8+ digits, consecutive digits separated
# by at most two of ( ) + - . space (") 9" in "(+351) 912 ...", " (" in "+55 (11) ..."); every dotted quad
# has a digit, a dot, 1-3 digits, a dot, 1-3 digits, a dot and a digit.
_PHONE_DIGITS = re.compile(r"\d(?:[ \u00a0.()+-]{0,2}\d){7}")
_DOTTED_QUAD = re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d")
# every IPv6 match has two colons with at most four hex digits between them ("a::b", "fe80:0:"): a colon
# alone is in most pages ("Nota: ...")
_TWO_COLONS = re.compile(r":[0-9A-Fa-f]{0,4}:")

_IPV4 = re.compile(
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\d)"
)
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|:|(?:\d{1,3}\.){3}\d{1,3})(?![\w:])")
_HEX = frozenset("0123456789abcdefABCDEF")
_VERSION_BEFORE = re.compile(r"(?:\bv|vers[ãa]o\s*|version\s*|release\s*|build\s*)$", re.IGNORECASE)


def _digits(s: str) -> int:
    return sum(c.isdigit() for c in s)


def _is_phone(match: re.Match) -> bool:
    kind = match.lastgroup
    text = match.string
    before, after = text[max(0, match.start() - 6) : match.start()], text[match.end() : match.end() + 16]
    if kind in ("pt", "pt_cc") and (_AMOUNT_AFTER.match(after) or _AMOUNT_BEFORE.search(before)):
        return False
    if kind == "intl":
        return 8 <= _digits(match.group()) - 1 <= 15  # the code's first digit aside
    return True


def _is_ip(address: str, before: str, public_only: bool) -> bool:
    if _VERSION_BEFORE.search(before):
        return False
    if ":" in address and (sum(c in _HEX for c in address) < 5 or not any(c.isdigit() for c in address)):
        return False  # "a::b" in C++ is a valid address to ipaddress, but nobody's
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_global or not public_only


def _before(match: re.Match, width: int = 10) -> str:
    return match.string[max(0, match.start() - width) : match.start()]


def mask_pii(
    text: str,
    kinds: Iterable[str] = PII_KINDS,
    replacements: Mapping[str, str] | None = None,
    public_ips_only: bool = True,
) -> tuple[str, dict[str, int]]:
    """(text with each PII match replaced by its kind's token, number of matches masked per kind)."""
    kinds = tuple(kinds)
    unknown = set(kinds) - set(PII_KINDS)
    if unknown:
        raise ValueError(f"unknown PII kind(s) {sorted(unknown)}; known: {', '.join(PII_KINDS)}")
    tokens = {**DEFAULT_REPLACEMENTS, **(replacements or {})}
    counts = dict.fromkeys(kinds, 0)

    def mask(kind: str, match: re.Match, keep: bool) -> str:
        if not keep:
            return match.group()
        counts[kind] += 1
        return tokens[kind]

    # e-mails first: their digits and dots must not be taken for phone numbers or IP addresses
    if "email" in kinds and _EMAIL_HINT.search(text):
        text = _EMAIL.sub(lambda m: mask("email", m, True), text)
    if "ip" in kinds:
        if _TWO_COLONS.search(text):
            text = _IPV6.sub(lambda m: mask("ip", m, _is_ip(m.group(), _before(m), public_ips_only)), text)
        if _DOTTED_QUAD.search(text):
            text = _IPV4.sub(lambda m: mask("ip", m, _is_ip(m.group(), _before(m), public_ips_only)), text)
    if "phone" in kinds and _PHONE_DIGITS.search(text):
        text = _PHONE.sub(lambda m: mask("phone", m, _is_phone(m)), text)
        text = _BR_BARE.sub(lambda m: mask("phone", m, bool(_PHONE_WORD.search(_before(m, 30)))), text)
    return text, counts
