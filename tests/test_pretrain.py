"""The pretraining stage: data plumbing (fast) and a tiny 2-worker Ray Train run that resumes (slow, ray)."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lusomix.errors import UsageError
from lusomix.pretrain import data as pdata
from lusomix.stages.schema import MIX_SCHEMA

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "data_samples" / "pretrain-tiny.yaml"

PT_PT = [
    "O autocarro das oito chegou atrasado à paragem do Marquês de Pombal.",
    "Estou a preparar o relatório para a reunião de amanhã com a equipa.",
    "Diz-me se precisas de ajuda com o ficheiro que enviaste ontem.",
    "A câmara municipal anunciou obras na estação de comboios de Santa Apolónia.",
    "O meu telemóvel ficou sem bateria a meio da viagem para o Porto.",
    "Os utilizadores podem alterar a palavra-passe no ecrã de configuração.",
    "A casa de banho do café fica ao fundo do corredor, à direita.",
    "Ontem à noite fomos jantar bacalhau com natas a uma tasca em Alfama.",
    "O treinador disse que a equipa vai jogar com três defesas no sábado.",
    "A pequena-almoço comemos torradas e bebemos um galão na pastelaria.",
    "O governo aprovou o orçamento do Estado depois de um longo debate na Assembleia.",
    "Os alunos estão a estudar para os exames nacionais de Matemática.",
    "A factura da electricidade chegou mais cara este mês, disse a vizinha.",
    "O comboio intercidades para Faro parte da plataforma quatro às dez horas.",
    "Apanhámos uma bicha enorme à porta do museu, mas valeu a pena.",
    "A sessão de esclarecimento decorre na junta de freguesia de Arroios.",
    "Vou arrumar o carro na garagem antes que comece a chover.",
    "O facto é que a economia portuguesa cresceu acima do esperado no trimestre.",
    "António guardou as fotografias num ficheiro comprimido no ambiente de trabalho.",
    "A equipa técnica está a analisar o problema e responde-lhe em breve.",
]
PT_BR = [
    "O ônibus das oito chegou atrasado no ponto da avenida Paulista.",
    "Estou preparando o relatório para a reunião de amanhã com o time.",
    "Me diz se você precisa de ajuda com o arquivo que mandou ontem.",
    "A prefeitura anunciou obras na estação de trem da Luz.",
    "Meu celular ficou sem bateria no meio da viagem para Campinas.",
    "Os usuários podem alterar a senha na tela de configuração.",
    "O banheiro da lanchonete fica no fundo do corredor, à direita.",
    "Ontem à noite a gente foi jantar feijoada num boteco em Pinheiros.",
    "O técnico disse que o time vai jogar com três zagueiros no domingo.",
    "No café da manhã comemos pão de queijo e tomamos um cafezinho na padaria.",
    "O governo federal aprovou o orçamento depois de um longo debate no Congresso.",
    "Os alunos estão estudando para o vestibular de Matemática.",
    "A conta de luz chegou mais cara este mês, disse a vizinha.",
    "O trem para Jundiaí sai da plataforma quatro às dez horas.",
    "Pegamos uma fila enorme na porta do museu, mas valeu a pena.",
    "A reunião de esclarecimento acontece na subprefeitura da Mooca.",
    "Vou estacionar o carro na garagem antes que comece a chover.",
    "O fato é que a economia brasileira cresceu acima do esperado no trimestre.",
    "Antônio guardou as fotos num arquivo compactado na área de trabalho.",
    "A equipe técnica está analisando o problema e te responde em breve.",
]


def paragraphs(seed: int = 7, per_variety: int = 150) -> list[dict]:
    """Paragraphs of 3–6 sentences drawn from each variety's pool: real sentences, repeated patterns."""
    rng, rows = random.Random(seed), []
    for variety, pool in (("pt_PT", PT_PT), ("pt_BR", PT_BR)):
        for i in range(per_variety):
            text = " ".join(rng.sample(pool, rng.randint(3, 6)))
            rows.append({"id": f"{variety}-{i:04d}", "text": text, "variety": variety})
    rows[5]["text"] = ""  # an empty document must be skipped, not break packing
    rng.shuffle(rows)
    return rows


