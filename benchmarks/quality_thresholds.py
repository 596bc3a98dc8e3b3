"""How the quality presets treat real, clean pages and generated junk; and how fast signals are computed.

Clean pages: real software documentation from ../shared/data/variety/docs (KDE, GNOME, Debian, Mozilla
... translations; one paragraph per line): consecutive paragraphs of one source joined, one per line,
until the page has 150+ words. One page = one document.
Junk: generated here, seeded, from word lists written below: keyword stuffing, menu-only pages, the same
line repeated, tables of numbers and symbols, lorem ipsum, cookie/consent walls.

    nice -n 10 .venv/bin/python benchmarks/quality_thresholds.py [--per-source 400] [--seed 7]

Prints, per preset: the share of clean pages kept (no flag) and of junk flagged, per source and per junk
kind, and a table of how many clean pages (and junk documents) each rule flags ("only": pages that rule
alone flags). Then docs/s of compute_signals on ~800-word documents, against datatrove's own Gopher and
FineWeb filters on the same documents where spaCy is installed.
Goal of the default preset: keep >= 85% of clean pages, flag >= 95% of junk.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lusomix.filters.quality import PRESETS, STOP_WORDS, compute_signals, flags_expr, thresholds  # noqa: E402

DOCS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "variety" / "docs"


def clean_pages(min_words: int = 150, per_source: int | None = None) -> list[tuple[str, str]]:
    """(source, page) pairs: consecutive paragraphs of one file joined until the page has min_words."""
    pages = []
    for file in sorted(DOCS.glob("*.txt")):
        source = file.name.removesuffix(".txt")
        page: list[str] = []
        n = 0
        mine = []
        for paragraph in file.read_text(encoding="utf-8").splitlines():
            if not paragraph.strip():
                continue
            page.append(paragraph.strip())
            n += len(paragraph.split())
            if n >= min_words:
                mine.append((source, "\n".join(page)))
                page, n = [], 0
        if per_source and len(mine) > per_source:  # an even spread over the file, not its first pages
            step = len(mine) / per_source
            mine = [mine[int(i * step)] for i in range(per_source)]
        pages += mine
    return pages


# ---- junk -------------------------------------------------------------------------------------------
PRODUCTS = (
    "sapatos ténis sandálias botas malas relógios óculos telemóveis portáteis colchões sofás bicicletas "
    "pneus seguros créditos hotéis apartamentos viagens voos cruzeiros perfumes vestidos casacos brinquedos "
    "suplementos vitaminas móveis cozinhas janelas piscinas"
).split()
QUALIFIERS = (
    "baratos barato grátis online promoção desconto outlet low-cost melhor preço oferta saldos novos usados "
    "originais premium 2024 2025 portes grátis entrega rápida"
).split()
PLACES = "Lisboa Porto Braga Coimbra Faro Aveiro Setúbal Funchal Évora Leiria Algarve Sintra Cascais Viseu".split()
MENU = (
    "Início|Notícias|Desporto|Economia|Política|Cultura|Opinião|Vídeos|Fotogalerias|Contactos|Sobre nós|"
    "Entrar|Registar|Pesquisar|Mapa do site|Ajuda|Loja|Carrinho|A minha conta|Newsletter|Assinaturas|"
    "Publicidade|Ficha técnica|Estatuto editorial|Termos|Privacidade|Facebook|Twitter|Instagram|YouTube|"
    "LinkedIn|Partilhar|Imprimir|Voltar|Seguinte|Anterior|Mais lidas|Última hora|Multimédia|Podcasts|"
    "Tecnologia|Saúde|Educação|Ambiente|Mundo|País|Sociedade|Motores|Lifestyle|Viagens|Classificados|Emprego"
).split("|")
SENTENCES = [
    "Clique aqui para ver as nossas promoções de verão.",
    "Bem-vindo ao nosso sítio na Internet.",
    "Esta página foi actualizada pela última vez em 2009.",
    "Carregue no botão abaixo para continuar a ler o artigo.",
    "A sessão expirou, por favor volte a entrar.",
    "Os comentários estão fechados para este artigo.",
    "Ligue já e peça o seu orçamento sem compromisso!",
    "Página em construção, volte em breve.",
    "Partilhe esta notícia com os seus amigos.",
    "Não foram encontrados resultados para a sua pesquisa.",
]
LOREM = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et "
    "dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi ut aliquip "
    "ex ea commodo consequat duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu "
    "fugiat nulla pariatur excepteur sint occaecat cupidatat non proident sunt in culpa qui officia deserunt "
    "mollit anim id est laborum sed ut perspiciatis unde omnis iste natus error voluptatem accusantium "
    "doloremque laudantium totam rem aperiam eaque ipsa quae ab illo inventore veritatis quasi architecto "
    "beatae vitae dicta explicabo nemo enim ipsam quia voluptas aspernatur aut odit fugit consequuntur magni"
).split()
COOKIE_LINES = [
    "A sua privacidade é importante para nós.",
    "Este site recorre a testemunhos de conexão para funcionar corretamente.",
    "Guardamos pequenos ficheiros no seu computador para recordar as suas escolhas.",
    "Ao navegar neste sítio concorda com a nossa utilização de cookies.",
    "Este sítio utiliza cookies para melhorar a sua experiência de navegação.",
    "Utilizamos cookies próprios e de terceiros para fins analíticos e para lhe mostrar publicidade "
    "personalizada com base nos seus hábitos de navegação.",
    "Este website recorre a pequenos ficheiros de texto que são guardados no seu dispositivo.",
    "Ao continuar a navegar, está a consentir a utilização de cookies.",
    "Pode alterar as suas preferências a qualquer momento nas definições do navegador.",
    "Os cookies estritamente necessários são indispensáveis ao funcionamento do sítio e não podem ser desativados.",
    "Os cookies analíticos permitem-nos contar as visitas e as fontes de tráfego.",
    "Os cookies de marketing são utilizados para seguir os visitantes entre sítios.",
    "Para mais informações consulte a nossa Política de Privacidade e a Política de Cookies.",
    "Respeitamos a sua privacidade e tratamos os seus dados pessoais de acordo com o RGPD.",
    "Nós e os nossos parceiros armazenamos e acedemos a informações num dispositivo, como identificadores "
    "únicos, para processar dados pessoais.",
    "O seu consentimento aplica-se apenas a este domínio.",
    "Clique em aceitar para consentir ou em gerir para escolher.",
    "Ao clicar em Aceitar todos, concorda com o armazenamento de cookies no seu dispositivo.",
]
VENDOR_PURPOSES = [
    "Armazenar e/ou aceder a informações num dispositivo",
    "Medição de conteúdos",
    "Anúncios personalizados",
]
COOKIE_BUTTONS = [
    "Aceitar todos",
    "Rejeitar todos",
    "Aceitar",
    "Recusar",
    "Gerir preferências",
    "Definições de cookies",
    "Guardar preferências",
    "Concordo",
    "Saber mais",
    "Personalizar",
    "Cookies necessários",
    "Cookies de desempenho",
    "Cookies funcionais",
    "Cookies de publicidade",
    "Sempre ativos",
    "Fechar",
]


def _keyword_stuffing(rng: random.Random) -> str:
    product, place = rng.choice(PRODUCTS), rng.choice(PLACES)
    style = rng.random()
    if style < 0.4:  # key phrases strung together
        phrases = []
        for _ in range(rng.randint(40, 160)):
            parts = [product, rng.choice(QUALIFIERS)]
            if rng.random() < 0.5:
                parts.append(rng.choice(PLACES) if rng.random() < 0.3 else place)
            if rng.random() < 0.3:
                parts.insert(1, rng.choice(["de", "em", "para"]))
            if rng.random() < 0.3:
                rng.shuffle(parts)
            phrases.append(" ".join(parts))
        text = rng.choice([", ", " | ", " - ", " ", "\n"]).join(phrases)
    elif style < 0.7:  # sentences written for search engines: the key phrase in every one
        key = f"{product} {rng.choice(QUALIFIERS)} em {place}"
        templates = [
            "Procura {k}? Temos os melhores {k}.",
            "Compre {k} na nossa loja de {k}.",
            "{K} com entrega rápida: os {k} mais procurados.",
            "Os nossos {k} são os mais baratos de {p}.",
            "Encontre aqui {k} e outros {o} {q}.",
            "{K}, {k} e {k} ao melhor preço.",
        ]
        text = " ".join(
            rng.choice(templates).format(
                k=key, K=key.capitalize(), p=place, o=rng.choice(PRODUCTS), q=rng.choice(QUALIFIERS)
            )
            for _ in range(rng.randint(15, 50))
        )
    else:  # a tag cloud: many distinct keywords, no sentence
        tags = [f"{rng.choice(PRODUCTS)} {rng.choice(QUALIFIERS)}" for _ in range(rng.randint(60, 150))]
        tags = [f"{tag} {rng.choice(PLACES)}" if rng.random() < 0.4 else tag for tag in tags]
        text = "Tags: " + rng.choice([", ", " · ", " "]).join(tags)
    if rng.random() < 0.5:  # a sentence of cover, as spam pages do
        text = f"Os melhores {product} em {place} ao melhor preço.\n" + text
    return text


def _menu_page(rng: random.Random) -> str:
    items = rng.sample(MENU, rng.randint(25, len(MENU)))
    style = rng.random()
    if style < 0.4:
        lines = items * rng.randint(2, 4)
    elif style < 0.7:
        lines = [" | ".join(rng.sample(items, rng.randint(4, 9))) for _ in range(rng.randint(10, 25))]
    else:
        lines = [" > ".join(rng.sample(items, rng.randint(2, 4))) for _ in range(rng.randint(20, 40))]
        lines += items
    if rng.random() < 0.5:  # the footer's sentences
        lines += [
            f"© {rng.randint(1998, 2024)} {rng.choice(['Jornal', 'Rádio', 'Portal', 'Revista'])} "
            f"{rng.choice(PLACES)}. Todos os direitos reservados.",
            rng.choice(SENTENCES),
        ]
    return "\n".join(lines)


def _repeated_line(rng: random.Random) -> str:
    chosen = rng.sample(SENTENCES, rng.randint(1, 3))
    lines = [rng.choice(chosen) for _ in range(rng.randint(15, 60))]
    if rng.random() < 0.5:
        lines = [f"{line} ({i % 7 + 1})" if rng.random() < 0.2 else line for i, line in enumerate(lines)]
    return "\n".join(lines)


def _number_table(rng: random.Random) -> str:
    kind = rng.randrange(3)
    rows = []
    if kind == 0:  # prices / stock quotes
        rows.append("Título | Último | Var. | Var. % | Volume")
        for _ in range(rng.randint(30, 80)):
            name = rng.choice(["BCP", "EDP", "GALP", "NOS", "REN", "SON", "JMT", "CTT", "NVG", "SEM"])
            rows.append(
                f"{name} | {rng.uniform(0.1, 30):.3f} € | {rng.uniform(-2, 2):+.2f} | "
                f"{rng.uniform(-9, 9):+.2f}% | {rng.randint(1000, 9999999):,}".replace(",", ".")
            )
    elif kind == 1:  # timetable
        rows.append(rng.choice(["Partida Chegada Duração Preço", "Horários de verão (dias úteis)"]))
        for _ in range(rng.randint(30, 80)):
            h = rng.randint(5, 22)
            rows.append(
                f"{h:02d}:{rng.randint(0, 59):02d} {h + 1:02d}:{rng.randint(0, 59):02d} "
                f"1h{rng.randint(0, 59):02d} {rng.randint(2, 40)},{rng.randint(0, 99):02d}€"
            )
    else:  # results / statistics, now and then a team or district name
        for _ in range(rng.randint(40, 100)):
            cells = [f"{rng.randint(0, 999)}" for _ in range(rng.randint(3, 7))]
            if rng.random() < 0.5:
                cells.insert(0, rng.choice(PLACES))
            rows.append(rng.choice(["\t", " ", " ; ", " | "]).join(cells) + rng.choice(["", " *", " %", " #"]))
    return "\n".join(rows)


def _lorem(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(3, 8)):
        n = rng.randint(30, 90)
        start = rng.randrange(len(LOREM))
        para = " ".join(LOREM[(start + i * rng.randint(1, 3)) % len(LOREM)] for i in range(n))
        out.append(para.capitalize() + ".")
    if rng.random() < 0.5:
        out[0] = "Lorem ipsum dolor sit amet, " + out[0]
    if rng.random() < 0.5:  # a template's Portuguese headings around the filler
        for heading in rng.sample(
            [
                "Título da notícia",
                "Sobre nós",
                "Os nossos serviços",
                "Bem-vindo",
                "Contacte-nos para mais informações.",
                "A nossa equipa",
            ],
            3,
        ):
            out.insert(rng.randrange(len(out) + 1), heading)
    return "\n".join(out)


def _cookie_wall(rng: random.Random) -> str:
    lines = rng.sample(COOKIE_LINES, rng.randint(6, len(COOKIE_LINES)))
    buttons = rng.sample(COOKIE_BUTTONS, rng.randint(3, 10))
    for b in buttons:
        lines.insert(rng.randrange(len(lines) + 1), b)
    if rng.random() < 0.5:  # the vendor list of consent platforms
        lines += [
            f"{rng.choice(['Google', 'Meta', 'Criteo', 'Xandr', 'Taboola', 'Outbrain'])} "
            f"{rng.choice(['Advertising', 'Analytics', 'Ads', 'Ireland Limited'])}: "
            f"{rng.choice(VENDOR_PURPOSES)}"
            for _ in range(rng.randint(5, 20))
        ]
    return "\n".join(lines)


JUNK_KINDS = {
    "keyword_stuffing": _keyword_stuffing,
    "menu_only": _menu_page,
    "repeated_line": _repeated_line,
    "number_table": _number_table,
    "lorem_ipsum": _lorem,
    "cookie_wall": _cookie_wall,
}


def junk_docs(per_kind: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(kind, make(rng)) for kind, make in JUNK_KINDS.items() for _ in range(per_kind)]


def signal_table(docs: list[tuple[str, str]], group: str) -> pl.DataFrame:
    return pl.DataFrame([{"group": g, "set": group, "text": text, **compute_signals(text)} for g, text in docs])


def report(table: pl.DataFrame) -> None:
    rules = {name: thresholds(name) for name in PRESETS}
    for name, preset in rules.items():
        flagged = table.with_columns(flags_expr(preset)).with_columns(bad=pl.col("quality_flags").list.len() > 0)
        clean = flagged.filter(pl.col("set") == "clean")
        junk = flagged.filter(pl.col("set") == "junk")
        print(
            f"\n=== preset {name}: clean pages kept {1 - clean['bad'].mean():.1%} of {clean.height}, "
            f"junk flagged {junk['bad'].mean():.1%} of {junk.height}"
        )
        by = flagged.group_by("set", "group").agg(n=pl.len(), kept=(~pl.col("bad")).mean()).sort("set", "group")
        for row in by.iter_rows(named=True):
            what = "kept" if row["set"] == "clean" else "flagged"
            share = row["kept"] if row["set"] == "clean" else 1 - row["kept"]
            print(f"  {row['set']:5} {row['group']:32} n={row['n']:5}  {what} {share:6.1%}")
        counts = (
            flagged.explode("quality_flags")
            .drop_nulls("quality_flags")
            .group_by("quality_flags")
            .agg(clean=(pl.col("set") == "clean").sum(), junk=(pl.col("set") == "junk").sum())
        )
        only = (
            flagged.filter(pl.col("quality_flags").list.len() == 1)
            .with_columns(rule=pl.col("quality_flags").list.first())
            .group_by("rule")
            .agg(clean_only=(pl.col("set") == "clean").sum())
        )
        print(f"  {'rule':30} {'threshold':>10} {'clean':>7} {'(only)':>7} {'junk':>6}")
        for rule in preset:
            c = counts.filter(pl.col("quality_flags") == rule.name)
            o = only.filter(pl.col("rule") == rule.name)
            nc, nj = (c["clean"][0], c["junk"][0]) if c.height else (0, 0)
            alone = o["clean_only"][0] if o.height else 0
            print(f"  {rule.name:30} {rule.bound} {rule.threshold:<6g} {nc:7} {alone:7} {nj:6}")


def _datatrove_reference():
    """datatrove's Gopher repetition, FineWeb and Gopher quality filters for Portuguese (spaCy words),
    or None where spaCy is missing. They return pass/fail only: the reference for speed, not values."""
    try:
        import spacy  # noqa: F401
    except ImportError:
        return None
    from datatrove.data import Document
    from datatrove.pipeline.filters import FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter

    steps = [
        GopherRepetitionFilter(language="por"),
        FineWebQualityFilter(language="por"),
        GopherQualityFilter(language="por", stop_words=sorted(STOP_WORDS)),
    ]
    return lambda text: [step.filter(Document(text=text, id="x")) for step in steps]


def speed(pages: list[str]) -> None:
    docs, cur = [], []
    for page in pages:  # ~800-word documents from the same pages
        cur.append(page)
        if sum(len(p.split()) for p in cur) >= 800:
            docs.append("\n".join(cur))
            cur = []
        if len(docs) == 300:
            break
    words = sum(len(d.split()) for d in docs) / len(docs)

    def rate(fn) -> float:  # CPU time of this process: other jobs on the machine do not count
        start = time.process_time()
        for d in docs:
            fn(d)
        return len(docs) / (time.process_time() - start)

    ours = rate(compute_signals)
    print(f"\ncompute_signals: {ours:,.0f} docs/s on one core ({len(docs)} docs of ~{words:.0f} words, CPU time)")
    reference = _datatrove_reference()
    if reference is not None:
        reference(docs[0])  # spaCy's model set-up is not part of the rate
        theirs = rate(reference)
        print(
            f"datatrove Gopher repetition + FineWeb + Gopher quality (spaCy pt words): {theirs:,.0f} docs/s; "
            f"compute_signals is {ours / theirs:.1f}x that, and returns every value instead of pass/fail"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-source", type=int, default=400, help="clean pages kept per source file (0 = all)")
    ap.add_argument("--per-kind", type=int, default=100, help="junk documents per kind")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dump", help="write the signal table to this Parquet file")
    args = ap.parse_args()
    if not DOCS.is_dir():
        print(f"no clean pages: {DOCS} is missing", file=sys.stderr)
        return 2
    pages = clean_pages(per_source=args.per_source or None)
    table = pl.concat([signal_table(pages, "clean"), signal_table(junk_docs(args.per_kind, args.seed), "junk")])
    if args.dump:
        table.write_parquet(args.dump)
    report(table)
    speed([text for _, text in pages])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
