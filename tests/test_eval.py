"""`lusomix eval`: scoring by log-likelihood per byte, pair preference, cloze; the sets' files; bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lusomix.errors import UsageError
from lusomix.pretrain import eval_sets
from tests.conftest import run_cli
from tests.test_pretrain import PT_BR, PT_PT

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core machine two threads spin against each other (10x slower here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_model(tokenizer, context: int = 64, hidden: int = 32):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=-(-len(tokenizer) // 64) * 64,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        intermediate_size=2 * hidden,
        max_position_embeddings=context,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config)


def train_on(model, tokenizer, texts: list[str], steps: int):
    """Full-batch steps on `texts` alone: the model learns one side's wording."""
    from lusomix.pretrain.data import IGNORE_INDEX

    enc = tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
    width = max(len(e.ids) for e in enc) + 1
    inputs = torch.full((len(texts), width), tokenizer.eos_token_id)
    labels = torch.full((len(texts), width), IGNORE_INDEX)
    for row, e in enumerate(enc):
        seq = torch.tensor([tokenizer.eos_token_id, *e.ids])
        inputs[row, : len(seq)], labels[row, : len(seq)] = seq, seq
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model.eval()


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from lusomix.pretrain.data import train_tokenizer

    return train_tokenizer(PT_PT + PT_BR, 400, tmp_path_factory.mktemp("tok") / "tokenizer")


@pytest.fixture(scope="module")
def models(tmp_path_factory, tokenizer) -> dict[str, Path]:
    """One model trained only on the European sentences, one only on the Brazilian ones, saved as run's model/."""
    saved = {}
    for side, texts in (("pt_PT", PT_PT), ("pt_BR", PT_BR)):
        folder = tmp_path_factory.mktemp(side) / "model"
        train_on(tiny_model(tokenizer), tokenizer, texts, steps=60).save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        saved[side] = folder
    return saved


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sets")
    out = {
        "pairs": folder / "pairs.tsv",
        "text": folder / "text.tsv",
        "cloze": folder / "cloze.txt",
    }
    out["pairs"].write_text("".join(f"{pt}\t{br}\n" for pt, br in zip(PT_PT, PT_BR)), encoding="utf-8")
    out["text"].write_text(
        "".join(f"{t}\tpt_PT\n" for t in PT_PT[:10]) + "".join(f"{t}\tpt_BR\n" for t in PT_BR[:10]), encoding="utf-8"
    )
    out["cloze"].write_text("".join(t.rstrip(".") + "\n" for t in PT_PT), encoding="utf-8")
    return out


def eval_json(capsys, model: Path, *args: str) -> dict:
    capsys.readouterr()
    assert run_cli("eval", str(model), *args, "--json") == 0
    return json.loads(capsys.readouterr().out)


def test_a_model_trained_on_one_side_prefers_that_side(models, files, capsys):
    pairs = str(files["pairs"])
    european = eval_json(capsys, models["pt_PT"], "--pairs", pairs)["pairs"][pairs]
    brazilian = eval_json(capsys, models["pt_BR"], "--pairs", pairs)["pairs"][pairs]
    assert european["n"] == brazilian["n"] == 20
    assert european["prefers_pt_PT"] >= 0.9 and european["delta_bpb"] > 0
    assert brazilian["prefers_pt_PT"] <= 0.1 and brazilian["delta_bpb"] < 0
    low, high = european["ci95"]
    assert 0 <= low <= european["prefers_pt_PT"] <= high <= 1


def test_bits_per_byte_per_label_and_cloze(models, files, capsys):
    text, cloze = str(files["text"]), str(files["cloze"])
    result = eval_json(capsys, models["pt_PT"], "--text", text, "--cloze", cloze)
    by_label = result["text"][text]
    assert set(by_label) == {"pt_PT", "pt_BR"} and by_label["pt_PT"]["n"] == by_label["pt_BR"]["n"] == 10
    assert 0 < by_label["pt_PT"]["bpb"] < by_label["pt_BR"]["bpb"]  # the side it was trained on is cheaper
    assert result["cloze"][cloze]["n"] == 20 and 0 <= result["cloze"][cloze]["accuracy"] <= 1


