"""Fault matrix: input files removed or truncated between planning and reading. The file is named as
damaged in the run summary; the rest of the run goes on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ARCHIVES, read_table, run_cli

import lusomix.pipeline.plan as plan

pytestmark = pytest.mark.faults


def test_inputs_removed_or_truncated_after_planning_are_named_and_the_rest_goes_on(tmp_path, monkeypatch):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("crawl-2005-2008.warc.gz", "crawl-2021-2024.warc", "arquivo-2000.arc"):
        shutil.copy(ARCHIVES / name, inputs / name)
    removed, truncated = inputs / "crawl-2005-2008.warc.gz", inputs / "crawl-2021-2024.warc"

    real = plan.expand_inputs

    def plan_then_damage(items):
        files = real(items)  # the real planning, then the files change under the run
        removed.unlink()
        truncated.write_bytes(truncated.read_bytes()[:20_000])  # cut inside a record
        return files

    monkeypatch.setattr(plan, "expand_inputs", plan_then_damage)
    out = tmp_path / "out"
    config = tmp_path / "c.yaml"
    config.write_text(f"input: [{inputs}]\noutput: {out}\nexecutor: {{workers: 1}}\n")
    assert run_cli("run", str(config), "--passes", "extract") == 0
    stats = json.loads((out / "stats.json").read_text())
    damaged = {Path(d["file"]).name: d for d in stats["damaged_files"]}
    assert set(damaged) == {removed.name, truncated.name}
    assert damaged[removed.name]["problem"].startswith("cannot open")
    assert damaged[truncated.name]["spans"][0]["end"] == 20_000
    sources = {Path(f).name for f in read_table(out / "docs")["source_file"].to_list()}
    assert "arquivo-2000.arc" in sources and truncated.name in sources  # what was readable is kept
