"""Labelled variety text: reading ``../shared/data/variety``, and the source-held-out folds.

Data layout (see ../shared/data/variety/SOURCES.md): ``DOMAIN/*.tsv`` files of ``text<TAB>label`` lines
(news/, general/, social/, legal/) and ``docs/SOURCE.LABEL.txt`` files of paragraphs. A line's domain is
the name of its folder.

The folds hold out whole *sources*, grouped so that each held-out group stands for text the model has
never seen of its kind:

- fold 0: the DSLCC family (DSLCC v1/v2, v3 gold A, DSL-TL: one newspaper pool, 2011-2015) and
  Mozilla's two localisation teams (one product, modern European spelling on the European side);
- fold 1: the 1990s newspapers (Bosque and HAREM: Público / Folha 1994-95), Tatoeba, the Debian
  installation guide;
- fold 2: ASSIN (Google News PT / BR), the legislation, the DSLCC tweets, KDE;
- fold 3: gettext catalogues, man pages, debian-reference;
- FRMT's parallel pairs are held out in four *contiguous blocks* of the file, one per fold. The file
  keeps FRMT's order (bucket by bucket: entity, lexical, random, then the exemplars; within a bucket
  article by article), and the lexical bucket repeats one term over neighbouring pairs and the entity
  bucket one entity: a block keeps its terms, entities and articles on one side of a split (only a block
  edge can cut one), where a pair-by-pair split leaked them (issue 24). Both translations of a sentence
  are always on the same side.

Every training part keeps both varieties in news, docs and general text, and post-1990 European text
(FRMT, and at least two of Tatoeba, the legislation, Mozilla, installation guide, debian-reference).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lusomix.errors import UsageError
from lusomix.variety import LABELS, PT_PT
from lusomix.variety.lexicon import LEXICON_DIR

N_FOLDS = 4
DOMAINS = ("news", "docs", "general", "social", "legal")
FOLD_OF_SOURCE = {
    # unseen newspapers, and one product's two localisation teams
    "dslcc_v1_v2": 0,
    "dslcc_v3_a": 0,
    "dsl_tl_train_dev": 0,
    "mozilla-langpacks": 0,
    "debian-faq": 0,
    "debian-history": 0,
    "fortunes-br": 0,
    "ud_porttinari": 0,
    "gnome-help": 0,
    "harden-doc": 0,
    # 1990s newspapers, everyday sentences
    "ud_bosque_train_dev": 1,
    "harem2": 1,
    "tatoeba": 1,
    "installation-guide": 1,
    "ddtp": 1,
    "focalinux": 1,
    "ud_petrogold": 1,
    "gimp-help": 1,
    "ubuntu-packaging-guide": 1,
    # other news, the law, tweets
    "assin1_test": 2,
    "pt_legislation": 2,
    "dslcc_v3_tweets": 2,
    "kde-docs": 2,
    "debconf-templates": 2,
    "django-po": 2,
    "ud_dantestocks": 2,
    "debian-handbook": 2,
    "manpages-pt-br": 2,
    "gnome-sysadmin": 2,
    "gettext-mo": 3,
    "tool-manpages": 3,
    "debian-reference": 3,
    "debian-edu-doc": 3,
    "debian-edu-doc-legacy": 3,
    "ud_gsd": 3,
    "gnome-app-help": 3,
    "scilab-doc": 3,
    "obs-studio": 3,  # a second product's two teams: modern interface strings where Mozilla is held out
}
# Sources whose neighbouring lines belong together (lines per group): a group never straddles a split.
# FRMT: the two translations of one sentence; Bosque: ~one article; ASSIN: pairs about one event.
GROUP_LINES = {"frmt_dev_pairs": 2, "ud_bosque_train_dev": 40, "assin1_test": 20}
SPLIT_BY_GROUP = ("frmt_dev_pairs",)  # spread over every fold in contiguous blocks of groups

# Held-out groups reported in the model card (sources by role)
FRMT = ("frmt_dev_pairs",)
MODERN_DOCS = ("mozilla-langpacks", "installation-guide", "debian-reference")  # post-1990 European docs
MODERN_DOCS_BOTH = ("mozilla-langpacks",)  # one product, both teams
SECOND_PRODUCT = ("obs-studio",)  # another product's two teams, interface strings (a fold apart from Mozilla)
UNSEEN_NEWS = ("dslcc_v1_v2", "dslcc_v3_a", "dsl_tl_train_dev")
NEWS_1990S = ("ud_bosque_train_dev", "harem2")
NEWS_HUMAN = ("dslcc_v1_v2", "dslcc_v3_a", "dsl_tl_train_dev", "ud_bosque_train_dev", "harem2", "assin1_test")
MODERN_PT = ("frmt_dev_pairs", "tatoeba", "pt_legislation", *MODERN_DOCS)


@dataclass
class Corpus:
    texts: list[str]
    y: np.ndarray  # 1 = pt_PT, 0 = pt_BR
    source: np.ndarray  # source name per line
    domain: np.ndarray  # folder name: news, docs, general, social, legal
    group: np.ndarray  # lines that belong together (one FRMT pair, one article), unique within a source

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, mask: np.ndarray) -> Corpus:
        idx = np.flatnonzero(mask)
        return Corpus([self.texts[i] for i in idx], self.y[idx], self.source[idx], self.domain[idx], self.group[idx])


def _label(value: str, where: str) -> int:
    if value not in LABELS:
        raise UsageError(f"{where}: label {value!r} is not one of {', '.join(LABELS)}")
    return int(value == PT_PT)


def read_tsv(path: Path) -> tuple[list[str], list[int]]:
    """``text<TAB>label`` lines (the label after the last tab); blank lines are skipped."""
    texts, ys = [], []
    n = 0
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                text, sep, label = line.rpartition("\t")
                if not sep:
                    raise UsageError(f"{path}:{n}: expected text<TAB>label")
                texts.append(text)
                ys.append(_label(label.strip(), f"{path}:{n}"))
    except UnicodeDecodeError:
        raise UsageError(f"{path}:{n + 1}: not UTF-8 text") from None
    return texts, ys


def load_corpus(dirs: list[str | Path]) -> Corpus:
    """Every ``*.tsv`` and ``SOURCE.LABEL.txt`` under the given directories (recursively), sorted; the
    word lists of a ``lexicon/`` folder are not labelled text (see :mod:`lusomix.variety.lexicon`)."""
    texts: list[str] = []
    ys: list[int] = []
    sources: list[str] = []
    domains: list[str] = []
    groups: list[int] = []
    for d in map(Path, dirs):
        if not d.is_dir():
            raise UsageError(f"variety data directory not found: {d}")
        files = sorted(
            p
            for p in d.rglob("*")
            if p.suffix in (".tsv", ".txt") and p.is_file() and LEXICON_DIR not in p.relative_to(d).parts[:-1]
        )
        if not files:
            raise UsageError(f"no .tsv or SOURCE.LABEL.txt files in {d}")
        for path in files:
            if path.suffix == ".tsv":
                t, y = read_tsv(path)
                source = path.stem
            else:
                source, _, label = path.stem.rpartition(".")
                if not source:
                    raise UsageError(f"{path}: expected a SOURCE.LABEL.txt name (label pt_PT or pt_BR)")
                y0 = _label(label, str(path))
                t = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
                y = [y0] * len(t)
            block = GROUP_LINES.get(source, 1)
            texts += t
            ys += y
            sources += [source] * len(t)
            domain = path.parent.name if path.parent.name in DOMAINS else ("news" if path.suffix == ".tsv" else "docs")
            domains += [domain] * len(t)
            groups += [i // block for i in range(len(t))]
    if not texts:
        raise UsageError(f"no labelled text found in {', '.join(map(str, dirs))}")
    return Corpus(texts, np.array(ys, np.int8), np.array(sources), np.array(domains), np.array(groups, np.int64))


def assign_folds(corpus: Corpus, n_folds: int = N_FOLDS) -> np.ndarray:
    """Fold per line: by source (table above, else a stable hash), in contiguous blocks for FRMT."""
    fold = np.empty(len(corpus), np.int64)
    for source in np.unique(corpus.source):
        mask = corpus.source == source
        if source in SPLIT_BY_GROUP:
            # contiguous blocks, not every n-th pair: neighbouring pairs share a term, entity or article
            group = corpus.group[mask]
            fold[mask] = (group - group.min()) * n_folds // (group.max() - group.min() + 1)
        else:
            fold[mask] = FOLD_OF_SOURCE.get(source, zlib.crc32(source.encode()) % n_folds)
    return fold % n_folds


# Pre-agreement → post-agreement European spelling (AO90 drops consonants that Portugal did not
# pronounce). Kept: facto, contacto, secção, receção, and the European accents (económico, António),
# which are exactly what still tells the varieties apart.
_AO90 = [
    (r"(?<![s])ecç", "eç"),
    (r"acç", "aç"),
    (r"acti", "ati"),
    (r"ectiv", "etiv"),
    (r"actu", "atu"),
    (r"ectu", "etu"),
    (r"([eé])ctr", r"\1tr"),
    (r"(?<!con)ector", "etor"),
    (r"(?<!con)ect([oa])", r"et\1"),
    (r"ectá", "etá"),
    (r"\bactor", "ator"),
    (r"\bactriz", "atriz"),
    (r"\bacto(s?)\b", r"ato\1"),
    (r"exact", "exat"),
    (r"óptim", "ótim"),
    (r"óptic", "ótic"),
    (r"bapti", "bati"),
    (r"adopt", "adot"),
    (r"adopç", "adoç"),
    (r"([rc]e|ex|con|per|de)cepç", r"\1ceç"),
    (r"excepto", "exceto"),
]
_AO90_RE = [(re.compile(a), b) for a, b in _AO90]
AO90_ANY = re.compile("|".join(a for a, _ in _AO90))


def to_ao90(text: str) -> str:
    """Lower-cased pre-agreement European text rewritten in post-agreement European spelling."""
    for pattern, repl in _AO90_RE:
        text = pattern.sub(repl, text)
    return text


def build_pages(
    corpus: Corpus, n_words: np.ndarray, index: np.ndarray, seed: int = 0, words=(120, 600)
) -> list[np.ndarray]:
    """Multi-paragraph pages from consecutive held-out lines of one source and variety.

    Each page takes lines in their original order (a Bosque article, a handbook's paragraphs) until it
    reaches a word target drawn from ``words``; pages of fewer than two segments are dropped.
    """
    rng = np.random.default_rng(seed)
    pages: list[np.ndarray] = []
    idx_sorted = index[np.lexsort((index, corpus.y[index], corpus.source[index]))]
    key = np.char.add(corpus.source[idx_sorted], corpus.y[idx_sorted].astype(str))
    for k in np.unique(key):
        lines = idx_sorted[key == k]
        start, target, total = 0, rng.integers(*words), 0
        for pos, i in enumerate(lines):
            total += n_words[i]
            if total >= target:
                if pos + 1 - start >= 2:
                    pages.append(lines[start : pos + 1])
                start, target, total = pos + 1, rng.integers(*words), 0
    return pages
