"""Progress a person can watch: under each executor, a run whose stderr is not a terminal prints plain
progress lines (no control characters) whose last counts equal the pass's stats.json; -q prints none; on
a terminal, a tqdm bar ends on the same counts."""

from __future__ import annotations

import io
import json
import re
import shutil
import signal

import pytest
from conftest import SAMPLES, assert_a_stop_signal_during_the_fork_stops, run_cli, run_cli_process
from datatrove.data import Document

from lusomix.pipeline.progress import MixProgress, PassProgress, TaskCounter

SMALL = SAMPLES / "small"
LINE = re.compile(r"  extract: (\d+)/5 tasks(?:, (\d+) captures, (\d+) documents)?, (\S+) of (\S+) read, (.*)")


def extract_with_progress(tmp_path, capsys, *flags: str) -> tuple[list[str], dict]:
    out = tmp_path / "out"
    capsys.readouterr()
    argv = ["run", str(SAMPLES / "demo.yaml"), "--input", str(SMALL), "--output", str(out), "--passes", "extract"]
    assert run_cli(*argv, *flags) == 0
    err = capsys.readouterr().err
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", err), repr(err)  # plain lines only: no \r, no escapes
    return err.splitlines(), json.loads((out / "stats.json").read_text())


def check_lines(lines: list[str], stats: dict) -> None:
    # (under Ray with a local output folder, datatrove warns once about it: not a progress line)
    shown = [LINE.fullmatch(line) for line in lines if line.startswith("  extract:")]
    assert shown and all(shown), lines
    last = shown[-1]
    assert last.group(1) == "5" and last.group(6).startswith("done in ")
    assert (int(last.group(2)), int(last.group(3))) == (stats["captures"], stats["kept"]) == (9, 5)
    assert last.group(4) == last.group(5)  # every byte of the input read
    # counts only grow, line after line
    captures = [int(m.group(2) or 0) for m in shown]
    assert captures == sorted(captures)


@pytest.mark.slow
def test_local_executor_prints_plain_progress_lines_ending_on_the_stats(tmp_path, capsys):
    lines, stats = extract_with_progress(tmp_path, capsys, "--progress-every", "0.2", "--executor", "local")
    check_lines(lines, stats)


@pytest.mark.slow
@pytest.mark.ray
def test_ray_executor_prints_plain_progress_lines_ending_on_the_stats(tmp_path):
    """In a process of its own, as users run Ray (stderr is a pipe there: not a terminal)."""
    out = tmp_path / "out"
    argv = ["run", str(SAMPLES / "demo.yaml"), "--input", str(SMALL), "--output", str(out), "--passes", "extract"]
    done = run_cli_process(*argv, "--progress-every", "0.2", "--executor", "ray")
    assert done.returncode == 0, done.stderr
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", done.stderr), repr(done.stderr)
    check_lines(done.stderr.splitlines(), json.loads((out / "stats.json").read_text()))


@pytest.mark.slow
def test_a_resumed_run_counts_what_the_earlier_run_completed(tmp_path, capsys):
    extract_with_progress(tmp_path, capsys, "-q")
    (tmp_path / "out" / "logs" / "extract" / "completions" / "00002").unlink()  # that task runs again, alone
    lines, stats = extract_with_progress(tmp_path, capsys, "--progress-every", "0.2")
    check_lines(lines, stats)


@pytest.mark.slow
def test_quiet_prints_no_progress(tmp_path, capsys):
    lines, stats = extract_with_progress(tmp_path, capsys, "-q")
    assert lines == [] and stats["kept"] == 5


def test_progress_every_is_a_number_of_seconds(capsys):
    with pytest.raises(SystemExit) as exit_:
        run_cli("run", str(SAMPLES / "demo.yaml"), "--progress-every", "0")
    assert exit_.value.code == 2 and "a number of seconds > 0" in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def documents(rejected: int, kept: int) -> list[Document]:
    docs = [Document(text="", id=f"r{i}", metadata={"reject": "not_html", "source_offset": i}) for i in range(rejected)]
    return docs + [Document(text="x", id=f"k{i}", metadata={"source_offset": 100 + i}) for i in range(kept)]


