"""The variety labels are declared once, in lusomix/run_folder.py; every other module imports them."""

from __future__ import annotations

import ast
from pathlib import Path

import lusomix
from lusomix.run_folder import LABELS, PT_BR, PT_PT

PACKAGE = Path(lusomix.__file__).parent


def test_no_module_but_run_folder_types_a_variety_label():
    typed = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "run_folder.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # a label as a whole string constant (docstrings and help texts that mention one are longer)
            if isinstance(node, ast.Constant) and node.value in (PT_PT, PT_BR):
                typed.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert typed == []


def test_the_pretraining_stage_has_no_variety_list_of_its_own():
    from lusomix.pretrain import data

    assert not hasattr(data, "VARIETIES")
    assert data.LABELS is LABELS
