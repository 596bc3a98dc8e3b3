"""The run folder's one I/O layer: whole files or nothing, scratch folders cleanup knows, and every pass on a
filesystem that is not a local disk (fsspec's memory://) giving what a local run gives."""

from __future__ import annotations

import ast
import json
import os
import uuid
from pathlib import Path

import fsspec
import polars as pl
import pytest
from conftest import SAMPLES

from lusomix.manifest import Manifest
from lusomix.pipeline.config import load_config, with_overrides
from lusomix.pipeline.plan import run_passes
from lusomix.run_folder import RunFolder, parts

LUSOMIX = Path(__file__).resolve().parents[1] / "lusomix"


@pytest.fixture(params=["local", "memory"])
def folder(request, tmp_path) -> RunFolder:
    if request.param == "local":
        yield RunFolder(tmp_path / "run")
        return
    url = f"memory://lusomix-test-{uuid.uuid4().hex}/run"
    yield RunFolder(url)
    fsspec.filesystem("memory").rm(url.removeprefix("memory://").split("/")[0], recursive=True)


def test_a_published_file_is_whole_and_a_failed_one_is_nowhere(folder):
    folder.write_json("a/b.json", {"x": 1})
    assert folder.read_json("a/b.json") == {"x": 1}
    with pytest.raises(RuntimeError), folder.publish("a/c.txt") as tmp:
        Path(tmp).write_text("half")
        raise RuntimeError("the writer died")
    assert not folder.exists("a/c.txt")
    with folder.publish("model") as tmp:  # a folder, published file by file
        os.makedirs(f"{tmp}/sub")
        Path(f"{tmp}/sub/w.bin").write_bytes(b"\x00\x01")
        Path(f"{tmp}/config.json").write_text("{}")
    assert folder.glob("model/**/*.*") == ["model/config.json", "model/sub/w.bin"]
    folder.append_text("m.jsonl", "1\n")
    folder.append_text("m.jsonl", "2\n")
    assert folder.read_text("m.jsonl") == "1\n2\n"
    with pytest.raises(ValueError, match="publish"):
        folder.open("x", "wb")


def test_parts_are_listed_in_order_and_temporaries_never_match(folder):
    for name in ("part-00001.parquet", "part-00000.parquet", ".part-00002.parquet.123.tmp"):
        folder.write_bytes(f"docs/{name}", b"x")
    assert parts(folder, "docs") == ["docs/part-00000.parquet", "docs/part-00001.parquet"]


def test_scratch_folders_follow_the_temporary_rule_and_a_dead_writers_are_removed(tmp_path):
    run = RunFolder(tmp_path)
    with run.scratch("buckets-m") as scratch:
        assert Path(scratch).parent == tmp_path and Path(scratch).name.endswith(f".{os.getpid()}.tmp")
    assert not Path(scratch).exists()
    # what a killed run left: a scratch folder, a half-written part, a mix's bucket folder
    left = [tmp_path / ".buckets-m-abc.999999.tmp", tmp_path / "docs" / ".part-00000.parquet.999999.tmp"]
    left[0].mkdir()
    left[1].parent.mkdir()
    left[1].write_bytes(b"x")
    assert run.remove_temporaries() == 2
    assert not any(p.exists() for p in left)


_MODULE_WRITERS = {
    "os": {"replace", "rename", "remove", "unlink", "makedirs", "mkdir", "rmdir"},
    "shutil": {"rmtree", "move", "copy", "copy2", "copyfile", "copytree"},
    "tempfile": {"mkdtemp", "mkstemp", "NamedTemporaryFile", "TemporaryDirectory"},
}
_PATH_WRITERS = {"write_text", "write_bytes", "mkdir", "unlink", "touch", "rename", "rmdir", "replace"}


def _is_local_path(node: ast.expr) -> bool:
    """``Path(...)``, ``a / b`` or ``p.parent`` / ``p.with_name(...)``: an expression that is a local path."""
    if isinstance(node, ast.Call):
        callee = node.func
        return getattr(callee, "id", None) == "Path" or getattr(callee, "attr", None) == "with_name"
    return isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) or getattr(node, "attr", None) == "parent"


