"""The resiliparse engine (lusomix.filters.extraction_resiliparse) on pages written here: main text without the
boilerplate, the same title, declared languages and post-processing as the trafilatura path."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("resiliparse")

from trafilatura.utils import load_html  # noqa: E402

from lusomix.filters.extraction import Extracted, declared_languages, extract_main_text  # noqa: E402
from lusomix.filters.extraction_resiliparse import ExtractionTooDeep, extract_main_text_resiliparse  # noqa: E402

LIMIT = 2_000_000

PARAGRAPHS = [
    (
        "A Câmara Municipal de Coimbra aprovou ontem, por unanimidade, o projecto de recuperação do Mercado "
        "Municipal, um edifício dos anos quarenta que há muito reclamava obras de fundo."
    ),
    (
        "Segundo o vereador responsável, a empreitada prevê a substituição total da cobertura e a instalação de "
        "câmaras frigoríficas para os vendedores de peixe, que se queixavam das condições actuais."
    ),
    (
        "Durante as obras, as bancas serão transferidas para um pavilhão provisório no largo da feira, a menos de "
        "trezentos metros, e os horários de abertura mantêm-se inalterados."
    ),
]
BOILERPLATE = [
    "Início",
    "Desporto",
    "Assinaturas",
    "Mais lidas",
    "Greve de professores marcada para sexta-feira",
    "Todos os direitos reservados",
    "Política de privacidade",
    "Subscreva a nossa newsletter",
]

ARTICLE = f"""<!DOCTYPE html>
<html lang="pt-PT">
<head>
<meta charset="utf-8">
<title>Obras no Mercado Municipal começam em Abril | Diário do Mondego</title>
<meta property="og:locale" content="pt_PT">
<link rel="alternate" hreflang="pt-BR" href="https://www.diario-do-mondego.pt/br/mercado">
<link rel="alternate" hreflang="x-default" href="https://www.diario-do-mondego.pt/mercado">
</head>
<body>
<header class="site-header"><a href="/">Diário do Mondego</a>
<nav><ul><li><a href="/">Início</a></li><li><a href="/desporto">Desporto</a></li>
<li><a href="/assinaturas">Assinaturas</a></li></ul></nav></header>
<main>
<article>
<h1>Obras no Mercado Municipal começam em Abril</h1>
<p>{PARAGRAPHS[0]}</p>
<figure><img src="/m.jpg" alt="Fachada do mercado"><figcaption class="caption">Fachada do mercado</figcaption></figure>
<p>{PARAGRAPHS[1]}</p>
<p>{PARAGRAPHS[2]}</p>
</article>
<aside class="sidebar"><h2>Mais lidas</h2><ul>
<li><a href="/greve">Greve de professores marcada para sexta-feira</a></li></ul></aside>
<div class="newsletter">Subscreva a nossa newsletter</div>
</main>
<footer><p>© 2019 Diário do Mondego. Todos os direitos reservados.</p>
<a href="/privacidade">Política de privacidade</a></footer>
</body>
</html>
"""


def _resiliparse(html: str, min_words: int = 20, max_html_chars: int = LIMIT) -> Extracted | None:
    return extract_main_text_resiliparse(html, min_words=min_words, max_html_chars=max_html_chars)


def test_article_text_without_boilerplate():
    result = _resiliparse(ARTICLE)
    assert isinstance(result, Extracted)
    assert result.text.split("\n\n") == PARAGRAPHS
    for line in BOILERPLATE:
        assert line not in result.text


def test_title_and_declarations_as_the_trafilatura_path():
    ours, theirs = _resiliparse(ARTICLE), extract_main_text(ARTICLE)
    assert ours.title == theirs.title == "Obras no Mercado Municipal começam em Abril | Diário do Mondego"
    assert ours.languages == theirs.languages == (("html_lang", "pt-PT"), ("og_locale", "pt_PT"))
    assert ours.hreflang == theirs.hreflang
    assert ours.hreflang[0] == ("pt-BR", "https://www.diario-do-mondego.pt/br/mercado")


def _page(head: str, html_attrs: str = "", body_extra: str = "") -> str:
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    return f"<!DOCTYPE html><html{html_attrs}><head><title>T</title>{head}</head><body>{body}{body_extra}</body></html>"


DECLARATIONS = {
    "none": _page(""),
    "all kinds": _page(
        '<meta property="og:locale" content="pt_BR"><meta http-equiv="Content-Language" content="pt-BR">'
        '<link rel="alternate" hreflang="pt-PT" href="/pt/">',
        ' lang="pt-BR"',
    ),
    "first of each kind": _page(
        '<meta property="og:locale" content="pt_PT"><meta property="og:locale" content="en_US">'
        '<meta http-equiv="content-language" content="pt"><meta http-equiv="content-language" content="en">'
    ),
    "og:locale in name, case and padding": _page(
        '<meta name="OG:Locale" content="  pt_PT  "><META HTTP-EQUIV=" Content-Language " CONTENT="pt-PT">'
    ),
    "property wins over name": _page('<meta property="og:description" name="og:locale" content="pt_PT">'),
    "og:locale:alternate is not og:locale": _page('<meta property="og:locale:alternate" content="pt_BR">'),
    "empty content skipped": _page('<meta property="og:locale" content=""><meta property="og:locale" content="pt_PT">'),
    "xml:lang only": _page("", ' xml:lang="pt-PT"'),
    "blank lang": _page("", ' lang="  "'),
    "long tag cut": _page('<meta property="og:locale" content="' + "x" * 60 + '">', ' lang="' + "p" * 50 + '"'),
    "alternates": _page(
        '<link rel="Alternate" hreflang=" pt-BR " href=" /br/ ">'
        '<link rel="canonical" hreflang="pt-PT" href="/pt/">'
        '<link rel="alternate" href="/none/">'
        '<link rel="alternate stylesheet" hreflang="en" href="/en/">'
    ),
    "more than 50 alternates": _page(
        "".join(f'<link rel="alternate" hreflang="l{i}" href="/{i}/">' for i in range(60))
    ),
    "1999 page": "<HTML LANG=PT><HEAD><TITLE>Avisos</TITLE>"
    '<META HTTP-EQUIV="Content-Language" CONTENT="pt"></HEAD><BODY><TABLE><TR><TD>'
    + "<P>".join(PARAGRAPHS)
    + "</TD></TR></TABLE></BODY></HTML>",
}


@pytest.mark.parametrize("name", list(DECLARATIONS))
def test_declared_languages_agree_with_the_trafilatura_path(name):
    page = DECLARATIONS[name]
    result = _resiliparse(page)
    assert result is not None
    assert (result.languages, result.hreflang) == declared_languages(load_html(page))


def test_declared_languages_examples():
    assert _resiliparse(DECLARATIONS["og:locale in name, case and padding"]).languages == (
        ("og_locale", "pt_PT"),
        ("content_language", "pt-PT"),
    )
    assert _resiliparse(DECLARATIONS["alternates"]).hreflang == (("pt-BR", "/br/"), ("en", "/en/"))
    assert len(_resiliparse(DECLARATIONS["more than 50 alternates"]).hreflang) == 50


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   \n ",
        "<html><head><title>Vazio</title></head><body></body></html>",
        "<html><body><nav><a href='/'>Início</a> <a href='/sobre'>Sobre</a></nav><footer>© 2020</footer></body>",
        "<html><body><script>var x = 'não é texto';</script><style>p {color: red}</style></body></html>",
    ],
)
def test_no_text_gives_none(html):
    assert _resiliparse(html) is None


def test_oversize_page_is_bounded():
    tail = "<p>Esta frase final fica depois do limite e não pode aparecer no texto extraído.</p>"
    page = ARTICLE.replace("</article>", "<p>" + "palavra " * 5_000 + "</p>" + tail + "</article>")
    bound = page.index(tail) - 1_000
    assert "frase final" in _resiliparse(page).text
    result = _resiliparse(page, max_html_chars=bound)
    assert result is not None and PARAGRAPHS[0] in result.text
    assert "frase final" not in result.text
    assert _resiliparse(page, max_html_chars=10) is None  # "<!DOCTYPE " has no text


def test_text_is_repaired_and_tidied():
    page = _page("", body_extra="<p>A  informaÃ§Ã£o\u00a0\u00a0chegou\x07 tarde.</p><p>   </p><br><br><p>Fim.</p>")
    text = _resiliparse(page).text
    assert "A informação chegou tarde.\n\nFim." in text
    assert "\n\n\n" not in text


def test_short_page_retried_without_the_skipped_elements():
    # the headline is left out of an article; on a page where it is nearly all the text, it is kept
    page = "<html><head><title>Aviso</title></head><body><h1>Serviços encerrados na segunda-feira</h1></body></html>"
    assert _resiliparse(page, min_words=0) is None
    assert _resiliparse(page, min_words=20).text == "Serviços encerrados na segunda-feira"


def test_deep_nesting_raises_instead_of_running_for_minutes():
    # unclosed <div>s nest: main-content mode would take minutes on 2 MB of them (elements x depth)
    page = "<html><body>" + "<div><p>Mais um parágrafo que nunca fecha a sua caixa.</p>" * 40_000 + "</body></html>"
    started = time.perf_counter()
    with pytest.raises(ExtractionTooDeep):
        _resiliparse(page)
    assert time.perf_counter() - started < 5
    # the trafilatura path takes the same page (lxml stops at depth 256): the caller's fallback
    assert extract_main_text(page).text.startswith("Mais um parágrafo")


def test_nesting_below_the_bound_is_extracted():
    page = (
        "<html><body>" + "<div>" * 200 + "".join(f"<p>{p}</p>" for p in PARAGRAPHS) + "</div>" * 200 + "</body></html>"
    )
    assert _resiliparse(page).text.split("\n\n") == PARAGRAPHS
