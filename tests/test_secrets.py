"""Secrets stay secret: the AWS secret key a run is given appears in no object of its run folder (run.json,
stats.json, logs, the report, the Parquet output) and in no line it prints.

``assert_no_secret`` is the check, for any run folder, local or on a store (``from test_secrets import
assert_no_secret``)."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import SAMPLES

_DECOMPRESS = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".xz": lzma.decompress}


def _readable_forms(name: str, data: bytes) -> list[bytes]:
    """An object's bytes as stored, and decoded where a compressed format would hide a string: Parquet
    tables (values and key-value metadata), gzip, bzip2 and xz files."""
    forms = [data]
    suffix = Path(name).suffix
    if suffix == ".parquet":
        table = pq.read_table(io.BytesIO(data))
        metadata = {
            k.decode(errors="replace"): v.decode(errors="replace") for k, v in (table.schema.metadata or {}).items()
        }
        forms.append(json.dumps([metadata, table.to_pylist()], default=str, ensure_ascii=False).encode())
    elif suffix in _DECOMPRESS:
        forms.append(_DECOMPRESS[suffix](data))
    return forms


def assert_no_secret(folder_or_url: str | os.PathLike, secret: str, *texts: str) -> list[str]:
    """Fail, naming where, if ``secret`` appears in any object under ``folder_or_url`` (a local folder or an
    fsspec URL such as ``s3://bucket/run``; hidden objects included) or in one of ``texts`` (what a run
    printed). Returns the paths of the objects read, so a caller can check the walk reached them."""
    from fsspec.core import url_to_fs

    assert len(secret) >= 8, "a secret this short would match by chance"
    needle = secret.encode()
    fs, root = url_to_fs(str(folder_or_url))
    paths = sorted(fs.find(root, withdirs=False))
    found = [path for path in paths if any(needle in form for form in _readable_forms(path, fs.cat_file(path)))]
    found += [f"printed text #{i}" for i, text in enumerate(texts) if secret in text]
    assert not found, f"the secret key appears in: {', '.join(found)}"
    return paths


def test_the_check_finds_a_secret_in_plain_compressed_and_parquet_objects(tmp_path):
    """The check itself: a secret in a log, inside a gzip file or in a compressed Parquet column is
    found; the same objects without it pass."""
    import pyarrow as pa

    secret = "s3cr3t-" + secrets.token_hex(8)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "task.log").write_text("nothing here\n")
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(b"nothing here either"))
    pq.write_table(pa.table({"text": ["ola", "mundo"]}), tmp_path / "part.parquet", compression="zstd")
    read = assert_no_secret(tmp_path, secret, "a printed line")
    assert {Path(p).name for p in read} == {"task.log", "notes.txt.gz", "part.parquet"}

    hidden = pa.table({"text": ["ola " * 20, f"key={secret} " * 20]})
    pq.write_table(hidden, tmp_path / "part.parquet", compression="gzip", write_statistics=False)
    assert secret.encode() not in (tmp_path / "part.parquet").read_bytes()  # compression hides it
    (tmp_path / "notes.txt.gz").write_bytes(gzip.compress(f"AWS_SECRET_ACCESS_KEY={secret}".encode()))
    with pytest.raises(AssertionError, match=r"notes.txt.gz.*part.parquet.*printed text #1"):
        assert_no_secret(tmp_path, secret, "clean", f"oops {secret}")


def test_the_check_reads_a_run_folder_on_a_store(s3_bucket):
    import s3fs

    secret = "s3cr3t-" + secrets.token_hex(8)
    fs = s3fs.S3FileSystem()
    fs.pipe_file(f"{s3_bucket}/run/.lusomix.lock", b'{"pid": 1}')
    fs.pipe_file(f"{s3_bucket}/run/stats.json", b"{}")
    assert len(assert_no_secret(f"{s3_bucket}/run", secret)) == 2
    fs.pipe_file(f"{s3_bucket}/run/logs/extract/run.json", json.dumps({"key": secret}).encode())
    with pytest.raises(AssertionError, match="run.json"):
        assert_no_secret(f"{s3_bucket}/run", secret)


@pytest.mark.slow
def test_a_run_given_aws_keys_writes_and_prints_no_secret(tmp_path):
    """`lusomix run demo.yaml --passes extract,dedup,report` with AWS keys in its environment (and INFO
    logging, which prints the most): the secret key is in none of its files and none of its lines."""
    secret = "lusomix-secret-" + secrets.token_hex(16)
    out = tmp_path / "out"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "lusomix-test-" + secrets.token_hex(4),
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "LUSOMIX_LOG_LEVEL": "INFO",
    }
    code = "import sys\nfrom lusomix.pipeline.cli import main\nsys.exit(main(sys.argv[1:]))"
    command = ["run", str(SAMPLES / "demo.yaml"), "--passes", "extract,dedup,report", "--output", str(out)]
    run = subprocess.run([sys.executable, "-c", code, *command], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    read = {Path(p).relative_to(out).as_posix() for p in assert_no_secret(out, secret, run.stdout, run.stderr)}
    for name in ("logs/extract/run.json", "stats.json", "report/index.html", "dedup/clusters.parquet"):
        assert name in read
    for folder in ("docs/part-", "rejected/part-", "logs/extract/logs/task_", "logs/dedup/logs/task_"):
        assert any(p.startswith(folder) for p in read), folder
