"""Config validation and CLI usage errors: one line, exit code 2, no traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

from lusomix.errors import UsageError
from lusomix.pipeline.cli import main
from lusomix.pipeline.config import load_config

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return str(path)


def test_demo_config_loads_and_resolves_paths_relative_to_itself():
    config = load_config(str(REPO / "data_samples" / "demo.yaml"))
    assert Path(config.input[0]) == REPO / "data_samples" / "archives"
    assert config.executor.kind == "local"


@pytest.mark.parametrize(
    "text, needle",
    [
        ("ingest:\n  min_wordz: 3\n", "unknown key 'ingest.min_wordz'"),
        ("language:\n  threshold: 2\n", "language.threshold"),
        ("executor:\n  kind: slurm\n", "executor.kind"),
        ("- a\n- b\n", "mapping"),
        ("input: [unclosed\n", "c.yaml:2:1: YAML syntax error: while parsing a flow sequence"),
        ("output: out\ningest:\n  min_words: [1, 2\nlanguage: {}\n", "c.yaml:4:9: YAML syntax error"),
    ],
)
def test_bad_config_is_one_line_error(tmp_path, text, needle):
    with pytest.raises(UsageError) as err:
        load_config(_write(tmp_path, text))
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_cli_bad_usage_exits_2_with_one_line(tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"lusomix: error: config not found: {tmp_path / 'missing.yaml'}"

    config = _write(tmp_path, "{}\n")
    assert main(["run", config, "--input", str(tmp_path / "nope.warc.gz"), "--output", str(tmp_path / "o")]) == 2
    assert "input not found" in capsys.readouterr().err
    assert not (tmp_path / "o" / "docs").exists()


def test_cli_subprocess_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lusomix.pipeline.cli", "run", _write(tmp_path, "bogus: 1\n")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().endswith("unknown key 'bogus'")
    bad_flag = subprocess.run(
        [sys.executable, "-m", "lusomix.pipeline.cli", "run", "x.yaml", "--workers", "two"],
        capture_output=True,
        text=True,
    )
    assert bad_flag.returncode == 2 and len(bad_flag.stderr.strip().splitlines()) == 1


def test_every_command_has_help(capsys):
    for argv in (["--help"], ["run", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 0
    assert "--ray-address" in capsys.readouterr().out


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_bad_output_or_input_location_is_one_line_error(tmp_path, capsys):
    demo = str(REPO / "data_samples" / "demo.yaml")
    a_file = tmp_path / "x.txt"
    a_file.write_text("not a folder")
    cases = [
        (["--output", str(a_file)], "exists and is not a folder"),
        (["--output", ""], "the output folder is empty"),
        (["--output", "nope://bucket/out"], "unknown storage protocol 'nope'"),
        (["--output", str(tmp_path / "o"), "--input", "foo://bar/x.warc"], "cannot read foo://bar/x.warc"),
        (
            ["--output", str(tmp_path / "o"), "--executor", "ray", "--ray-address", "127.0.0.1:1"],
            "cannot reach the Ray cluster",
        ),
    ]
    for extra, needle in cases:
        assert main(["run", demo, "--stages", "extract", *extra]) == 2, extra
        assert needle in _one_line_error(capsys), extra
    # a place the machine will not let us write: the machine's fault, not the user's (exit 1)
    assert main(["run", demo, "--stages", "extract", "--output", "/proc/lusomix-cannot-be-here"]) == 1
    assert "cannot create the output folder /proc/lusomix-cannot-be-here" in _one_line_error(capsys)
    assert not (tmp_path / "o" / "docs").exists()


def test_mix_weights_name_varieties(tmp_path):
    with pytest.raises(UsageError) as err:
        load_config(_write(tmp_path, "mixes:\n  - name: m\n    weights: {pt_XX: 2.0}\n"))
    assert "pt_XX" in str(err.value)


def test_variety_commands_refuse_unusable_files(tmp_path, capsys):
    latin1 = tmp_path / "latin1.tsv"
    latin1.write_bytes("Olá, está bem?\tpt_PT\n".encode("latin-1"))
    assert main(["variety", "eval", "--data", str(latin1)]) == 2
    assert "not UTF-8" in _one_line_error(capsys)
    not_model = tmp_path / "model.ftz"
    not_model.write_text("not a model")
    assert main(["variety", "eval", "--data", str(latin1), "--model", str(not_model)]) == 2
    assert "not a usable variety model" in _one_line_error(capsys)


def test_extract_summary_is_shown_when_a_later_pass_fails(tmp_path, capsys):
    config = _write(
        tmp_path,
        (
            f"input: [{REPO / 'data_samples' / 'archives' / 'damaged-bad-headers.warc'}]\n"
            f"output: {tmp_path / 'out'}\nexecutor: {{workers: 1}}\n"
            "mixes:\n  - name: nothing\n    select: {min_words: 1000000}\n"
        ),
    )
    # the mix needs the dedup pass's clusters, which this run skips: a usage error after the extract pass
    assert main(["run", config, "--stages", "extract,mix"]) == 2
    out, err = capsys.readouterr()
    assert "clusters.parquet" in err
    assert "extract: " in out and "DAMAGED" in out  # what was done is still reported
    # an empty selection is not an error: an empty mix, a warning, exit 0
    assert main(["run", config, "--stages", "dedup,mix"]) == 0
    out, err = capsys.readouterr()
    assert "dedup: " in out and "mix nothing: warning: selects no documents" in out
