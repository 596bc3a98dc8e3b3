"""A small input through every pass of the default config: five small archives, a handful of Portuguese
documents, mixes smaller than one step of the default pretraining. The run ends 0 with a report saying
what the pretrain pass did; a mix built by the same run adapts the step to its size, and a config written
for a mix that already exists is still refused at run start."""

from __future__ import annotations

import json
import shutil
from html import unescape
from pathlib import Path

import polars as pl
import pytest
from conftest import SAMPLES, read_table, run_cli

from lusomix.errors import PassSkipped
from lusomix.pretrain.config import PretrainConfig, fit_batch, load_pretrain_config
from lusomix.run_folder import RunFolder

SMALL = SAMPLES / "small"


def expected_small() -> pl.DataFrame:
    rows = [json.loads(line) for line in (SMALL / "expected.jsonl").read_text().splitlines() if line.strip()]
    return pl.DataFrame(rows, infer_schema_length=None)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """demo.yaml's every pass (pretrain included) on the five small archives."""
    out = tmp_path_factory.mktemp("small_run")
    assert run_cli("run", str(SAMPLES / "demo.yaml"), "--input", str(SMALL), "--output", str(out)) == 0
    return out


@pytest.mark.slow
def test_five_small_archives_end_with_exit_0_and_a_report_saying_what_pretrain_did(small_run):
    expected = expected_small()
    kept = expected.filter(pl.col("expect") == "kept")
    assert 3 <= kept.height <= 6  # a handful
    docs = read_table(small_run / "docs")
    assert sorted(docs["url"]) == sorted(kept["url"])
    by_url = dict(zip(docs["url"], docs["variety"], strict=True))
    assert by_url == dict(zip(kept["url"], kept["variety"], strict=True))
    rejected = read_table(small_run / "rejected")
    assert sorted(rejected["reason"]) == sorted(expected.filter(pl.col("expect") != "kept")["expect"])

    stats = json.loads((small_run / "stats.json").read_text())
    assert stats["kept"] == kept.height
    # every European document is held out for validation: the pass is skipped with its reason, the run goes on
    skipped = stats["pretrain"]["skipped"]
    assert "'ptpt-first' has no training text" in skipped and "held out for validation" in skipped
    html = unescape((small_run / "report" / "index.html").read_text())
    assert "Pretraining" in html and f"Skipped: {skipped}" in html


@pytest.mark.slow
@pytest.mark.ray
def test_a_mix_this_run_builds_smaller_than_one_step_trains_with_a_smaller_step(small_run, tmp_path, capsys):
    """One document of each variety held out: the mix keeps training text, ~2,300 tokens, less than one
    step of the sample config (2 workers x 2 x 8 x 128 = 4,096 tokens): one worker, said everywhere."""
    run = tmp_path / "run"
    shutil.copytree(small_run, run, ignore=shutil.ignore_patterns("pretrain", "mixes", "report", ".lusomix.lock"))
    pretrain = tmp_path / "pretrain.yaml"
    pretrain.write_text(
        (SAMPLES / "pretrain-tiny.yaml").read_text().replace("val_docs_per_variety: 8", "val_docs_per_variety: 1")
    )
    config = tmp_path / "demo.yaml"
    config.write_text(
        (SAMPLES / "demo.yaml")
        .read_text()
        .replace("config: pretrain-tiny.yaml", f"config: {pretrain}")
        .replace("max_steps: 40", "max_steps: 3")
    )
    capsys.readouterr()
    assert run_cli("run", str(config), "--output", str(run), "--passes", "mix,pretrain,report") == 0
    printed = capsys.readouterr().out
    result = json.loads((run / "stats.json").read_text())["pretrain"]
    assert result["workers"] == 1 and result["steps"] == 3
    note = result["note"]
    assert note.startswith("one step of 2 workers x 2 grad_accum_steps x 8 sequences x 128 tokens = 4096 tokens")
    assert "more than the mix 'ptpt-first' holds" in note
    assert note.endswith("trained with 1 worker x 2 grad_accum_steps x 8 sequences x 128 tokens = 2048 tokens")
    assert f"({note})" in printed  # the pass's summary line
    assert note in unescape((run / "report" / "index.html").read_text())


@pytest.mark.slow
def test_a_config_written_for_a_mix_that_exists_is_still_refused_at_run_start(small_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(small_run / "mixes", run / "mixes")
    capsys.readouterr()
    assert run_cli("run", str(SAMPLES / "demo.yaml"), "--output", str(run), "--passes", "pretrain") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train.micro_batch_size: one step takes 2 workers" in err
    assert sorted(p.name for p in run.iterdir()) == ["mixes"]  # refused before any work


def write_manifest(root: Path, rows: int, tokens: int) -> RunFolder:
    folder = root / "mixes" / "m"
    folder.mkdir(parents=True)
    shard = {"path": "shard-00000.parquet", "rows": rows, "bytes": 1, "tokens_est": tokens, "sha256": ""}
    (folder / "manifest.json").write_text(json.dumps({"name": "m", "shards": [shard]}))
    return RunFolder(root).mix("m")


def step(config: PretrainConfig) -> tuple[int, int, int]:
    return config.distributed.workers, config.train.grad_accum_steps, config.train.micro_batch_size


@pytest.mark.parametrize(
    "tokens, fitted",
    [
        (5000, (2, 2, 8)),  # fits: unchanged
        (3804, (1, 2, 8)),  # the mix: fewer workers first
        (1500, (1, 1, 8)),  # then less accumulation (11 sequences of 128)
        (700, (1, 1, 5)),  # then a smaller micro-batch: 5 sequences
        (128, (1, 1, 1)),
    ],
)
def test_the_step_shrinks_workers_then_accumulation_then_micro_batch(tmp_path, tokens, fitted):
    config = load_pretrain_config(SAMPLES / "pretrain-tiny.yaml")  # 2 workers x 2 x 8 x 128
    adapted, note = fit_batch(config, write_manifest(tmp_path, 40, tokens))
    assert step(adapted) == fitted
    assert (note is None) == (fitted == (2, 2, 8))
    assert config.distributed.workers == 2  # the user's config is left as it was
    if note:
        assert f"(~{tokens} tokens)" in note and note.endswith(f"= {128 * fitted[0] * fitted[1] * fitted[2]} tokens")


def test_a_mix_shorter_than_one_sequence_is_skipped_with_its_reason(tmp_path):
    config = load_pretrain_config(SAMPLES / "pretrain-tiny.yaml")
    with pytest.raises(PassSkipped, match="holds ~100 tokens, fewer than one sequence of data.context_length 128"):
        fit_batch(config, write_manifest(tmp_path, 2, 100))
