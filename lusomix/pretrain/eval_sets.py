"""Evaluation sets for trained models: reading them, and the sets that ship (no torch here).

Three kinds, each a UTF-8 text file:

- pairs: ``pt_PT text<TAB>pt_BR text``, the two renderings of one content (which side a model prefers);
- text: one text per line, or ``text<TAB>label`` (bits per byte per label; an unlabelled line is ``all``);
- cloze: one text per line whose last word is to be predicted (CALAME-PT's format).

The shipped sets (``evalsets/``, built by ``python -m lusomix.pretrain.build_eval_sets`` from ../shared/data,
sources and licences in ``evalsets/EVAL_SETS_CARD.md``) are named by a short name in a pretraining config's
``eval:`` block; any other value is a file path. A bad file is a one-line UsageError naming file and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from lusomix.errors import UsageError, require_file

EVALSETS_DIR = Path(__file__).resolve().parent / "evalsets"
KINDS = ("pairs", "text", "cloze")
# short name -> (kind, file in evalsets/)
SHIPPED = {
    "frmt": ("pairs", "pairs_frmt.tsv"),
    "docs": ("pairs", "pairs_docs.tsv"),
    "heldout": ("text", "text_heldout.tsv"),
    "calamept": ("cloze", "cloze_calamept.txt"),
}
UNLABELLED = "all"


@dataclass(frozen=True)
class EvalSet:
    kind: str  # pairs | text | cloze
    name: str  # the shipped name, or the file's path as given
    path: Path
    items: tuple  # pairs: (pt_PT, pt_BR); text: (text, label); cloze: (context, word)


def resolve(value: str | Path, kind: str) -> tuple[str, Path]:
    """A shipped set's name -> its file; anything else is a path. (name shown in results, file)."""
    text = str(value)
    if text in SHIPPED:
        shipped_kind, file = SHIPPED[text]
        if shipped_kind != kind:
            raise UsageError(f"eval set {text!r} is a {shipped_kind} set, not a {kind} set")
        return text, EVALSETS_DIR / file
    return text, Path(text)


def _lines(path: Path, what: str) -> list[tuple[int, str]]:
    require_file(path, f"{what} file")
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror}") from None
    lines = [(n, line.rstrip("\r")) for n, line in enumerate(raw.split("\n"), 1) if line.strip()]
    if not lines:
        raise UsageError(f"{path}: an empty {what} file")
    return lines


def read_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for n, line in _lines(path, "pairs"):
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
            raise UsageError(f"{path}:{n}: a pairs line is 'pt_PT text<TAB>pt_BR text'")
        pairs.append((fields[0].strip(), fields[1].strip()))
    return pairs


def read_texts(path: Path) -> list[tuple[str, str]]:
    texts = []
    for n, line in _lines(path, "text"):
        fields = line.split("\t")
        if len(fields) > 2 or not fields[0].strip() or (len(fields) == 2 and not fields[1].strip()):
            raise UsageError(f"{path}:{n}: a text line is 'text' or 'text<TAB>label'")
        texts.append((fields[0].strip(), fields[1].strip() if len(fields) == 2 else UNLABELLED))
    return texts


def read_cloze(path: Path) -> list[tuple[str, str]]:
    """(context, last word): the context keeps everything before the word, without its trailing space."""
    items = []
    for n, line in _lines(path, "cloze"):
        if "\t" in line:
            raise UsageError(f"{path}:{n}: a cloze line is one text whose last word is the answer (no tabs)")
        context, _, word = line.strip().rpartition(" ")
        if not context.strip() or not word:
            raise UsageError(f"{path}:{n}: a cloze line needs a context and a last word")
        items.append((context.rstrip(), word))
    return items


READERS = {"pairs": read_pairs, "text": read_texts, "cloze": read_cloze}


def load_set(kind: str, value: str | Path) -> EvalSet:
    name, path = resolve(value, kind)
    return EvalSet(kind, name, path, tuple(READERS[kind](path)))


def load_sets(pairs=(), text=(), cloze=()) -> list[EvalSet]:
    """Every named set read now, so a bad file fails before any model is loaded or trained."""
    return [load_set(kind, value) for kind, values in zip(KINDS, (pairs, text, cloze)) for value in values]


# ------------------------------------------------------------------------------- keeping eval text out of training

WINDOW = 13  # words: a training line that shares a 13-word window with an evaluation line is a leak
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def windows(text: str, size: int = WINDOW) -> set[int]:
    """Hashes of the text's runs of `size` words (the whole text when it is shorter)."""
    w = words(text)
    if len(w) <= size:
        return {hash(tuple(w))} if w else set()
    return {hash(tuple(w[i : i + size])) for i in range(len(w) - size + 1)}


class LeakCheck:
    """Every line of a set of evaluation texts, as exact lines and as 13-word windows."""

    def __init__(self, texts: Iterable[str]):
        self.lines: set[str] = set()
        self.windows: set[int] = set()
        for text in texts:
            self.lines.add(" ".join(text.split()))
            self.windows |= windows(text)

    def leaks(self, line: str) -> bool:
        """The line is an evaluation line, or shares a 13-word window with one (lines of fewer words: the
        whole line counts as its window, so a short evaluation line is caught when a training line equals it)."""
        if " ".join(line.split()) in self.lines:
            return True
        return not self.windows.isdisjoint(windows(line))


def set_texts(s: EvalSet) -> Iterator[str]:
    """Every text of a set (both sides of a pair; a cloze line with its answer)."""
    for item in s.items:
        if s.kind == "cloze":
            yield f"{item[0]} {item[1]}"
        elif s.kind == "pairs":
            yield from item
        else:
            yield item[0]


def shipped_leak_check() -> LeakCheck:
    return LeakCheck(text for name, (kind, _) in SHIPPED.items() for text in set_texts(load_set(kind, name)))


def configured_sets(ec) -> list[EvalSet]:
    """The sets of a pretraining config's ``eval:`` block, each cut to max_items evenly spaced through its file
    (the training loop scores them at every eval_every: a fixed, cheap subset; `lusomix eval` scores all)."""
    if not ec.enabled:
        return []
    sets = load_sets(ec.pairs, ec.text, ec.cloze)
    if ec.max_items is None:
        return sets
    cut = []
    for s in sets:
        every = -(-len(s.items) // ec.max_items)  # a stride, so the kept items span the whole file
        cut.append(EvalSet(s.kind, s.name, s.path, s.items[::every]) if every > 1 else s)
    return cut
