"""Five small WARCs (a handful of Portuguese pages in all) cut from the sample archives, and their answers.

A new user's first run is often on a few archives that give a few documents: the default config's mixes
are then smaller than one step of its pretraining. These files are that case, kept small and committed:
each is a warcinfo record and two or three captures copied byte for byte from the sample archives (one
gzip member per record, no timestamp: reproducible), and ``small/expected.jsonl`` is the sample manifest's
rows for those captures, with their new file names.

    python data_samples/make_small.py            # rewrite data_samples/small/
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sample_records import gzip_bytes
from warcio.archiveiterator import ArchiveIterator

HERE = Path(__file__).resolve().parent

# file name -> (source archive, URLs of the captures it takes from there)
SMALL = {
    "small-1.warc.gz": (
        "crawl-2009-2012.warc",
        [
            "http://www.casa-e-poupanca.pt/artigos/orcamento-familiar.html",
            "http://www.cm-vilanovadolis.pt/robots.txt",
        ],
    ),
    "small-2.warc.gz": (
        "crawl-2009-2012.warc",
        [
            "http://www.casa-e-poupanca.pt/artigos/",
            "http://www.rotas-do-alentejo.org/roteiros/monsaraz.html",
        ],
    ),
    "small-3.warc.gz": (
        "crawl-2009-2012.warc",
        ["http://www.jornal-da-economia.com.br/mercado/2012/06/alta-do-dolar.html"],
    ),
    "small-4.warc.gz": (
        "crawl-2021-2024.warc",
        [
            "https://www.sabores-de-portugal.pt/receitas/arroz-de-pato-no-forno",
            "https://www.riverside-gazette.com/local/2023/05/library-reopens",
        ],
    ),
    "small-5.warc.gz": (
        "crawl-2021-2024.warc",
        [
            "https://www.sabores-de-portugal.pt/receitas/bolo-rei-escangalhado",
            "https://www.ajuda-digital.pt/tutoriais/transferir-ficheiros-telemovel-computador",
        ],
    ),
}


def records(archive: Path) -> list[tuple[str, str | None, bytes]]:
    """(type, target URL, the record's raw bytes) of every record of an uncompressed WARC."""
    data = archive.read_bytes()
    found = []
    with archive.open("rb") as stream:
        iterator = ArchiveIterator(stream)
        for record in iterator:
            record.content_stream().read()  # to the record's end, so that its length is known
            start, length = iterator.get_record_offset(), iterator.get_record_length()
            url = record.rec_headers.get_header("WARC-Target-URI")
            found.append((record.rec_type, url, data[start : start + length]))
    return found


def build(out: Path) -> None:
    expected = [json.loads(line) for line in (HERE / "expected.jsonl").read_text().splitlines() if line.strip()]
    out.mkdir(parents=True, exist_ok=True)
    answers = []
    for name, (source, urls) in SMALL.items():
        taken = records(HERE / "archives" / source)
        warcinfo = next(raw for kind, _, raw in taken if kind == "warcinfo")
        chosen = [raw for url in urls for kind, target, raw in taken if target == url and kind == "response"]
        assert len(chosen) == len(urls), (name, urls)
        (out / name).write_bytes(b"".join(gzip_bytes(raw) for raw in [warcinfo, *chosen]))
        for url in urls:
            row = next(r for r in expected if r["file"] == source and r["url"] == url)
            answers.append(row | {"file": name})
    (out / "expected.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in answers))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "small", help="where to write (default: %(default)s)")
    build(parser.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