def test_a_cloze_item_is_right_when_each_token_of_its_last_word_is_the_argmax(models, tokenizer):
    from transformers import AutoModelForCausalLM

    from lusomix.pretrain.evaluate import score_items

    model = AutoModelForCausalLM.from_pretrained(models["pt_PT"]).eval()
    items = [(t.rstrip(".").rpartition(" ")[0], " " + t.rstrip(".").rpartition(" ")[2]) for t in PT_PT + PT_BR]
    _, greedy = score_items(model, tokenizer, items, 8, torch.device("cpu"))
    expected = []
    for context, word in items:
        enc = tokenizer.backend_tokenizer.encode(context + word, add_special_tokens=False)
        ids = [tokenizer.eos_token_id, *enc.ids]
        first = 1 + next(i for i, (_, end) in enumerate(enc.offsets) if end > len(context))
        with torch.no_grad():
            choice = model(input_ids=torch.tensor([ids])).logits[0].argmax(-1)
        expected.append(all(choice[p - 1].item() == ids[p] for p in range(first, len(ids))))
    assert greedy.tolist() == expected


def test_bits_per_byte_is_the_models_own_loss_and_windows_score_every_token_once(tokenizer):
    from lusomix.pretrain.evaluate import score_items

    model = tiny_model(tokenizer, context=64).eval()
    text = PT_PT[0]
    ids = [tokenizer.eos_token_id, *tokenizer.backend_tokenizer.encode(text, add_special_tokens=False).ids]
    with torch.no_grad():
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids])).loss.item()
    nll, _ = score_items(model, tokenizer, [("", text)], 4, torch.device("cpu"))
    assert nll[0] == pytest.approx(loss * (len(ids) - 1), rel=1e-4)
    # a context of 8: the same tokens in windows, each predicted once from fewer tokens before it
    short = tiny_model(tokenizer, context=8).eval()
    short.load_state_dict(model.state_dict())
    expected, step = 0.0, 7
    with torch.no_grad():
        for lo in range(0, len(ids) - 1, step):
            window = torch.tensor([ids[lo : lo + 8]])
            if window.shape[1] > 1:
                expected += short(input_ids=window, labels=window).loss.item() * (window.shape[1] - 1)
    windowed, _ = score_items(short, tokenizer, [("", text)], 4, torch.device("cpu"))
    assert windowed[0] == pytest.approx(expected, rel=1e-4)


