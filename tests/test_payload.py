"""Body decoding: chunked, gzip/deflate under a cap, charsets that lie."""

import gzip
import zlib

import pytest

from lusomix.filters import payload
from lusomix.filters.text import repair, strip_control

TEXT = "Informação sobre a ação do Governo: não há acções previstas. Preço: 5 €."


def test_dechunk_valid_and_not_chunked():
    body = b"5\r\nOl\xc3\xa1 \r\n6\r\nmundo!\r\n0\r\n\r\n"
    assert payload.dechunk(body) == "Olá mundo!".encode()
    plain = b"<html>not chunked</html>"
    assert payload.dechunk(plain) == plain


def test_gzip_and_deflate_decoded():
    raw = TEXT.encode()
    assert payload.decompress(gzip.compress(raw), "gzip", 10_000) == raw
    assert payload.decompress(zlib.compress(raw), "deflate", 10_000) == raw
    raw_deflate = zlib.compressobj(wbits=-15)
    body = raw_deflate.compress(raw) + raw_deflate.flush()
    assert payload.decompress(body, "deflate", 10_000) == raw


def test_decompression_bomb_is_refused_with_bounded_memory():
    bomb = gzip.compress(b"\0" * 50_000_000)
    assert len(bomb) < 100_000
    with pytest.raises(payload.BodyTooLarge):
        payload.decompress(bomb, "gzip", 5_000_000)


def test_mislabelled_compression_passes_through():
    assert payload.decompress(b"<html>plain</html>", "gzip", 1000) == b"<html>plain</html>"


@pytest.mark.parametrize(
    "body, content_type, charset",
    [
        # declared ISO-8859-1 but the bytes are UTF-8: must not become "InformaÃ§Ã£o"
        (TEXT.encode("utf-8"), "text/html; charset=ISO-8859-1", "utf-8"),
        # undeclared latin-1 (old Arquivo.pt captures)
        (TEXT.replace("€", "EUR").encode("latin-1"), "text/html", "cp1252"),
        # windows-1252 declared only in <meta>, with € and curly quotes
        (b'<meta charset="windows-1252">' + "“Preço” 5 €".encode("cp1252"), "text/html", "cp1252"),
        # declared UTF-8 in the header, really windows-1252
        ("ação “já” 5 €".encode("cp1252"), "text/html; charset=utf-8", "cp1252"),
    ],
)
def test_charset_comes_out_right(body, content_type, charset):
    text, used = payload.decode_html(body, content_type)
    assert used == charset
    assert "Ã" not in text and "\ufffd" not in text
    assert any(word in text for word in ("Informação", "Preço", "ação"))


def test_double_encoded_mojibake_is_repaired():
    mojibake = TEXT.encode("utf-8").decode("latin-1")
    assert "Ã§" in mojibake
    assert repair(mojibake) == TEXT


def test_control_bytes_never_reach_text():
    assert strip_control("a\x00b\x07c\x1bd\x7fe\tf\ng") == "abcde\tf\ng"
