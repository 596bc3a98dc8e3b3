"""The shipped evaluation sets: what they hold, that the script rebuilds them, and that no training corpus of
the ablation holds an evaluation line or a 13-word window of one."""

from __future__ import annotations

import importlib.util
import re

import pytest

from lusomix.pretrain import eval_sets
from tests.conftest import REPO, shared_data_or_skip


def shipped(name: str) -> eval_sets.EvalSet:
    kind = eval_sets.SHIPPED[name][0]
    return eval_sets.load_set(kind, name)


def test_the_shipped_sets_hold_what_the_card_says():
    assert len(shipped("frmt").items) == len(shipped("docs").items) == 400
    assert all(pt != br for name in ("frmt", "docs") for pt, br in shipped(name).items)
    labels = [label for _, label in shipped("heldout").items]
    assert labels.count("pt_PT") == labels.count("pt_BR") == 350
    assert len(shipped("calamept").items) == 2076
    # FRMT's European side keeps its spelling: "equipa", "facto" appear there and never on the Brazilian side
    frmt = shipped("frmt").items
    assert any(re.search(r"\bfacto\b|\bequipa\b", pt) for pt, _ in frmt)
    assert not any(re.search(r"\bfacto\b|\bequipa\b", br) for _, br in frmt)


def test_the_leak_check_finds_an_eval_line_and_its_13_word_windows():
    line = shipped("heldout").items[0][0]
    words = line.split()
    assert len(words) >= 14
    check = eval_sets.LeakCheck([line])
    assert check.leaks("  " + line.replace(" ", "   ") + " ")  # the same line, spaced otherwise
    assert check.leaks("Antes disto. " + " ".join(words[1:14]) + " e mais nada.")  # one 13-word window inside
    assert not check.leaks("Antes disto. " + " ".join(words[1:13]) + " e mais nada.")  # 12 words: no window
    assert not check.leaks("Uma frase que nada tem a ver com o conjunto de avaliação.")
    assert eval_sets.LeakCheck(["Os pássaros voaram alto no céu"]).leaks("os pássaros voaram alto no céu!")


def _ablation():
    spec = importlib.util.spec_from_file_location("mix_ablation", REPO / "benchmarks" / "mix_ablation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _windows(text: str) -> set[tuple[str, ...]]:
    """An independent count of 13-word windows (not the module's hashing)."""
    w = re.findall(r"\w+", text.lower())
    return {tuple(w[i : i + 13]) for i in range(len(w) - 12)}


@pytest.mark.slow
def test_no_eval_line_or_13_word_window_is_in_the_ablation_corpus():
    shared = shared_data_or_skip()
    ablation = _ablation()
    pages, dropped = ablation.build_pages(shared, 400_000, eval_sets.shipped_leak_check())
    assert dropped > 0  # the sources hold evaluation lines (held-out news, docs pairs): they were found
    corpus = [line for page in pages for line in page["lines"]]
    assert sum(map(len, corpus)) >= 800_000
    eval_texts = [t for name in eval_sets.SHIPPED for t in eval_sets.set_texts(shipped(name))]
    eval_lines = {" ".join(t.split()) for t in eval_texts}
    eval_windows = set().union(*(_windows(t) for t in eval_texts))
    assert not [line for line in corpus if " ".join(line.split()) in eval_lines]
    assert not [line for line in corpus if not _windows(line).isdisjoint(eval_windows)]


@pytest.mark.slow
def test_the_script_rebuilds_the_shipped_files(tmp_path):
    from lusomix.pretrain.build_eval_sets import build

    counts = build(shared_data_or_skip(), tmp_path)
    for name, n in counts.items():
        assert (tmp_path / name).read_bytes() == (eval_sets.EVALSETS_DIR / name).read_bytes(), name
        assert n == len((tmp_path / name).read_text(encoding="utf-8").splitlines())