def test_wilson_interval():
    from lusomix.pretrain.evaluate import wilson

    low, high = wilson(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert wilson(0, 10)[0] == 0 and 0 < wilson(0, 10)[1] < 0.35


def test_reading_the_set_files(tmp_path):
    path = tmp_path / "cloze.txt"
    path.write_text("O sol brilhou  no céu\n\nA chuva caiu sobre as folhas\n", encoding="utf-8")
    assert eval_sets.read_cloze(path) == [("O sol brilhou  no", "céu"), ("A chuva caiu sobre as", "folhas")]
    path.write_text("só texto\ttexto e rótulo\tpt_PT\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"text.tsv|cloze.txt:1"):
        eval_sets.read_texts(path)
    assert eval_sets.load_set("pairs", "frmt").path.name == "pairs_frmt.tsv"
    with pytest.raises(UsageError, match="is a pairs set, not a cloze set"):
        eval_sets.load_set("cloze", "frmt")


@pytest.mark.parametrize(
    ("content", "flag", "message"),
    [
        ("uma linha sem tabulador\n", "--pairs", "bad.txt:1: a pairs line is"),
        ("a\tb\tc\n", "--text", "bad.txt:1: a text line is"),
        ("palavra\n", "--cloze", "bad.txt:1: a cloze line needs a context"),
        ("\n\n", "--pairs", "an empty pairs file"),
        (b"\xff\xfe caf\xe9\n", "--text", "not UTF-8"),
    ],
)
def test_bad_files_are_one_line_and_exit_2(tmp_path, capsys, models, content, flag, message):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert run_cli("eval", str(models["pt_PT"]), flag, str(bad)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_folder_that_is_no_model_is_one_line_and_exit_2(tmp_path, capsys, files):
    assert run_cli("eval", str(tmp_path / "missing"), "--pairs", str(files["pairs"])) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert run_cli("eval", str(tmp_path), "--pairs", str(files["pairs"])) == 2
    assert "neither a model folder" in capsys.readouterr().err
    assert run_cli("eval", str(tmp_path), "--pairs", str(tmp_path / "none.tsv")) == 2
    assert "pairs file not found" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.ray
def test_the_demo_runs_model_and_its_last_checkpoint_score_the_shipped_sets(sample_run, capsys):
    """The sample mix's tiny model (the demo's pretrain pass, a few dozen steps): every shipped set, the
    JSON's shape, finite scores within range; its last checkpoint scores the same as the exported model."""
    run = sample_run / "pretrain" / "ptpt-first"
    result = eval_json(capsys, run / "model")
    assert set(result) == {"pairs", "text", "cloze"}
    assert set(result["pairs"]) == {"frmt", "docs"} and set(result["text"]) == {"heldout"}
    assert set(result["cloze"]) == {"calamept"}
    for r in result["pairs"].values():
        assert set(r) == {"n", "prefers_pt_PT", "ci95", "delta_bpb"} and r["n"] > 100
        assert 0 <= r["ci95"][0] <= r["prefers_pt_PT"] <= r["ci95"][1] <= 1 and math.isfinite(r["delta_bpb"])
    assert set(result["text"]["heldout"]) == {"pt_PT", "pt_BR"}
    for r in result["text"]["heldout"].values():
        assert set(r) == {"n", "bpb"} and r["n"] > 100 and 0.5 < r["bpb"] < 16  # an untrained model: ~log2(vocab)
    assert result["cloze"]["calamept"]["n"] == 2076 and 0 <= result["cloze"]["calamept"]["accuracy"] <= 1
    last = max((run / "checkpoints").glob("step-*"))
    assert eval_json(capsys, last) == result
    # the pretrain pass scored the eval: block's sets (the sample config's) at every eval_every and at the end
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    scored = [r["step"] for r in records if "eval" in r]
    assert scored and scored[-1] == records[-1]["step"]
    assert set(records[-1]["eval"]["pairs"]) == {"frmt", "docs"} and records[-1]["eval"]["pairs"]["frmt"]["n"] == 200
    summary = json.loads((run / "summary.json").read_text())
    assert summary["eval"] == records[-1]["eval"] and (run / "eval.png").stat().st_size > 0
    report = (sample_run / "report" / "index.html").read_text()
    assert "Evaluation sets (last step)" in report and 'alt="evaluation sets over training steps"' in report


def test_the_eval_block_of_a_pretraining_config(tmp_path):
    from lusomix.pretrain.config import load_pretrain_config

    (tmp_path / "mine.tsv").write_text("o meu ecrã\ta minha tela\n", encoding="utf-8")
    path = tmp_path / "p.yaml"
    path.write_text("eval:\n  pairs: [frmt, mine.tsv]\n  cloze: []\n  max_items: 100\n", encoding="utf-8")
    config = load_pretrain_config(path)
    assert config.eval.pairs == ["frmt", str(tmp_path / "mine.tsv")]  # relative to the config file
    sets = eval_sets.configured_sets(config.eval)
    assert [(s.kind, s.name, len(s.items)) for s in sets] == [
        ("pairs", "frmt", 100),
        ("pairs", str(tmp_path / "mine.tsv"), 1),
        ("text", "heldout", 100),
    ]
    assert sets[0].items[1] == eval_sets.load_set("pairs", "frmt").items[4]  # every 4th of 400: the whole file
    path.write_text("eval:\n  enabled: false\n", encoding="utf-8")
    assert eval_sets.configured_sets(load_pretrain_config(path).eval) == []
    path.write_text("eval:\n  pair: [frmt]\n", encoding="utf-8")
    with pytest.raises(UsageError, match="unknown key 'eval.pair'"):
        load_pretrain_config(path)
    path.write_text("eval:\n  text: [missing.tsv]\n", encoding="utf-8")
    with pytest.raises(UsageError, match="text file not found"):  # before any training starts
        eval_sets.configured_sets(load_pretrain_config(path).eval)
