"""Variety word lists (``../shared/data/variety/lexicon``, see its SOURCES.md) and the training text
made from them: pre-1990 European text in today's spelling, counterfactual swaps, a lexicon prior.

- ``languagetool_pt_PT_replace.txt``: ``Brazilian=European`` vocabulary (ônibus=autocarro), ``|``
  between alternatives, ``#`` comments;
- ``pt_br_alternations.txt``: ``Brazilian=European`` spellings (recepção=receção, bebê=bebé);
- ``pt_pre_post_1990.tsv``: European spellings before and after the 1990 agreement (acção, ação);
- ``pt_PT_only_forms.txt``: word forms only European spelling has (-ámos, receção, facto).

They are lists, not text: none of it is labelled text, and :func:`corpus.load_corpus` skips the folder.
Pure logic apart from reading the lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lusomix.errors import UsageError

LEXICON_DIR = "lexicon"
_TOKEN = re.compile(r"\w+(?:-\w+)*")


@dataclass
class Lexicons:
    br_to_pt: dict[str, str] = field(default_factory=dict)  # lower-cased single words, vocabulary + spelling
    pt_to_br: dict[str, str] = field(default_factory=dict)
    vocabulary: list[tuple[str, str]] = field(default_factory=list)  # (Brazilian, European), LanguageTool
    spelling: list[tuple[str, str]] = field(default_factory=list)  # (Brazilian, European) spelling pairs
    pre_to_post_1990: dict[str, str] = field(default_factory=dict)
    pt_only: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.br_to_pt or self.pre_to_post_1990 or self.pt_only)


def _pairs(path: Path) -> list[tuple[str, str]]:
    """``Brazilian=European`` lines (each side may list ``|`` alternatives; all kept, first first)."""
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        br, _, pt = line.partition("=")
        for b in br.split("|"):
            for p in pt.split("|"):
                if b.strip() and p.strip():
                    pairs.append((b.strip(), p.strip()))
    return pairs


def find_lexicon_dir(dirs: list[str | Path]) -> Path | None:
    """The first ``lexicon/`` folder directly inside one of the data directories, if any."""
    for d in map(Path, dirs):
        if (d / LEXICON_DIR).is_dir():
            return d / LEXICON_DIR
    return None


def load_lexicons(folder: str | Path | None) -> Lexicons:
    """Whatever of the four lists the folder holds (a missing list is empty)."""
    lex = Lexicons()
    if folder is None:
        return lex
    folder = Path(folder)
    try:
        if (path := folder / "languagetool_pt_PT_replace.txt").is_file():
            lex.vocabulary = _pairs(path)
        if (path := folder / "pt_br_alternations.txt").is_file():
            lex.spelling = _pairs(path)
        if (path := folder / "pt_pre_post_1990.tsv").is_file():
            for line in path.read_text(encoding="utf-8").splitlines()[1:]:  # header line first
                old, _, new = line.partition("\t")
                if old.strip() and new.strip() and old.strip() != new.strip():
                    lex.pre_to_post_1990[old.strip().lower()] = new.strip().lower()
        if (path := folder / "pt_PT_only_forms.txt").is_file():
            lex.pt_only = [w.strip() for w in path.read_text(encoding="utf-8").splitlines() if w.strip()]
    except UnicodeDecodeError:
        raise UsageError(f"{folder}: a lexicon file is not UTF-8 text") from None
    # single words only for swaps (phrases would need their own matcher); the first alternative wins
    for br, pt in lex.vocabulary + lex.spelling:
        b, p = br.lower(), pt.lower()
        if " " in b or " " in p or b == p:
            continue
        lex.br_to_pt.setdefault(b, p)
        lex.pt_to_br.setdefault(p, b)
    # a form that is also the other side's form of some pair is ambiguous: never swapped
    for word in set(lex.br_to_pt) & set(lex.pt_to_br):
        lex.br_to_pt.pop(word, None)
        lex.pt_to_br.pop(word, None)
    return lex


def _with_case(word: str, like: str) -> str:
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def modernise(text: str, pre_to_post: dict[str, str]) -> str:
    """Pre-1990 European spellings rewritten as today's (acção -> ação), word by word, initial capital kept."""
    if not pre_to_post:
        return text
    return _TOKEN.sub(lambda m: _with_case(pre_to_post.get(m.group(0).lower(), m.group(0)), m.group(0)), text)


def swap_spans(
    texts: list[str], y: np.ndarray, lex: Lexicons, context: int = 2, max_other_rate: float = 0.2
) -> tuple[list[str], list[int]]:
    """Counterfactual minimal pairs from real sentences: every word of a Brazilian line that the lists
    give a European form for (ônibus -> autocarro), and every European word with a Brazilian form, as
    two short spans of the line (``context`` words each side): the original with its own label and the
    swapped copy with the other label. The context is the same on both sides, so it says nothing; only
    the swapped word separates them. Spans, not whole lines: the rest of a line keeps its variety's other
    cues, which the swapped copy must not be taught as the other variety's.

    The lists mark one side's word, not always the other's: "grana=dinheiro" marks "grana" as Brazilian,
    but "dinheiro" is written on both sides. A word is swapped only where it is marked in these lines
    too: its rate per line on the other variety's side at most ``max_other_rate`` times its rate on its
    own. Returns the raw spans and their labels (1 = pt_PT)."""
    tokens = [[m.group(0) for m in _TOKEN.finditer(text)] for text in texts]
    y = np.asarray(y)
    n_lines = [max(1, int((y == 0).sum())), max(1, int((y == 1).sum()))]
    counts: list[dict[str, int]] = [{}, {}]
    for words, label in zip(tokens, y):
        seen = counts[int(label)]
        for word in words:
            w = word.lower()
            if w in lex.br_to_pt or w in lex.pt_to_br:
                seen[w] = seen.get(w, 0) + 1

    def marked(word: str, side: int) -> bool:
        own = counts[side].get(word, 0) / n_lines[side]
        other = counts[1 - side].get(word, 0) / n_lines[1 - side]
        return other <= max_other_rate * own

    tables = [
        {b: p for b, p in lex.br_to_pt.items() if marked(b, 0)},
        {p: b for p, b in lex.pt_to_br.items() if marked(p, 1)},
    ]
    spans: list[str] = []
    labels: list[int] = []
    for words, label in zip(tokens, y):
        table = tables[int(label)]
        for i, word in enumerate(words):
            other = table.get(word.lower())
            if other is None:
                continue
            left, right = words[max(0, i - context) : i], words[i + 1 : i + 1 + context]
            spans.append(" ".join([*left, word, *right]))
            labels.append(int(label))
            spans.append(" ".join([*left, _with_case(other, word), *right]))
            labels.append(1 - int(label))
    return spans, labels


def prior_words(lex: Lexicons) -> tuple[list[str], list[int]]:
    """The lists' words as one-word lines (a prior for words the sentences never show): both sides of
    every vocabulary and spelling pair, and the European-only forms. The caller balances the sides."""
    words: list[str] = []
    labels: list[int] = []
    for br, pt in lex.vocabulary + lex.spelling:
        words += [br, pt]
        labels += [0, 1]
    words += lex.pt_only
    labels += [1] * len(lex.pt_only)
    return words, labels