def _direct_writes(path: Path) -> list[str]:
    """The calls of a module that write files without the run folder: ``open`` for writing, os/shutil/tempfile
    writes, pathlib writes on a path expression, datatrove's DataFolder. (Libraries that need a path, such
    as pyarrow's writers or torch.save, are given the local temporary that ``publish`` or ``scratch`` hands
    out.)"""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name):
            modes = [*node.args[1:2], *[k.value for k in node.keywords if k.arg == "mode"]]
            writes = func.id == "open" and any(
                isinstance(m, ast.Constant) and isinstance(m.value, str) and set(m.value) & set("wax+") for m in modes
            )
            if writes or func.id in {"get_datafolder", "DataFolder"}:
                found.append(f"{path.name}:{node.lineno} {func.id}")
        elif isinstance(func, ast.Attribute):
            module = getattr(func.value, "id", None)
            if func.attr in _MODULE_WRITERS.get(module or "", ()) or (
                func.attr in _PATH_WRITERS and _is_local_path(func.value)
            ):
                found.append(f"{path.name}:{node.lineno} {func.attr}")
    return found


# modules that write files of their own, not a run folder's: the variety model's training and corpus
# files, the evaluation sets' builder; and the I/O layer itself
_NOT_A_RUN = {"training.py", "corpus.py", "build_eval_sets.py", "run_folder.py", "run_output.py", "store_lock.py"}


def test_no_module_writes_a_run_folder_but_through_run_folder():
    """How the count of direct writes outside the I/O layer is made (issue: it must be zero)."""
    offenders = [w for p in sorted(LUSOMIX.rglob("*.py")) if p.name not in _NOT_A_RUN for w in _direct_writes(p)]
    assert offenders == []
    # the check sees what it looks for: this file writes local files directly
    found = _direct_writes(Path(__file__))
    assert any(w.endswith(" mkdir") for w in found) and any(w.endswith(" write_text") for w in found)


def _config(output: str):
    config = load_config(str(SAMPLES / "demo.yaml"))
    inputs = [str(SAMPLES / "archives" / name) for name in ("crawl-2009-2012.warc", "crawl-2021-2024.warc")]
    return with_overrides(config, input=inputs, output=output, workers=1, kind="local").model_copy(
        update={"pretrain": None}
    )


def _docs(run: RunFolder, table: str) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(run.open(p)) for p in parts(run, table)]).drop("source_file")


@pytest.mark.slow
def test_every_pass_on_a_filesystem_that_is_not_a_disk_gives_the_local_output(tmp_path):
    """extract, dedup, mix and report with the output on memory:// (one process: the local executor with one
    worker runs its tasks in it): the same documents, rejections, clusters and mix shards (sha256) as a
    local run. The pretrain pass runs in Ray Train workers, other processes, which a memory:// folder does
    not reach: it is compared on a real store in the object-storage tests."""
    passes = ["extract", "dedup", "mix", "report"]
    local = RunFolder(tmp_path / "local")
    run_passes(_config(local.url), passes)
    remote = RunFolder(f"memory://lusomix-run-{uuid.uuid4().hex}/out")
    try:
        run_passes(_config(remote.url), passes)
        for table in ("docs", "rejected"):
            assert _docs(remote, table).equals(_docs(local, table))
        with remote.open("dedup/clusters.parquet") as f:
            assert pl.read_parquet(f).equals(pl.read_parquet(local.join("dedup/clusters.parquet")))
        for name in ("ptpt-first", "balanced"):
            ours, theirs = Manifest.read(remote.mix(name)), Manifest.read(local.mix(name))
            assert [s["sha256"] for s in ours.shards] == [s["sha256"] for s in theirs.shards]
            assert ours.shards and all(remote.mix(name).sha256(s["path"]) == s["sha256"] for s in ours.shards)
        assert "lusomix run report" in remote.read_text("report/index.html")
        stats = remote.read_json("stats.json")
        assert stats["kept"] == json.loads(Path(local.join("stats.json")).read_text())["kept"] > 0
        assert not [p for p in remote.fs.find(remote.path) if p.endswith(".tmp")]
    finally:
        remote.fs.rm(remote.path.split("/")[0], recursive=True)