def test_a_terminal_gets_a_tqdm_bar_that_ends_on_the_tasks_counts(monkeypatch, tmp_path):
    """Two tasks counted in this process (the tally is the same one the workers reach): the bar's last
    state holds their sums."""
    monkeypatch.setenv("LUSOMIX_PROGRESS_EVERY", "10")
    inputs = [tmp_path / "a.warc", tmp_path / "b.warc"]
    for path, size in zip(inputs, (200, 300), strict=True):
        path.write_bytes(b"x" * size)
    counter, terminal = TaskCounter(), Terminal()
    with PassProgress("extract", 2, "local", counter, inputs=[str(p) for p in inputs], stream=terminal) as progress:
        assert list(counter(iter(documents(2, 3)), rank=0)) and list(counter(iter(documents(1, 4)), rank=1))
        totals = progress.totals()
    assert totals == {"tasks": 2, "captures": 10, "documents": 7, "bytes": 500, "bytes_total": 500}
    shown = terminal.getvalue()
    assert "\r" in shown and "extract" in shown  # redrawn in place
    assert shown.rstrip().endswith("2/2 tasks, 10 captures, 7 documents]")
    assert "500/500" in shown


MIX_LINE = re.compile(r"  mix (\S+): (\d+)/(\d+) rows read, (\d+) written, (.*)")


@pytest.mark.slow
def test_the_mix_pass_prints_rows_read_and_written_ending_on_the_manifest(sample_run, tmp_path, capsys):
    out = tmp_path / "out"
    for part in ("docs", "dedup"):
        shutil.copytree(sample_run / part, out / part)
    capsys.readouterr()
    argv = ["run", str(SAMPLES / "demo.yaml"), "--output", str(out), "--passes", "mix", "--progress-every", "0.001"]
    assert run_cli(*argv) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if MIX_LINE.fullmatch(line)]
    for name in ("ptpt-first", "balanced"):
        shown = [m for m in map(MIX_LINE.fullmatch, lines) if m and m.group(1) == name]
        rows = json.loads((out / "mixes" / name / "manifest.json").read_text())["totals"]["rows"]
        assert len(shown) >= 2 and shown[-1].group(5).startswith("done in ")
        assert [int(x) for x in shown[-1].group(2, 3, 4)] == [rows, rows, rows]
        done = [int(m.group(2)) + int(m.group(4)) for m in shown]
        assert done == sorted(done) and all(int(m.group(3)) == rows for m in shown)


def test_a_terminal_gets_a_mix_bar_that_ends_on_the_rows(monkeypatch):
    monkeypatch.setenv("LUSOMIX_PROGRESS_EVERY", "10")
    terminal = Terminal()
    with MixProgress("mix m", stream=terminal) as progress:
        for read in (3, 7):
            progress(read, 0, 7)
        progress(7, 7, 7)
    shown = terminal.getvalue()
    assert "\r" in shown and "14/14" in shown and shown.rstrip().endswith("7/7 rows read, 7 written]")


DEDUP_LINE = re.compile(r"  dedup: (\d+)/(\d+) tasks, (\d+)/26 units, (.*)")


@pytest.mark.slow
def test_the_dedup_pass_counts_its_grouping_units_up_to_all_of_them(sample_run, tmp_path, capsys):
    """Grouping tasks take several units each (25 bands and the exact duplicates): the lines count units."""
    out = tmp_path / "out"
    shutil.copytree(sample_run / "docs", out / "docs")
    capsys.readouterr()
    argv = ["run", str(SAMPLES / "demo.yaml"), "--output", str(out), "--passes", "dedup", "--progress-every", "0.01"]
    assert run_cli(*argv, "--workers", "2") == 0
    shown = [m for m in map(DEDUP_LINE.fullmatch, capsys.readouterr().err.splitlines()) if m]
    assert shown and shown[-1].group(4).startswith("done in ")
    assert shown[-1].group(1, 2, 3) == ("2", "2", "26")  # two tasks (one per worker), every unit
    units = [int(m.group(3)) for m in shown]
    assert units == sorted(units)
    assert sorted(p.name for p in (out / "dedup" / "edges").iterdir()) == [
        f"band-{b:05d}.parquet" for b in range(25)
    ] + ["exact.parquet"]


@pytest.mark.faults
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_that_arrives_while_the_progress_tally_forks_is_not_lost(signum):
    # the local tally's manager process is forked at the start of each pass
    setup = (
        "from lusomix.pipeline.progress import PassProgress, TaskCounter\nos.environ['LUSOMIX_PROGRESS_EVERY'] = '10'"
    )
    forks = "with PassProgress('extract', 1, 'local', TaskCounter(), frozenset()):\n    pass"
    assert_a_stop_signal_during_the_fork_stops(signum, forks, setup)
