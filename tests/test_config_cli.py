"""Config validation and CLI usage errors: one line, exit code 2, no traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

from lusomix.pipeline.cli import main
from lusomix.pipeline.config import load_config
from lusomix.errors import UsageError

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
        ("input: [unclosed\n", "not a readable YAML"),
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
