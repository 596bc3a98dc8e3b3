"""Fault matrix: a config that is valid YAML but semantically wrong is refused in one line naming the key,
exit 2, before any work starts (the pretraining config it names included).

The files a pass reads (the pretraining config, the variety model, a previous dedup index) are read when
the run starts, if that pass is in it. A global batch larger than the mix can only be seen once the mix
exists: at run start when an earlier run left it (``--passes pretrain``), otherwise when the pretrain pass
starts, before any of its work."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import ARCHIVES, SAMPLES

from lusomix.pipeline.cli import main

pytestmark = pytest.mark.faults

ARCHIVE = ARCHIVES / "damaged-bad-headers.warc"
MIX = "mixes:\n  - name: m\n"
PRETRAIN = MIX + "pretrain: {config: p.yaml, mix: m}\n"

# (run config after input/output/executor, pretraining config p.yaml or None, what the line must name)
CASES = {
    "negative mix weight": (MIX + "    weights: {pt_PT: -1}\n", None, "mixes[0].weights.pt_PT"),
    "weights summing to 0": (MIX + "    weights: {pt_PT: 0, pt_BR: 0, unknown: 0}\n", None, "mixes[0].weights"),
    "the selected variety weighs 0": (
        MIX + "    select: {varieties: [pt_PT]}\n    weights: {pt_PT: 0}\n",
        None,
        "mixes[0].weights",
    ),
    "unknown variety in a mix": (MIX + "    select: {varieties: [pt_XX]}\n", None, "mixes[0].select.varieties"),
    "a language the extract drops": (MIX + "    select: {langs: [en]}\n", None, "mixes[0].select.langs"),
    "unknown quality rule tolerated": (MIX + "    select: {allow_flags: [nope]}\n", None, "select.allow_flags"),
    "crawl years reversed": (MIX + "    select: {crawl_years: [2010, 2000]}\n", None, "select.crawl_years"),
    "an empty domain list": (MIX + "    select: {domains_include: []}\n", None, "select.domains_include"),
    "zero shard size": (MIX + "    shard_target_bytes: 0\n", None, "mixes[0].shard_target_bytes"),
    "negative token budget": (MIX + "    token_budget: -5\n", None, "mixes[0].token_budget"),
    "two mixes of one name": (MIX + "  - name: m\n", None, "mixes: mix names must be unique"),
    "unknown key in a mix": (MIX + "    wieghts: {pt_PT: 1}\n", None, "unknown key 'mixes[0].wieghts'"),
    "pretrain.mix naming no mix": (MIX + "pretrain: {config: p.yaml, mix: other}\n", "{}\n", "pretrain.mix"),
    "negative body size": ("ingest: {max_body_bytes: -1}\n", None, "ingest.max_body_bytes"),
    "zero workers": ("executor: {workers: 0}\n", None, "executor.workers"),
    "probability above 1": ("language: {threshold: 1.5}\n", None, "language.threshold"),
    "a variety as a language": ("language: {keep: [pt_PT]}\n", None, "language.keep"),
    "unknown band reversed": ("variety: {unknown_band: [0.8, 0.2]}\n", None, "variety.unknown_band"),
    "negative variety min_words": ("variety: {min_words: -1}\n", None, "variety.min_words"),
    "missing variety model": ("variety: {model_path: no-such.ftz}\n", None, "variety.model_path"),
    "share threshold above 1": (
        "quality: {overrides: {gopher_below_alpha: 1.5}}\n",
        None,
        "quality.overrides.gopher_below_alpha",
    ),
    "negative threshold": (
        "quality: {overrides: {gopher_short_doc: -3}}\n",
        None,
        "quality.overrides.gopher_short_doc",
    ),
    "min rule above max rule": ("quality: {overrides: {gopher_short_doc: 200000}}\n", None, "quality.overrides"),
    "similarity above 1": ("dedup: {threshold: 1.5}\n", None, "dedup.threshold"),
    "missing previous dedup index": ("dedup: {previous_index: no-such-run/dedup}\n", None, "dedup.previous_index"),
    "missing pretraining config": (MIX + "pretrain: {config: no-such.yaml, mix: m}\n", None, "pretrain.config"),
    "zero pretraining steps": (
        MIX + "pretrain: {config: p.yaml, mix: m, max_steps: 0}\n",
        "{}\n",
        "pretrain.max_steps",
    ),
    "negative micro batch": (PRETRAIN, "train: {micro_batch_size: -8}\n", "p.yaml: train.micro_batch_size"),
    "pretraining YAML syntax": (PRETRAIN, "train: [1, 2\n", "p.yaml:2:1: YAML syntax error"),
    "unknown pretraining key": (PRETRAIN, "optim: {learning_rate: 0.1}\n", "unknown key 'optim.learning_rate'"),
    "Adam beta of 1": (PRETRAIN, "optim: {betas: [0.9, 1.0]}\n", "p.yaml: optim.betas"),
    "decay before warmup ends": (PRETRAIN, "optim: {warmup_steps: 100, decay_steps: 50}\n", "optim.decay_steps"),
    "fewer CPUs than workers": (PRETRAIN, "distributed: {workers: 4, num_cpus: 2}\n", "distributed.num_cpus"),
    "missing model checkpoint": (PRETRAIN, "model: {checkpoint: /no/such/model}\n", "model.checkpoint"),
    "negative RoPE factor": (
        PRETRAIN,
        "model: {rope_scaling: {rope_type: linear, factor: -2}}\n",
        "rope_scaling.factor",
    ),
}


def refused_in_one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("lusomix: error: "), err
    return err


@pytest.mark.parametrize("run_text, pretrain_text, key", CASES.values(), ids=CASES.keys())
def test_a_semantically_wrong_config_is_refused_before_any_work(tmp_path, capsys, run_text, pretrain_text, key):
    out = tmp_path / "out"
    config = tmp_path / "c.yaml"
    config.write_text(f"input: [{ARCHIVE}]\noutput: {out}\nexecutor: {{workers: 1}}\n{run_text}")
    if pretrain_text is not None:
        (tmp_path / "p.yaml").write_text(pretrain_text)
    # every configured pass: were the config let through, the extract would start and make the output folder
    assert main(["run", str(config)]) == 2
    assert key in refused_in_one_line(capsys)
    assert not out.exists()


def big_batch_config(tmp_path) -> tuple:
    """A run config naming the demo's mixes and a pretraining config whose one step (2 workers x 4 x 64
    sequences x 256 tokens = 131,072 tokens) is larger than the sample mix ptpt-first (~38,000)."""
    pretrain = tmp_path / "big-batch.yaml"
    pretrain.write_text(
        (SAMPLES / "pretrain-tiny.yaml")
        .read_text()
        .replace("micro_batch_size: 8", "micro_batch_size: 64")
        .replace("grad_accum_steps: 2", "grad_accum_steps: 4")
        .replace("context_length: 128", "context_length: 256")
    )
    config = tmp_path / "c.yaml"
    config.write_text((SAMPLES / "demo.yaml").read_text().replace("config: pretrain-tiny.yaml", f"config: {pretrain}"))
    return config, pretrain


def test_a_batch_larger_than_an_existing_mix_is_refused_at_run_start(sample_run, tmp_path, capsys):
    from lusomix.pretrain.config import check_batch_fits, load_pretrain_config

    run = tmp_path / "run"
    shutil.copytree(sample_run / "mixes", run / "mixes")  # the mix an earlier run built, nothing else
    config, pretrain = big_batch_config(tmp_path)
    assert main(["run", str(config), "--output", str(run), "--passes", "pretrain"]) == 2
    err = refused_in_one_line(capsys)
    assert f"{pretrain}: train.micro_batch_size: " in err and "131072 tokens" in err and "'ptpt-first'" in err
    assert sorted(p.name for p in run.iterdir()) == ["mixes"]  # no lock, no pretrain/, no stats.json
    # the sample pretraining config fits the same mix (4,096 tokens a step): the check is not a blanket no
    check_batch_fits(
        load_pretrain_config(SAMPLES / "pretrain-tiny.yaml"), "pretrain-tiny.yaml", run / "mixes/ptpt-first"
    )


@pytest.mark.slow
@pytest.mark.ray
def test_a_batch_larger_than_the_mix_this_run_builds_is_fitted_to_it(sample_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(sample_run, run, ignore=shutil.ignore_patterns("pretrain", "mixes"))
    config, _ = big_batch_config(tmp_path)
    config.write_text(config.read_text().replace("max_steps: 40", "max_steps: 1"))
    # the mix's size was unknown when the config was written: the pretrain pass fits the step to the new mix
    # (fewer workers, then less accumulation) and says so
    assert main(["run", str(config), "--output", str(run), "--passes", "mix,pretrain"]) == 0
    result = json.loads((run / "stats.json").read_text())["pretrain"]
    assert result["workers"] == 1 and result["steps"] == 1
    assert result["note"].startswith("one step of 2 workers x 4 grad_accum_steps x 64 sequences x 256 tokens")
    tokens = json.loads((run / "mixes" / "ptpt-first" / "manifest.json").read_text())["totals"]["tokens_est"]
    accum = min(4, tokens // 256 // 64)  # the sequences of 256 tokens the mix holds, in micro-batches of 64
    assert f"trained with 1 worker x {accum} grad_accum_steps x 64 sequences x 256 tokens" in result["note"]


def test_the_language_labels_are_those_of_the_vendored_model():
    from lusomix.filters.langid import LanguageIdentifier
    from lusomix.stages.identify import LID176_LABELS

    model = LanguageIdentifier().model
    assert LID176_LABELS == {label.removeprefix("__label__") for label in model.get_labels()}