def write_mix(folder: Path, rows: list[dict], n_shards: int, row_group_size: int = 64) -> Path:
    """A mix folder per the mix contract: shard-NNNNN.parquet (MIX_SCHEMA, zstd) + manifest.json."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for k, part in enumerate(np.array_split(np.arange(len(rows)), n_shards)):
        chunk = [rows[i] for i in part]
        table = pa.table(
            {
                "id": [r["id"] for r in chunk],
                "text": [r["text"] for r in chunk],
                "variety": [r["variety"] for r in chunk],
                "url": [f"https://example.pt/{r['id']}" for r in chunk],
                "domain": ["example.pt"] * len(chunk),
                "crawl_date": [None] * len(chunk),
                "n_words": [len(r["text"].split()) for r in chunk],
                "lang": ["pt"] * len(chunk),
            },
            schema=MIX_SCHEMA,
        )
        path = folder / f"shard-{k:05d}.parquet"
        pq.write_table(table, path, compression="zstd", row_group_size=row_group_size)
        entries.append(
            {
                "path": path.name,
                "rows": len(chunk),
                "bytes": path.stat().st_size,
                "sha256": f"s{k}",
                "tokens_est": sum(len(r["text"]) // 4 for r in chunk),
            }
        )
    manifest = {
        "name": folder.name,
        "created_by": "tests",
        "recipe": {},
        "seed": 1,
        "input": {},
        "shards": entries,
        "totals": {"rows": len(rows)},
        "by_variety": {},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    return paragraphs()


@pytest.fixture(scope="module")
def mix_dir(tmp_path_factory, corpus) -> Path:
    return write_mix(tmp_path_factory.mktemp("mix") / "demo", corpus, n_shards=3)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory, mix_dir):
    mix = pdata.read_mix(mix_dir)
    return pdata.train_tokenizer(pdata.mix_texts(mix, [], 10_000), 512, tmp_path_factory.mktemp("tok") / "tokenizer")


# ------------------------------------------------------------------------------------------ data plumbing


def test_pack_cuts_fixed_length_sequences_and_keeps_the_remainder():
    tokens = np.arange(23, dtype=np.int32)
    seqs, rest = pdata.pack(tokens, 5)
    assert seqs.shape == (4, 5)
    assert np.array_equal(np.concatenate([seqs.ravel(), rest]), tokens)  # no token lost, order kept


def test_tokenize_puts_eos_after_every_document(tokenizer):
    eos = tokenizer.eos_token_id
    texts = ["O comboio chegou.", "O trem chegou.", "Diz-me já."]
    flat = pdata.tokenize(tokenizer.backend_tokenizer, texts, eos)
    assert np.flatnonzero(flat == eos).size == 3 and flat[-1] == eos
    assert decode_documents(tokenizer, flat) == texts  # byte-level BPE round-trips accents exactly


def test_assign_units_are_disjoint_and_cover_the_mix(mix_dir):
    mix = pdata.read_mix(mix_dir)
    for world in (1, 2, 3, 4, 7):
        rows = [
            (u.path, r)
            for rank in range(world)
            for u in pdata.assign_units(mix, rank, world)
            for r in range(u.row_start, u.row_stop)
        ]
        assert len(rows) == len(set(rows)) == 300, world  # every row exactly once
    whole = pdata.assign_units(mix, 1, 2)  # 3 shards, 2 workers: whole shards, round-robin
    assert [(u.path, u.row_start, u.row_stop) for u in whole] == [("shard-00001.parquet", 0, 100)]
    split = pdata.assign_units(mix, 3, 4)  # more workers than shards: a row range of every shard
    assert [(u.path, u.row_start, u.row_stop) for u in split] == [(f"shard-0000{k}.parquet", 75, 100) for k in range(3)]


def decode_documents(tokenizer, flat: np.ndarray) -> list[str]:
    """The complete documents of a packed token stream (split at EOS; a trailing partial one dropped)."""
    eos = tokenizer.eos_token_id
    return [
        tokenizer.backend_tokenizer.decode(d[:-1].tolist())
        for d in np.split(flat, np.flatnonzero(flat == eos) + 1)[:-1]
    ]


def test_stream_reads_each_workers_own_rows_once_per_epoch_without_validation_docs(mix_dir, tokenizer, corpus):
    mix = pdata.read_mix(mix_dir)
    val = pdata.select_validation(mix, 4)
    by_id = {r["id"]: r for r in corpus}
    assert {v: len(t) for v, t in val.texts.items()} == {"pt_PT": 4, "pt_BR": 4}
    assert [by_id[i]["variety"] for i in val.ids] == ["pt_PT"] * 4 + ["pt_BR"] * 4
    held_out = set(val.ids)
    streamed = []
    for rank in range(2):
        units = pdata.assign_units(mix, rank, 2)
        expected = []
        for u in units:
            table = pq.read_table(u.folder.join(u.path)).slice(u.row_start, u.row_stop - u.row_start)
            expected += [
                t for i, t in zip(table["id"].to_pylist(), table["text"].to_pylist()) if t and i not in held_out
            ]
        stream = pdata.PackedStream(
            units, tokenizer.backend_tokenizer, tokenizer.eos_token_id, 32, val.ids, read_batch_docs=16
        )
        chunks = []
        while stream.epoch == 0:
            chunks.append(stream.next_batch(2).ravel())
        docs = decode_documents(tokenizer, np.concatenate(chunks))
        assert docs[: len(expected)] == expected  # its own rows, in order, EOS-separated, none lost
        assert docs[len(expected) :] == expected[: len(docs) - len(expected)]  # then epoch 2 starts over
        streamed += expected
    training = [r["text"] for r in corpus if r["text"] and r["id"] not in held_out]
    assert sorted(streamed) == sorted(training)  # the two workers together: every training doc once
    assert len(training) == 300 - 8 - 1  # 8 held out, 1 empty


def test_stream_state_resumes_exactly(mix_dir, tokenizer):
    mix = pdata.read_mix(mix_dir)
    units, backend, eos = pdata.assign_units(mix, 0, 2), tokenizer.backend_tokenizer, tokenizer.eos_token_id
    a = pdata.PackedStream(units, backend, eos, 16, [], read_batch_docs=8)
    for _ in range(7):
        a.next_batch(3)
    b = pdata.PackedStream(units, backend, eos, 16, [], read_batch_docs=8)
    b.load_state_dict(a.state_dict())
    compared = 0
    while a.epoch == 0 or compared < 200:  # across units and into the next epoch
        assert np.array_equal(a.next_batch(3), b.next_batch(3))
        compared += 1
    assert (a.epoch, a.unit) == (b.epoch, b.unit) and a.epoch >= 1


def test_prefetcher_yields_the_stream_and_checkpoints_what_was_consumed(mix_dir, tokenizer):
    mix = pdata.read_mix(mix_dir)
    units, backend, eos = pdata.assign_units(mix, 1, 2), tokenizer.backend_tokenizer, tokenizer.eos_token_id
    plain = pdata.PackedStream(units, backend, eos, 16, [], read_batch_docs=8)
    loader = pdata.Prefetcher(pdata.PackedStream(units, backend, eos, 16, [], read_batch_docs=8), 4, depth=3)
    try:
        for _ in range(25):
            assert np.array_equal(loader.next_batch(), plain.next_batch(4))
        state, expected = loader.state_dict(), plain.state_dict()  # the thread has packed further by now
        assert (state["epoch"], state["unit"], state["row"]) == (expected["epoch"], expected["unit"], expected["row"])
        assert np.array_equal(state["buffer"], expected["buffer"])
    finally:
        loader.close()


def test_validation_batch_pads_the_last_sequence_with_ignored_labels(tokenizer):
    backend, eos = tokenizer.backend_tokenizer, tokenizer.eos_token_id
    inputs, labels = pdata.validation_batch(backend, ["O autocarro chegou à paragem."] * 3, eos, 16)
    n_tokens = len(pdata.tokenize(backend, ["O autocarro chegou à paragem."] * 3, eos))
    assert inputs.shape == labels.shape and inputs.shape[1] == 16
    assert (labels != pdata.IGNORE_INDEX).sum() == n_tokens


def test_read_mix_errors_are_one_line(tmp_path, mix_dir):
    with pytest.raises(UsageError, match="manifest.json not found"):
        pdata.read_mix(tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    manifest = json.loads((mix_dir / "manifest.json").read_text())
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UsageError, match="shard file missing: .*shard-00000.parquet"):
        pdata.read_mix(broken)


# ------------------------------------------------------------------------------------------ config


def test_sample_configs_load():
    from lusomix.pretrain.config import load_pretrain_config

    tiny = load_pretrain_config(TINY_CONFIG)
    assert tiny.model.checkpoint is None and tiny.data.context_length == 128 and tiny.distributed.workers == 2
    gpu = load_pretrain_config(REPO / "data_samples" / "pretrain-gpu.yaml")
    assert gpu.distributed.use_gpu and gpu.distributed.strategy == "fsdp" and gpu.model.rope_scaling


@pytest.mark.parametrize(
    "text, message",
    [
        ("model:\n  hiden_size: 64\n", r"unknown key 'model\.hiden_size'"),
        ("train:\n  max_steps: -1\n", r"train\.max_steps: Input should be greater than 0"),
        ("model:\n  rope_scaling: {rope_type: wobbly, factor: 2}\n", r"model\.rope_scaling: .*rope_type must be"),
        ("model:\n  hidden_size: 100\n  num_heads: 3\n", r"model: .*num_heads must divide hidden_size"),
        ("distributed: [1, 2\n", r"\.yaml:2:1: YAML syntax error"),
    ],
)
def test_config_errors_name_the_key(tmp_path, text, message):
    from lusomix.pretrain.config import load_pretrain_config

    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message) as info:
        load_pretrain_config(path)
    assert "\n" not in str(info.value)


def test_bad_inputs_are_usage_errors_before_anything_runs(tmp_path, mix_dir):
    from lusomix.pretrain.config import PretrainConfig
    from lusomix.pretrain.loop import run_pretrain

    config = PretrainConfig.model_validate({"model": {"checkpoint": str(tmp_path / "no-such-model")}})
    with pytest.raises(UsageError, match="model.checkpoint not found: .*no-such-model"):
        run_pretrain(config, mix_dir, tmp_path / "out")
    with pytest.raises(UsageError, match="no mix at"):
        run_pretrain(PretrainConfig(), tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written for a bad command


def test_a_mix_too_small_for_the_workers_trains_with_fewer_or_is_skipped(tmp_path, mix_dir, corpus):
    from lusomix.errors import PassSkipped
    from lusomix.pretrain.config import PretrainConfig
    from lusomix.pretrain.data import read_mix, usable_workers
    from lusomix.pretrain.loop import run_pretrain

    mix = read_mix(mix_dir)  # 300 rows in 3 shards
    assert usable_workers(mix, [], 2) == 2
    assert usable_workers(mix, [], 400) == 100  # a row range of every 100-row shard each
    ids = [r["id"] for r in corpus]
    # every document of two shards held out: only one worker's share keeps training text
    held_two_shards = ids[: 2 * len(ids) // 3]
    assert usable_workers(mix, held_two_shards, 3) == 1
    assert usable_workers(mix, ids, 2) == 0
    # all held out for validation (a tiny mix): skipped with its reason, nothing written, no Ray started
    tiny = write_mix(tmp_path / "tiny", corpus[:4], 1)
    config = PretrainConfig.model_validate({"data": {"val_docs_per_variety": 8}})
    with pytest.raises(PassSkipped, match="has no training text .4 rows, 4 of them held out"):
        run_pretrain(config, tiny, tmp_path / "out")
    empty = write_mix(tmp_path / "empty", [], 1)
    with pytest.raises(PassSkipped, match="no training text"):
        run_pretrain(PretrainConfig(), empty, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_continued_pretraining_loads_a_local_checkpoint_and_extends_its_context(tmp_path, tokenizer):
    import torch

    from lusomix.pretrain.config import PretrainConfig
    from lusomix.pretrain.model import build_model

    small = {"hidden_size": 64, "num_layers": 1, "num_heads": 4, "num_kv_heads": 2, "intermediate_size": 128}
    base = build_model(PretrainConfig.model_validate({"model": small, "data": {"context_length": 64}}), tokenizer)
    base.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    config = PretrainConfig.model_validate(
        {
            "model": {"checkpoint": str(tmp_path / "base"), "rope_scaling": {"type": "linear", "factor": 2.0}},
            "data": {"context_length": 128},
        }
    )
    model = build_model(config, pdata.load_tokenizer(config.model.checkpoint))
    assert model.config.max_position_embeddings == 128
    assert model.config.rope_parameters["rope_type"] == "linear" and model.config.rope_parameters["factor"] == 2.0
    assert model.model.rotary_emb.rope_type == "linear"
    for (name, a), b in zip(base.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name  # the checkpoint's weights, not a fresh init


def test_cli_reports_a_missing_config(tmp_path):
    from lusomix.pretrain.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["pretrain", str(tmp_path / "nope.yaml"), "--mix", str(tmp_path), "--workers", "1"])
    with pytest.raises(UsageError, match="config not found"):
        args.func(args)


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    from lusomix.pretrain.loop import lr_factor

    factors = [lr_factor(s, warmup=4, decay=20, min_ratio=0.1) for s in range(30)]
    assert factors[:5] == sorted(factors[:5]) and max(factors) == pytest.approx(1.0)
    assert factors[20] == pytest.approx(0.1) and factors[29] == pytest.approx(0.1)


# ------------------------------------------------------------------------------------------ training


def read_metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.ray
def test_tiny_run_learns_and_resumes(tmp_path, mix_dir, capsys):
    from lusomix.pretrain.config import load_pretrain_config
    from lusomix.pretrain.loop import run_pretrain

    config = load_pretrain_config(TINY_CONFIG)
    out = tmp_path / "run"
    first = run_pretrain(config, mix_dir, out, max_steps=40)

    records = read_metrics(out)
    assert [r["step"] for r in records] == list(range(1, 41))
    losses = [r["loss"] for r in records]
    # from ln(2048) ≈ 7.6 down: the corpus repeats 40 sentences, a tiny model learns them fast
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses
    evals = [r for r in records if "val_loss_pt_PT" in r]
    assert [r["step"] for r in evals] == [10, 20, 30, 40]
    assert evals[-1]["val_loss_pt_PT"] < evals[0]["val_loss_pt_PT"]
    assert evals[-1]["val_loss_pt_BR"] < evals[0]["val_loss_pt_BR"]
    assert all(r["tokens_per_s"] > 0 and r["lr"] > 0 for r in records)
    assert first["steps"] == 40 and first["last_loss"] == losses[-1] and first["val_loss_pt_BR"] is not None
    ckpts = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert ckpts == ["step-000020", "step-000040"]  # keep_checkpoints: 2, no .tmp- left behind
    assert {p.name for p in (out / "checkpoints" / "step-000040").iterdir()} >= {
        "state",
        "scheduler.pt",
        "trainer_state.json",
        "worker-00000.pt",
        "worker-00001.pt",
    }
    assert (out / "tokenizer" / "tokenizer.json").is_file() and (out / "loss.png").stat().st_size > 1000
    assert (out / "model" / "config.json").is_file()

    # the second run goes through the command line, as a user would continue it
    from lusomix.pretrain.cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["pretrain", str(TINY_CONFIG), "--mix", str(mix_dir), "--output", str(out), "--max-steps", "50"]
    )
    assert args.func(args) == 0
    assert "pretrain: step 50 (from 40)" in capsys.readouterr().out
    second = json.loads((out / "summary.json").read_text())
    records = read_metrics(out)
    assert [r["step"] for r in records] == list(range(1, 51))  # continued, not restarted
    assert second["resumed_from_step"] == 40 and second["steps"] == 50
    assert records[40]["loss"] < np.mean(losses[:5]) * 0.6  # it starts from the trained weights
    assert records[40]["tokens_seen"] == records[39]["tokens_seen"] + records[0]["tokens_seen"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000040", "step-000050"]


def test_a_failed_training_is_one_line_and_exit_1_whichever_command_ran_it(tmp_path, mix_dir, monkeypatch, capsys):
    import shutil

    from lusomix.errors import PassFailed
    from lusomix.pipeline.cli import main
    from lusomix.pretrain import loop as pretrain

    def fail(*args, **kwargs):
        raise PassFailed(f"pretraining failed: RuntimeError: boom (logs: {tmp_path / 'ray'})")

    monkeypatch.setattr(pretrain, "run_pretrain", fail)
    samples = Path(__file__).resolve().parents[1] / "data_samples"
    assert main(["pretrain", str(samples / "pretrain-tiny.yaml"), "--mix", str(mix_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"lusomix: failed: pretraining failed: RuntimeError: boom (logs: {tmp_path / 'ray'})"]
    # the same failure inside `lusomix run --stages pretrain`
    run = tmp_path / "run"
    shutil.copytree(mix_dir, run / "mixes" / "ptpt-first")
    assert main(["run", str(samples / "demo.yaml"), "--output", str(run), "--stages", "pretrain"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"lusomix: failed: pretraining failed: RuntimeError: boom (logs: {tmp_path / 'ray'})"]


def test_pretraining_without_the_train_extra_says_so_in_one_line(monkeypatch, tmp_path, capsys):
    import sys

    import lusomix.pretrain
    from lusomix.pipeline.cli import main

    monkeypatch.delitem(sys.modules, "lusomix.pretrain.loop", raising=False)
    monkeypatch.delattr(lusomix.pretrain, "loop", raising=False)
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    samples = Path(__file__).resolve().parents[1] / "data_samples"
    assert main(["pretrain", str(samples / "pretrain-tiny.yaml"), "--mix", str(tmp_path)]) == 2
    assert "pretraining needs the train extra" in capsys.readouterr().err
