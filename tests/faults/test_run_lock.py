"""Fault matrix: two `lusomix run` on one output folder at once, and a lock left by a killed run."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO

from lusomix.pipeline.cli import main

pytestmark = pytest.mark.faults


def test_a_second_run_on_the_same_output_is_refused_at_once(tmp_path, capsys):
    """Two runs on one output folder: the second is refused with one line naming the folder and the holder;
    a lock left by a killed run is gone with its process, and the same command then runs."""
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            "f = open(sys.argv[1], 'a+'); fcntl.flock(f, fcntl.LOCK_EX)\n"
            "f.write('pid 4242 on elsewhere\\n'); f.flush(); print('held', flush=True); time.sleep(120)",
            str(out / ".lusomix.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        archive = REPO / "data_samples" / "archives" / "damaged-bad-headers.warc"
        config = tmp_path / "c.yaml"
        config.write_text(f"input: [{archive}]\noutput: {out}\nexecutor: {{workers: 1}}\n")
        assert main(["run", str(config), "--passes", "extract"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert str(out) in err and "pid 4242 on elsewhere" in err
        assert not (out / "docs").exists()  # refused before any work
    finally:
        holder.kill()  # as kill -9 would: the lock file stays, its flock goes
        holder.wait()
    assert main(["run", str(config), "--passes", "extract"]) == 0
    assert (out / "docs").is_dir()
